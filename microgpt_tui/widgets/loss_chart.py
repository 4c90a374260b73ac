"""The loss pane: every step's loss, its smoothed line, the random-guess level, and the latest document's letters.

The chart is drawn with plotext, which keeps one global figure: every plotext call of the app lives in this file
and runs on the UI thread. The y axis is chosen here so that its rows stand for exact values: plotext places its
limits on the centres of the first and last rows, so with limits `(rows - 1) * res` apart each row is `res` below
the one above, and the y ticks, round values on whole rows, are evenly spaced and on the rows they name. Each
step's loss is a braille dot (2x4 dots a cell, so a value is drawn within an eighth of a row of its place), the
smoothed line is quadrant blocks, the random guess a braille line at its value. Optional inputs for later work:
`marks` (steps where the schedule changed: a dotted vertical line), `cursor` (the step shown, in reverse video)
and `ghosts` (other runs' losses, smoothed, as a line of `·` in a dim colour of its own, each with its number at
its end, moved off another's, and its own legend line in its colour, so that a ghost is told from this run's
braille dots, and from another ghost, without colour too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotext as plt
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.reactive import var

from microgpt.report import StepReport
from microgpt.smoothing import Smoothed, debiased_ema
from microgpt_tui.labels import PROBE_MARK, label, quoted
from microgpt_tui.messages import Snapshot
from microgpt_tui.palette import ColorMode, append_runs, pack
from microgpt_tui.widgets.pane import Pane

MEAN_OF = 100  # the summary line's mean covers this many recent steps
Y_STEPS = (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
MAX_ROWS_PER_TICK = 5
MIN_TICKS = 4  # labels a chart of that many rows or more shows at least (fewer, and the loss cannot be read off)
# plotext draws each kind of mark in its own colour number; the number only says which kind a cell shows (it is
# read back from plotext's output and never reaches the screen).
KIND_COLOURS = {"loss": 1, "smooth": 2, "guess": 3, "mark": 5}
GHOST_KINDS = 6  # ghost runs take turns over this many colour numbers (ghost0 ..), each with its own style
KIND_COLOURS |= {f"ghost{k}": 10 + k for k in range(GHOST_KINDS)}
KIND_OF_COLOUR = {number: kind for kind, number in KIND_COLOURS.items()}
ANSI_CODE = re.compile(r"(\x1b\[[0-9;]*m)")
FOREGROUND = re.compile(r"\x1b\[38;5;(\d+)m")
RESET = "\x1b[0m"  # (plotext's background codes are ignored: the pane's background shows)

# (frame and loss dots, smoothed line, random guess, schedule marks) in each colour mode. In 256 colours and
# truecolor: steel blue, orange, soft red, green. In 16 colours: the terminal's own foreground and colours readable
# on dark and light backgrounds; without colour: bold.
CHART_STYLES: dict[str, tuple[str, str, str, str]] = {
    "truecolor": ("color(67)", "bold color(214)", "color(167)", "color(114)"),
    "256": ("color(67)", "bold color(214)", "color(167)", "color(114)"),
    "16": ("", "bold magenta", "red", "green"),
    "none": ("", "bold", "", ""),
}
# Each ghost run's own dim colour, the first ghost's first, taken in turn (its curve, number and legend line). In
# 256 colours: grey, plum, khaki, slate, rose, lavender; in 16: dim tints; without colour all dim, told apart by
# their numbers.
GHOST_STYLES: dict[str, tuple[str, ...]] = {
    "truecolor": ("color(246)", "color(139)", "color(144)", "color(109)", "color(181)", "color(103)"),
    "256": ("color(246)", "color(139)", "color(144)", "color(109)", "color(181)", "color(103)"),
    "16": ("dim", "dim cyan", "dim yellow", "dim green", "dim magenta"),
    "none": ("dim",),
}
# Per-position losses: easy (< 1.0), middling, hard (>= 2.5).
LETTER_STYLES: dict[str, tuple[str, str, str]] = {
    "truecolor": ("green", "yellow", "red"),
    "256": ("green", "yellow", "red"),
    "16": ("green", "", "red"),
    "none": ("", "", "bold"),
}


GHOST_GLYPH = "·"  # a ghost's curve: one dot a cell, unlike this run's braille dots
# Where a ghost's number may move, (rows down, columns right), when another's is in the way: nearest first, a row
# counting as two columns, up before down; only left along its row (the curve comes from the left).
NUMBER_MOVES = sorted(((d_row, d_col) for d_row in range(-3, 4) for d_col in range(-8, 1)),
                      key=lambda m: (abs(m[0]) + abs(m[1]) / 2, abs(m[0]), m[0]))
MIN_CHART_ROWS = 6  # below this the chart is not drawn


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
        self.generation = 0  # counts the fresh starts: the same length in another generation is another history
        self._reset()

    def _reset(self) -> None:
        self.generation += 1
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
    shorter: tuple[str, ...] = ()  # the same words shorter, longest first, for a narrow legend (else cut with …)

    @classmethod
    def of_branch(cls, start: int, losses: tuple[float, ...]) -> Ghost:
        """The steps a branch at step `start` replaced (steps start + 1, ...): the step stays in the shorter forms."""
        return cls(f"before the branch at step {start}", losses, start + 1,
                   shorter=(f"before branch at {start}", f"pre-branch {start}", f"b{start}"))


@dataclass(frozen=True)
class YScale:
    """Rows standing for exact values: row 0 (the top) is `top`, each row below is `res` less.

    `res` is `step / every`: ticks are the rows whose values are multiples of `step`, one every `every` rows.
    """

    top: float
    res: float
    rows: int
    step: float
    every: int

    def row(self, value: float) -> int:
        """The row nearest a value (clamped to the chart)."""
        return min(self.rows - 1, max(0, round((self.top - value) / self.res)))

    def position(self, value: float) -> float:
        """Where a value falls, in rows from the top (row centres are whole numbers)."""
        return (self.top - value) / self.res

    def value(self, row: int) -> float:
        """The value a row stands for."""
        return self.top - row * self.res

    def ticks(self) -> list[tuple[int, float]]:
        """(row, value) of every tick, bottom first."""
        ticks = []
        for row in range(self.rows - 1, -1, -1):
            units = self.value(row) / self.step
            if abs(units - round(units)) < 1e-6:
                ticks.append((row, round(units) * self.step))
        return ticks

    def label(self, value: float) -> str:
        """A tick value with as many decimals as the tick step needs."""
        decimals = 0 if self.step >= 1 and self.step.is_integer() else 1 if round(self.step * 10, 9).is_integer() \
            else 2 if round(self.step * 100, 9).is_integer() else 3
        return f"{value:.{decimals}f}"


def y_scale(lo: float, hi: float, rows: int) -> YScale:
    """The finest scale of `rows` rows that shows [lo, hi] with round, evenly spaced ticks, at least MIN_TICKS of
    them (as many as the rows when fewer), the bottom row just at or under `lo`.

    Of two scales as fine, the one with ticks further apart (fewer labels) wins. Without the least number of ticks
    a short chart would take a coarse tick step whose multiples happen to fit, 0 and 5 on six rows, and start
    at 0 below data that never goes under 1.5; the bottom row need not be a tick, so that a tick every other row
    does not push the range a row below the data either.
    """
    lo, hi = min(lo, hi), max(lo, hi)
    candidates = sorted(((step / every, -every, step) for step in Y_STEPS for every in range(1, MAX_ROWS_PER_TICK + 1)
                         if every < rows), key=lambda c: (c[0], c[1]))
    for res, minus_every, step in candidates:
        bottom = math.floor(lo / res + 1e-9)
        scale = YScale((bottom + rows - 1) * res, res, rows, step, -minus_every)
        if scale.top >= hi - 1e-9 and len(scale.ticks()) >= min(MIN_TICKS, rows):
            return scale
    step = 10.0 ** math.ceil(math.log10(max(hi - lo, 1e-9) / max(1, rows - 1)) + 1)  # beyond Y_STEPS
    bottom = math.floor(lo / step)
    return YScale(bottom * step + (rows - 1) * step, step, rows, step, 1)


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

**Other runs.** A `--compare` run, or the steps a branch (`b`) replaced, is a dim line of `·` behind this run's
dots, smoothed, with its number at its end (moved aside when two runs end together) and a colour of its own; its
legend line (`·1 run.json: lr 0.02`), in the same colour, names what differs.
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
        self._plotted: tuple[tuple[object, ...], list[Text]] = ((), [])  # _plot's inputs and lines, last time

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
        if self.border_title == title:
            return
        if not self.is_mounted or not self.size:
            self.border_title = title
            return
        # Setting `border_title` repaints the whole pane, on every step while training: a third more bytes per
        # second over SSH. Store it as Textual does (Widget._BorderTitle) and repaint the top border line only.
        self._border_title = self.render_str(title).expand_tabs(4).split()[0]
        offset = self.content_offset
        self.refresh(Region(-offset.x, -offset.y, self.outer_size.width, 1))

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
        word = snapshot.probe if snapshot is not None else None
        if word is not None and report is not None:  # the strip below is a probe's: so is the header
            lines = pack([Text.assemble((f"probe {quoted(word)}", "bold reverse"),
                                        (PROBE_MARK.removeprefix("probe"), "bold")),  # `probe “emma” · not trained on`
                          Text.assemble("mean loss ", (f"{report.loss:.4f}", "bold"))], width, max_lines=2, sep=" · ")
        elif k is not None:  # a past step: its numbers up to it
            lines = [self._summary(width, losses[:k], smooth[:k], report)]
        elif report is not None and snapshot is not None and report.step > snapshot.step:
            # a step in progress (the title names it): the figures are the last finished step's, and say so
            lines = [self._summary(width, losses, smooth, None, finished=snapshot.step)]
        else:
            lines = [self._summary(width, losses, smooth, report)]
        doc_rows = 1 if self.ghosts and height < 20 else 2  # other runs' legend lines before the letters' 2nd line
        doc_lines = (document_losses(report, width, doc_rows, styles=LETTER_STYLES[self.color_mode])
                     if report is not None else [])
        # the letters' rows are kept when a step in progress has fewer letters yet: the chart keeps its height, so
        # its scale (and every dot) stays where it was
        if report is not None:
            doc_lines += [Text("")] * (doc_rows - len(doc_lines))
        legend = self._legend(width, height - len(lines) - len(doc_lines) - MIN_CHART_ROWS)
        chart_height = height - len(lines) - len(doc_lines) - len(legend)
        if chart_height >= MIN_CHART_ROWS and width >= 20:
            lines.extend(self._plot_once(width, chart_height))
            lines.extend(legend)
        elif not losses:
            lines.append(Text.assemble(("no steps yet: press space to train or n for one step", "dim")))
        lines.extend(doc_lines)
        return lines

    def _summary(self, width: int, losses: Sequence[float], smooth: list[float], report: StepReport | None,
                 finished: int | None = None) -> Text:
        """The loss, smoothed loss and recent mean after the last of `losses`; `finished`: that step's number, said
        when the title names another (a step in progress)."""
        if not losses:
            return Text.assemble(("no steps yet", "dim"))
        n = len(losses)
        chunks = [  # the step is in the title, unless `finished` says it
            Text.assemble(f"step {finished}: " if finished is not None else "", "loss ",
                          (f"{losses[-1]:.4f}", "bold")),
            Text.assemble("smoothed ", (f"{smooth[-1]:.4f}", "bold")),
            Text.assemble(f"{min(n, MEAN_OF)}-step mean ", (f"{recent_mean(losses):.4f}", "bold")),
        ]
        if report is not None:
            chunks.append(Text(f"lr {report.lr:.4f}", style="dim"))
        return pack(chunks, width, max_lines=1)[0]

    def _legend(self, width: int, rows: int) -> list[Text]:
        """The chart's key in about `rows` lines: this run's marks packed (in shorter words, on one line, when rows
        are short; on more lines rather than dropping one), then one line per ghost, numbered as at its curve's end,
        in shorter words when narrow; ghosts beyond the rows left share a last line."""
        loss, smoothed, guess, mark = (Style.parse(s) for s in CHART_STYLES[self.color_mode])
        rest = [Text(f"─ random guess {self.guess:.2f}", style=guess)]
        if self.marks:
            rest.append(Text("┊ schedule changed", style=mark))
        variants = [([Text("⠒ loss per step", style=loss), Text(f"▀▄ {words}", style=smoothed), *rest], "  ")
                    for words in ("smoothed: debiased moving average", "smoothed (debiased)", "smoothed")]
        short = [Text(f"─ guess {self.guess:.2f}", style=guess), *rest[1:]]
        variants.append(([Text("⠒ loss", style=loss), Text("▀▄ smoothed", style=smoothed), *short], " "))
        base = 2 if rows >= len(self.ghosts) + 2 and not self.ghosts else 1  # one line when other runs need rows
        most = max(base, rows - (1 if self.ghosts else 0))  # a line more only when nothing fits (the schedule mark)
        lines = next((pack(chunks, width, n, sep) for n in range(base, most + 1) for chunks, sep in variants
                      if fits(chunks, width, n, sep)), [])
        if not lines:
            lines = pack(variants[-1][0], width, most, variants[-1][1])
        # (styled as a span: the pane renders lines with Text.render, which leaves a Text's own style out)
        ghosts = [Text.assemble((f"{GHOST_GLYPH}{i} {ghost_words(g, width - 2 - len(str(i)))}",
                                 self._ghost_style(i - 1)), no_wrap=True, overflow="ellipsis")
                  for i, g in enumerate(self.ghosts, 1)]
        room = max(1, rows - len(lines))
        if len(ghosts) > room:  # the first ones named, the others counted
            more = len(ghosts) - room + 1
            ghosts = ghosts[:room - 1] + [Text.assemble(
                (f"{GHOST_GLYPH}{len(self.ghosts) - more + 1}-{len(self.ghosts)} {more} more runs "
                 "(z maximises this pane)", self._ghost_style(room - 1)), no_wrap=True, overflow="ellipsis")]
        for line in ghosts:
            line.truncate(width, overflow="ellipsis")
        return lines + ghosts

    def _ghost_style(self, index: int) -> Style:
        """The style of the ghost run at `index` (0-based) in this colour mode."""
        styles = GHOST_STYLES[self.color_mode]
        return Style.parse(styles[index % len(styles)])

    def _plot_once(self, width: int, height: int) -> list[Text]:
        """The chart, drawn again only if what it shows changed (a `.` or a title changes nothing in it)."""
        series = self.series
        key = (width, height, series.generation, len(series.losses), self.cursor, self.marks, self.color_mode,
               self.snapshot.steps if self.snapshot is not None else 0,
               tuple((id(g.losses), len(g.losses), g.first_step) for g in self.ghosts))
        if key != self._plotted[0]:
            self._plotted = (key, self._plot(width, height))
        return self._plotted[1]

    def _ghost_points(self, span: int, cols: int) -> list[tuple[int, list[float], list[float]]]:
        """(number, steps, smoothed losses) of each ghost's points drawn on `cols` columns of `span` steps: the last
        finite one of each column."""
        points = []
        for number, g in enumerate(self.ghosts, 1):
            smooth = self._ghost_smooth.get(id(g.losses)) or debiased_ema(g.losses)
            kept = [i for i in column_ends(len(smooth), span, cols) if math.isfinite(smooth[i])]
            if kept:
                points.append((number, [float(g.first_step + i) for i in kept], [smooth[i] for i in kept]))
        return points

    def _plot(self, width: int, height: int) -> list[Text]:
        """The chart, drawn by plotext: exactly `height` lines of `width` cells.

        Each kind of mark gets its own plotext colour number; plotext's colour codes are read back only to know
        which kind each cell shows, and the cells are styled here for the colour mode (none: no colour at all).
        """
        series = self.series
        losses, smooth = series.losses, series.smooth
        n = len(losses)
        steps = self.snapshot.steps if self.snapshot is not None else 0
        span = chart_span(max([n, self.cursor or 0, *self.marks, *(g.first_step + len(g.losses) - 1
                                                                   for g in self.ghosts)]), steps)
        rows = height - 3  # the top and bottom of the frame, the x labels
        # The y range holds this run's losses, the random guess and the ghosts' points drawn, which depend on the
        # columns left of the y labels' width, which depends on the range: until the columns stay the same.
        cols = width - 3  # first guess: labels of one character
        for _ in range(3):
            ghost_points = self._ghost_points(span, cols)
            shown = [y for _, _, ys in ghost_points for y in ys]
            scale = y_scale(min(series.lo, self.guess, *shown), max(series.hi, self.guess, *shown), rows)
            ticks = scale.ticks()
            label_width = max(len(scale.label(value)) for _, value in ticks)
            if width - label_width - 2 == cols:
                break
            cols = width - label_width - 2
        else:  # (the labels' width kept changing: the points drawn are those of the last columns)
            ghost_points = self._ghost_points(span, cols)
        plt.terminal.limit(False, False)  # the pane, not the terminal plotext detects, sets the size
        fig = plt.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.theme("colorless")
        fig.legend(active=False)
        # plotext puts the limits at the centres of the first and last rows, so row r stands for top - r * res
        fig.ruler("y").lim(scale.top - (rows - 1) * scale.res, scale.top)
        fig.ruler("y").ticks([value for _, value in ticks], [scale.label(value) for _, value in ticks])
        fig.ruler("x").lim(1, span)
        x_ticks = nice_ticks(span, max(2, cols // 10))
        fig.ruler("x").ticks([float(t) for t in x_ticks], [str(t) for t in x_ticks])
        for step in self.marks:
            if 1 <= step <= span:
                fig.line(float(step), orientation=1, pixel=plt.pixel(foreground=KIND_COLOURS["mark"]), style="dotted")
        guess = fig.signal([1.0, float(span)], [self.guess, self.guess], marker=_marker("braille", "guess"))
        guess.lines()
        _draw(fig, guess)
        for number, xs, ys in ghost_points:
            _draw(fig, fig.signal(xs, ys, marker=_marker(GHOST_GLYPH, ghost_kind(number - 1))))
        ghost_ends = [(number, xs[-1], ys[-1]) for number, xs, ys in ghost_points]  # where the numbers go
        if n:
            kept = series.dots(span, 2 * cols)  # the lowest and highest loss of each half column
            ys = [losses[i] if math.isfinite(losses[i]) else scale.top for i in kept]
            _draw(fig, fig.signal([float(i + 1) for i in kept], ys, marker=_marker("braille", "loss")))
            ends = [i for i in column_ends(n, span, 2 * cols) if math.isfinite(smooth[i])]
            if ends:
                line = fig.signal([float(i + 1) for i in ends], [smooth[i] for i in ends],
                                  marker=_marker("hd", "smooth"))
                line.lines()
                _draw(fig, line)
        for number, x, y in place_numbers(ghost_ends, scale, span, cols):  # drawn last: on top of every curve
            _draw(fig, fig.signal([x], [y], marker=_marker(str(number % 10), ghost_kind(number - 1))))
        drawn = fig.build().string()
        styles = dict(zip(("frame", "smooth", "guess", "mark"),
                          (Style.parse(s) for s in CHART_STYLES[self.color_mode]), strict=True))
        styles["loss"] = styles["frame"]
        styles |= {ghost_kind(k): self._ghost_style(k) for k in range(GHOST_KINDS)}
        cursor = None
        if self.cursor is not None and 1 <= self.cursor <= span:
            cursor = label_width + 1 + plotext_cell(self.cursor, 1, span, cols)
        lines = drawn.rstrip("\n").split("\n")
        return [styled_line(line, styles, cursor if 0 < i <= rows else None) for i, line in enumerate(lines)]


def fits(chunks: Sequence[Text], width: int, max_lines: int, sep: str = "  ") -> bool:
    """True when every chunk, packed into `max_lines` lines of `width` cells, is shown whole."""
    lines = pack(chunks, width, max_lines, sep)
    shown = "\n".join(line.plain for line in lines)
    return all(chunk.plain in shown for chunk in chunks) and all(line.cell_len <= width for line in lines)


def ghost_words(ghost: Ghost, width: int) -> str:
    """A ghost's legend words in `width` cells: its label, or the longest of its shorter forms that fits (else the
    shortest, to be cut)."""
    forms = (ghost.label, *ghost.shorter)
    return next((words for words in forms if cell_len(words) <= width), forms[-1])


def ghost_kind(index: int) -> str:
    """The kind of mark (a colour number of its own) of the ghost run at `index` (0-based)."""
    return f"ghost{index % GHOST_KINDS}"


def place_numbers(ends: Sequence[tuple[int, float, float]], scale: YScale, span: int,
                  cols: int) -> list[tuple[int, float, float]]:
    """Where each ghost's number goes: (number, step, value) at its curve's end, on the row centre there, moved
    up or down a row, or two columns left, or further, nearest first, when that cell or a cell beside it on the row
    holds an earlier ghost's number: two runs ending together keep both numbers, and `1` beside `2` never reads as
    12."""
    taken: set[tuple[int, int]] = set()
    placed = []
    for number, x, y in ends:
        row, col = scale.row(y), plotext_cell(x, 1, span, cols)
        for d_row, d_col in NUMBER_MOVES:
            r, c = row + d_row, col + d_col
            if 0 <= r < scale.rows and 0 <= c < cols and not {(r, c - 1), (r, c), (r, c + 1)} & taken:
                break
        else:
            r, c = row, col  # no free cell: drawn over
        taken.add((r, c))
        step = x if c == col else step_at(c, span, cols)
        placed.append((number, step, scale.value(r)))
    return placed


# plotext 6.1.0 maps an axis's limits to just inside the centres of its first and last cells: these fractions of a
# cell, from each end (plotext_cell, step_at).
PLOTEXT_MARGINS = (0.5 + 0.0016585662, 0.5 + 0.001516152)


def step_at(cell: int, span: int, cols: int) -> float:
    """A step that plotext draws in cell `cell` of an axis of `cols` cells from 1 to `span` (its middle)."""
    start, end = PLOTEXT_MARGINS
    return 1 + (cell + 0.5 - start) / (cols - start - end) * (span - 1)


def _marker(symbol: str, kind: str) -> Any:
    """A plotext marker in the colour number that stands for a kind of mark."""
    return plt.marker(symbol, plt.pixel(foreground=KIND_COLOURS[kind]))


def _draw(fig: Any, signal: Any) -> None:
    """Add a signal to plotext's figure.

    `figure.draw` first walks every point in Python to take its colours out of plotext's automatic colour cycle
    (a third of a redraw with thousands of points); the colours here are given, so the signal is added directly.
    """
    fig._signals._add(signal)


def plotext_cell(value: float, lower: float, upper: float, cells: int) -> int:
    """The cell (from the low end) where plotext 6.1.0 draws `value` on an axis from `lower` to `upper`.

    plotext's kernel (`rescale_element`, limits aligned on cell centres) maps the limits to just inside the
    centres of the first and last cells, then truncates.
    """
    start, end = PLOTEXT_MARGINS
    fraction = 0.5 if upper == lower else (value - lower) / (upper - lower)
    return int(start + (cells - start - end) * fraction)


def styled_line(line: str, styles: dict[str, Style], cursor: int | None) -> Text:
    """One line of plotext's drawing as styled text: each kind's colour number becomes that kind's style."""
    cells: list[tuple[str, Style]] = []
    style, at = styles["frame"], 0
    for code, chars in zip(*[iter(["", *ANSI_CODE.split(line)])] * 2, strict=False):
        colour = FOREGROUND.match(code)
        if colour:
            style = styles[KIND_OF_COLOUR.get(int(colour.group(1)), "frame")]
        elif code == RESET:
            style = styles["frame"]
        if cursor is not None and at <= cursor < at + len(chars):
            cells += [(chars[:cursor - at], style), (chars[cursor - at], style + Style(reverse=True)),
                      (chars[cursor - at + 1:], style)]
        else:
            cells.append((chars, style))
        at += len(chars)
    return append_runs(Text(no_wrap=True, end=""), [(chars, style) for chars, style in cells if chars])


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


def column_ends(n: int, span: int, columns: int) -> list[int]:
    """The last of the first n steps (0-based) in each of `columns` slices of an axis of `span` steps."""
    return [run[-1] for run in columns_of(n, span, columns)]


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
    chunks = [Text(quoted(report.doc), style="bold")]
    for target, loss in zip(report.targets, report.position_losses, strict=False):
        style = easy if loss < 1.0 else middling if loss < 2.5 else hard
        chunks.append(Text.assemble((label(target), "bold"), (f" {loss:.1f}", style)))  # a space as `␣`
    return pack(chunks, width, max_lines)
