"""The shown state on every pane, as a user tester drove it: a pane hidden while the state changed shows the new
state when it is shown again; the update phase of the live step is shown; a sample's attention gives way to any
other change of the shown step; "not computed yet" is never `nan`; a probe is named on every pane that shows it;
history's sparklines end at the shown step."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from microgpt.checkpoint import load_checkpoint, read_checkpoint
from microgpt.config import Config
from microgpt.history import resumed_history
from microgpt.trainer import Trainer
from microgpt_tui.app import MicroGPTApp
from microgpt_tui.palette import sci
from microgpt_tui.protocol import NOT_COMPUTED
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.grad_norms import GradNorms, shown_value
from microgpt_tui.widgets.graph_pane import GraphPane
from microgpt_tui.widgets.loss_chart import LossChart
from microgpt_tui.widgets.pane import Pane
from microgpt_tui.widgets.status_bar import StatusBar
from tests.tui.conftest import wait_until
from tests.tui.test_inside import check_phase, step_phases
from tests.tui.test_inside import shown as inside_text


def on_screen(app: MicroGPTApp, pane: Pane) -> list[str]:
    """The pane's content lines as the screen shows them (the compositor's output, not the pane's own idea)."""
    strips = app.screen._compositor.render_strips()
    region = pane.content_region
    return [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]


def title_step(pane: Pane) -> int:
    """The step a pane's title names."""
    found = re.search(r"step (\d+)", str(pane.border_title))
    assert found, pane.border_title
    return int(found.group(1))


async def press(pilot: Any, *keys: str) -> None:
    """Press keys one by one, waiting after `n` for its step (the engine answers between key presses)."""
    app = pilot.app
    for key in keys:
        target = (app.live.step if app.live is not None else 0) + 1
        await pilot.press(key)
        if key == "n":
            await wait_until(pilot, lambda t=target: app.snapshot is not None and app.snapshot.step >= t,
                             what=f"step {target}")
        await pilot.pause(0.05)
    await pilot.pause(0.1)


def check_loss(app: MicroGPTApp) -> None:
    """The loss pane's body is of the step its title names: that step's loss and document."""
    pane = app.query_one(LossChart)
    step = title_step(pane)
    report = app.snapshot.report if app.snapshot is not None else None
    assert report is not None and report.step == step
    text = "\n".join(on_screen(app, pane))
    assert f"loss {report.loss:.4f}" in text, text
    assert f"“{report.doc}”" in text, text


def check_graph(app: MicroGPTApp) -> None:
    """The graph pane's body is of the step its title names."""
    pane = app.query_one(GraphPane)
    step = title_step(pane)
    report = app.snapshot.report if app.snapshot is not None else None
    assert report is not None and report.step == step
    lines = on_screen(app, pane)
    assert lines[0].startswith(f"step {step} "), lines
    assert f"{report.graph.nodes:,} nodes" in "\n".join(lines), lines


def check_grads(app: MicroGPTApp) -> None:
    """The gradient pane's numbers are the titled step's."""
    pane = app.query_one(GradNorms)
    step = title_step(pane)
    report = app.snapshot.report if app.snapshot is not None else None
    assert report is not None and report.step == step
    text = "\n".join(on_screen(app, pane))
    for stats in report.matrices[:3]:
        assert f"{sci(stats.grad_norm)}" in text, (stats, text)


