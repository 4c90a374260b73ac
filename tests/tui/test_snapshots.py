"""How the app looks: SVG snapshots of a seeded, paused run after a fixed number of steps and one sample.

Update them after a deliberate change of looks with `pytest tests/tui/test_snapshots.py --snapshot-update`, and
look at the new SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from microgpt_tui.app import MicroGPTApp

STEPS = 25


def prepare(steps_fn: Any, until_fn: Any, ready_fn: Any, keys: tuple[str, ...] = ()) -> Any:
    """run_before: take STEPS steps, draw one sample, then press `keys`."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await ready_fn(pilot)
        await steps_fn(pilot, STEPS)
        await pilot.press("g")
        await until_fn(pilot, lambda: len(app.samples) == 1, what="the sample")
        if keys:
            await pilot.press(*keys)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (100, 32), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, steady, make_app, steps, until, ready, size):
    app: MicroGPTApp = make_app(steady)
    assert snap_compare(app, terminal_size=size, run_before=prepare(steps, until, ready))


def test_small_terminal_sampling_tab(snap_compare, steady, make_app, steps, until, ready):
    app: MicroGPTApp = make_app(steady)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(steps, until, ready, ("5", "plus", "plus")))


def test_no_color_attention(snap_compare, steady, make_app, steps, until, ready):
    app: MicroGPTApp = make_app(steady, color_mode="none")
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(steps, until, ready, ("2",)))


def test_help(snap_compare, steady, make_app, steps, until, ready):
    app: MicroGPTApp = make_app(steady)
    assert snap_compare(app, terminal_size=(100, 32), run_before=prepare(steps, until, ready, ("3", "question_mark")))


def test_a_batch_then_the_attention_maximised(snap_compare, steady, make_app, steps, until, ready):
    app: MicroGPTApp = make_app(steady)

    async def run_before(pilot: Pilot[Any]) -> None:
        await prepare(steps, until, ready)(pilot)
        await pilot.press("plus", "plus", "G")
        await until(pilot, lambda: len(app.samples) == 11, what="the batch")
        await pilot.press("2", "z")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
