"""The sampling pane: the names drawn so far (step and temperature of each), the newest revealed letter by letter
with each position's choice, its probability and the five likeliest candidates.

The engine draws a whole sample at once; the pacing of the reveal is this pane's (a timer, one letter per
`delay` seconds). A batch (`G`) shows all its names at once and details its last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message
from textual.reactive import var
from textual.timer import Timer

from microgpt.data import Dataset
from microgpt.report import BOS_LABEL, SampleToken
from microgpt.sampling import softmax_probs, top_candidates
from microgpt.seen import TRAINED, TrainingDocs
from microgpt_tui.labels import label, pad, quoted
from microgpt_tui.messages import Sample, Snapshot
from microgpt_tui.palette import pack, prob, wrap
from microgpt_tui.widgets.pane import Pane

TEMPERATURE_TENTHS = (1, 20)  # the temperature runs from 0.1 to 2.0 in steps of 0.1
MAX_SAMPLES = 100  # samples the app keeps (the pane shows as many of the newest as fit)
EMPTY_NOTE = "(empty: the end token came first)", "(empty: ended at once)"  # a name of no letters; short form


def temperature_label(tenths: int) -> str:
    """`temperature 0.50`: the form the screen shows (two decimals)."""
    return f"temperature {tenths / 10:.2f}"


def sample_heading(step: int, temperature: float, mark: str = "") -> str:
    """`step 300 · T 0.50`; with a mark, `step 12 (earlier) · T 0.50` (the model has trained past that step)."""
    return f"step {step}{f' ({mark})' if mark else ''} · T {temperature:.2f}"


def groups(samples: tuple[Sample, ...]) -> list[list[Sample]]:
    """The samples of each draw (`G`: a batch of ten; `g`: one), in order."""
    out: list[list[Sample]] = []
    for sample in samples:
        if out and out[-1][-1].draw == sample.draw:
            out[-1].append(sample)
        else:
            out.append([sample])
    return out


class Sampler(Pane):
    """The names drawn from the weights, and what the model weighed at every position of the newest."""

    TITLE = "Sampling"
    HELP = """\
**What it shows.** `g` draws a new name from the current weights, `G` a batch of ten at once (compare temperatures
side by side). Each draw keeps its own line, naming the step whose weights drew it and the temperature, `step 300 ·
T 0.50 · “tareda”`; names drawn before the step now trained are marked `(earlier)`, names drawn at steps a branch
(`b`) took back `(before the branch at 500)` (or `(ghost)`): the ghost curve's weights drew them. The newest name
is revealed one character at a time, and below the list each row is one of its positions: the character the model
was given (`·` is BOS, the start), the character it drew and that character's probability (`<.01` when it rounds to
zero: an unlikely draw, yet drawn), then the five most likely candidates with their probabilities. A space is shown
as `␣`. The name ends when BOS is drawn again. The temperature for the next draw is in the title: `+`/`-` change it
by 0.1 between 0.1 and 2.0. A name that is one of the training documents is marked `(seen at step 123)` when the
run had trained on it by then (memorised?), `(in the data)` when not yet; a batch says how many of its names are
new. A name can be empty, `“”`, when the end token is drawn first. In history (left/right while paused), `g`/`G`
draw from the shown step's weights, and the names carry that step. When a `memorized` breakpoint fires, the sample
that fired joins the list, with its odds, like a `g` one.

**Why it matters.** This is what a language model does when it writes: turn logits into probabilities, draw one
token, feed it back in. The temperature divides the logits before the softmax: below 1 the favourite gets
more likely (safer, duller names), above 1 the odds flatten (wilder names, more typos).

