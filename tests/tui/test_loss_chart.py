"""The loss chart (drawn by plotext) on synthetic data: exact rows, round evenly spaced ticks on the rows where plotext
draws their values, the random guess on its value, marks, cursor, ghost runs, and the summary's 100-step mean."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.report import StepReport
from microgpt.smoothing import debiased_ema
from microgpt.trainer import Trainer
from microgpt_tui.messages import Snapshot
from microgpt_tui.widgets.loss_chart import Ghost, LossChart, document_losses, plotext_cell, recent_mean, y_scale

VOCAB = 27
GUESS = math.log(VOCAB)


def snapshot(losses: tuple[float, ...], steps: int = 1000, report: StepReport | None = None) -> Snapshot:
    return Snapshot(step=len(losses), steps=steps, running=False, engine="fused", steps_per_second=None,
                    speed_cap=None, report=report, losses=losses, grad_history=(), node_history=(), engines=())


def falling(n: int, seed: int = 0, start: float = 3.6, end: float = 2.1) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(end + (start - end) * math.exp(-i / max(1, n / 4)) + rng.gauss(0, 0.25) for i in range(n))


def chart(losses: tuple[float, ...], report: StepReport | None = None, **inputs) -> LossChart:
    widget = LossChart(VOCAB)
    widget.set_reactive(LossChart.snapshot, snapshot(losses, report=report))
    for name, value in inputs.items():
        widget.set_reactive(getattr(LossChart, name), value)
    if "ghosts" in inputs:
        widget.watch_ghosts(inputs["ghosts"])
    return widget


def plot_rows(lines) -> tuple[list[str], list[int]]:
    """The chart's rows between the frame's top and bottom, and the columns where the plot area starts."""
    text = [line.plain for line in lines]
    top = next(i for i, line in enumerate(text) if "┌" in line)
    bottom = next(i for i, line in enumerate(text) if "└" in line)
    return text[top + 1: bottom], [text[top].index("┌") + 1]


@pytest.mark.parametrize("lo, hi, rows", [(2.1, 3.9, 12), (3.0, 3.4, 11), (1.2, 3.3, 15), (0.05, 3.3, 40),
                                           (3.29, 3.30, 5), (2.0, 9.0, 7), (3.3, 3.3, 8),
                                           (1.9, 4.5, 7), (0.0, 80.0, 6), (2.0, 1e6, 14)])
def test_rows_are_exact_values_and_ticks_round_and_evenly_spaced(lo, hi, rows):
    scale = y_scale(lo, hi, rows)
    ticks = scale.ticks()
    assert len(ticks) >= 2
    gaps = {b[0] - a[0] for a, b in zip(ticks, ticks[1:])}
    assert gaps == {-scale.every}  # evenly spaced
    assert len({scale.label(value) for _, value in ticks}) == len(ticks)  # every label different
    for row, value in ticks:
        assert scale.row(value) == row and scale.top - row * scale.res == pytest.approx(value, abs=1e-9)
        assert abs(value / scale.step - round(value / scale.step)) < 1e-9  # a round value
        assert float(scale.label(value)) == pytest.approx(value, abs=1e-9)  # the label says exactly that value
    assert scale.top >= hi - 1e-9 and scale.top - (rows - 1) * scale.res <= lo + 1e-9  # everything fits


BRAILLE_ROWS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # the dots of each of a cell's 4 dot rows
SIZES = [(76, 19), (76, 17), (96, 27), (156, 43), (54, 17), (150, 40), (40, 10), (30, 9), (76, 16)]


def dot_rows(char: str) -> set[int]:
    """The dot rows (0 at the top) a braille character has dots in."""
    bits = ord(char) - 0x2800
    return {k for k, (a, b) in enumerate(BRAILLE_ROWS) if bits & (a | b)}


def labelled_ticks(rows: list[str], left: int) -> list[tuple[int, float]]:
    """(row, value) of each y label: a number left of a `┤`."""
    return [(i, float(row[:left - 1])) for i, row in enumerate(rows) if row[left - 1] == "┤"]


def cells_styled(lines, top: int, left: int, colour: int) -> list[tuple[int, str]]:
    """(row, character) of the plot cells drawn in a colour number (256 colours), rows counted from the plot's top."""
    out = []
    bottom = next(i for i, line in enumerate(lines) if "└" in line.plain)
    for r, line in enumerate(lines[top + 1: bottom]):
        for span in line.spans:
            style = span.style
            if not isinstance(style, str) and style.color is not None and style.color.number == colour:
                out += [(r, ch) for ch in line.plain[max(span.start, left): span.end] if ch.strip()]
    return out


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("n, seed", [(3, 1), (130, 2), (1000, 3), (40, 4)])
def test_the_random_guess_line_sits_on_its_value(size, n, seed):
    width, height = size
    lines = chart(falling(n, seed)).build_lines(width, height)
    rows, (left,) = plot_rows(lines)
    top = next(i for i, line in enumerate(lines) if "┌" in line.plain)
    ticks = labelled_ticks(rows, left)
    (r0, v0), (r1, v1) = ticks[0], ticks[1]
    res = (v0 - v1) / (r1 - r0)
    guess = cells_styled(lines, top, left, 167)  # the random guess's colour
    if not guess:  # a tiny chart full of dots may hide the line
        assert len(rows) <= 4
        return
    assert {r for r, _ in guess} == {guess[0][0]}  # one row
    dots = set().union(*(dot_rows(ch) for _, ch in guess))
    assert len(dots) == 1  # one dot row: a straight line
    row, (dot,) = guess[0][0], dots
    value = v0 - (row - r0) * res - (dot - 1.5) * res / 4  # the centre of that dot row
    assert abs(value - GUESS) <= res / 8 + 1e-9  # within half a dot row of ln(27)
    legend = " ".join(line.plain for line in lines)
    assert f"random guess {GUESS:.2f}" in legend


