"""The loss pane: every step's loss, its smoothed line and the random-guess level, drawn with plotext.

plotext keeps one global figure, so every plotext call of the app lives in this file and runs on the UI thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotext as plt
from rich.text import Text
from textual.reactive import var

from microgpt.report import StepReport
from microgpt.smoothing import Smoothed, debiased_ema
from microgpt_tui.messages import Snapshot
from microgpt_tui.palette import ColorMode, pack
from microgpt_tui.widgets.pane import Pane

LOSS_COLOR = 67  # xterm-256 steel blue
EMA_COLOR = 214  # xterm-256 orange
GUESS_COLOR = 167  # xterm-256 soft red
QUADRANTS = "[▖▗▘▝▙▚▛▜▞▟▀▄▌▐█]+"  # plotext's hd marker: the smoothed line


class LossSeries:
    """The loss history and what the chart derives from it, kept up to date incrementally.

    A long run has a long history; each redraw only looks at the steps added since the last one: the smoothed
    line, the extent of the losses, and the dots of every column of the chart that is already complete.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.losses: Sequence[float] = ()
        self.smooth = Smoothed()
        self.lo, self.hi = math.inf, -math.inf  # extent of the finite losses
        self._seen = 0  # losses already folded into the extent
        self._dots_key: tuple[int, int] = (0, 0)  # (span, columns) the finished columns were computed for
        self._dots_done: list[int] = []  # the steps to draw from the finished columns
        self._dots_column = 0  # the first column not finished yet

    def update(self, losses: Sequence[float]) -> None:
        """Take the history as it is now (start again if it is not the old one extended)."""
        known = len(self.smooth)
        if len(losses) < known or (known and losses[known - 1] != self.losses[known - 1]):
            self._reset()
        self.losses = losses
        debiased_ema(losses, out=self.smooth)
        for v in losses[self._seen:]:
            if math.isfinite(v):
                self.lo, self.hi = min(self.lo, v), max(self.hi, v)
        self._seen = len(losses)

    def dots(self, span: int, columns: int) -> list[int]:
        """The steps (0-based) to draw as dots when `columns` columns show an axis of `span` steps."""
        n = len(self.losses)
        if (span, columns) != self._dots_key or self._dots_column * span // columns > n:
            self._dots_key, self._dots_done, self._dots_column = (span, columns), [], 0
        while self._dots_column < columns:
            a, b = self._dots_column * span // columns, (self._dots_column + 1) * span // columns
            if b > n:
                break
            self._dots_done.extend(envelope(self.losses, range(a, b)))
            self._dots_column += 1
        a = self._dots_column * span // columns
        return self._dots_done + (envelope(self.losses, range(a, n)) if a < n else [])


