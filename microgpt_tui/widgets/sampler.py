"""The sampling pane: a new name drawn token by token, each position's choice, its probability and the top 5."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var

from microgpt.data import Dataset
from microgpt.report import BOS_LABEL, SampleToken
from microgpt.sampling import softmax_probs, top_candidates
from microgpt_tui.messages import SampleState
from microgpt_tui.palette import prob, wrap
from microgpt_tui.widgets.pane import Pane

TEMPERATURE_TENTHS = (1, 20)  # the temperature runs from 0.1 to 2.0 in steps of 0.1


def temperature_label(tenths: int) -> str:
    """`temperature 0.50`: the form the screen shows (two decimals)."""
    return f"temperature {tenths / 10:.2f}"


class Sampler(Pane):
    """Draws names from the current weights and shows what the model weighed at every position."""

    TITLE = "Sampling"
    HELP = """\
**What it shows.** `g` draws a new name from the current weights, one character at a time. Each row is one
position: the character the model was given (`·` is BOS, the start), the character it drew and that
character's probability, then the five most likely candidates with their probabilities. The name ends when BOS
is drawn again. The temperature is in the title: `+`/`-` change it by 0.1 between 0.1 and 2.0.

**Why it matters.** This is what a language model does when it writes: turn logits into probabilities, draw one
token, feed it back in. The temperature divides the logits before the softmax: below 1 the favourite gets
more likely (safer, duller names), above 1 the odds flatten (wilder names, more typos).

**How to read it.** Change the temperature and the last row is recomputed at once from the same logits: watch
the favourite's probability grow as you go down and shrink as you go up. Nothing new is drawn until you press
`g`. Early in training the top candidates are nearly uniform; later they are few and confident.
"""

    sample: var[SampleState | None] = var(None)
    temperature: var[int] = var(5)  # whole tenths: 5 is 0.50

    def __init__(self, dataset: Dataset, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = dataset

    def watch_temperature(self, tenths: int) -> None:
        """Show the temperature in the title, and recompute the current position's odds at it."""
        self.border_title = f"{self.TITLE} · {temperature_label(tenths)}"
        self.data_changed()

    def watch_sample(self) -> None:
        """Show the new token."""
        self.data_changed()

    def on_mount(self) -> None:
        """Show the temperature in the title from the start."""
        self.border_title = f"{self.TITLE} · {temperature_label(self.temperature)}"

    def current_top(self) -> tuple[tuple[str, float], ...]:
        """The last position's top candidates at the current temperature (recomputed from its logits)."""
        if self.sample is None or not self.sample.tokens:
            return ()
        last = self.sample.tokens[-1]
        return top_candidates(softmax_probs(last.logits, self.temperature / 10), self.dataset)

    def build_lines(self, width: int, height: int) -> list[Text]:
        """The name so far, then one row per position (the latest at the bottom)."""
        sample = self.sample
        if sample is None or not sample.tokens:
            return wrap(f"g draws a name at {temperature_label(self.temperature)}; + and - change it.", width)
        tokens = sample.tokens
        name = Text(no_wrap=True, overflow="ellipsis")
        name.append("“", style="dim")
        name.append(sample.text, style="bold")
        name.append("”" if sample.finished else "▏", style="dim")
        name.append(f"  drawn at {sample.temperature:.2f}", style="dim")
        lines = [name]
        room = max(1, height - 1)
        for token in tokens[-room:]:
            lines.append(self._row(token, width, token is tokens[-1]))
        return lines

    def _row(self, token: SampleToken, width: int, current: bool) -> Text:
        given = BOS_LABEL if token.position == 0 else self.sample_char(token.position - 1)
        drawn = token.char or BOS_LABEL
        temperature = self.temperature / 10
        if current and temperature != token.temperature:
            probs = softmax_probs(token.logits, temperature)
            top = top_candidates(probs, self.dataset)
            p = probs[token.token_id]
        else:
            top, p = token.top, token.probs[token.token_id]
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{given}→", style="dim")
        line.append(drawn, style="bold reverse" if current else "bold")
        line.append(f" {prob(p)} │", style="")
        gap = " " if width >= 10 + 6 * len(top) else ""  # `a .41` when there is room, else `a.41`
        for label, q in top:
            line.append(f" {label}", style="bold underline" if label == drawn else "bold")
            line.append(f"{gap}{prob(q)}")
        if current and temperature != token.temperature:
            line.append(f"  at {temperature:.2f}", style="italic")
        return line

    def sample_char(self, index: int) -> str:
        """The character drawn at position `index` of the current sample."""
        assert self.sample is not None
        return self.sample.tokens[index].char or BOS_LABEL