@pytest.mark.parametrize("size", [s for s in SIZES if s[1] >= 10])  # (a 3-row chart hides them under the line)
@pytest.mark.parametrize("low, high", [(2.0, 3.0), (1.0, 2.0), (2.5, 4.0)])
def test_each_label_is_on_the_row_where_plotext_draws_its_value(size, low, high):
    # losses that are exactly two round values (tick values at every scale these ranges get): plotext must draw
    # them on the rows labelled with them, and each labelled row stands for its label
    width, height = size
    losses = tuple(low if i % 2 else high for i in range(60))
    lines = chart(losses).build_lines(width, height)
    rows, (left,) = plot_rows(lines)
    ticks = labelled_ticks(rows, left)
    assert len(ticks) >= 2
    gaps = {b[0] - a[0] for a, b in zip(ticks, ticks[1:])}
    steps = {round(a[1] - b[1], 9) for a, b in zip(ticks, ticks[1:])}
    assert len(gaps) == 1 and len(steps) == 1  # evenly spaced, in rows and in value
    res = (ticks[0][1] - ticks[1][1]) / (ticks[1][0] - ticks[0][0])
    value_of_row = {r: ticks[0][1] - (r - ticks[0][0]) * res for r in range(len(rows))}
    for r, v in ticks:
        assert value_of_row[r] == pytest.approx(v, abs=1e-9)
    top = next(i for i, line in enumerate(lines) if "┌" in line.plain)
    loss_rows = {r for r, ch in cells_styled(lines, top, left, 67) if 0x2800 < ord(ch) <= 0x28FF}  # the dots' colour
    nearest = {min(value_of_row, key=lambda r: abs(value_of_row[r] - v)) for v in (low, high)}
    assert loss_rows == nearest
    on_labels = {r for r, v in ticks if v in (low, high)}
    assert on_labels and on_labels <= loss_rows  # a value that is a label is drawn on that label's row
    if len(rows) >= 10:
        assert len(on_labels) == 2