class LossChart(Pane):
    """Loss per step with its smoothed line, the random-guess level, and the current document's letters."""

    TITLE = "Loss"
    HELP = """\
**What it shows.** The training loss of every step (blue dots), the same loss smoothed (orange line: a
debiased exponential moving average, as TensorBoard draws it) and a dotted line at ln(vocabulary size), the loss
of a model that guesses every next character uniformly at random. Below the chart: the document of the latest
step and the loss at each of its positions (`e 2.9` means "predicting `e` here cost 2.9").

**Why it matters.** The loss is the average surprise, -log p(the right next character). Falling below the
random-guess line means the model learned something; where it levels off is what this tiny model can do.

**How to read it.** Single steps are noisy (one short name per step): follow the smoothed line. Per-position
losses show which letters are easy (after `q` comes `u`) and which are guesses (the first letter of a name).
"""

    snapshot: var[Snapshot | None] = var(None)
    color_mode: var[ColorMode] = var[ColorMode]("256")

    def __init__(self, vocab_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vocab_size = vocab_size
        self.guess = math.log(vocab_size)
        self.series = LossSeries()

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Redraw the lines that changed (in this pane's turn while training runs)."""
        self.data_changed(urgent=snapshot is None or not snapshot.running)

    def watch_color_mode(self) -> None:
        """Redraw in the new colours."""
        self.data_changed()

    def build_lines(self, width: int, height: int) -> list[Text]:
        """Summary line, the chart (plotext), its legend, the latest document's per-position losses."""
        snapshot = self.snapshot
        report = snapshot.report if snapshot is not None else None
        self.series.update(snapshot.losses if snapshot is not None else ())
        losses, smooth = self.series.losses, self.series.smooth
        lines = [self._summary(losses, smooth, report)]
        doc_lines = document_losses(report, width) if report is not None else []
        chart_height = height - len(lines) - len(doc_lines) - 1
        if chart_height >= 5 and width >= 20:
            lines.extend(self._plot(width, chart_height).split("\n"))
            lines.append(self._legend())
        elif not losses:
            lines.append(Text("no steps yet: press space to train or n for one step", style="dim"))
        lines.extend(doc_lines)
        return lines

    def _summary(self, losses: Sequence[float], smooth: list[float], report: StepReport | None) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if not losses:
            text.append("no steps yet", style="dim")
            return text
        text.append(f"step {len(losses)}  ", style="dim")
        text.append("loss ")
        text.append(f"{losses[-1]:.4f}", style="bold")
        text.append("  smoothed ")
        text.append(f"{smooth[-1]:.4f}", style="bold")
        if report is not None:
            text.append(f"  lr {report.lr:.4f}", style="dim")
        return text

    def _legend(self) -> Text:
        color = self.color_mode != "none"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("⠒ loss per step  ", style=f"color({LOSS_COLOR})" if color else "")
        text.append("▀▄ smoothed  ", style=f"bold color({EMA_COLOR})" if color else "")
        text.append(f"┈ random guess {self.guess:.2f}",
                    style=f"color({GUESS_COLOR})" if color else "")
        return text

    def _plot(self, width: int, height: int) -> Text:
        """The chart as styled text, exactly width x height cells.

        plotext draws without colour; the glyphs are coloured here (braille dots: the loss, quadrant blocks:
        the smoothed line, `┈`: random guess), so every colour mode looks the same and none pays for ANSI parsing.
        The frame and the dots share one colour, so that a line of the chart changes style only a few times.
        """
        plt.terminal.limit(False, False)  # the pane, not the terminal plotext detects, sets the size
        fig = plt.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.theme("colorless")
        fig.legend(active=False)
        series = self.series
        losses, smooth = series.losses, series.smooth
        n = len(losses)
        steps = self.snapshot.steps if self.snapshot is not None else 0
        # Axes that change rarely: x runs to a round number (1-2-5) past the last step, y to quarter units. Old
        # points then stay where they are from one redraw to the next, and only the lines with new points change.
        lo = math.floor(min(series.lo, self.guess) * 4 - 0.5) / 4
        hi = math.ceil(max(series.hi, self.guess) * 4 + 0.5) / 4
        lo = max(0.0, lo)
        fig.ruler("y").lim(lo, hi)
        y_step = 0.25 if hi - lo <= 1.5 else 0.5 if hi - lo <= 3 else 1.0
        first = math.ceil(lo / y_step - 1e-9) * y_step
        y_ticks = [first + k * y_step for k in range(int((hi - first) / y_step + 1e-9) + 1)]
        fig.ruler("y").ticks(y_ticks, [f"{t:.2f}" for t in y_ticks])
        last_x = chart_span(n, steps)
        fig.ruler("x").lim(1, last_x)
        ticks = nice_ticks(last_x, max(2, width // 12))
        fig.ruler("x").ticks(ticks, [str(t) for t in ticks])
        fig.line(self.guess, style="dotted")
        if n:
            kept = series.dots(last_x, max(1, width - 6))  # the lowest and highest loss per cell across
            ys = [losses[i] if math.isfinite(losses[i]) else hi for i in kept]
            fig.draw(fig.signal([float(i + 1) for i in kept], ys, marker="braille"))
            if n > 1:
                ends = [run[-1] for run in columns_of(n, last_x, max(2, width - 6))]  # a point per cell across
                line = fig.signal([float(i + 1) for i in ends], [smooth[i] for i in ends], marker="hd")
                line.lines()
                fig.draw(line)
        text = Text(fig.build().string(colorless=True).rstrip("\n"), no_wrap=True, end="")
        if self.color_mode != "none":  # few style changes: each one costs bytes on every redraw
            text.stylize(f"color({LOSS_COLOR})")
            text.highlight_regex(QUADRANTS, f"bold color({EMA_COLOR})")
            text.highlight_regex("┈+", f"color({GUESS_COLOR})")
        return text


def chart_span(n: int, steps: int) -> int:
    """Where the x axis ends: the first of 10, 20, 50, 100, 200, 500 ... at or past step n (at most `steps`)."""
    span = 10
    while span < n:
        span = span * 5 // 2 if str(span).startswith("2") else span * 2
    return max(2, min(span, max(steps, n)))


def columns_of(n: int, span: int, columns: int) -> list[range]:
    """The steps (0-based) of the first n that fall in each of `columns` equal slices of an axis of `span` steps.

    The slices depend on the axis, not on n: a slice once full never changes again.
    """
    runs = []
    for c in range(columns):
        a, b = c * span // columns, min(n, (c + 1) * span // columns)
        if a >= n:
            break
        if b > a:
            runs.append(range(a, b))
    return runs


def envelope(values: Sequence[float], run: range) -> list[int]:
    """The steps of a run to draw: all of them when there are two or fewer, else its lowest and its highest loss
    (the spread stays visible, and plotext's cost stays proportional to the width, not to the steps)."""
    if len(run) <= 2:
        return list(run)
    low = min(run, key=lambda i: values[i] if math.isfinite(values[i]) else math.inf)
    high = max(run, key=lambda i: values[i] if math.isfinite(values[i]) else -math.inf)
    return sorted({low, high})


def nice_ticks(last: int, count: int) -> list[int]:
    """About `count` round step numbers from 1 to `last` (1 and a multiple of 1, 2 or 5 times a power of ten)."""
    raw = max(1.0, last / max(1, count))
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks = [1] + [int(step * k) for k in range(1, int(last // step) + 1) if step * k > 1]
    return ticks


def document_losses(report: StepReport, width: int, max_lines: int = 2) -> list[Text]:
    """The latest document and each position's loss (`e 2.9`), packed into at most `max_lines` lines."""
    chunks = [Text(f"“{report.doc}”", style="bold")]
    for target, loss in zip(report.targets, report.position_losses, strict=False):
        style = "green" if loss < 1.0 else "yellow" if loss < 2.5 else "red"
        chunks.append(Text.assemble((target, "bold"), (f" {loss:.1f}", style)))
    return pack(chunks, width, max_lines)
