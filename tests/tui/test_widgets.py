"""The panes' drawing helpers on their own: smoothing, axes, heat colours, sparklines, line bookkeeping."""

from __future__ import annotations

import math
import random

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

from microgpt.smoothing import debiased_ema
from microgpt_tui.palette import (
    SHADES,
    XTERM_RAMP,
    append_runs,
    compact,
    detect_color_mode,
    heat_cell,
    heat_level,
    pack,
    prob,
    sci,
    shade_level,
    sparkline,
)
from microgpt_tui.widgets.grad_norms import short_name
from microgpt_tui.widgets.help_screen import help_markdown, key_list
from microgpt_tui.widgets.loss_chart import LossSeries, chart_span, envelope, nice_ticks
from microgpt_tui.widgets.pane import runs
from microgpt_tui.widgets.sampler import temperature_label


def test_smoothing_is_tensorboards_debiased_ema():
    values = [3.0, 2.0, 4.0, 1.0]
    w, last, expected = 0.6, 0.0, []
    for i, v in enumerate(values):
        last = last * w + (1 - w) * v
        expected.append(last / (1 - w ** (i + 1)))
    assert debiased_ema(values, w) == pytest.approx(expected)
    assert debiased_ema([2.5] * 50) == pytest.approx([2.5] * 50)  # no bias towards 0 at the start


def test_smoothing_extends_without_recomputing():
    values = [random.Random(1).random() for _ in range(100)]
    out = debiased_ema(values[:40])
    assert debiased_ema(values, out=out) is out
    assert out == pytest.approx(debiased_ema(values), rel=1e-12)


def test_the_series_follows_a_growing_history_and_restarts_on_another():
    rng = random.Random(2)
    history = [2 + rng.random() for _ in range(3000)]
    series = LossSeries()
    for n in (5, 400, 401, 2999, 3000):
        series.update(tuple(history[:n]))
        fresh = LossSeries()
        fresh.update(tuple(history[:n]))
        span = chart_span(n, 100_000)
        assert series.dots(span, 48) == fresh.dots(span, 48)
        assert (series.lo, series.hi) == (min(history[:n]), max(history[:n]))
        assert series.smooth == pytest.approx(debiased_ema(history[:n]))
    series.update((9.0, 8.0))  # not the same run: start again
    assert (series.lo, series.hi) == (8.0, 9.0) and len(series.smooth) == 2


def test_the_x_axis_grows_in_round_steps_and_stops_at_the_schedule():
    assert [chart_span(n, 1000) for n in (0, 10, 11, 21, 51, 101, 201, 501)] == [10, 10, 20, 50, 100, 200, 500, 1000]
    assert chart_span(3000, 100_000) == 5000
    assert chart_span(5, 3) == 5


def test_ticks_are_round_numbers():
    assert nice_ticks(10, 4) == [1, 5, 10]
    assert nice_ticks(1000, 4) == [1, 500, 1000]
    assert nice_ticks(500, 8) == [1, 100, 200, 300, 400, 500]


def test_envelope_keeps_each_runs_extremes():
    values = [3.0, 1.0, 2.0, 5.0, 4.0]
    assert envelope(values, range(0, 5)) == [1, 3]
    assert envelope(values, range(0, 2)) == [0, 1]
    assert envelope([math.nan, 2.0, 1.0], range(0, 3)) == [1, 2]


def test_color_mode_detection():
    assert detect_color_mode({"NO_COLOR": "1", "COLORTERM": "truecolor"}) == "none"
    assert detect_color_mode({"NO_COLOR": "", "COLORTERM": "truecolor"}) == "truecolor"  # empty counts as unset
    assert detect_color_mode({"COLORTERM": "truecolor", "TERM": "xterm-256color"}) == "truecolor"
    assert detect_color_mode({"TERM": "xterm-256color"}) == "256"
    assert detect_color_mode({"TERM": "xterm"}) == "16"
    assert detect_color_mode({"TERM": "dumb"}) == "none"


def test_heat_cells_in_every_mode():
    assert heat_cell(0.0, "16") == ("  ", Style.null()) and heat_cell(1.0, "none", 3) == ("███", Style.null())
    assert [shade_level(w) for w in (0.0, 0.04, 0.1, 0.3, 0.6, 0.9)] == [0, 0, 1, 2, 3, 4]
    assert {heat_cell(w, "256")[1].bgcolor.number for w in (0.0, 0.5, 1.0)} == {XTERM_RAMP[0], XTERM_RAMP[5],
                                                                                  XTERM_RAMP[-1]}
    assert len(set(XTERM_RAMP)) == len(XTERM_RAMP)  # neighbouring levels never share a colour in 256 colours
    low, high = heat_cell(0.0, "truecolor")[1].bgcolor, heat_cell(1.0, "truecolor")[1].bgcolor
    assert low.triplet != high.triplet
    assert [heat_level(w, 11) for w in (math.nan, -1, 0, 0.5, 1, 2)] == [0, 0, 0, 5, 10, 10]
    assert SHADES == " ░▒▓█"


def test_sparklines():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▅▅▅"  # a flat series sits mid-height
    assert sparkline([0, math.nan, 1], lo=0, hi=1) == "▁?█"
    assert sparkline([]) == ""


def test_number_formats():
    assert [compact(n) for n in (987, 6123, 59647, 139_000, 2_500_000)] == ["987", "6.1k", "59.6k", "139k", "2.5M"]
    assert sci(0.97) == "9.7e-01"
    assert [prob(p) for p in (0.41, 0.074, 0.999, 0.0)] == [".41", ".07", "1.0", "0"]
    assert [prob(p) for p in (0.0049, 1e-9, 0.005)] == ["<.01", "<.01", ".01"]  # never .00 for a real chance
    assert temperature_label(5) == "temperature 0.50" and temperature_label(20) == "temperature 2.00"


def test_pack_and_runs_of_styles():
    lines = pack([Text("aaaa"), Text("bbbb"), Text("cccc")], width=10, max_lines=2)
    assert [line.plain for line in lines] == ["aaaa  bbbb", "cccc"]
    assert len(pack([Text("x" * 8)] * 5, width=10, max_lines=2)) == 2
    red, blue = Style(color="red"), Style(color="blue")
    text = append_runs(Text(), [("a", red), ("b", red), ("c", blue), ("d", red)])
    assert text.plain == "abcd" and len(text.spans) == 3
    assert runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 1), (9, 2)]


def test_matrix_names_are_short():
    assert short_name("layer0.attn_wq", 1) == "attn_wq"
    assert short_name("layer1.mlp_fc2", 2) == "1.mlp_fc2"
    assert short_name("wte", 3) == "wte"


def test_help_lists_keys_one_per_row_then_the_panes_in_order():
    text = help_markdown([("Sampling", "s"), ("Loss", "l")])
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## Sampling", "## Loss"]
    console = Console(width=60, record=True)
    keys = [("space", "run or pause"), ("ctrl+s", "save a checkpoint " * 5)]
    console.print(key_list(keys))
    lines = console.export_text().splitlines()
    assert lines[0].split() == ["space", "run", "or", "pause"]
    assert lines[1].startswith("ctrl+s  save") and lines[2].startswith(" " * len("ctrl+s  "))  # wraps under itself