@pytest.mark.parametrize("keys, step", [("4nn1", 2), ("4n1", 1), ("4nnn1", 3)])
async def test_a_tab_hidden_while_steps_are_taken_shows_the_latest_step(trainer, make_app, ready, keys, step):
    app = make_app(trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await press(pilot, *keys)
        assert app.snapshot is not None and app.snapshot.step == step
        check_loss(app)
        await press(pilot, "4")
        check_graph(app)
        await press(pilot, "3")
        check_grads(app)


async def test_a_pane_behind_a_maximised_one_shows_the_latest_step_when_restored(trainer, make_app, ready):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await press(pilot, "n", "1", "z", "n", "z")
        assert app.snapshot is not None and app.snapshot.step == 2
        check_loss(app)
        check_graph(app)
        check_grads(app)
        await press(pilot, "4", "z", "n", "n", "z")  # the maximised one changes too; the others catch up
        assert app.snapshot is not None and app.snapshot.step == 4
        check_loss(app)
        check_graph(app)
        check_grads(app)


# -- 2: the update phase of the live step ---------------------------------------------------------------------


def status(app: MicroGPTApp) -> str:
    return app.query_one(StatusBar).render().plain


async def test_dot_through_the_live_step_shows_the_update_before_the_next_step(names, make_app, ready, until):
    twin = Trainer(names, Config())
    reports = step_phases(twin)  # the units of step 1 (`mignon` on the default dataset)
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        for report in reports:
            await pilot.press("full_stop")
            await until(pilot, lambda r=report: app.phase is not None and app.phase.phase == r.phase,
                        what=report.phase.label)
            assert report.phase.label in status(app)
        assert reports[-1].phase.kind == "update" and app.live is not None and app.live.step == 1
        await pilot.pause(0.2)  # the finished step's state has come too: the update stays on screen
        assert app.phase is not None and app.phase.phase.kind == "update"
        assert re.search(r"step +1 / 1000 · update", status(app)), status(app)
        check_phase(inside_text(app), reports[-1])
        grads = "\n".join(on_screen(app, app.query_one(GradNorms)))
        assert all(sci(m.update_ratio) in grads for m in reports[-1].matrices[:3]), grads
        await pilot.press("full_stop")  # the next step's document
        await until(pilot, lambda: app.phase is not None and app.phase.phase.step == 2, what="step 2's document")
        assert app.phase is not None and app.phase.phase.kind == "document"
        assert re.search(r"step +2 / 1000 · document", status(app)), status(app)


async def test_n_after_the_update_takes_the_next_step(names, make_app, ready, until):
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for _ in range(60):  # step 1 has fewer units
            await pilot.press("full_stop")
            await pilot.pause(0.05)
            if app.phase is not None and app.phase.phase.kind == "update":
                break
        await until(pilot, lambda: "· update" in status(app), what="the update on the status line")
        await pilot.press("n")
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == 2, what="step 2")
        assert app.phase is None and "· update" not in status(app)


# -- 3: a sample's attention only while it is the latest thing that happened --------------------------------


def attention_of_step(app: MicroGPTApp) -> None:
    """The attention pane shows the shown step's document, and its title names that step."""
    pane = app.query_one(AttentionMap)
    report = app.snapshot.report if app.snapshot is not None else None
    assert report is not None
    assert pane.sample is None
    if app.snapshot is not None and app.snapshot.probe is not None:  # a probe: named instead of a step
        assert f"probe “{report.doc}”" in str(pane.border_title), pane.border_title
        assert on_screen(app, pane)[0].startswith(f"probe “{report.doc}”")
        return
    assert title_step(pane) == report.step, pane.border_title
    assert f"document “{report.doc}”" in on_screen(app, pane)[0]


async def test_scrubbing_after_a_sample_takes_attention_back_to_the_shown_step(trainer, make_app, until):
    app = make_app(trainer, paused=False, until=20)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == 20 and not app._wants_running,
                    what="step 20")
        await pilot.press("left")
        await until(pilot, lambda: app.past is not None and app.past.step == 19, what="step 19")
        await pilot.press("g")
        await until(pilot, lambda: app.showing_sample, what="the sample of step 19")
        pane = app.query_one(AttentionMap)
        assert pane.sample is not None and pane.sample.step == 19
        await pilot.press("left")
        await until(pilot, lambda: app.past is not None and app.past.step == 18, what="step 18")
        assert "history · step 18 (live: 20)" in status(app)
        attention_of_step(app)
        await pilot.press("g")
        await until(pilot, lambda: app.showing_sample, what="a sample of step 18")
        await pilot.press("full_stop", "full_stop")  # a phase of the shown step: its document, its first position
        await until(pilot, lambda: app.phase is not None and app.phase.phase.kind == "forward", what="a position")
        assert not app.showing_sample
        attention_of_step(app)
        await pilot.press("g")
        await until(pilot, lambda: app.showing_sample, what="another sample")
        await pilot.press("slash", "e", "m", "m", "a", "enter")  # a probe
        await until(pilot, lambda: app.probe is not None, what="the probe")
        await pilot.pause(0.1)
        assert not app.showing_sample
        attention_of_step(app)


async def test_a_step_after_a_sample_takes_attention_back(trainer, make_app, ready, until, steps):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await pilot.press("g")
        await until(pilot, lambda: app.showing_sample, what="a sample")
        await steps(pilot, 1)
        await pilot.pause(0.1)
        attention_of_step(app)


# -- 4: "not computed yet" is never nan ---------------------------------------------------------------------


def grad_rows(app: MicroGPTApp) -> list[list[str]]:
    """The gradient pane's matrix rows on screen, split into words (name, …, |grad|, upd/w)."""
    lines = on_screen(app, app.query_one(GradNorms))
    return [line.split() for line in lines[1:] if line.split() and line.split()[0] in NAMES]


NAMES = ("wte", "wpe", "lm_head", "attn_wq", "attn_wk", "attn_wv", "attn_wo", "mlp_fc1", "mlp_fc2")


