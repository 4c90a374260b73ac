"""The gradient pane: each weight matrix's gradient norm on a log scale, its recent history, its update ratio."""

from __future__ import annotations

import math

from rich.text import Text
from textual.reactive import var

from microgpt.report import MatrixStats
from microgpt_tui.palette import sci, sparkline, wrap
from microgpt_tui.protocol import NOT_COMPUTED
from microgpt_tui.widgets.pane import TrainingPane


def short_name(name: str, n_layer: int) -> str:
    """`layer0.attn_wq` as `attn_wq` when there is one layer, as `0.attn_wq` otherwise."""
    if name.startswith("layer"):
        layer, _, rest = name[len("layer"):].partition(".")
        return rest if n_layer == 1 else f"{layer}.{rest}"
    return name


def shown_value(x: float) -> str:
    """A norm or ratio in 7 characters; `—` when not computed yet (a real nan stays `nan`)."""
    return "—" if x == NOT_COMPUTED else sci(x)


class GradNorms(TrainingPane):
    """Per-matrix gradient norms with a log-scale history each, and the update/weight ratio."""

    TITLE = "Gradient norms"
    HELP = """\
**What it shows.** One row per weight matrix, in the reference's order (`wte` token embeddings, `wpe` position
embeddings, `lm_head`, then per layer the attention matrices `attn_wq/wk/wv/wo` and the MLP `mlp_fc1/fc2`,
prefixed with the layer's number when there are several): the L2 norm of the loss's gradient with respect to
that matrix, as a sparkline over recent steps on a shared **log scale** and as a number, and `upd/w`, the size of
the step Adam just took relative to the weights. When the pane is too short for every layer, it shows the layer
chosen with `l` (the title says which); `z` maximises the pane to see them all.

**Why it matters.** Gradients are the signal every weight learns from. Vanishing norms mean a matrix has
stopped learning; exploding ones mean trouble (a NaN is near). The update ratio says how fast the weights
actually move: Adam normalises the gradient, so this follows the learning rate, which decays to 0.

**How to read it.** Taller bars are larger norms; each step up the scale is a multiple, not an addition (the
range is printed at the bottom). Compare rows: matrices near the output (`lm_head`) usually get the largest
gradients. On the default run `upd/w` is about 1e-1 at step 1, 1-3e-2 by step 100 and about 1e-2 by step 200
(fast learning), then it falls with the learning rate, to about 1e-5 at the last step.
"""

    attn_layer: var[int] = var(0)  # the layer shown when not every layer fits
    SHOWS_PROBE = False  # a probe has no gradients: the pane keeps training's

    def __init__(self, n_layer: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.n_layer = n_layer
        self._one_layer = False  # the last drawing showed only the selected layer

    def watch_attn_layer(self) -> None:
        """Another layer was chosen: show it, if the pane shows one layer at a time."""
        self.data_changed()

    def title_parts(self) -> list[str]:
        """Which layer, when the pane shows one layer at a time."""
        return [f"layer {self.attn_layer} of {self.n_layer}"] if self._one_layer else []

    def short_title_parts(self) -> list[str]:
        """`L0/2`: the layer shown, in few characters."""
        return [f"L{self.attn_layer}/{self.n_layer}"] if self._one_layer else []

    def shown_matrices(self, matrices: tuple[MatrixStats, ...], rows: int) -> tuple[list[MatrixStats], bool]:
        """Every matrix if `rows` allow, else the shared ones and the selected layer's; True when one layer."""
        if len(matrices) <= rows or self.n_layer == 1:
            return list(matrices), False
        prefix = f"layer{self.attn_layer}."
        return [m for m in matrices if not m.name.startswith("layer") or m.name.startswith(prefix)], True

    def build_lines(self, width: int, height: int) -> list[Text]:
        """A header, one row per matrix shown, the scale."""
        report = self.report
        if self.snapshot is None or report is None:
            return wrap("No gradients yet: they appear after the first step (n takes one).", width)
        history = dict(self.snapshot.grad_history)
        shown, self._one_layer = self.shown_matrices(report.matrices, max(1, height - 2))
        self.update_title()
        names = [short_name(m.name, self.n_layer) for m in shown]
        name_width = max(len(n) for n in names)
        spark_width = max(4, width - name_width - 3 - 2 * 7)
        logs = [math.log10(v) for m in report.matrices for v in history.get(m.name, ()) if v > 0 and math.isfinite(v)]
        lo = min(logs) if logs else -3.0
        hi = max(logs) if logs else 0.0
        if hi - lo < 0.5:  # at least half a decade, so that noise does not look like a trend
            lo, hi = (lo + hi) / 2 - 0.25, (lo + hi) / 2 + 0.25
        lines = [Text(f"{'matrix':<{name_width}} {'history'[:spark_width]:<{spark_width}} {'|grad|':>7} {'upd/w':>7}",
                      style="dim", no_wrap=True, overflow="ellipsis")]
        for stats, name in zip(shown, names, strict=True):
            values = history.get(stats.name, ())[-spark_width:]
            logged = [math.log10(v) if v > 0 else -math.inf for v in values]
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{name:<{name_width}} ", style="bold")
            line.append(sparkline(logged, lo, hi).ljust(spark_width), style="cyan")
            line.append(f" {shown_value(stats.grad_norm):>7}")
            line.append(f" {shown_value(stats.update_ratio):>7}", style="dim")
            lines.append(line)
        if self._one_layer:  # the room goes to saying that there are other layers
            scale = Text(f"log ▁{10 ** lo:.0e}…█{10 ** hi:.0e} · l: layers", style="dim", overflow="ellipsis")
        else:
            scale = Text(f"log scale: ▁ {10 ** lo:.0e} … █ {10 ** hi:.0e}", style="dim", overflow="ellipsis")
        lines.append(scale)
        return lines