**How to read it.** Change the temperature and the newest name's last row is recomputed at once from the same
logits: watch the favourite's probability grow as you go down and shrink as you go up. Nothing new is drawn until
you press `g` or `G`. Early in training the top candidates are nearly uniform; later they are few and confident.
"""

    @dataclass
    class Revealed(Message):
        """How much of the newest sample is on screen (the attention pane follows it)."""

        sample_id: int
        count: int | None  # tokens shown; None: all of them

    samples: var[tuple[Sample, ...]] = var[tuple[Sample, ...]](())
    temperature: var[int] = var(5)  # whole tenths: 5 is 0.50
    snapshot: var[Snapshot | None] = var(None)
    branches: var[tuple[tuple[int, int], ...]] = var[tuple[tuple[int, int], ...]](())  # (step a branch went back
    # to, the newest sample's id then), in order: samples drawn before it at later steps are the ghost's
    revealed: var[int | None] = var[int | None](None)  # tokens of the newest sample shown; None: all

    def __init__(self, dataset: Dataset, *, delay: float = 0.08, docs: TrainingDocs | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = dataset
        self.docs = docs if docs is not None else TrainingDocs(dataset.docs)  # the run's documents, in training order
        self.label_width = max([cell_len(label(c)) for c in dataset.uchars] + [1])  # CJK, emoji: 2 cells
        self.delay = delay  # seconds per revealed letter (0: a sample shows at once)
        self._timer: Timer | None = None
        self._step = 0  # steps trained, as last drawn (a sample of an earlier step is marked)

    def on_mount(self) -> None:
        """Show the temperature in the title from the start."""
        self.border_title = f"{self.TITLE} · {temperature_label(self.temperature)}"

    def watch_temperature(self, tenths: int) -> None:
        """Show the temperature in the title, and recompute the current position's odds at it."""
        self.border_title = f"{self.TITLE} · {temperature_label(tenths)}"
        self.data_changed()

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Redraw when training has moved past the samples' step (they become earlier ones)."""
        step = snapshot.step if snapshot is not None else 0
        if step != self._step:
            self._step = step
            if self.samples:
                self.data_changed(urgent=snapshot is None or not snapshot.running)

    def watch_branches(self) -> None:
        """Mark the samples whose step a branch took back."""
        self.data_changed()

    def branched_at(self, sample: Sample) -> int | None:
        """The step a branch went back to from after this sample's step, once it was drawn (None: none did)."""
        return next((step for step, newest in self.branches if sample.sample_id <= newest and sample.step > step),
                    None)

    def watch_samples(self, old: tuple[Sample, ...], new: tuple[Sample, ...]) -> None:
        """Reveal a single new sample letter by letter; a batch shows at once."""
        last_id = old[-1].sample_id if old else None
        fresh = [s for s in new if last_id is None or s.sample_id > last_id]
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if len(fresh) == 1 and self.delay > 0 and len(fresh[0].tokens) > 1:
            self.revealed = 1
            self._timer = self.set_interval(self.delay, self._reveal_one)
        else:
            self.revealed = None
        self.data_changed()

    def _reveal_one(self) -> None:
        newest = self.samples[-1] if self.samples else None
        if newest is None or self.revealed is None or self.revealed + 1 >= len(newest.tokens):
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            self.revealed = None
        else:
            self.revealed += 1

    def watch_revealed(self, count: int | None) -> None:
        """Draw the newly revealed letter; tell the app (the attention pane follows the reveal)."""
        if self.samples:
            self.post_message(self.Revealed(self.samples[-1].sample_id, count))
        self.data_changed()

    @property
    def newest_tokens(self) -> tuple[SampleToken, ...]:
        """The newest sample's tokens as far as they are revealed."""
        if not self.samples:
            return ()
        tokens = self.samples[-1].tokens
        return tokens if self.revealed is None else tokens[: self.revealed]

    @property
    def revealing(self) -> bool:
        """True while the newest sample is still being revealed."""
        return self.revealed is not None

    def current_top(self) -> tuple[tuple[str, float], ...]:
        """The newest position's top candidates at the current temperature (recomputed from its logits)."""
        tokens = self.newest_tokens
        if not tokens:
            return ()
        return top_candidates(softmax_probs(tokens[-1].logits, self.temperature / 10), self.dataset)

    def build_lines(self, width: int, height: int) -> list[Text]:
        """The samples (oldest first, one group per draw), then the newest one's positions from its first.

        The newest's positions take the rows they need, leaving the list of earlier draws at least a quarter of
        the rest; when they do not all fit, the first of them give way to a line that says how many are not shown.
        """
        if not self.samples:
            return wrap(f"g draws a name at {temperature_label(self.temperature)}, G ten at once; "
                        "+ and - change the temperature.", width)
        blocks = [self._group_lines(group, width) for group in groups(self.samples)]
        newest = blocks.pop()
        rest = max(0, height - len(newest))
        share = max(rest - len(self.samples[-1].tokens), rest // 4)  # the whole sample's rows, while revealed too
        older: list[Text] = []
        for block in reversed(blocks):
            if len(older) + len(block) > share:
                break
            older = block + older
        room = rest - len(older)
        tokens = self.newest_tokens
        hidden = 0 if len(tokens) <= room else len(tokens) - room + (room > 1)  # a cut takes a row to say so
        detail = [self._row(t, tokens, t is tokens[-1], width) for t in tokens[hidden:]][-room:] if room else []
        if hidden and room > 1:
            detail.insert(0, self._hidden_note(hidden))
        return [*older, *newest, *detail]

    def _hidden_note(self, hidden: int) -> Text:
        """`… first 3 positions not shown: no room (z maximises)`: what a short pane leaves out of the newest."""
        maximised = self.is_mounted and self.screen.maximized is self
        return Text(f"… first {hidden} positions not shown: no room{'' if maximised else ' (z maximises)'}",
                    style="dim italic", no_wrap=True, overflow="ellipsis")

    def _group_lines(self, group: list[Sample], width: int) -> list[Text]:
        first = group[0]
        branch = self.branched_at(first)
        earlier = branch is not None or first.step < self._step
        mark = "earlier" if earlier else ""
        if branch is not None:  # drawn by weights the run no longer has: the ghost's on the loss chart
            mark = f"before the branch at {branch}"
            if cell_len(sample_heading(first.step, first.temperature, mark)) + 2 > width:
                mark = "ghost"
        heading = Text(f"{sample_heading(first.step, first.temperature, mark)} ·", style="dim" if earlier else "bold")
        chunks = [heading]
        if len(group) > 1:  # a batch: how many of its names the dataset does not have
            chunks.append(Text(f"{self.docs.new_count(s.text for s in group)}/{len(group)} new ·", style="dim"))
        newest = self.samples[-1]
        for sample in group:
            if sample is newest:
                text = "".join(t.char for t in self.newest_tokens)
                chunk = Text(quoted(text)[:-1] + ("▏" if self.revealing else "”"), style="bold reverse")
            else:
                chunk = Text(quoted(sample.text), style="dim" if earlier else "")
            seen = self.docs.lookup(sample.text, sample.step)
            if seen.in_data and not (sample is newest and self.revealing):  # a training document: say so
                chunk.append(f" ({seen if seen.kind == TRAINED else 'in the data'})", style="italic")
            elif not sample.text and sample.tokens:  # `“”` alone reads as a display bug
                full, short = EMPTY_NOTE
                chunk.append(f" {full if chunk.cell_len + 1 + cell_len(full) <= width else short}", style="italic")
            chunks.append(chunk)
        return pack(chunks, width, max_lines=1_000, sep=" ")

    def _row(self, token: SampleToken, tokens: tuple[SampleToken, ...], current: bool, width: int) -> Text:
        given = BOS_LABEL if token.position == 0 else tokens[token.position - 1].char or BOS_LABEL
        drawn = label(token.char or BOS_LABEL)
        temperature = self.temperature / 10
        recompute = current and not self.revealing and temperature != token.temperature
        if recompute:
            probs = softmax_probs(token.logits, temperature)
            top = top_candidates(probs, self.dataset)
            p = probs[token.token_id]
        else:
            top, p = token.top, token.probs[token.token_id]
        cells = self.label_width  # every label padded to the widest character's cells: the columns stay aligned
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{pad(label(given), cells, 'left')}→", style="dim")
        line.append(drawn, style="bold reverse" if current else "bold")
        line.append(f"{pad('', cells - cell_len(drawn))} {prob(p)} │", style="")
        gap = " " if width >= line.cell_len + (cells + 5) * len(top) else ""  # `a .41` with room, else `a.41`
        for candidate, q in top:
            shown = label(candidate)
            line.append(f" {shown}", style="bold underline" if shown == drawn else "bold")
            line.append(f"{pad('', cells - cell_len(shown))}{gap}{prob(q)}")
        if recompute:
            line.append(f"  at {temperature:.2f}", style="italic")
        return line
