"""The loss pane: every step's loss, its smoothed line, the random-guess level, and the latest document's letters.

The chart is drawn here, cell by cell, on a grid whose rows stand for exact values: rows are `res` apart, the y
ticks are round numbers on their own rows (evenly spaced), and a level such as the random guess is drawn in the
row nearest its value with the scan-line glyph (`⎺⎻─⎼⎽`: five heights a row, `─` the row's own value) nearest
its place in that row, so the line sits on its value to a tenth of a row and no label claims a gridline it is
not on. Each step's loss is a braille dot (2x4
dots a cell), the smoothed line is quadrant blocks (2x2 a cell). Optional inputs for later work: `marks` (steps
where the schedule changed: a dashed vertical line), `cursor` (the step shown, in reverse video) and `ghosts`
(other runs' losses, smoothed, as dim braille).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.reactive import var

from microgpt.report import StepReport
from microgpt.smoothing import Smoothed, debiased_ema
from microgpt_tui.messages import Snapshot
from microgpt_tui.palette import ColorMode, append_runs, pack
from microgpt_tui.widgets.pane import Pane

MEAN_OF = 100  # the summary line's mean covers this many recent steps
Y_STEPS = (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
MAX_ROWS_PER_TICK = 5
SCAN_LINES = "⎺⎻─⎼⎽"  # a horizontal line at 5 heights in a cell, top to bottom; the middle one is the row's value
BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [dot row][dot column]
QUADRANTS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"  # indexed by bits: top-left 1, top-right 2, bottom-left 4, bottom-right 8

# (frame and loss dots, smoothed line, random guess, ghost runs, schedule marks) in each colour mode. In 256
# colours and truecolor: steel blue, orange, soft red. In 16 colours: the terminal's own foreground and colours
# readable on dark and light backgrounds; without colour: bold and dim.
CHART_STYLES: dict[str, tuple[str, str, str, str, str]] = {
    "truecolor": ("color(67)", "bold color(214)", "color(167)", "color(246)", "color(114)"),
    "256": ("color(67)", "bold color(214)", "color(167)", "color(246)", "color(114)"),
    "16": ("", "bold magenta", "red", "dim", "green"),
    "none": ("", "bold", "", "dim", ""),
}
# Per-position losses: easy (< 1.0), middling, hard (>= 2.5).
LETTER_STYLES: dict[str, tuple[str, str, str]] = {
    "truecolor": ("green", "yellow", "red"),
    "256": ("green", "yellow", "red"),
    "16": ("green", "", "red"),
    "none": ("", "", "bold"),
}


def recent_mean(values: Sequence[float], count: int = MEAN_OF) -> float:
    """The mean of the finite values among the last `count` (nan when there are none)."""
    recent = [v for v in values[-count:] if math.isfinite(v)]
    return math.fsum(recent) / len(recent) if recent else math.nan


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


@dataclass(frozen=True)
class Ghost:
    """Another run's losses, drawn smoothed behind this run's (a compared run, or the steps a branch replaced)."""

    label: str  # the legend's words, e.g. "lr 0.1" or "before the branch"
    losses: tuple[float, ...]  # the loss of each of its steps
    first_step: int = 1  # the step of losses[0]


@dataclass(frozen=True)
class YScale:
    """Rows standing for exact values: row 0 (the top) is `top`, each row below is `res` less.

    Ticks are the round values `step` apart on every `every`-th row counted from the bottom row, which is a tick.
    """

    top: float
    res: float
    rows: int
    step: float
    every: int
    bottom_tick: int  # the bottom row's value in units of `step`

    def row(self, value: float) -> int:
        """The row nearest a value (clamped to the chart)."""
        return min(self.rows - 1, max(0, round((self.top - value) / self.res)))

    def position(self, value: float) -> float:
        """Where a value falls, in rows from the top (row centres are whole numbers)."""
        return (self.top - value) / self.res

    def ticks(self) -> list[tuple[int, float]]:
        """(row, value) of every tick, bottom first."""
        return [(self.rows - 1 - j * self.every, (self.bottom_tick + j) * self.step)
                for j in range((self.rows - 1) // self.every + 1)]

    def label(self, value: float) -> str:
        """A tick value with as many decimals as the tick step needs."""
        decimals = 0 if self.step >= 1 and self.step.is_integer() else 1 if round(self.step * 10, 9).is_integer() \
            else 2 if round(self.step * 100, 9).is_integer() else 3
        return f"{value:.{decimals}f}"


def y_scale(lo: float, hi: float, rows: int) -> YScale:
    """The finest scale of `rows` rows that shows [lo, hi] with round ticks at least two rows apart."""
    lo, hi = min(lo, hi), max(lo, hi)
    for step in Y_STEPS:
        bottom = math.floor(lo / step + 1e-9)
        need = hi - bottom * step
        fit = MAX_ROWS_PER_TICK if need <= 0 else math.floor((rows - 1) * step / need + 1e-9)
        every = min(fit, MAX_ROWS_PER_TICK, max(1, rows - 1))
        if every >= 2 or (every >= 1 and rows <= 2):
            res = step / every
            return YScale(bottom * step + (rows - 1) * res, res, rows, step, every, bottom)
    step = 10 ** math.ceil(math.log10(max(hi - lo, 1e-9)))  # beyond Y_STEPS: a power of ten per two rows
    bottom = math.floor(lo / step)
    return YScale(bottom * step + (rows - 1) * step / 2, step / 2, rows, step, 2, bottom)


class LossChart(Pane):
    """Loss per step with its smoothed line, the random-guess level, and the current document's letters."""

    TITLE = "Loss"
    HELP = """\
**What it shows.** The training loss of every step (dots), the same loss smoothed (the bold line: a debiased
exponential moving average of the recent steps, weight 0.95, as TensorBoard draws it) and a thin line at
ln(vocabulary size), the loss of a model that guesses every next character uniformly at random. The first line
gives the step's loss, the plain mean of the last 100 steps and the smoothed value; the title names the step the
chart shows. Below the chart: that step's document and the loss at each of its positions (`e 2.9` means
"predicting `e` here cost 2.9").

**Why it matters.** The loss is the average surprise, -log p(the right next character). Falling below the
random-guess line means the model learned something; where it levels off is what this tiny model can do.

**How to read it.** Single steps are noisy (one short name per step): follow the smoothed line, or the 100-step
mean. Each row of the chart is the same slice of loss, and the labels on the left sit on their own rows.
Per-position losses show which letters are easy (after `q` comes `u`) and which are guesses (the first letter of
a name).
"""

    snapshot: var[Snapshot | None] = var(None)
    color_mode: var[ColorMode] = var[ColorMode]("256")
    marks: var[tuple[int, ...]] = var[tuple[int, ...]](())
    """Steps to mark with a dashed vertical line (where the schedule changed)."""
    cursor: var[int | None] = var[int | None](None)
    """The step shown (history): its column in reverse video and its number in the title; None: the latest."""
    ghosts: var[tuple[Ghost, ...]] = var[tuple[Ghost, ...]](())
    """Other runs' losses to draw behind this one's, smoothed."""

    def __init__(self, vocab_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.vocab_size = vocab_size
        self.guess = math.log(vocab_size)
        self.series = LossSeries()
        self._ghost_smooth: dict[int, list[float]] = {}  # id(ghost.losses) -> its smoothed losses

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Redraw the lines that changed (in this pane's turn while training runs)."""
        self._title()
        self.data_changed(urgent=snapshot is None or not snapshot.running)

    def watch_color_mode(self) -> None:
        """Redraw in the new colours."""
        self.data_changed()

    def watch_marks(self) -> None:
        """Redraw with the new marks."""
        self.data_changed()

    def watch_cursor(self) -> None:
        """Redraw with the cursor on its step, named in the title."""
        self._title()
        self.data_changed()

    def watch_ghosts(self, ghosts: tuple[Ghost, ...]) -> None:
        """Redraw with the new ghost runs."""
        self._ghost_smooth = {id(g.losses): self._ghost_smooth.get(id(g.losses)) or debiased_ema(g.losses)
                              for g in ghosts}
        self.data_changed()

    def shown_step(self) -> int:
        """The step the pane draws: the cursor's, else the step in progress whose phase is shown, else the latest."""
        if self.cursor is not None:
            return self.cursor
        snapshot = self.snapshot
        if snapshot is not None and snapshot.report is not None and snapshot.report.step > snapshot.step:
            return snapshot.report.step  # a phase of the step in progress: its letters so far under the chart
        return snapshot.step if snapshot is not None else 0

    def _title(self) -> None:
        title = f"{self.TITLE} · step {self.shown_step()}"
        if self.border_title != title:
            self.border_title = title

    def on_mount(self) -> None:
        """The title names the step from the start."""
        self._title()

    def build_lines(self, width: int, height: int) -> list[Text]:
        """Summary line, the chart, its legend, the latest document's per-position losses."""
        snapshot = self.snapshot
        report = snapshot.report if snapshot is not None else None
        self.series.update(snapshot.losses if snapshot is not None else ())
        losses, smooth = self.series.losses, self.series.smooth
        k = self.cursor
        lines = [self._summary(width, losses, smooth, report) if k is None  # a past step: its numbers up to it
                 else self._summary(width, losses[:k], smooth[:k], report)]
        doc_lines = document_losses(report, width, styles=LETTER_STYLES[self.color_mode]) if report is not None else []
        legend = self._legend(width)
        chart_height = height - len(lines) - len(doc_lines) - len(legend)
        if chart_height >= 6 and width >= 20:
            lines.extend(self._plot(width, chart_height))
            lines.extend(legend)
        elif not losses:
            lines.append(Text("no steps yet: press space to train or n for one step", style="dim"))
        lines.extend(doc_lines)
        return lines

    def _summary(self, width: int, losses: Sequence[float], smooth: list[float], report: StepReport | None) -> Text:
        if not losses:
            return Text("no steps yet", style="dim")
        n = len(losses)
        chunks = [  # the step is in the title
            Text.assemble("loss ", (f"{losses[-1]:.4f}", "bold")),
            Text.assemble("smoothed ", (f"{smooth[-1]:.4f}", "bold")),
            Text.assemble(f"{min(n, MEAN_OF)}-step mean ", (f"{recent_mean(losses):.4f}", "bold")),
        ]
        if report is not None:
            chunks.append(Text(f"lr {report.lr:.4f}", style="dim"))
        return pack(chunks, width, max_lines=1)[0]

    def _legend(self, width: int) -> list[Text]:
        loss, smoothed, guess, ghost, mark = (Style.parse(s) for s in CHART_STYLES[self.color_mode])
        rest = [Text(f"─ random guess {self.guess:.2f}", style=guess)]
        rest += [Text(f"⠒ {g.label}", style=ghost) for g in self.ghosts]
        if self.marks:
            rest.append(Text("┆ schedule changed", style=mark))
        for words in ("smoothed: debiased moving average", "smoothed (debiased)", "smoothed"):
            chunks = [Text("⠒ loss per step", style=loss), Text(f"▀▄ {words}", style=smoothed), *rest]
            lines = pack(chunks, width, max_lines=2)
            shown = "\n".join(line.plain for line in lines)
            if all(chunk.plain in shown for chunk in chunks):  # every entry fits
                break
        return lines

    def _plot(self, width: int, height: int) -> list[Text]:
        """The chart: a frame with y labels, the plot area, the x labels; exactly `height` lines of `width`."""
        series = self.series
        losses, smooth = series.losses, series.smooth
        n = len(losses)
        steps = self.snapshot.steps if self.snapshot is not None else 0
        span = chart_span(max([n, self.cursor or 0, *self.marks, *(g.first_step + len(g.losses) - 1
                                                                   for g in self.ghosts)]), steps)
        lo, hi = min(series.lo, self.guess), max(series.hi, self.guess)
        for g in self.ghosts:
            finite = [v for v in self._ghost_smooth.get(id(g.losses), ()) if math.isfinite(v)]
            if finite:
                lo, hi = min(lo, *finite), max(hi, *finite)
        rows = height - 3  # the top and bottom of the frame, the x labels
        scale = y_scale(lo, hi, rows)
        ticks = scale.ticks()
        labels = {row: scale.label(value) for row, value in ticks}
        label_width = max(len(label) for label in labels.values())
        cols = width - label_width - 2
        canvas = Canvas(cols, rows, span)
        canvas.hline(scale.position(self.guess), "guess")
        for step in self.marks:
            canvas.vline(step, "mark")
        for g in self.ghosts:
            ghost_smooth = self._ghost_smooth.get(id(g.losses)) or debiased_ema(g.losses)
            for step in canvas.steps(g.first_step, len(ghost_smooth)):
                canvas.dot(step, scale.position(ghost_smooth[step - g.first_step]), "ghost")
        if n:
            for i in series.dots(span, 2 * cols):
                v = losses[i]
                canvas.dot(i + 1, scale.position(v) if math.isfinite(v) else 0.0, "loss")
            canvas.line([(step, scale.position(smooth[step - 1])) for step in canvas.steps(1, n)])
        styles = dict(zip(("frame", "smooth", "guess", "ghost", "mark"),
                          (Style.parse(s) for s in CHART_STYLES[self.color_mode]), strict=True))
        styles["loss"] = styles["frame"]
        cursor_column = canvas.column(self.cursor) if self.cursor is not None else None
        frame = styles["frame"]
        out = [Text(" " * label_width + "┌" + "─" * cols + "┐", style=frame, no_wrap=True, end="")]
        for row in range(rows):
            line = Text(no_wrap=True, end="")
            line.append((labels[row] if row in labels else "").rjust(label_width) + ("┤" if row in labels else "│"),
                        style=frame)
            cells = []
            for x in range(cols):
                char, kind = canvas.cell(x, row)
                style = styles.get(kind, Style.null())
                if x == cursor_column:
                    style = style + Style(reverse=True)
                cells.append((char, style))
            append_runs(line, cells)
            line.append("│", style=frame)
            out.append(line)
        bottom = ["─"] * cols
        under = [" "] * (cols + 2)
        for tick in nice_ticks(span, max(2, cols // 10)):
            x = canvas.column(tick)
            bottom[x] = "┬"
            label = str(tick)
            start = min(max(0, x + 1 - len(label) // 2), cols + 2 - len(label))
            if all(c == " " for c in under[max(0, start - 1): start + len(label) + 1]):
                under[start: start + len(label)] = list(label)
        out.append(Text(" " * label_width + "└" + "".join(bottom) + "┘", style=frame, no_wrap=True, end=""))
        out.append(Text(" " * label_width + "".join(under), style=frame, no_wrap=True, end=""))
        return out


class Canvas:
    """A plot area of `cols` x `rows` cells over steps 1 .. `span`: braille dots, a quadrant-block line, levels.

    What a cell shows, first match wins: the line, a loss dot, a ghost dot, a schedule mark, a level.
    """

    def __init__(self, cols: int, rows: int, span: int) -> None:
        self.cols, self.rows, self.span = cols, rows, span
        self.dots: dict[str, dict[tuple[int, int], int]] = {"loss": {}, "ghost": {}}
        self.quads: dict[tuple[int, int], int] = {}
        self.level_rows: dict[int, tuple[str, str]] = {}  # row -> (scan-line glyph, kind)
        self.mark_columns: dict[int, str] = {}

    def subcolumn(self, step: int) -> int:
        """The half-cell column of a step (1-based): step 1 at the left edge, step `span` at the right."""
        last = 2 * self.cols - 1
        return min(last, max(0, round((step - 1) * last / max(1, self.span - 1))))

    def column(self, step: int) -> int:
        """The cell column of a step."""
        return self.subcolumn(step) // 2

    def steps(self, first: int, count: int) -> list[int]:
        """Of the steps first .. first+count-1, the last one in each half column (a long run: one per column)."""
        last = 2 * self.cols - 1
        if self.span <= 1 or count <= 2 * last:
            return list(range(first, first + count))
        out: list[int] = []
        for x in range(last + 1):  # the largest step whose half column is x: the inverse of `subcolumn`'s rounding
            step = min(first + count - 1, 1 + math.floor((x + 0.5) * (self.span - 1) / last - 1e-9))
            if step >= first and (not out or step > out[-1]):
                out.append(step)
        return out

    def dot(self, step: int, position: float, kind: str) -> None:
        """A braille dot at a step, `position` rows from the top (row centres are whole numbers)."""
        row = round(position)
        if not 0 <= row < self.rows and math.isfinite(position):
            row = min(self.rows - 1, max(0, row))
        elif not math.isfinite(position):
            return
        sub = min(3, max(0, math.floor((position - row + 0.5) * 4)))
        x = self.subcolumn(step)
        cell = (x // 2, row)
        cells = self.dots[kind]
        cells[cell] = cells.get(cell, 0) | BRAILLE_BITS[sub][x % 2]

    def line(self, points: Sequence[tuple[int, float]]) -> None:
        """A connected line through (step, position) points, in half-cell quadrants."""
        last_y: int | None = None
        by_column: dict[int, float] = {}
        for step, position in points:
            if math.isfinite(position):
                by_column[self.subcolumn(step)] = position  # the last step of each half column
        for x in sorted(by_column):
            position = min(self.rows - 0.5, max(-0.5, by_column[x]))
            y = min(2 * self.rows - 1, max(0, math.floor((position + 0.5) * 2)))  # half-row
            lo, hi = (y, y) if last_y is None else (min(y, last_y), max(y, last_y))
            if last_y is not None and hi - lo > 1:  # a jump: fill the half rows between, half in each column
                lo, hi = (lo + 1, hi) if y > last_y else (lo, hi - 1)
            for yy in range(lo, hi + 1):
                cell = (x // 2, yy // 2)
                self.quads[cell] = self.quads.get(cell, 0) | (1 << ((x % 2) + 2 * (yy % 2)))
            last_y = y

    def hline(self, position: float, kind: str) -> None:
        """A level across the chart, `position` rows from the top, in the scan line nearest its height."""
        position = min(self.rows - 0.5, max(-0.5, position))
        row = min(self.rows - 1, round(position))
        height = min(2, max(-2, round((position - row) * len(SCAN_LINES))))
        self.level_rows[row] = (SCAN_LINES[height + len(SCAN_LINES) // 2], kind)

    def vline(self, step: int, kind: str) -> None:
        """A dashed vertical line at a step."""
        if 1 <= step <= self.span:
            self.mark_columns[self.column(step)] = kind

    def cell(self, x: int, y: int) -> tuple[str, str]:
        """(character, kind) of one cell."""
        bits = self.quads.get((x, y))
        if bits:
            return QUADRANTS[bits], "smooth"
        for kind in ("loss", "ghost"):
            bits = self.dots[kind].get((x, y))
            if bits:
                return chr(0x2800 + bits), kind
        if x in self.mark_columns:
            return "┆", self.mark_columns[x]
        if y in self.level_rows:
            return self.level_rows[y]
        return " ", ""


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


def document_losses(report: StepReport, width: int, max_lines: int = 2,
                    styles: tuple[str, str, str] = LETTER_STYLES["256"]) -> list[Text]:
    """The latest document and each position's loss (`e 2.9`), packed into at most `max_lines` lines.

    `styles`: how an easy (< 1.0), a middling and a hard (>= 2.5) position's loss is drawn.
    """
    easy, middling, hard = styles
    chunks = [Text(f"“{report.doc}”", style="bold")]
    for target, loss in zip(report.targets, report.position_losses, strict=False):
        style = easy if loss < 1.0 else middling if loss < 2.5 else hard
        chunks.append(Text.assemble((target, "bold"), (f" {loss:.1f}", style)))
    return pack(chunks, width, max_lines)
