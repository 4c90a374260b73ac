"""The Inside pane: one phase of a training step (or a probed word) spelled out with its own numbers and code.

It draws only from the report it is given: a `PhaseReport` (the shown step's current or last phase) or a
`ProbeReport` (a word's forward pass, not trained on), which wins while it is set. Numbers come first, to four
decimals; below them, as many lines as fit of the engine's own source that computed them, with line numbers.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.reactive import var

from microgpt.report import (
    BOS_LABEL,
    BackwardDetail,
    DocumentDetail,
    ForwardDetail,
    LossDetail,
    PhaseReport,
    ProbeReport,
    SourceSpan,
    UpdateDetail,
    piece_stages,
)
from microgpt_tui.labels import PROBE_MARK, label, pad, quoted
from microgpt_tui.palette import pack, wrap
from microgpt_tui.widgets.pane import Pane

USAGE = ("Nothing to explain yet. Press . to {take} (the document, the forward pass "
         "position by position, the loss, the backward pass, the update): this pane spells out its numbers and "
         "shows the engine's lines that computed them. Press / to probe a word of your own.")


def num(x: float) -> str:
    """A number to four decimals; one too small for that (but not 0) in scientific notation, never `0.0000`."""
    if x == 0 or abs(x) >= 0.001 or x != x:
        return f"{x:.4f}"
    return f"{x:.4e}"


def mean_written(losses: Sequence[float], mean: float, width: int, max_lines: int) -> list[Text]:
    """`(3.7721 + 2.9836 + … ) / 7 = 3.3962`: every term when they fit in `max_lines` lines, else the first ones."""
    n = len(losses)
    terms = [num(x) for x in losses]
    for shown in range(n, 0, -1):
        words = [f"({terms[0]}", *(f"+ {t}" for t in terms[1:shown]), *(["+ … "] if shown < n else [])]
        words[-1] += f") / {n} ="
        words.append(num(mean))
        lines = lay_out(words, width)
        if len(lines) <= max_lines:
            out = [Text(line, no_wrap=True) for line in lines]
            out[-1].stylize("bold", len(lines[-1]) - len(words[-1]))
            return out
    return [Text.assemble(f"mean of {n} losses = ", (num(mean), "bold"))]


def lay_out(words: Sequence[str], width: int) -> list[str]:
    """Words joined by spaces into lines of at most `width` characters (a longer word gets a line of its own)."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def score_table(keys: Sequence[str], scores: Sequence[float], weights: Sequence[float], width: int) -> list[Text]:
    """Each cached key with its scaled score and softmax weight, in whichever layout takes fewer rows at `width`.

    Across (a row of keys, a row of scores, a row of weights, wrapped into blocks) or down (one row per key).
    """
    cell = max(len(num(x)) for x in (*scores, *weights)) + 1
    head = 7  # the "softmax" column
    per_line = max(1, (width - head) // cell)
    blocks = -(-len(keys) // per_line)
    if 3 * blocks > 1 + len(keys):
        lines = [Text.assemble(("key", "dim"), (f"{'q·k/√d':>{cell + 1}}{'softmax':>{cell + 1}}", "dim"))]
        for k, name in enumerate(keys):
            lines.append(Text.assemble((f"{label(name):>3}", "bold"), f"{num(scores[k]):>{cell + 1}}",
                                       (f"{num(weights[k]):>{cell + 1}}", "bold")))
        return lines
    lines = []
    for lo in range(0, len(keys), per_line):
        hi = min(len(keys), lo + per_line)
        key = Text("key".ljust(head), style="dim")
        score = Text("q·k/√d".ljust(head), style="dim")
        weight = Text("softmax".ljust(head), style="dim")
        for k in range(lo, hi):
            key.append(label(keys[k]).rjust(cell), style="bold")
            score.append(num(scores[k]).rjust(cell))
            weight.append(num(weights[k]).rjust(cell), style="bold")
        lines += [key, score, weight]
    return lines


def code_lines(span: SourceSpan) -> list[tuple[int, str]]:
    """(line number, text) of a span's body, dedented: its signature and docstring left out (the title names it)."""
    code = textwrap.dedent("\n".join(span.lines)).split("\n")
    numbered = list(enumerate(code, start=span.first_line))
    body = next((i + 1 for i, line in enumerate(code) if line.rstrip().endswith(":")), 0)  # after `def ...:`
    if body < len(code):
        opening = code[body].strip()
        quote = opening[:3]
        if quote in ('"""', "'''"):
            last = body
            if not (len(opening) > 3 and opening.endswith(quote)):  # a docstring of several lines
                last = next((i for i in range(body + 1, len(code)) if code[i].rstrip().endswith(quote)), body)
            body = last + 1
    return [(number, text) for number, text in numbered[body:] if text.strip()]


def source_lines(spans: Sequence[SourceSpan], width: int, height: int) -> list[Text]:
    """Each span's title and place (dim), then its body with line numbers (dim), sharing the rows that are left.

    With few rows, a span keeps only its title (where the code is); a span cut short ends its title with `…`.
    """
    if not spans or height < 1:
        return []
    codes = [code_lines(span) for span in spans]
    rooms = share_rows([1 + len(code) for code in codes], height)
    lines: list[Text] = []
    for span, code, room in zip(spans, codes, rooms, strict=True):
        if room == 0:
            continue
        shown = code[: room - 1]
        cut = " …" if len(shown) < len(code) else ""
        lines.append(Text.assemble((span.title, "bold dim"), (f" · {span.path}:{span.first_line}{cut}", "dim")))
        digits = len(str(shown[-1][0])) if shown else 1
        for number, text in shown:
            lines.append(Text.assemble((f"{number:>{digits}} ", "dim"), text))
    return lines


def share_rows(needs: Sequence[int], rows: int) -> list[int]:
    """Rows for each block: as many as it needs when all fit, else equal shares, the unused rows handed on."""
    given = [0] * len(needs)
    left = rows
    open_ = [i for i, need in enumerate(needs) if need > 0]
    while left > 0 and open_:
        share = max(1, left // len(open_))
        for i in list(open_):
            extra = min(share, needs[i] - given[i], left)
            given[i] += extra
            left -= extra
            if given[i] == needs[i]:
                open_.remove(i)
            if left == 0:
                break
    return given


class Inside(Pane):
    """The current phase of the shown step, or a probed word, explained with its numbers and its source lines."""

    TITLE = "Inside"
    HELP = """\
**What it shows.** One phase of the shown training step, with its own numbers to four decimals, and under them
the lines of this project's engine (`microgpt/`, read as it runs) that computed them. `.` takes one phase:
- **document**: the name picked for this step, its tokens and their ids, and what each position reads (input) and
  must predict (target); `·` is BOS, the token that starts and ends every name, `␣` a space;
- **forward**, one position at a time: the input letter and its target; for the selected layer and head (`h`,
  `l`) the scaled scores `q·k/√d` of this position's query against every cached key and their softmax (the
  attention weights); the likeliest next letters; `p(target)` and the position's loss `-log p(target)`;
- **loss**: the mean of the position losses written out, the number the reference prints;
- **backward**: the nodes the last piece of the backward pass processed (operation and stage), and how many remain;
- **update**: for one parameter (the one that moved most; `up`/`down` choose another matrix) its gradient, Adam's
  moments `m` and `v`, their bias-corrected `m̂` and `v̂`, this step's learning rate, and its value before → after.

A probed word (`/`) shows here too, marked *probe · not trained on*: its loss written out and, position by
position (`up`/`down`), the same forward numbers; `escape` goes back to training.

**Why it matters.** These are the numbers the lesson is about: how one letter's loss comes out of attention and a
softmax, how the step's loss is just their mean, how the gradient flows back and what Adam does with it. Each
number sits next to the code that made it.

**How to read it.** A loss of `-log(1/27) ≈ 3.2958` is a uniform guess over 27 tokens; lower means the target got
more than its share. Softmax weights add up to 1 over the cached positions. At step 1 Adam moves every parameter
by about the learning rate, whatever its gradient: `m̂ / √v̂` is ±1 when there is only one gradient to average.
"""

    BINDINGS = [
        Binding("up", "choose(-1)", "Previous", show=False,
                tooltip="Inside: the previous matrix (update) or position (probe)"),
        Binding("down", "choose(1)", "Next", show=False,
                tooltip="Inside: the next matrix (update) or position (probe)"),
    ]

    phase: var[PhaseReport | None] = var[PhaseReport | None](None)
    probe: var[ProbeReport | None] = var[ProbeReport | None](None)
    attn_layer: var[int] = var(0)
    attn_head: var[int] = var(0)
    matrix: var[str | None] = var[str | None](None)  # the update's matrix shown; None: the one that moved most
    probe_position: var[int] = var(0)  # the probed word's position shown
    history_step: var[int | None] = var[int | None](None)  # the past step shown (None: the live one)

    def __init__(self, vocabulary: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vocabulary = tuple(vocabulary)  # token id -> character; the id after the last is BOS

    def on_mount(self) -> None:
        """The title from the start, and the key that probes a word (or ends the probe) under the pane."""
        self._retitle()

    def titles(self) -> list[str]:
        """The pane's title, fullest first: what it shows (the step's phase, or the probe), then shorter forms."""
        if self.probe is not None:
            return [f"{self.TITLE} · {PROBE_MARK}", PROBE_MARK]
        if self.phase is None:  # (in history, the past step shown, as every other pane names it)
            return [self.TITLE] if self.history_step is None else [f"{self.TITLE} · step {self.history_step}",
                                                                   self.TITLE]
        phase = self.phase.phase
        short = f"{phase.kind} {phase.index + 1}/{phase.count}" if phase.count > 1 else phase.kind
        full = phase.label if phase.kind != "backward" else short
        return [f"{self.TITLE} · step {phase.step} · {full}", f"{self.TITLE} · step {phase.step} · {short}",
                f"step {phase.step} · {short}"]

    def _retitle(self) -> None:
        titles = self.titles()
        width = self.outer_size.width
        title = next((t for t in titles if len(t) + 6 <= width), titles[-1]) if width else titles[0]
        if self.border_title != title:
            self.border_title = title
        self.border_subtitle = "escape: back to training" if self.probe is not None else "/ probe a word"

    def on_resize(self) -> None:
        """A narrow pane takes a shorter title."""
        self._retitle()

    def watch_phase(self) -> None:
        """A new phase: show it (the title names the step and the phase)."""
        self._retitle()
        self.data_changed()

    def watch_history_step(self) -> None:
        """Another step shown: the title and the usage name it."""
        self._retitle()
        self.data_changed()

    def watch_probe(self, probe: ProbeReport | None) -> None:
        """A new probe starts at its first position."""
        self.probe_position = 0
        self._retitle()
        self.data_changed()

    def _changed(self) -> None:
        self.data_changed()

    watch_attn_layer = watch_attn_head = watch_matrix = watch_probe_position = _changed

    def action_choose(self, delta: int) -> None:
        """Choose the previous or next matrix (at the update) or position (in a probe)."""
        if self.probe is not None:
            count = len(self.probe.positions)
            self.probe_position = max(0, min(count - 1, self.probe_position + delta))
            return
        detail = self.phase.detail if self.phase is not None else None
        if isinstance(detail, UpdateDetail):
            names = [move.matrix for move in detail.moves]
            current = names.index(self.matrix or detail.largest)
            self.matrix = names[(current + delta) % len(names)]

    # -- drawing --------------------------------------------------------------------------------------------------

    def build_lines(self, width: int, height: int) -> list[Text]:
        """The numbers of the probe or the phase, then the source lines that fit under them."""
        if self.probe is not None:
            return self._probe_lines(self.probe, width, height)
        report = self.phase
        if report is None:
            past = self.history_step
            take = "take one phase of a training step" if past is None else f"replay step {past} phase by phase"
            return wrap(USAGE.format(take=take), width)
        detail = report.detail
        room = height
        if isinstance(detail, DocumentDetail):
            numbers = self._document(report, detail, width)
        elif isinstance(detail, ForwardDetail):
            numbers = self._forward(detail, report.tokens, width, room)
        elif isinstance(detail, LossDetail):
            numbers = self._loss(detail, report.targets, width, room)
        elif isinstance(detail, BackwardDetail):
            numbers = self._backward(detail, width)
        else:
            numbers = self._update(detail, report.phase.step)
        numbers = numbers[:room]
        left = room - len(numbers)
        source = source_lines(report.source, width, left - 1 if left >= 4 else left)
        return [*numbers, *([Text()] if left >= 4 else []), *source]

    def _label(self, token_id: int) -> str:
        return BOS_LABEL if token_id == len(self.vocabulary) else label(self.vocabulary[token_id])

    def _document(self, report: PhaseReport, detail: DocumentDetail, width: int) -> list[Text]:
        lines = [Text.assemble((f"“{detail.doc}”", "bold"), (" · document ", "dim"), f"{detail.index + 1:,}",
                               (" of the shuffled list", "dim"))]
        ids = [Text.assemble((self._label(t), "bold"), f" {t}") for t in detail.token_ids]
        lines += pack([Text("tokens, ids:", style="dim"), *ids], width, 3)
        lines.append(self._row("inputs ", report.tokens))
        lines.append(self._row("targets", report.targets))
        lines.append(Text(f"{detail.n} predictions: each input predicts the token after it", style="dim"))
        return lines

    @staticmethod
    def _row(name: str, labels: Sequence[str]) -> Text:
        text = Text(f"{name} ", style="dim")
        for token in labels:
            text.append(f"{label(token):>2}", style="bold")
        return text

    def _forward(self, detail: ForwardDetail, tokens: Sequence[str], width: int, room: int) -> list[Text]:
        layer = min(self.attn_layer, len(detail.scores) - 1)
        head = min(self.attn_head, len(detail.scores[layer]) - 1)
        target = label(detail.target)
        lines = pack([Text.assemble(("input ", "dim"), (label(detail.input), "bold"), (" → target ", "dim"),
                                    (target, "bold")),
                      Text.assemble(("p(", "dim"), (target, "bold"), (") = ", "dim"), num(detail.p_target)),
                      Text.assemble(("-log p = ", "dim"), (num(detail.loss), "bold"))], width, 3, sep="   ")
        keys = tokens[: detail.position + 1]
        table = score_table(keys, detail.scores[layer][head], detail.weights[layer][head], width)
        which = Text(f"layer {layer} head {head} (h l): this query vs the cached keys", style="dim",
                     overflow="ellipsis")
        top = [Text.assemble((label(token), "bold"), f" {num(p)}") for token, p in detail.top]
        candidates = pack([Text("next:", style="dim"), *top], width, 2)
        down = "q·k/√d" in table[0].plain  # the table runs down, one row per key, under one header
        if down and len(lines) + 1 + len(table) + len(candidates) > room:  # short of rows: the header names the head
            table[0].append(f"  L{layer} H{head}", style="dim")
            return [*lines, *table, *candidates[: max(1, room - len(lines) - len(table))]]
        return [*lines, which, *table, *candidates[: max(1, room - len(lines) - 1 - len(table))]]


    def _loss(self, detail: LossDetail, targets: Sequence[str], width: int, room: int) -> list[Text]:
        lines = [Text("the mean of the position losses -log p(target):", style="dim")]
        lines += mean_written(detail.position_losses, detail.loss, width, max(1, min(4, room - 3)))
        lines.append(Text.assemble(("loss ", "dim"), (num(detail.loss), "bold"),
                                   ("  is what the reference prints for this step", "dim")))
        return lines

    def _backward(self, detail: BackwardDetail, width: int) -> list[Text]:
        lines = [Text.assemble(("position ", "dim"), (str(detail.position), "bold"), (" · ", "dim"),
                               (piece_stages(detail.stages, detail.layer), "bold"))]
        chunks = [Text("processed:", style="dim")]
        stage_of_last = ""
        for op, stage, count in detail.nodes:  # grouped under their stage, in the order the piece met them
            if stage != stage_of_last:
                chunks.append(Text(f"{stage}:", style="dim italic"))
                stage_of_last = stage
            chunks.append(Text.assemble((op, "bold"), f" ×{count:,}"))
        lines += pack(chunks, width, 4)
        lines.append(Text.assemble((f"{detail.done:,}", "bold"), (" nodes done · ", "dim"),
                                   (f"{detail.remaining:,}", "bold"), (" remaining", "dim")))
        return lines

    def _update(self, detail: UpdateDetail, step: int) -> list[Text]:
        name = self.matrix if self.matrix in {m.matrix for m in detail.moves} else detail.largest
        move = detail.move(name)
        why = "moved most" if name == detail.largest else "up/down: another matrix"
        lefts = [num(x) for x in (move.grad, move.m, move.v)]
        rights = [num(x) for x in (detail.lr, move.m_hat, move.v_hat)]
        wide_left, wide_right = max(map(len, lefts)), max(map(len, rights))

        def pair(left: str, a: str, right: str, b: str) -> Text:
            return Text.assemble((pad(left, 5, "left"), "dim"), f"{a:>{wide_left}}", "   ",
                                 (pad(right, 3, "left"), "dim"), f"{b:>{wide_right}}")

        return [Text.assemble((f"{move.matrix}[{move.row}][{move.col}]", "bold"), (f"  ({why})", "dim")),
                pair("grad", lefts[0], "lr", rights[0]).append(f" (step {step})", style="dim"),
                pair("m", lefts[1], "m̂", rights[1]),
                pair("v", lefts[2], "v̂", rights[2]),
                Text.assemble(("weight ", "dim"), num(move.before), (" → ", "dim"), (num(move.after), "bold"),
                              ("  change ", "dim"), f"{move.change:+.4f}"),
                Text("change = -lr · m̂ / (√v̂ + ε): about ±lr while m̂ and √v̂ are alike", style="dim")]

    def _probe_lines(self, probe: ProbeReport, width: int, height: int) -> list[Text]:
        head = Text.assemble((quoted(probe.word), "bold"), (f" at the weights of step {probe.step}, {probe.engine}",
                                                            "dim"))
        lines = [head, *mean_written(probe.position_losses, probe.loss, width, 2)]
        if not probe.positions:
            return lines
        position = min(self.probe_position, len(probe.positions) - 1)
        lines.append(Text(f"position {position + 1} of {len(probe.positions)} (up/down)", style="dim"))
        forward = self._forward(probe.positions[position], probe.tokens, width, height - len(lines))
        per_target = [Text.assemble((label(t), "bold"), f" {num(x)}")
                      for t, x in zip(probe.targets, probe.position_losses, strict=True)]
        strip = pack([Text("-log p:", style="dim"), *per_target], width, 2)
        if len(lines) + len(forward) + 1 + len(strip) <= height:  # room for each target's loss too
            return [*lines, *forward, Text(), *strip]
        return [*lines, *forward]
