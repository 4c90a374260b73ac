"""The gradient pane: each weight matrix's gradient norm on a log scale, its recent history, its update ratio."""

from __future__ import annotations

import math

from rich.text import Text
from textual.reactive import var

from microgpt_tui.messages import Snapshot
from microgpt_tui.palette import sci, sparkline, wrap
from microgpt_tui.widgets.pane import Pane


def short_name(name: str, n_layer: int) -> str:
    """`layer0.attn_wq` as `attn_wq` when there is one layer, as `0.attn_wq` otherwise."""
    if name.startswith("layer"):
        layer, _, rest = name[len("layer"):].partition(".")
        return rest if n_layer == 1 else f"{layer}.{rest}"
    return name


class GradNorms(Pane):
    """Per-matrix gradient norms with a log-scale history each, and the update/weight ratio."""

    TITLE = "Gradient norms"
    HELP = """\
**What it shows.** One row per weight matrix, in the reference's order (`wte` token embeddings, `wpe` position
embeddings, `lm_head`, then per layer the attention matrices `attn_wq/wk/wv/wo` and the MLP `mlp_fc1/fc2`):
the L2 norm of the loss's gradient with respect to that matrix, as a sparkline over recent steps on a shared
**log scale** and as a number, and `upd/w`, the size of the step Adam just took relative to the weights.

**Why it matters.** Gradients are the signal every weight learns from. Vanishing norms mean a matrix has
stopped learning; exploding ones mean trouble (a NaN is near). The update ratio says how fast the weights
actually move: Adam normalises the gradient, so this follows the learning rate, which decays to 0.

**How to read it.** Taller bars are larger norms; each step up the scale is a multiple, not an addition (the
range is printed at the bottom). Compare rows: matrices near the output (`lm_head`) usually get the largest
gradients. `upd/w` around 1e-2 early on is fast learning; it shrinks as the learning rate decays.
"""

    snapshot: var[Snapshot | None] = var(None)

    def __init__(self, n_layer: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.n_layer = n_layer

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Redraw the lines that changed (in this pane's turn while training runs)."""
        self.data_changed(urgent=snapshot is None or not snapshot.running)

    def build_lines(self, width: int, height: int) -> list[Text]:
        """A header, one row per matrix, the scale."""
        report = self.snapshot.report if self.snapshot is not None else None
        if self.snapshot is None or report is None:
            return wrap("No gradients yet: they appear after the first step (n takes one).", width)
        history = dict(self.snapshot.grad_history)
        names = [short_name(m.name, self.n_layer) for m in report.matrices]
        name_width = max(len(n) for n in names)
        spark_width = max(4, width - name_width - 3 - 2 * 7)
        logs = [math.log10(v) for m in report.matrices for v in history.get(m.name, ()) if v > 0 and math.isfinite(v)]
        lo = min(logs) if logs else -3.0
        hi = max(logs) if logs else 0.0
        if hi - lo < 0.5:  # at least half a decade, so that noise does not look like a trend
            lo, hi = (lo + hi) / 2 - 0.25, (lo + hi) / 2 + 0.25
        lines = [Text(f"{'matrix':<{name_width}} {'history':<{spark_width}} {'|grad|':>7} {'upd/w':>7}",
                      style="dim", no_wrap=True, overflow="ellipsis")]
        rows = list(zip(report.matrices, names, strict=True))
        room = max(1, height - 2)
        for stats, name in rows[:room]:
            values = history.get(stats.name, ())[-spark_width:]
            logged = [math.log10(v) if v > 0 else -math.inf for v in values]
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{name:<{name_width}} ", style="bold")
            line.append(sparkline(logged, lo, hi).ljust(spark_width), style="cyan")
            line.append(f" {sci(stats.grad_norm):>7}")
            line.append(f" {sci(stats.update_ratio):>7}", style="dim")
            lines.append(line)
        if len(rows) > room:
            lines[-1] = Text(f"… {len(rows) - room + 1} more matrices (enlarge the pane)", style="dim")
        lines.append(Text(f"log scale: ▁ {10 ** lo:.0e} … █ {10 ** hi:.0e}", style="dim",
                          overflow="ellipsis"))
        return lines
