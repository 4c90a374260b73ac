"""The Inside pane and the probe's input, driven with Pilot; the phases come from a real trainer's own step.

The app's engine runs in its own process; these tests take the same seeded step in a twin trainer here, unit by
unit (`begin_step`, `advance`, `detail`), and hand each `PhaseReport` (or a `ProbeReport`) to the app, as the
runner does. Every number the pane shows is compared with the engine's value formatted to four decimals.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.report import (
    BackwardDetail,
    DocumentDetail,
    ForwardDetail,
    LossDetail,
    PhaseReport,
    ProbeReport,
    UpdateDetail,
)
from microgpt.trainer import Trainer
from microgpt_tui.app import MicroGPTApp
from microgpt_tui.widgets.inside import PROBE_MARK, Inside, code_lines, mean_written, share_rows
from microgpt_tui.widgets.probe_input import ProbeInput
from microgpt_tui.widgets.status_bar import StatusBar

ROOT = Path(__file__).resolve().parents[2]
APP_CSS = ROOT / "microgpt_tui" / "app.tcss"


def four(x: float) -> str:
    """The engine's value as the pane must write it: four decimals (scientific below 0.001, never 0.0000)."""
    return f"{x:.4f}" if x == 0 or abs(x) >= 0.001 else f"{x:.4e}"


def shown(app: MicroGPTApp) -> str:
    """The Inside pane's text as on screen."""
    return "\n".join(line.plain for line in app.query_one(Inside).render().renderables)  # type: ignore[attr-defined]


def step_phases(trainer: Trainer) -> list[PhaseReport]:
    """Every unit of the trainer's next step, with its numbers."""
    progress = trainer.begin_step()
    reports = []
    while not progress.finished:
        progress.advance()
        reports.append(progress.detail())
    return reports


async def show(pilot: Any, app: MicroGPTApp, report: PhaseReport) -> str:
    """Hand a phase to the app and return what the pane shows once it has redrawn."""
    app.phase = report
    await pilot.pause()
    await pilot.pause()
    return shown(app)


def check_source(text: str, report: PhaseReport) -> None:
    """The code lines on screen are the lines at those numbers of the engine's files, and each span is named."""
    files = {span.path: (ROOT / span.path).read_text().splitlines() for span in report.source}
    first = report.source[0]
    assert f"{first.title} · {first.path}:{first.first_line}" in text
    numbered = [(int(m[1]), m[2]) for m in re.finditer(r"^ *(\d+) (.+)$", text, re.M)]
    code = [(n, line) for n, line in numbered if any(n in range(s.first_line, s.first_line + len(s.lines))
                                                      for s in report.source)]
    assert code, "no source line shown"
    for number, line in code:
        assert any(files[s.path][number - 1].strip() == line.strip() for s in report.source
                   if s.first_line <= number < s.first_line + len(s.lines)), (number, line)


def table(text: str) -> list[tuple[str, str, str]]:
    """(key, score, weight) as the pane lays them out: across in blocks of three rows, or down, one row a key."""
    lines = text.splitlines()
    down = [i for i, line in enumerate(lines) if line.split()[:3] == ["key", "q·k/√d", "softmax"]]
    if down:
        rows = []
        for line in lines[down[0] + 1:]:
            parts = line.split()
            if len(parts) != 3 or parts[0] == "next:":
                break
            rows.append((parts[0], parts[1], parts[2]))
        return rows
    keys = [k for line in lines if line.startswith("key ") for k in line.split()[1:]]
    scores = [x for line in lines if line.startswith("q·k/√d") for x in line.split()[1:]]
    weights = [x for line in lines if line.startswith("softmax") for x in line.split()[1:]]
    return list(zip(keys, scores, weights, strict=True))