def test_a_small_chart_keeps_its_resolution():
    assert y_scale(1.9, 4.5, 7).res == 0.5  # seven rows over 2.6: a tick on every row, not every second of 1.0


def test_plotexts_transform_is_known():
    # the column where plotext draws a step equals plotext_cell's (checked through a mark plotext draws)
    for step in (1, 2, 37, 250, 499, 500):
        lines = chart(falling(400, 6), marks=(step,)).build_lines(100, 30)
        rows, (left,) = plot_rows(lines)
        columns = {i - left for row in rows for i, ch in enumerate(row) if ch == "┊"}
        assert columns <= {plotext_cell(step, 1, 500, 100 - left - 1)}


def test_summary_shows_the_mean_of_the_last_100_steps():
    losses = falling(250, 5)
    line = chart(losses).build_lines(100, 30)[0].plain
    assert f"100-step mean {sum(losses[-100:]) / 100:.4f}" in line and f"loss {losses[-1]:.4f}" in line
    assert recent_mean((1.0, math.nan, 3.0), 100) == 2.0 and math.isnan(recent_mean(()))
    assert "3-step mean 2.0000" in chart((1.0, 2.0, 3.0)).build_lines(100, 30)[0].plain


@pytest.mark.parametrize("mode", ["none", "256"])
def test_legend_and_help_say_what_smoothing_is(mode):
    widget = chart(falling(50))
    widget.set_reactive(LossChart.color_mode, mode)
    lines = widget.build_lines(100, 30)
    assert any("smoothed: debiased moving average" in line.plain for line in lines)
    narrow = " ".join(line.plain for line in widget.build_lines(40, 30))
    assert "smoothed (debiased)" in narrow and "random guess 3.30" in narrow
    assert "debiased" in LossChart.HELP and "100 steps" in LossChart.HELP


def test_a_schedule_mark_is_a_dotted_line_at_its_step():
    losses = falling(400, 6)
    lines = chart(losses, marks=(250,)).build_lines(100, 30)
    rows, (left,) = plot_rows(lines)
    columns = {i - left for row in rows for i, ch in enumerate(row) if ch == "┊"}
    assert columns == {plotext_cell(250, 1, 500, 100 - left - 1)}
    assert any("┊ schedule changed" in line.plain for line in lines)


def test_the_cursor_reverses_its_steps_column_only():
    lines = chart(falling(80, 7), cursor=40, marks=(40,)).build_lines(100, 30)
    text = [line.plain for line in lines]
    top = next(i for i, line in enumerate(text) if "┌" in line)
    bottom = next(i for i, line in enumerate(text) if "└" in line)
    left = text[top].index("┌") + 1
    reversed_columns = set()
    for line in lines:
        for span in line.spans:
            style = span.style
            if not isinstance(style, str) and style.reverse:
                reversed_columns.update(range(span.start, span.end))
    mark_columns = {i for row in text[top + 1: bottom] for i, ch in enumerate(row) if ch == "┊"}
    assert reversed_columns == mark_columns == {left + plotext_cell(40, 1, 100, 100 - left - 1)}  # where plotext


def test_a_ghost_run_is_drawn_dim_behind_and_named_in_the_legend():
    mine, theirs = falling(200, 8), falling(300, 9, start=3.3, end=1.6)
    plain = chart(mine).build_lines(120, 30)
    with_ghost = chart(mine, ghosts=(Ghost("lr 0.1", theirs),)).build_lines(120, 30)
    assert any(line.plain == "·1 lr 0.1" for line in with_ghost)  # its own legend line, its own glyph
    dim = [span for line in with_ghost for span in line.spans if not isinstance(span.style, str) and
           span.style.color is not None and span.style.color.number == 246]
    assert dim  # drawn in the ghost's grey (256 colours)
    assert [line.plain for line in plain] != [line.plain for line in with_ghost]
    # the ghost reaches step 300: the x axis grows to show it, and its low values widen the y range
    assert "300" in " ".join(line.plain for line in with_ghost) or "500" in " ".join(line.plain for line in with_ghost)


