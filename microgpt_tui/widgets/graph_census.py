"""The graph pane: how big a computation graph the last step built, and what fused and atomic modes cost."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var

from microgpt_tui.messages import EngineFigures, Snapshot
from microgpt_tui.palette import compact, pack, sparkline, wrap
from microgpt_tui.widgets.pane import Pane


class GraphCensus(Pane):
    """Nodes, edges, depth, counts by operation and by model stage, and the fused/atomic comparison."""

    TITLE = "Graph"
    HELP = """\
**What it shows.** The computation graph the last step's backward pass walked: every node reachable from the
loss (parameters and constants included), the edges between them, the longest path (depth), and how the nodes
split by operation and by stage of the model; the first line says which step, in which mode, built it (the title
shows the mode of the next step). The sparkline follows the node count over recent steps (longer names build
bigger graphs). The `mode` table compares the two graph modes as measured in this session (`▶`: the next step's).

**Why it matters.** This graph is what autograd builds and walks for every single step: its size is the cost of
training. `m` switches between **atomic** mode, one node per scalar `+ * ** log exp relu` (exactly what
microgpt builds), and **fused** mode, one node per dot product, softmax, rmsnorm or cross-entropy. Both compute
the very same losses, bit for bit: the lesson is that the same maths can be organised into a far smaller graph,
and a far smaller graph is a far faster step.

**How to read it.** Switch with `m` and watch the node count and the time per step jump while the loss chart
carries on as if nothing happened. In atomic mode most nodes are `+` and `*` of dot products, and most of them
live in the MLP and attention stages.
"""

    snapshot: var[Snapshot | None] = var(None)

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Name the mode of the next step in the title (only when it changes: a new title repaints the pane)."""
        title = self.TITLE if snapshot is None else f"{self.TITLE} · {snapshot.engine}"
        if self.border_title != title:
            self.border_title = title
        self.data_changed(urgent=snapshot is None or not snapshot.running)

    def build_lines(self, width: int, height: int) -> list[Text]:
        """The census lines that fit, most important first."""
        snapshot = self.snapshot
        report = snapshot.report if snapshot is not None else None
        if snapshot is None or report is None:
            return wrap("No graph yet: it appears after the first step (n takes one).", width)
        graph = report.graph
        # (priority, lines): when the pane is short, the lowest numbers are kept
        blocks: list[tuple[int, list[Text]]] = []
        counts = [Text.assemble(f"step {report.step} ", (f"({report.engine})", "bold")),
                  Text.assemble((f"{graph.nodes:,}", "bold"), " nodes"),
                  Text.assemble((f"{graph.edges:,}", "bold"), " edges"),
                  Text(f"depth {graph.depth:,}"), Text(f"{graph.params:,} params"),
                  Text(f"{graph.constants:,} consts")]
        blocks.append((0, pack(counts[:3], width, 3)))
        blocks.append((3, pack(counts[3:], width, 2)))
        history = snapshot.node_history[-max(1, width - 11):]
        spark = Text(no_wrap=True, overflow="ellipsis")
        spark.append(sparkline([float(v) for v in history]), style="cyan")
        spark.append(" nodes/step", style="dim")
        blocks.append((2, [spark]))
        by_op = [Text.assemble((op, "bold"), f" {compact(count)}") for op, count in graph.by_op]
        blocks.append((5, pack([Text("by op:", style="dim"), *by_op], width, 2)))
        by_stage = [Text.assemble((stage, "bold"), f" {compact(count)}") for stage, count in graph.by_stage]
        blocks.append((6, pack([Text("by stage:", style="dim"), *by_stage], width, 2)))
        blocks.append((1, self._modes(snapshot, width)))
        kept = select_blocks(blocks, height)
        return [line for _, lines in kept for line in lines]

    def _modes(self, snapshot: Snapshot, width: int) -> list[Text]:
        figures = {f.engine: f for f in snapshot.engines}
        lines = [Text(" mode    nodes   time", style="dim", no_wrap=True)]
        for engine in ("fused", "atomic"):
            fig = figures.get(engine)
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("▶" if engine == snapshot.engine else " ", style="bold")
            line.append(f"{engine:<6}", style="bold" if engine == snapshot.engine else "dim")
            if fig is None:
                line.append("  (not run: m)", style="dim")
            else:
                line.append(f" {compact(fig.nodes):>6} {fig.seconds * 1000:>4.0f} ms")
            lines.append(line)
        words = lesson(figures.get("fused"), figures.get("atomic")).split()
        lines.extend(pack([Text(word, style="italic") for word in words], width, 4, sep=" "))
        return lines


def lesson(fused: EngineFigures | None, atomic: EngineFigures | None) -> str:
    """The point of the two modes, with this session's measured ratios once both have run."""
    if fused is None or atomic is None or fused.seconds <= 0 or fused.nodes_per_position <= 0:
        return "Same losses either way: atomic builds a far bigger graph, far slower."
    nodes = atomic.nodes_per_position / fused.nodes_per_position
    slower = atomic.seconds / fused.seconds
    return f"Same losses either way: atomic builds {nodes:.0f}× the nodes, {slower:.0f}× slower."


def select_blocks(blocks: list[tuple[int, list[Text]]], height: int) -> list[tuple[int, list[Text]]]:
    """The blocks that fit in `height` lines, most important first, shown in their original order."""
    keep: set[int] = set()
    used = 0
    for index in sorted(range(len(blocks)), key=lambda i: blocks[i][0]):
        size = len(blocks[index][1])
        if used + size <= height:
            keep.add(index)
            used += size
    return [block for i, block in enumerate(blocks) if i in keep]
