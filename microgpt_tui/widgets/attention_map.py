"""The attention pane: one head's attention weights over the current document (or the sample) as a heatmap."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.reactive import var

from microgpt_tui.messages import SampleState, Snapshot
from microgpt_tui.palette import ColorMode, append_runs, heat_cell, prob, wrap
from microgpt_tui.widgets.pane import Pane


class AttentionMap(Pane):
    """A query-by-key heatmap of one attention head, token characters on both axes."""

    TITLE = "Attention"
    HELP = """\
**What it shows.** For the selected layer and head, how much each position (a row, labelled with its input
character) attends to each earlier position (a column). Each row sums to 1; the upper triangle is empty because a
position cannot look ahead. While a sample is being drawn, the pane shows the sample's attention instead.
`h` moves to the next head, `l` to the next layer; with this pane focused, `up`/`down` choose the row whose
exact weights are printed under the map.

**Why it matters.** Attention is how a position gathers information from earlier characters. Different heads
learn different habits, and watching them form is watching the model learn to use context.

**How to read it.** Bright cells are heavy weights (the scale under the map runs from 0 to 1). A bright first
column means "look at the start of the name" (`·` is BOS, the start and end token); a bright diagonal means
"look at myself". Early in training every row is spread evenly; patterns sharpen as the loss falls.
"""

    BINDINGS = [
        Binding("up", "row(-1)", "Row up", show=False),
        Binding("down", "row(1)", "Row down", show=False),
    ]

    snapshot: var[Snapshot | None] = var(None)
    sample: var[SampleState | None] = var(None)
    showing_sample: var[bool] = var(False)
    attn_layer: var[int] = var(0)
    attn_head: var[int] = var(0)
    color_mode: var[ColorMode] = var[ColorMode]("256")
    row: var[int | None] = var[int | None](None)  # the selected query row; None follows the last

    def __init__(self, block_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.block_size = block_size  # the most positions a document can have

    def on_mount(self) -> None:
        """The title from the start."""
        self.watch_attn_head()

    def watch_attn_head(self) -> None:
        """Layer and head in the title (it changes only on a key press: a title change repaints the pane)."""
        self.border_title = f"{self.TITLE} · layer {self.attn_layer} · head {self.attn_head}"
        self.data_changed()

    watch_attn_layer = watch_attn_head

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Redraw the lines that changed (in this pane's turn while training runs)."""
        self.data_changed(urgent=snapshot is None or not snapshot.running)

    def _changed(self) -> None:
        self.data_changed()

    watch_sample = watch_showing_sample = watch_color_mode = watch_row = _changed

    def action_row(self, delta: int) -> None:
        """Select the row above or below (the last row follows new data)."""
        labels, rows = self.current()
        if not rows:
            return
        current = len(rows) - 1 if self.row is None else min(self.row, len(rows) - 1)
        new = max(0, min(len(rows) - 1, current + delta))
        self.row = None if new == len(rows) - 1 else new

    def current(self) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
        """Labels and rows of the attention shown now (the sample's, or the latest step's)."""
        if self.showing_sample and self.sample is not None and self.sample.tokens:
            return self.sample.attention(self.attn_layer, self.attn_head)
        report = self.snapshot.report if self.snapshot is not None else None
        if report is None or not report.attention:
            return (), ()
        return report.tokens, report.attention[self.attn_layer][self.attn_head]

    def _what(self) -> Text:
        """What the map shows: the sample being drawn, or the latest step's document."""
        text = Text(no_wrap=True, overflow="ellipsis")
        report = self.snapshot.report if self.snapshot is not None else None
        if self.showing_sample and self.sample is not None:
            text.append("sample ", style="dim")
            text.append(f"“{self.sample.text}”", style="bold")
        elif report is not None:
            text.append(f"step {report.step} ", style="dim")
            text.append(f"“{report.doc}”", style="bold")
        return text

    def build_lines(self, width: int, height: int) -> list[Text]:
        """What is shown, the heatmap (key labels on top, query labels down the side), the scale, one row's weights."""
        labels, rows = self.current()
        if not rows:
            return wrap("No attention yet: it appears after the first step (n takes one).", width)
        n = len(rows)
        # Cells as large as the longest document allows (so that they keep their size from one step to the next)
        cell = max(2, min(6, (width - 4) // self.block_size))
        tall = height - 4 >= 2 * self.block_size  # two lines per row on a big screen
        selected = n - 1 if self.row is None else min(self.row, n - 1)
        room = max(1, (height - 4) // (2 if tall else 1))  # rows that fit under: what, header; above: scale, weights
        first = 0 if n <= room else min(max(0, selected - room + 1), n - room)
        header = Text("   ")
        for label in labels:
            header.append(label.center(cell), style="bold")
        if first > 0 or first + room < n:
            header.append(f" rows {first + 1}-{min(n, first + room)} of {n}", style="dim")
        lines = [self._what(), header]
        for q in range(first, min(n, first + room)):
            line = Text()
            line.append(f"{'▶' if q == selected else ' '}{labels[q]} ",
                        style="bold reverse" if q == selected else "bold")
            cells = [heat_cell(weight, self.color_mode, cell) for weight in rows[q]]
            lines.append(append_runs(line, cells))
            if tall:
                lines.append(append_runs(Text("   "), cells))
        lines.append(self._scale())
        lines.append(self._weights(labels, rows[selected], labels[selected]))
        return lines

    def _scale(self) -> Text:
        text = append_runs(Text("0 "), [heat_cell(i / 10, self.color_mode, 1) for i in range(11)])
        text.append(" 1  (weight)", style="dim")
        return text

    def _weights(self, labels: tuple[str, ...], weights: tuple[float, ...], query: str) -> Text:
        pairs = " ".join(f"{label}{prob(weight)}" for label, weight in zip(labels, weights, strict=False))
        return Text(f"{query} looks at: {pairs}", overflow="ellipsis")