def test_every_ghost_has_its_own_legend_line_and_its_number_at_its_curves_end_also_without_colour():
    mine = falling(200, 8)
    ghosts = (Ghost("fast.json: lr 0.02", falling(300, 9, start=3.3, end=1.6)),
              Ghost("wide.json: n_embd 32", falling(250, 12, start=3.4, end=1.9)),
              Ghost("before the branch at step 40", falling(160, 13), first_step=41))
    widget = chart(mine, ghosts=ghosts)
    widget.set_reactive(LossChart.color_mode, "none")
    for width, height in ((48, 27), (78, 18), (120, 30)):  # 100x32's loss pane, 80x24's tab, a wide one
        lines = [line.plain for line in widget.build_lines(width, height)]
        assert "·1 fast.json: lr 0.02" in lines and "·3 before the branch at step 40" in lines, (width, lines)
        assert "·2 wide.json: n_embd 32" in lines
        assert any("guess 3.30" in line for line in lines)
        rows, _ = plot_rows(widget.build_lines(width, height))
        plot = "".join(rows)
        assert "·" in plot and any(0x2800 < ord(ch) <= 0x28FF for ch in plot)  # ghosts `·`, this run braille
        assert all(str(n) in plot for n in (1, 2, 3))  # each ghost's number at its curve's end
    short = [line.plain for line in widget.build_lines(48, 14)]  # few rows: the last ghosts are counted
    assert "·1 fast.json: lr 0.02" in short or any(line.startswith("·1-3 3 more runs") for line in short)


@pytest.mark.parametrize("mode", ["none", "16", "256", "truecolor"])
def test_no_colour_mode_draws_no_colour(mode):
    widget = chart(falling(120, 10), marks=(60,), ghosts=(Ghost("other", falling(90, 11)),))
    widget.set_reactive(LossChart.color_mode, mode)
    lines = widget.build_lines(100, 30)
    colours = {span.style.color.name for line in lines for span in line.spans
               if not isinstance(span.style, str) and span.style.color is not None}
    named = {str(span.style) for line in lines for span in line.spans if isinstance(span.style, str)}
    if mode == "none":
        assert not colours and not any(c in s for s in named for c in ("green", "yellow", "red", "color"))
    elif mode == "16":
        assert colours and all(not c.startswith("color(") for c in colours)
    else:
        assert "color(67)" in colours and "color(214)" in colours


@pytest.mark.parametrize("height", [11, 12, 13, 14])
@pytest.mark.parametrize("ghost", [False, True])
def test_a_short_chart_has_labels_to_read_the_loss_off_and_its_range_follows_the_data(height, ghost):
    # 100x32's loss pane (31 cells wide): with a ghost the chart has 6 rows, where the scale was 0..5 with only the
    # labels 0 and 5 although no value is below 1.5 (defect 19)
    losses = tuple(1.6 + 2.5 * (i % 7) / 6 for i in range(300))  # 1.6 .. 4.1
    ghosts = (Ghost("lr02.jsonl: lr 0.02", falling(200, 9, start=3.3, end=2.4)),) if ghost else ()
    lines = chart(losses, ghosts=ghosts).build_lines(31, height)
    rows, (left,) = plot_rows(lines)
    ticks = labelled_ticks(rows, left)
    assert len(ticks) >= min(4, len(rows)), [line.plain for line in lines]
    res = (ticks[0][1] - ticks[1][1]) / (ticks[1][0] - ticks[0][0])
    bottom = ticks[0][1] - (len(rows) - 1 - ticks[0][0]) * res  # the bottom row's value
    assert 1.6 - res < bottom <= 1.6  # no row below the lowest value that shows nothing


@pytest.fixture(scope="module")
def report() -> StepReport:
    """A real step's report (step 1 of the reference run)."""
    return Trainer(load_dataset("names"), Config()).step()