def check_phase(text: str, report: PhaseReport, layer: int = 0, head: int = 0, loss: float | None = None) -> None:
    """The pane shows this phase's own numbers."""
    detail = report.detail
    if isinstance(detail, DocumentDetail):
        assert f"“{detail.doc}”" in text
        for token_id in detail.token_ids:
            assert f" {token_id}" in text
        assert "inputs   " + " ".join(report.tokens) in text
        assert "targets  " + " ".join(report.targets) in text
    elif isinstance(detail, ForwardDetail):
        assert f"input {detail.input} → target {detail.target}" in text
        assert f"layer {layer} head {head}" in text or f"softmax  L{layer} H{head}" in text
        keys = report.tokens[: detail.position + 1]  # this position's query meets every key cached so far
        assert table(text) == [(key, four(score), four(weight)) for key, score, weight in zip(
            keys, detail.scores[layer][head], detail.weights[layer][head], strict=True)]
        label, p = detail.top[0]
        assert f"{label} {four(p)}" in text
        assert f"p({detail.target}) = {four(detail.p_target)}" in text
        assert f"-log p = {four(detail.loss)}" in text
    elif isinstance(detail, LossDetail):
        lines = text.splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("("))
        last = next(i for i, line in enumerate(lines) if ") / " in line)
        terms, mean = " ".join(lines[first: last + 1])[1:].split(") / ")
        assert terms.split(" + ") == [four(x) for x in detail.position_losses]
        assert mean.startswith(f"{detail.n} = {four(detail.loss)}")
        if loss is not None:  # the loss the finished step reports
            assert four(detail.loss) == four(loss)
    elif isinstance(detail, BackwardDetail):
        assert f"position {detail.position} · {', '.join(detail.stages)}" in text
        op, stage, count = detail.nodes[0]
        flat = " ".join(text.split())
        assert f"processed: {stage}: {op} ×{count:,}" in flat
        if len(detail.nodes) <= 6:  # a fused piece: every operation it processed is listed
            assert all(f"{op} ×{count:,}" in flat for op, _, count in detail.nodes)
        assert f"{detail.done:,} nodes done · {detail.remaining:,} remaining" in text
    else:
        assert isinstance(detail, UpdateDetail)
        move = detail.move(detail.largest)
        assert f"{move.matrix}[{move.row}][{move.col}]  (moved most)" in text
        for name, value in (("grad", move.grad), ("lr", detail.lr), ("m", move.m), ("m̂", move.m_hat),
                            ("v", move.v), ("v̂", move.v_hat)):
            assert re.search(rf"(^|\s){re.escape(name)} +{re.escape(four(value))}(\s|$)", text, re.M), name
        assert f"weight {four(move.before)} → {four(move.after)}  change {move.change:+.4f}" in text


