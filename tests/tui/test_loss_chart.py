"""The loss chart on synthetic data: exact rows, round evenly spaced ticks, levels on their values, marks, cursor,
ghost runs, and the summary's 100-step mean."""

from __future__ import annotations

import math
import random

import pytest

from microgpt_tui.messages import Snapshot
from microgpt_tui.widgets.loss_chart import SCAN_LINES, Canvas, Ghost, LossChart, recent_mean, y_scale

VOCAB = 27
GUESS = math.log(VOCAB)


def snapshot(losses: tuple[float, ...], steps: int = 1000) -> Snapshot:
    return Snapshot(step=len(losses), steps=steps, running=False, engine="fused", steps_per_second=None,
                    speed_cap=None, report=None, losses=losses, grad_history=(), node_history=(), engines=())


def falling(n: int, seed: int = 0, start: float = 3.6, end: float = 2.1) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(end + (start - end) * math.exp(-i / max(1, n / 4)) + rng.gauss(0, 0.25) for i in range(n))


def chart(losses: tuple[float, ...], **inputs) -> LossChart:
    widget = LossChart(VOCAB)
    widget.set_reactive(LossChart.snapshot, snapshot(losses))
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
                                           (1.9, 4.5, 7), (0.0, 80.0, 6)])
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


def level_value(rows: list[str], labels_width: int, glyphs: str = SCAN_LINES) -> tuple[float, float]:
    """The value the drawn level stands for (from the tick labels and the scan line's height), and the row size."""
    ticks = [(i, float(row[:labels_width - 1])) for i, row in enumerate(rows) if row[labels_width - 1] == "┤"]
    (r0, v0), (r1, v1) = ticks[0], ticks[1]
    res = (v0 - v1) / (r1 - r0)
    level = [(i, ch) for i, row in enumerate(rows) for ch in row[labels_width:-1] if ch in glyphs]
    assert level, "no level drawn"
    row, glyph = level[0]
    assert {ch for i, r in enumerate(rows) for ch in r[labels_width:-1] if ch in glyphs} == {glyph}  # one line
    height = glyphs.index(glyph) - len(glyphs) // 2
    return v0 - (row - r0) * res - height * res / len(glyphs), res


@pytest.mark.parametrize("size", [(76, 19), (76, 17), (54, 17), (150, 40), (40, 10)])
@pytest.mark.parametrize("n, seed", [(3, 1), (130, 2), (1000, 3), (40, 4)])
def test_the_random_guess_line_sits_on_its_value(size, n, seed):
    width, height = size
    lines = chart(falling(n, seed)).build_lines(width, height)
    rows, (plot_left,) = plot_rows(lines)
    value, res = level_value(rows, plot_left)
    assert abs(value - GUESS) <= res / len(SCAN_LINES) / 2 + 1e-9
    legend = " ".join(line.plain for line in lines)
    assert f"random guess {GUESS:.2f}" in legend


def test_a_small_chart_keeps_its_resolution():
    assert y_scale(1.9, 4.5, 7).res == 0.5  # seven rows over 2.6: a tick on every row, not every second of 1.0


def test_the_line_at_the_old_80x24_case_is_not_on_the_3_25_row():
    # the case of the issue: ticks 0.25 apart, the guess (3.2958) once drawn on the 3.25 row and labelled 3.30
    scale = y_scale(3.0, 3.75, 13)
    canvas = Canvas(60, 13, 10)
    canvas.hline(scale.position(GUESS), "guess")
    (row, (glyph, _)), = canvas.level_rows.items()
    drawn = scale.top - row * scale.res - (SCAN_LINES.index(glyph) - 2) * scale.res / 5
    assert abs(drawn - GUESS) <= scale.res / 10 + 1e-9 and round(drawn, 2) != 3.25


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


def test_a_schedule_mark_is_a_dashed_line_at_its_step():
    losses = falling(400, 6)
    lines = chart(losses, marks=(250,)).build_lines(100, 30)
    rows, (left,) = plot_rows(lines)
    columns = {i - left for row in rows for i, ch in enumerate(row) if ch == "┆"}
    assert len(columns) == 1
    canvas = Canvas(100 - left - 1, len(rows), 500)
    assert columns == {canvas.column(250)}
    assert any("┆ schedule changed" in line.plain for line in lines)


def test_the_cursor_reverses_its_steps_column_only():
    lines = chart(falling(80, 7), cursor=40).build_lines(100, 30)
    text = [line.plain for line in lines]
    top = next(i for i, line in enumerate(text) if "┌" in line)
    left = text[top].index("┌") + 1
    reversed_columns = set()
    for line in lines[top + 1: top + 1 + 20]:
        for span in line.spans:
            style = span.style
            if not isinstance(style, str) and style.reverse:
                reversed_columns.update(range(span.start, span.end))
    canvas = Canvas(100 - left - 1, 20, 100)
    assert reversed_columns == {left + canvas.column(40)}


def test_a_ghost_run_is_drawn_dim_behind_and_named_in_the_legend():
    mine, theirs = falling(200, 8), falling(300, 9, start=3.3, end=1.6)
    plain = chart(mine).build_lines(120, 30)
    with_ghost = chart(mine, ghosts=(Ghost("lr 0.1", theirs),)).build_lines(120, 30)
    assert any("⠒ lr 0.1" in line.plain for line in with_ghost)
    dim = [span for line in with_ghost for span in line.spans if not isinstance(span.style, str) and
           span.style.color is not None and span.style.color.number == 246]
    assert dim  # drawn in the ghost's grey (256 colours)
    assert [line.plain for line in plain] != [line.plain for line in with_ghost]
    # the ghost reaches step 300: the x axis grows to show it, and its low values widen the y range
    assert "300" in " ".join(line.plain for line in with_ghost) or "500" in " ".join(line.plain for line in with_ghost)


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