def test_a_step_in_progress_keeps_the_chart_and_labels_the_figures_with_the_last_finished_step(report):
    # after `.` the title names the step in progress while the losses are the last finished step's (defect 14)
    losses = falling(200, 14)
    finished = replace(report, step=200)
    doc_only = replace(report, step=201, loss=math.nan, position_losses=())  # the document phase of step 201
    for width, height in ((31, 13), (31, 14), (76, 19), (156, 43)):  # 100x32's, 80x24's and 160x48's panes
        before = chart(losses, report=finished)
        during = chart(losses, report=doc_only)
        assert during.shown_step() == 201
        lines_before, lines_during = before.build_lines(width, height), during.build_lines(width, height)
        assert plot_rows(lines_before) == plot_rows(lines_during), (width, height)  # the same scale, the same dots
        assert len(lines_during) == len(lines_before)
        summary = lines_during[0].plain
        assert summary.startswith("step 200: loss") and f"{losses[-1]:.4f}" in summary
        assert not lines_before[0].plain.startswith("step")  # a finished step's figures: its step is in the title


def test_a_space_in_the_per_letter_losses_is_shown_as_a_visible_label(report):
    # “van der berg”: the loss of predicting the space is `␣ 0.7`, not a blank (defect 10)
    doc = "van der berg"
    targets = (*doc, "BOS")
    spaced = replace(report, doc=doc, targets=targets, position_losses=tuple(0.1 * i for i in range(len(targets))))
    text = " ".join(line.plain for line in document_losses(spaced, 200, 2))
    assert "␣ 0.3" in text and "␣ 0.7" in text
    assert text.startswith("“van der berg”")  # spaces inside a name stay spaces in the name itself


def number_cells(lines, number: str) -> list[tuple[int, int]]:
    """(row, column) of a ghost's number in the plot."""
    rows, (left,) = plot_rows(lines)
    return [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if c >= left and ch == number]


def style_at(line, column: int):
    """The style of one cell of a line: the last span over it (a Text's own style is not drawn by the pane, which
    renders lines with `Text.render`)."""
    styles = [span.style for span in line.spans if span.start <= column < span.end]
    return styles[-1] if styles else None


@pytest.mark.parametrize("mode", ["256", "16", "none"])
@pytest.mark.parametrize("size", [(31, 13), (48, 27), (76, 18), (156, 43)])
def test_ghosts_ending_together_keep_their_numbers_and_each_has_its_own_colour(mode, size):
    # two compared runs of 50 steps ending at the same loss: one number was drawn over the other, and every ghost
    # was the same grey (defect 15)
    width, height = size
    first = falling(50, 15, start=3.3, end=2.75)
    second = first[:-1] + (first[-1] + 0.01,)
    ghosts = (Ghost("c1.jsonl: width 32, heads 2", first), Ghost("c2.jsonl: block 8, steps 500", second),
              Ghost("c3.jsonl: lr 0.02", falling(50, 16, start=3.3, end=2.4)))
    widget = chart(falling(50, 17), ghosts=ghosts)
    widget.set_reactive(LossChart.color_mode, mode)
    lines = widget.build_lines(width, height)
    top = next(i for i, line in enumerate(lines) if "┌" in line.plain)
    cells = {n: number_cells(lines, n) for n in "123"}
    assert all(len(cells[n]) == 1 for n in "123"), ([line.plain for line in lines], cells)
    (r1, c1), (r2, c2) = cells["1"][0], cells["2"][0]
    assert r1 != r2 or abs(c1 - c2) > 1  # apart: not one cell, and not read as "12"
    legend = {n: next(line for line in lines if line.plain.startswith(f"·{n} ")) for n in "123"}
    styles = {}
    for n in "123":
        (row, column), = cells[n]
        on_chart = style_at(lines[top + 1 + row], column)
        assert on_chart == style_at(legend[n], 0)  # the legend line is in its curve's colour
        styles[n] = on_chart
    if mode == "none":
        assert all(style.color is None for style in styles.values())
    else:
        assert len({str(style) for style in styles.values()}) == 3  # three ghosts, three colours