@pytest.mark.parametrize("size", [(100, 32), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_phase_of_step_one_shows_its_own_numbers_and_code(names, make_app, ready, size):
    twin = Trainer(names, Config())
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        inside = app.query_one(Inside)
        assert inside.display and inside.region.width > 0  # on screen without a key
        assert "Press . to take one phase" in " ".join(shown(app).split())
        reports = step_phases(twin)
        loss = twin.losses[-1]
        assert reports[0].doc == "mignon" and reports[0].detail.doc == "mignon"  # the shuffled first name
        kinds = []
        for report in reports:
            text = await show(pilot, app, report)
            check_phase(text, report, loss=loss)
            kinds.append(report.phase.kind)
            assert inside.border_title is not None and f"step 1 · {report.phase.kind}" in inside.border_title
            assert len(str(inside.border_title)) + 6 <= inside.outer_size.width  # whole, never cut with …
            if size == (160, 48):
                check_source(text, report)
        assert kinds[0] == "document" and kinds.count("forward") == 7 and kinds[-1] == "update"
        assert "loss" in kinds and "backward" in kinds


async def test_the_small_terminal_shows_it_as_tab_six(names, make_app, ready):
    twin = Trainer(names, Config())
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert not app.query_one(Inside).display
        await pilot.press("6")
        await pilot.pause()
        assert app.query_one(Inside).display and app.current_pane == "inside"
        for report in step_phases(twin):
            text = await show(pilot, app, report)
            check_phase(text, report, loss=twin.losses[-1])
            if not isinstance(report.detail, ForwardDetail):  # a forward's numbers fill 80x24; the rest show code
                check_source(text, report)


async def test_the_update_shows_another_matrix_with_up_and_down(names, make_app, ready):
    twin = Trainer(names, Config())
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        update = step_phases(twin)[-1]
        assert isinstance(update.detail, UpdateDetail)
        await show(pilot, app, update)
        await pilot.press("6", "down")
        await pilot.pause()
        names_ = [move.matrix for move in update.detail.moves]
        after = names_[(names_.index(update.detail.largest) + 1) % len(names_)]
        move = update.detail.move(after)
        text = shown(app)
        assert f"{move.matrix}[{move.row}][{move.col}]  (up/down: another matrix)" in text
        assert f"weight {four(move.before)} → {four(move.after)}" in text


async def test_two_layers_follow_the_selected_layer_and_head(names, make_app, ready):
    config = Config(n_layer=2)
    twin = Trainer(names, config)
    app = make_app(Trainer(names, config))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        reports = step_phases(twin)
        forward = [r for r in reports if isinstance(r.detail, ForwardDetail)][3]
        await show(pilot, app, forward)
        await pilot.press("l", "h", "h")
        await pilot.pause()
        assert (app.attn_layer, app.attn_head) == (1, 2)
        check_phase(shown(app), forward, layer=1, head=2)


async def test_two_layers_name_the_layer_of_each_backward_piece(names, make_app, ready):
    """In a model of two layers the pane and the status line say which layer a backward piece went through."""
    config = Config(n_layer=2)
    app = make_app(Trainer(names, config))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        backward = [r for r in step_phases(Trainer(names, config)) if isinstance(r.detail, BackwardDetail)]
        count, last = len(backward), backward[0].phase.position
        for index, where in ((1, "lm_head"), (2, "layer 1 mlp"), (3, "layer 1 attention"), (4, "layer 0 mlp"),
                             (5, "layer 0 attention"), (6, "embedding")):
            text = await show(pilot, app, backward[index])
            assert f"position {last} · {where}" in text.splitlines()[0]
            assert f"backward {index + 1}/{count}: position {last} · {where}" in app.query_one(StatusBar).render().plain


async def test_atomic_mode_shows_the_reference_graphs_numbers_and_code(names, make_app, ready):
    twin = Trainer(names, Config(), engine="atomic")
    fused = step_phases(Trainer(names, Config()))
    app = make_app(Trainer(names, Config(), engine="atomic"))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        reports = step_phases(twin)
        for report in [r for r in reports if r.phase.kind != "backward"] + [reports[-2]]:
            text = await show(pilot, app, report)
            check_phase(text, report, loss=twin.losses[-1])
            check_source(text, report)
        atomic_losses = [r.detail.loss for r in reports if isinstance(r.detail, ForwardDetail)]
        assert atomic_losses == [r.detail.loss for r in fused if isinstance(r.detail, ForwardDetail)]
        forward_code = [r.source[0].title for r in reports if isinstance(r.detail, ForwardDetail)]
        assert set(forward_code) == {"AtomicForward.__call__"}  # the reference's scalar graph, shown as such
        assert "AtomicForward.__call__" in await show(pilot, app, reports[1])


async def test_probe_input_refuses_foreign_characters_by_name(names, make_app, ready):
    requested: list[str] = []

    class Recording(MicroGPTApp):
        CSS_PATH = str(APP_CSS)

        def on_probe_input_probe_requested(self, message: ProbeInput.ProbeRequested) -> None:
            requested.append(message.word)

    app = Recording(Trainer(names, Config()), paused=True, sample_delay=0.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        probe = app.query_one(ProbeInput)
        assert not probe.display
        sent = app.runner.sent
        await pilot.press("slash")
        await pilot.pause()
        assert probe.display and app.query_one("#probe-word", Input).has_focus
        await pilot.press(*"em1a X")
        await pilot.pause()
        hint = str(app.query_one("#probe-hint").render())
        chars = "".join(names.uchars)
        assert f"“1”, “␣”, “X” are not in the {names.name} dataset (its characters: {chars})" in hint
        await pilot.press("enter")
        await pilot.pause()
        assert requested == [] and probe.display  # refused: nothing asked, the input stays open
        await pilot.press(*["backspace"] * 4, "m", "a", "enter")  # "em1a X" -> "em" -> "emma"
        await pilot.pause()
        assert requested == ["emma"] and not probe.display
        assert app.focused is app.query_one("#loss")  # the focus is back where it was
        assert app.runner.sent == sent + 1  # the probe itself: typing n, space or a letter drove nothing else


async def test_a_probe_shows_its_forward_pass_until_escape(names, make_app, ready):
    twin = Trainer(names, Config())
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        reports = step_phases(twin)
        await show(pilot, app, reports[-1])
        probe = twin.probe("emma")
        app.probe = probe
        await pilot.pause()
        inside = app.query_one(Inside)
        assert inside.border_title is not None and PROBE_MARK in inside.border_title
        assert app.screen.has_class("-probe")
        text = shown(app)
        assert "“emma”" in text
        assert " ".join(four(x) for x in probe.position_losses[:2]) in text.replace(" + ", " ").replace("(", "")
        check_phase(text, _as_phase(reports[1], probe, 0))
        await pilot.press("6", "down", "down")
        await pilot.pause()
        check_phase(shown(app), _as_phase(reports[1], probe, 2))
        await pilot.resize_terminal(80, 24)  # the tab has room for every target's loss too
        await pilot.pause()
        lines = shown(app).splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("-log p:"))
        strip = " ".join(lines[first: first + 2])
        assert all(
            f"{t} {four(x)}" in strip for t, x in zip(probe.targets, probe.position_losses, strict=True))
        await pilot.press("escape")
        await pilot.pause()
        assert app.probe is None and not app.screen.has_class("-probe")
        check_phase(shown(app), reports[-1])
        assert inside.border_title is not None and PROBE_MARK not in inside.border_title


def _as_phase(report: PhaseReport, probe: ProbeReport, position: int) -> PhaseReport:
    """A forward phase report carrying a probe's position (and the probe's tokens), for check_phase."""
    return replace(report, detail=probe.positions[position], tokens=probe.tokens, targets=probe.targets)


async def test_escape_ends_a_probe_first_then_restores_a_maximised_pane(names, make_app, ready):
    twin = Trainer(names, Config())
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("6", "z")
        await pilot.pause()
        assert app.screen.maximized is app.query_one(Inside)
        app.probe = twin.probe("emma")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.probe is None and app.screen.maximized is app.query_one(Inside)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.maximized is None


def test_the_mean_is_written_with_every_term_that_fits():
    losses = [3.77214, 2.98361, 3.25889, 3.64061, 3.06212, 3.36958, 3.68642]
    mean = sum(losses) / len(losses)
    whole = " ".join(line.plain for line in mean_written(losses, mean, 80, 2))
    assert whole == "(" + " + ".join(f"{x:.4f}" for x in losses) + f") / 7 = {mean:.4f}"
    cut = [line.plain for line in mean_written(losses, mean, 30, 1)]
    assert len(cut) == 1 and cut[0].startswith("(3.7721 + ") and cut[0].endswith(f"… ) / 7 = {mean:.4f}")
    assert all(len(line.plain) <= 24 for line in mean_written(losses, mean, 24, 5))


def test_code_leaves_out_the_signature_and_docstring(names: Dataset):
    report = step_phases(Trainer(names, Config()))[-1]
    span = report.source[0]
    lines = code_lines(span)
    assert lines and not any(text.lstrip().startswith(("def ", '"""')) for _, text in lines)
    file = (ROOT / span.path).read_text().splitlines()
    assert all(file[n - 1].strip() == text.strip() for n, text in lines)


def test_rows_are_shared_and_unused_ones_handed_on():
    assert share_rows([5, 2, 29], 12) == [5, 2, 5]
    assert share_rows([3, 3], 12) == [3, 3]
    assert share_rows([5, 20, 12], 6) == [2, 2, 2]
    assert share_rows([4, 4, 4], 2) == [1, 1, 0]