def test_not_computed_is_a_dash_and_a_real_nan_stays_nan():
    assert shown_value(NOT_COMPUTED) == "—"
    assert shown_value(math.nan).strip() == "nan"
    assert shown_value(0.125) == "1.2e-01"


async def test_forward_phases_show_a_dash_for_the_update_ratio_until_the_update(names, make_app, ready, until):
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("full_stop", "full_stop", "full_stop")
        await until(pilot, lambda: app.phase is not None and app.phase.phase.kind == "forward", what="forward")
        await pilot.pause(0.1)
        rows = grad_rows(app)
        assert len(rows) == 9 and all(row[-1] == "—" for row in rows), rows
        assert "nan" not in "\n".join(on_screen(app, app.query_one(GradNorms)))


async def test_a_resumed_run_shows_the_resumed_steps_gradients_from_its_history(trainer, make_app, until, tmp_path):
    path = str(tmp_path / "run.json")
    app = make_app(trainer, paused=False, until=8, save_path=path)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == 8 and not app._wants_running,
                    what="step 8")
        last = app.live.report if app.live is not None else None
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.saved_step == 8, what="the save")
    assert last is not None
    resumed = load_checkpoint(path)
    app = make_app(resumed, history=resumed_history(read_checkpoint(path).history, resumed))
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.report is not None, what="step 8")
        await pilot.pause(0.2)
        rows = grad_rows(app)
        assert [row[-2:] for row in rows] == [[sci(m.grad_norm), sci(m.update_ratio)] for m in last.matrices]
        assert all(len(row) == 4 and row[1] != "—" for row in rows), rows  # a history sparkline for each
    bare = load_checkpoint(path)  # resumed without its history: a dash, and the notice says why
    app = make_app(bare)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.report is not None, what="step 8")
        await pilot.pause(0.2)
        rows = grad_rows(app)
        assert len(rows) == 9 and all(row[-2:] == ["—", "—"] for row in rows), rows


# -- 8: a probe is named on every pane that shows it --------------------------------------------------------


@pytest.mark.parametrize("size", [(100, 32), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_pane_showing_a_probe_says_so(names, make_app, ready, until, steps, size):
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await steps(pilot, 3)
        await pilot.press("slash", "e", "m", "m", "a", "enter")
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.probe == "emma", what="the probe")
        await pilot.pause(0.1)
        probe = app.probe
        assert probe is not None
        loss = " ".join(on_screen(app, app.query_one(LossChart))[:2])
        assert "probe “emma” · not trained on" in loss and f"mean loss {probe.loss:.4f}" in loss, loss
        assert "3-step mean" not in loss and "smoothed" not in loss.split("⠒")[0]
        attention = app.query_one(AttentionMap)
        assert "probe “emma”" in str(attention.border_title), attention.border_title
        assert on_screen(app, attention)[0].startswith("probe “emma” · not trained on")
        graph = app.query_one(GraphPane)
        assert "probe “emma”" in str(graph.border_title) and on_screen(app, graph)[0].startswith("probe “emma”")
        grads = app.query_one(GradNorms)  # training's gradients, named by their step
        assert "probe" not in str(grads.border_title) and title_step(grads) == 3
        await pilot.press("escape")
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.probe is None, what="training again")
        await pilot.pause(0.1)
        check_loss(app)
        assert title_step(attention) == 3 and "probe" not in on_screen(app, attention)[0]


# -- 13c: history's sparklines end at the shown step --------------------------------------------------------


async def test_history_sparklines_end_at_the_shown_step(trainer, make_app, until):
    app = make_app(trainer, paused=False, until=30)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == 30 and not app._wants_running,
                    what="step 30")
        live = app.snapshot
        assert live is not None and len(live.node_history) == 30
        await pilot.press("home", *["right"] * 9)
        await until(pilot, lambda: app.past is not None and app.past.step == 10, what="step 10")
        await pilot.pause(0.1)
        shown = app.snapshot
        assert shown is not None and shown.report is not None
        grads = dict(shown.grad_history)
        assert [grads[m.name][-1] for m in shown.report.matrices] == [m.grad_norm for m in shown.report.matrices]
        assert all(len(values) == 10 for values in grads.values())
        assert dict(live.grad_history)["wte"][:10] == grads["wte"]  # the run's own records, up to step 10
        assert shown.node_history == live.node_history[:10] and shown.node_history[-1] == shown.report.graph.nodes
        await pilot.press("end")
        await until(pilot, lambda: app.history_step is None, what="the live step")
        await pilot.pause(0.1)
        assert app.snapshot is not None and app.snapshot.node_history == live.node_history
