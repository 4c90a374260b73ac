"""The attention pane: one head's attention weights over the step's document (or the latest sample) as a heatmap."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.reactive import var

from microgpt.report import BOS_LABEL
from microgpt_tui.labels import PROBE_MARK, cut_doc, label, pad, quoted
from microgpt_tui.messages import Sample
from microgpt_tui.palette import ColorMode, append_runs, heat_cell, prob, wrap
from microgpt_tui.widgets.pane import TrainingPane

Rows = tuple[tuple[float, ...], ...]


def sample_attention(sample: Sample, layer: int, head: int, count: int | None = None) -> tuple[tuple[str, ...], Rows]:
    """Input labels and attention rows of one head over a sample's first `count` tokens (all by default)."""
    tokens = sample.tokens[:count]
    labels = tuple(BOS_LABEL if t.position == 0 else sample.tokens[t.position - 1].char for t in tokens)
    return labels, tuple(t.attention[layer][head] for t in tokens)


class AttentionMap(TrainingPane):
    """A query-by-key heatmap of one attention head, token characters on both axes."""

    TITLE = "Attention"
    HELP = """\
**What it shows.** For the selected layer and head, how much each position (a row, labelled with its input
character) attends to each earlier position (a column). Each row sums to 1; the upper triangle is empty because a
position cannot look ahead. Right after `g` or `G`, the pane shows the latest sample's attention, growing letter
by letter as it is revealed; the next training step brings back the step's document. `h` moves to the next head,
`l` to the next layer. Focus the pane (`2`, or `tab` until its border lights up), then `up`/`down` choose the row
whose exact weights are printed under the map. A space is shown as `␣`; a document longer than the block size is
cut (`supercalifragili…`, "cut to 16 predictions"): the model never sees the rest.

**Why it matters.** Attention is how a position gathers information from earlier characters. Different heads
learn different habits, and watching them form is watching the model learn to use context.

**How to read it.** Bright cells are heavy weights (the scale under the map runs from 0 to 1). A bright first
column means "look at the start of the name" (`·` is BOS, the start and end token); a bright diagonal means
"look at myself". Early in training every row is spread evenly; patterns sharpen as the loss falls. `z` makes the
map as large as the screen.
"""

    BINDINGS = [
        Binding("up", "row(-1)", "Row up", show=False),
        Binding("down", "row(1)", "Row down", show=False),
    ]

    samples: var[tuple[Sample, ...]] = var[tuple[Sample, ...]](())
    showing_sample: var[bool] = var(False)
    sample_revealed: var[int | None] = var[int | None](None)  # tokens of the latest sample on screen; None: all
    attn_layer: var[int] = var(0)
    attn_head: var[int] = var(0)
    color_mode: var[ColorMode] = var[ColorMode]("256")
    row: var[int | None] = var[int | None](None)  # the selected query row; None follows the last

    def __init__(self, block_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.block_size = block_size  # the most positions a document can have

    def _changed(self) -> None:
        self.data_changed()

    watch_samples = watch_showing_sample = watch_sample_revealed = watch_color_mode = watch_row = _changed
    watch_attn_layer = watch_attn_head = _changed

    def on_focus(self) -> None:
        """The hint under the map changes with the focus."""
        self.data_changed()

    on_blur = on_focus

    def action_row(self, delta: int) -> None:
        """Select the row above or below (the last row follows new data)."""
        labels, rows = self.current()
        if not rows:
            return
        current = len(rows) - 1 if self.row is None else min(self.row, len(rows) - 1)
        new = max(0, min(len(rows) - 1, current + delta))
        self.row = None if new == len(rows) - 1 else new

    @property
    def sample(self) -> Sample | None:
        """The sample whose attention is shown (None: the step's document is)."""
        if self.showing_sample and self.samples and self.samples[-1].tokens:
            return self.samples[-1]
        return None

    def current(self) -> tuple[tuple[str, ...], Rows]:
        """Labels and rows of the attention shown now (the latest sample's, or the step's)."""
        sample = self.sample
        if sample is not None:
            count = self.sample_revealed
            return sample_attention(sample, self.attn_layer, self.attn_head, None if count is None else max(1, count))
        report = self.report
        if report is None or not report.attention:
            return (), ()
        return report.tokens, report.attention[self.attn_layer][self.attn_head]

    def shown_step(self) -> int | None:
        """The sample's step while a sample is shown, else the step's."""
        sample = self.sample
        return sample.step if sample is not None else super().shown_step()

    def title_parts(self) -> list[str]:
        """Which layer and head."""
        return [f"layer {self.attn_layer}", f"head {self.attn_head}"]

    def short_title_parts(self) -> list[str]:
        """`L0 H2`: layer and head in few characters."""
        return [f"L{self.attn_layer} H{self.attn_head}"]

    def _what(self, width: int) -> list[Text]:
        """What the map shows: the sample, or the step's document (marked when the block size cut it)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        sample = self.sample
        report = self.report
        if sample is not None:
            text.append("sample ", style="dim")
            text.append(quoted(sample.text), style="bold")
            text.append(f" at T {sample.temperature:.2f}", style="dim")
        elif report is not None:
            shown, cut = cut_doc(report.doc, len(report.targets))
            if self.probe_word() is not None:  # `probe “emma” · not trained on`
                text.append(f"probe {quoted(shown)}", style="bold reverse")
                text.append(PROBE_MARK.removeprefix("probe"), style="bold")
            else:
                text.append("document ", style="dim")
                text.append(quoted(shown), style="bold")
            if cut:
                text.append(f" · cut to {len(report.targets)} predictions", style="bold yellow")
        return [text]

    def _no_attention(self) -> str:
        """Why there is no attention to show, and which key brings it: no step yet, or a step stopped before its
        forward pass (the live step in progress, or a past step replayed phase by phase)."""
        report, snapshot = self.report, self.snapshot
        if report is None or snapshot is None:
            return "No attention yet: it appears after the first step (n takes one)."
        does = "runs" if report.step > snapshot.step else "replays"  # (a past step is at most the live one)
        return f"step {report.step} has not reached attention yet: . {does} its forward pass position by position."

    def cell_size(self, width: int, height: int, label_width: int) -> tuple[int, int]:
        """(columns, lines) of one cell: as large as the pane allows for a block-size document, at least 2x1."""
        columns = max(2, label_width, (width - label_width - 2) // self.block_size)
        lines = max(1, min((height - 4) // self.block_size, columns // 2))  # a terminal cell is about 1:2
        if (height - 4) // lines < self.block_size:  # rows may scroll: leave room for "rows 3-16 of 16"
            suffix = len(f" rows {self.block_size}-{self.block_size} of {self.block_size}")
            columns = max(2, label_width, (width - label_width - 2 - suffix) // self.block_size)
        return columns, lines

    def build_lines(self, width: int, height: int) -> list[Text]:
        """What is shown, the heatmap (key labels on top, query labels down the side), the scale, one row's weights."""
        labels, rows = self.current()
        if not rows:
            return wrap(self._no_attention(), width)
        shown = [label(c) for c in labels]
        label_width = max(cell_len(s) for s in shown)
        n = len(rows)
        cell, tall = self.cell_size(width, height, label_width)
        selected = n - 1 if self.row is None else min(self.row, n - 1)
        room = max(1, (height - 4) // tall)  # rows that fit under: what, header; above: scale, weights
        first = 0 if n <= room else min(max(0, selected - room + 1), n - room)
        header = Text(" " * (label_width + 2))
        for text in shown:
            header.append(pad(text, cell), style="bold")
        if first > 0 or first + room < n:
            header.append(f" rows {first + 1}-{min(n, first + room)} of {n}", style="dim")
        lines = [*self._what(width), header]
        for q in range(first, min(n, first + room)):
            line = Text()
            marker = "▶" if q == selected else " "
            line.append(f"{marker}{pad(shown[q], label_width, 'left')} ",
                        style="bold reverse" if q == selected else "bold")
            cells = [heat_cell(weight, self.color_mode, cell) for weight in rows[q]]
            lines.append(append_runs(line, cells))
            for _ in range(tall - 1):
                lines.append(append_runs(Text(" " * (label_width + 2)), cells))
        lines.append(self._scale())
        lines.append(self._weights(shown, rows[selected], shown[selected]))
        hint = ("up/down choose the row whose weights are printed." if self.has_focus else
                "To choose the row whose weights are printed: focus this pane (2, or tab), then up/down.")
        hint_lines = wrap(hint, width)
        if len(lines) + len(hint_lines) <= height:  # at the bottom: it stays put while documents change length
            lines += [Text() for _ in range(height - len(lines) - len(hint_lines))] + hint_lines
        return lines

    def _scale(self) -> Text:
        text = append_runs(Text("0 "), [heat_cell(i / 10, self.color_mode, 1) for i in range(11)])
        text.append(" 1  (weight)", style="dim")
        return text

    def _weights(self, labels: list[str], weights: tuple[float, ...], query: str) -> Text:
        pairs = " ".join(f"{text}{prob(weight)}" for text, weight in zip(labels, weights, strict=False))
        return Text(f"{query} looks at: {pairs}", overflow="ellipsis")
