"""The status line at 80 columns: laid out by priority, it keeps the state (history, phase, breakpoint, engine
stopped, computing) and drops the speed, the mode and the dataset first."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from textual.app import App, ComposeResult

from microgpt.report import Phase
from microgpt_tui.messages import Snapshot
from microgpt_tui.widgets.status_bar import StatusBar

PAUSED = Snapshot(step=41, steps=1000, running=False, engine="fused", steps_per_second=None, speed_cap=None,
                  report=None, losses=(), grad_history=(), node_history=(), engines=())


class OneLine(App[None]):
    """Only the status line, on a screen of the width under test."""

    def compose(self) -> ComposeResult:
        yield StatusBar("names")


async def line_at(width: int, **fields: object) -> str:
    """The status line's text at `width` columns with the given fields set."""
    app = OneLine()
    async with app.run_test(size=(width, 3)) as pilot:
        status = app.query_one(StatusBar)
        for name, value in fields.items():
            setattr(status, name, value)
        await pilot.pause()
        rendered = status.render()
        assert rendered.cell_len <= width - 2  # one cell of padding each side
        return rendered.plain


BREAK = "breakpoint loss<2.0: step 41, loss 1.8979"
STATES = [  # (fields, what must survive at 80 columns)
    (dict(snapshot=PAUSED, notice=BREAK), ["step   41 / 1000", "paused", BREAK]),
    (dict(snapshot=replace(PAUSED, step=312), history="history · step 40 (live: 312)", notice=BREAK),
     ["history · step 40 (live: 312)", BREAK]),  # (history is always paused)
    (dict(snapshot=replace(PAUSED, step=312), history="history · step 40 (live: 312)"),
     ["history · step 40 (live: 312)", "paused", "fused", "names"]),
    (dict(snapshot=replace(PAUSED, step=312), history="history · step 40 (live: 312)",
          replaying=time.monotonic() - 1.0),
     ["history · step 40 (live: 312) · replaying…", "paused"]),
    (dict(snapshot=replace(PAUSED, phase=Phase(42, "backward", 34, 35, "isabella", 0, ("embedding",)))),
     ["step   42 / 1000 · backward 35/35: position 0 · embedding", "steps/s"]),
    (dict(snapshot=replace(PAUSED, phase=Phase(42, "backward", 34, 35, "isabella", 0, ("embedding",))),
          notice=BREAK),  # `.` after a breakpoint: the step in progress comes first
     ["step   42 / 1000 · backward 35/35: position 0 · embedding"]),
    (dict(snapshot=PAUSED, death="the engine process was killed by signal 9 (SIGKILL)", saved="saved step 40"),
     ["step   41 / 1000", "engine stopped", "killed by signal 9 (SIGKILL)"]),
    (dict(snapshot=replace(PAUSED, running=True, steps_per_second=0.3, speed_cap=0.5, until=300),
          computing=(42, time.monotonic() - 3.0), saved="saved step 40"),
     ["running to step 300", "computing step 42… "]),
    (dict(snapshot=replace(PAUSED, running=True), pending="pausing…", computing=(42, time.monotonic() - 3.0)),
     ["pausing…", "computing step 42… "]),  # a pause finishes the step in progress first: not `running`
    (dict(snapshot=replace(PAUSED, step=40, steps=40, schedule_note="differs from the reference from step 21"),
          saved="saved step 40"),
     ["step 40 / 40", "finished", "differs from the reference from step 21"]),
]


@pytest.mark.parametrize(("fields", "kept"), STATES, ids=["breakpoint", "history-break", "history", "replaying",
                                                          "phase", "phase-break", "death", "computing",
                                                          "pausing", "finished"])
async def test_at_80_columns_the_state_survives(fields, kept):
    line = await line_at(80, **fields)
    for part in kept:
        assert part in line, (part, line)
    assert not line.endswith("…")  # dropped whole parts, not cut one


async def test_in_history_the_line_names_one_step_then_the_live_runs_state():
    """`history · step 40 (live: 312)` says both steps: no `step 312 / 1000` beside it to be read as the shown one."""
    for width in (80, 160):
        line = await line_at(width, snapshot=replace(PAUSED, step=312), history="history · step 40 (live: 312)")
        assert line == "history · step 40 (live: 312) · paused · — steps/s · fused · names", width


async def test_the_least_important_parts_go_first():
    wide = await line_at(160, snapshot=PAUSED, notice=BREAK)
    assert wide == f"step   41 / 1000 · paused · — steps/s · fused · names · {BREAK}"
    narrow = await line_at(80, snapshot=PAUSED, notice=BREAK)
    assert "names" not in narrow and BREAK in narrow  # the dataset went first, then what else did not fit
    middle = await line_at(95, snapshot=PAUSED, notice=BREAK)
    assert "fused" in middle and "names" not in middle
