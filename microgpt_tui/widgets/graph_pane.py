"""The graph pane: how big a computation graph the shown step built, and what fused and atomic modes cost."""

from __future__ import annotations

import math

from rich.text import Text

from microgpt.report import GraphCensus
from microgpt_tui.labels import quoted
from microgpt_tui.messages import EngineFigures, Snapshot
from microgpt_tui.palette import compact, pack, sparkline, wrap
from microgpt_tui.widgets.pane import TrainingPane


class GraphPane(TrainingPane):
    """Nodes, edges, depth, counts by operation and by model stage, and the fused/atomic comparison."""

    TITLE = "Graph"
    HELP = """\
**What it shows.** The computation graph the step's backward pass walked: every node reachable from the loss
(parameters and constants included), the edges between them, the longest path (depth), and how the nodes split by
operation and by stage of the model; the first line says which step, in which mode, built it (the title adds the
mode of the next step when `m` has changed it). The parameter count is of the parameters *reachable from this
step's loss*: a name uses only some rows of `wte` and `wpe`, so it is below the model's total (`3,712 of 4,192`
on the default model). The sparkline follows the node count over recent steps (longer names build bigger
graphs). The `mode` table compares the two graph modes as measured in this session (`▶`: the next step's).

**Why it matters.** This graph is what autograd builds and walks for every single step: its size is the cost of
training. `m` switches between **atomic** mode, one node per scalar `+ * ** log exp relu` (exactly what
microgpt builds), and **fused** mode, where a node is a whole vector operation (a linear layer, an attention
head, an rmsnorm, a cross-entropy) and each parameter is a leaf. Both compute the very same losses, bit for bit:
the lesson is that the same maths can be organised into a far smaller graph, and a far smaller graph is a far
faster step.

**How to read it.** Switch with `m` and watch the node count and the time per step jump while the loss chart
carries on as if nothing happened. In atomic mode most nodes are `+` and `*` of dot products, and most of them
live in the MLP and attention stages; in fused mode most nodes are parameter leaves.
"""

    def __init__(self, total_params: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.total_params = total_params  # the model's parameter count (what `microgpt train` prints)

    def title_parts(self) -> list[str]:
        """The next step's mode, when `m` has made it differ from the shown step's."""
        snapshot, report = self.snapshot, self.report
        if snapshot is None:
            return []
        if report is not None and report.engine == snapshot.engine:
            return [snapshot.engine]
        return [f"next: {snapshot.engine}"]

    def short_title_parts(self) -> list[str]:
        """Only the next step's mode when it differs (the first line says the shown step's)."""
        parts = self.title_parts()
        return parts if parts and parts[0].startswith("next") else []

    def build_lines(self, width: int, height: int) -> list[Text]:
        """The census lines that fit, most important first; every operation and stage when rows are free."""
        snapshot = self.snapshot
        report = self.report
        if snapshot is None or report is None:
            return wrap("No graph yet: it appears after the first step (n takes one).", width)
        graph = report.graph
        # (priority, lines): when the pane is short, the lowest numbers are kept
        blocks: list[tuple[int, list[Text]]] = []
        word = self.probe_word()
        what = Text(f"probe {quoted(word)} ", style="reverse") if word is not None else Text(f"step {report.step} ")
        counts = [Text.assemble(what, (f"({report.engine})", "bold")),
                  Text.assemble((f"{graph.nodes:,}", "bold"), " nodes"),
                  Text.assemble((f"{graph.edges:,}", "bold"), " edges"),
                  Text(f"depth {graph.depth:,}"), Text(f"{graph.constants:,} consts")]
        blocks.append((0, pack(counts[:3], width, 3)))
        blocks.append((3, pack(counts[3:], width, 2)))
        blocks.append((4, self._params(graph, width)))
        history = snapshot.node_history[-max(1, width - 11):]
        spark = Text(no_wrap=True, overflow="ellipsis")
        spark.append(sparkline([float(v) for v in history]), style="cyan")
        spark.append(" nodes/step", style="dim")
        blocks.append((2, [spark]))
        blocks.append((1, self._modes(snapshot, width)))
        used = sum(len(lines) for _, lines in select_blocks(blocks, height))
        blocks.extend(breakdown(graph, width, height - used))
        kept = select_blocks(blocks, height)
        return [line for _, lines in kept for line in lines]

    def _params(self, graph: GraphCensus, width: int) -> list[Text]:
        """`3,712 of 4,192 params reachable from this step's loss` (a name does not use every row of wte, wpe)."""
        words = [Text(f"{graph.params:,}", style="bold")]
        if graph.params != self.total_params:
            words += [Text("of"), Text(f"{self.total_params:,}")]
        words += [Text(word) for word in "params reachable from this step's loss".split()]
        return pack(words, width, 4, sep=" ")

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
            elif math.isnan(fig.seconds):  # only a finished run's last graph, rebuilt: no step was timed
                line.append(f" {compact(fig.nodes):>6}   — ms")
            else:
                line.append(f" {compact(fig.nodes):>6} {fig.seconds * 1000:>4.0f} ms")
            lines.append(line)
        words = lesson(figures.get("fused"), figures.get("atomic")).split()
        lines.extend(pack([Text(word, style="italic") for word in words], width, 4, sep=" "))
        return lines


def breakdown(graph: GraphCensus, width: int, rows: int) -> list[tuple[int, list[Text]]]:
    """Nodes by operation and by stage: one line each when `rows` allow (side by side if wide), else packed."""
    ops = [(op, f"{count:,}") for op, count in graph.by_op]
    stages = [(stage, f"{count:,}") for stage, count in graph.by_stage]
    op_col = column("by operation", ops)
    stage_col = column("by stage", stages)
    op_width = max(line.cell_len for line in op_col)
    if op_width + 3 + max(line.cell_len for line in stage_col) <= width and max(len(op_col), len(stage_col)) <= rows:
        side = []
        for i in range(max(len(op_col), len(stage_col))):
            line = op_col[i].copy() if i < len(op_col) else Text()
            line.pad_right(op_width + 3 - line.cell_len)
            line.append_text(stage_col[i] if i < len(stage_col) else Text())
            line.no_wrap, line.overflow = True, "ellipsis"
            side.append(line)
        return [(5, side)]
    if len(op_col) + len(stage_col) <= rows:
        return [(5, op_col), (6, stage_col)]
    by_op = [Text.assemble((op, "bold"), f" {compact(count)}") for op, count in graph.by_op]
    by_stage = [Text.assemble((stage, "bold"), f" {compact(count)}") for stage, count in graph.by_stage]
    return [(5, pack([Text("by op:", style="dim"), *by_op], width, 2)),
            (6, pack([Text("by stage:", style="dim"), *by_stage], width, 2))]


def column(heading: str, rows: list[tuple[str, str]]) -> list[Text]:
    """A heading, then `name  count` lines with the counts right-aligned."""
    name_width = max([len(name) for name, _ in rows] + [0])
    count_width = max([len(count) for _, count in rows] + [0])
    lines = [Text(heading, style="dim")]
    for name, count in rows:
        lines.append(Text.assemble((f"{name:<{name_width}}", "bold"), f" {count:>{count_width}}"))
    return lines


def lesson(fused: EngineFigures | None, atomic: EngineFigures | None) -> str:
    """The point of the two modes, with this session's measured ratios once both have run."""
    if fused is None or atomic is None or fused.nodes_per_position <= 0:
        return "Same losses either way: atomic builds a far bigger graph, far slower."
    nodes = atomic.nodes_per_position / fused.nodes_per_position
    if not (fused.seconds > 0 and math.isfinite(atomic.seconds)):  # a graph rebuilt after the run: not timed
        return f"Same losses either way: atomic builds {nodes:.0f}× the nodes (a step of it: far slower)."
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