@pytest.mark.parametrize("size", [(31, 13), (31, 14), (78, 18), (48, 27)])  # 100x32's pane, 80x24's tab, wider
def test_a_branchs_legend_keeps_its_step_and_the_schedule_mark_keeps_its_legend(size):
    # after `b` at 100x32 the legend was cut to `·1 before the branch at step 5…`; with two branches the
    # `┊ schedule changed` line disappeared (defect 17 d)
    width, height = size
    mine = falling(300, 18)
    ghosts = (Ghost.of_branch(500, falling(119, 19)), Ghost.of_branch(200, falling(300, 20)))
    lines = [line.plain for line in chart(mine, marks=(250,), ghosts=ghosts).build_lines(width, height)]
    first = next(line for line in lines if line.startswith("·1 "))
    second = next(line for line in lines if line.startswith("·2 "))
    assert "500" in first and "…" not in first and "200" in second and "…" not in second, lines
    assert "before" in first and "branch" in first
    assert any("┊ schedule changed" in line for line in lines), lines
    assert all(len(line) <= width for line in lines)
    wide = [line.plain for line in chart(mine, ghosts=ghosts[:1]).build_lines(120, 30)]
    assert "·1 before the branch at step 500" in wide  # in full where there is room


def test_a_diverged_ghost_does_not_pull_the_range_down_with_a_made_up_smoothed_value():
    # a branch whose second step diverged (loss inf): the smoothed line skipped the inf but still divided by the
    # bias correction of two steps, so it "fell" to half the loss and the y axis went down to reach it (defect 19)
    mine = tuple(2.4 + (i % 5) * 0.25 for i in range(200))  # 2.4 .. 3.4
    ghost = Ghost.of_branch(80, (2.6, math.inf))
    lines = chart(mine, ghosts=(ghost,)).build_lines(48, 27)
    rows, (left,) = plot_rows(lines)
    ticks = labelled_ticks(rows, left)
    res = (ticks[0][1] - ticks[1][1]) / (ticks[1][0] - ticks[0][0])
    bottom = ticks[0][1] - (len(rows) - 1 - ticks[0][0]) * res
    assert bottom > 2.4 - res, [line.plain for line in lines]
    smoothed = debiased_ema((3.0, math.nan, 2.0))
    assert smoothed[0] == 3.0 and math.isnan(smoothed[1])  # a value that is not finite has no smoothed value
    assert smoothed[2] == pytest.approx((0.95 * 0.05 * 3.0 + 0.05 * 2.0) / (1 - 0.95**2))  # debiased by 2 values


def test_the_y_range_holds_the_ghosts_points_drawn_not_values_between_them():
    # a branch's ghost smoothed from its first step: that step's own loss (here 0.5) is a value of the series, but
    # the ghost is drawn at the last step of each column, where it is long smoothed away; the range follows what
    # is drawn
    mine = tuple(2.4 + (i % 5) * 0.25 for i in range(300))  # 2.4 .. 3.4
    ghost = Ghost.of_branch(300, (0.5,) + (2.8,) * 99)
    for width, height in ((31, 13), (48, 27), (156, 43)):
        lines = chart(mine, ghosts=(ghost,)).build_lines(width, height)
        rows, (left,) = plot_rows(lines)
        ticks = labelled_ticks(rows, left)
        res = (ticks[0][1] - ticks[1][1]) / (ticks[1][0] - ticks[0][0])
        bottom = ticks[0][1] - (len(rows) - 1 - ticks[0][0]) * res
        assert bottom > 1.5, (width, [line.plain for line in lines])  # far above the 0.5 never drawn
        assert "1" in "".join(rows)  # the ghost is drawn, its number at its end
