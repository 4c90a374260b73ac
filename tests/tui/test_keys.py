"""Every key and state of the app, driven with Pilot on a paused (or counted-step) engine."""

from __future__ import annotations

import math
import time

import pytest
from textual.command import CommandList
from textual.widgets import Footer, Tabs

from microgpt.checkpoint import load_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.sampling import softmax_probs, top_candidates
from microgpt.trainer import Trainer
from microgpt_tui.app import next_speed_cap
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.help_screen import HelpScreen
from microgpt_tui.widgets.pane import Pane
from microgpt_tui.widgets.sampler import Sampler
from microgpt_tui.widgets.status_bar import StatusBar


async def settled(pilot, app) -> None:
    """Wait until the engine has handled one more command than all those sent so far (a no-op change of speed):
    whatever it was going to do on its own by then, it has done."""
    app.runner.set_speed(app.snapshot.speed_cap)
    sent, deadline = app.runner.sent, time.monotonic() + 20
    while app.snapshot.commands < sent:
        assert time.monotonic() < deadline, "the engine never answered"
        await pilot.pause(0.01)


async def test_starts_paused_and_shows_step_zero(trainer, make_app, ready):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        assert app.snapshot.step == 0 and not app.snapshot.running
        status = app.query_one(StatusBar).render().plain
        assert "step    0 / 1000" in status and "paused" in status and "— steps/s" in status
        assert "fused" in status and "names" in status


async def test_three_quick_presses_are_three_steps(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("n", "n", "n")
        await until(pilot, lambda: app.snapshot.step == 3, what="three steps")
        assert len(app.snapshot.losses) == 3 and not app.snapshot.running
        assert app.snapshot.report is not None and app.snapshot.report.step == 3


async def test_space_runs_and_pauses(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.running and app.snapshot.step >= 2, what="training to run")
        assert "running" in app.query_one(StatusBar).render().plain
        await pilot.press("space")
        await until(pilot, lambda: not app.snapshot.running, what="training to pause")
        paused_at = app.snapshot.step
        await settled(pilot, app)
        assert app.snapshot.step == paused_at == len(app.snapshot.losses)
        assert "paused" in app.query_one(StatusBar).render().plain


async def test_training_starts_at_once_unless_paused(trainer, make_app, until):
    app = make_app(trainer, paused=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step > 0, what="training")
        await pilot.press("space")
        await until(pilot, lambda: not app.snapshot.running, what="the pause")


async def test_n_while_running_pauses_then_steps(trainer, make_app, ready, until):
    app = make_app(trainer, paused=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: app.snapshot.step > 0, what="training")
        await pilot.press("n")
        await until(pilot, lambda: not app.snapshot.running and app.snapshot.commands >= app.runner.sent,
                    what="the pause")
        stopped_at = app.snapshot.step
        await settled(pilot, app)
        assert app.snapshot.step == stopped_at and not app.snapshot.running


async def test_training_stops_when_the_schedule_ends(names, make_app, ready, until):
    app = make_app(Trainer(names, Config(steps=3)))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.finished and not app.snapshot.running, what="the end")
        assert app.snapshot.step == 3
        assert "finished" in app.query_one(StatusBar).render().plain
        await pilot.press("n", "space")  # nothing left to do: no crash, no step
        await settled(pilot, app)
        assert app.snapshot.step == 3


async def test_speed_keys_cap_and_uncap(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.snapshot.speed_cap is not None, what="a speed cap")
        first = app.snapshot.speed_cap
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.snapshot.speed_cap is not None and app.snapshot.speed_cap < first,
                    what="a lower cap")
        assert "(cap" in app.query_one(StatusBar).render().plain
        for _ in range(12):
            await pilot.press("right_square_bracket")
        await until(pilot, lambda: app.snapshot.speed_cap is None, what="unlimited speed")


def test_speed_notches():
    assert next_speed_cap(None, -1, rate=80.0) == 50
    assert next_speed_cap(None, -1, rate=None) == 200
    assert next_speed_cap(None, +1) is None
    assert next_speed_cap(200, +1) is None
    assert next_speed_cap(5, -1) == 2
    assert next_speed_cap(0.5, -1) == 0.5
    assert next_speed_cap(50, +1) == 100


async def test_temperature_keys_move_in_tenths_within_bounds(trainer, make_app, ready):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        sampler = app.query_one(Sampler)
        assert "temperature 0.50" in str(sampler.border_title)
        await pilot.press("plus", "plus", "equals_sign")
        assert app.temperature == 8 and "temperature 0.80" in str(sampler.border_title)
        for _ in range(30):
            await pilot.press("plus")
        assert app.temperature == 20 and "temperature 2.00" in str(sampler.border_title)
        for _ in range(40):
            await pilot.press("minus")
        assert app.temperature == 1 and "temperature 0.10" in str(sampler.border_title)
        for _ in range(6):
            await pilot.press("plus")
        assert "temperature 0.70" in str(sampler.border_title)  # never 0.7999...


async def test_sample_draws_a_name_token_by_token(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("g")
        await until(pilot, lambda: len(app.samples) == 1, what="a whole sample")
        sample = app.samples[-1]
        tokens = sample.tokens
        assert [t.position for t in tokens] == list(range(len(tokens)))
        assert tokens[-1].is_end and all(t.temperature == 0.5 for t in tokens)
        assert (sample.step, sample.temperature) == (0, 0.5)
        reference = Trainer(trainer.dataset, Config())  # the same seed draws the same first sample
        assert sample.text == "".join(t.char for t in reference.sample(0.5))
        attention = app.query_one(AttentionMap)
        assert attention.showing_sample and f"sample “{sample.text}”" in attention.render().renderables[0].plain
        labels, rows = attention.current()
        assert len(rows) == len(tokens) and labels[0] == "·"
        assert all(len(row) == i + 1 for i, row in enumerate(rows))


async def test_samples_are_revealed_one_letter_at_a_time_by_the_pane(trainer, make_app, ready, until):
    app = make_app(trainer, sample_delay=0.3)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("g")
        await until(pilot, lambda: len(app.samples) == 1, what="a sample")
        sampler = app.query_one(Sampler)
        attention = app.query_one(AttentionMap)
        whole = len(app.samples[-1].tokens)
        assert whole >= 3 and sampler.revealing and len(sampler.newest_tokens) < whole
        await until(pilot, lambda: len(attention.current()[1]) == len(sampler.newest_tokens) < whole,
                    what="the attention following the reveal")
        await until(pilot, lambda: not sampler.revealing, what="the whole sample")
        assert len(sampler.newest_tokens) == whole
        await until(pilot, lambda: len(attention.current()[1]) == whole, what="the whole sample's attention")


async def test_temperature_change_recomputes_the_current_position_without_drawing(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("g")
        await until(pilot, lambda: len(app.samples) == 1, what="a sample")
        sample = app.samples[-1]
        last = sample.tokens[-1]
        sampler = app.query_one(Sampler)
        assert sampler.current_top() == last.top
        await pilot.press("plus", "plus")
        assert app.samples == (sample,)  # nothing new was drawn
        expected = top_candidates(softmax_probs(last.logits, 0.7), trainer.dataset)
        assert sampler.current_top() == expected != last.top
        assert any("at 0.70" in line.plain for line in sampler.render().renderables)


async def test_a_new_sample_follows_training_and_the_attention_returns(trainer, make_app, ready, until, steps):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await pilot.press("g")
        await until(pilot, lambda: len(app.samples) == 1, what="a sample")
        assert app.showing_sample
        await steps(pilot, 1)
        await until(pilot, lambda: not app.showing_sample, what="the training attention")
        labels, rows = app.query_one(AttentionMap).current()
        assert labels == app.snapshot.report.tokens


async def test_head_and_layer_keys_wrap(names, make_app, ready, steps):
    app = make_app(Trainer(names, Config(n_layer=2, n_head=2, n_embd=8)))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        attention = app.query_one(AttentionMap)
        seen = []
        for _ in range(3):
            seen.append((attention.attn_layer, attention.attn_head))
            await pilot.press("h")
        assert seen == [(0, 0), (0, 1), (0, 0)]
        await pilot.press("l")
        assert (attention.attn_layer, attention.attn_head) == (1, 1)
        assert "layer 1 · head 1" in str(attention.border_title) or "L1 H1" in str(attention.border_title)
        report = app.snapshot.report
        assert attention.current() == (report.tokens, report.attention[1][1])
        await pilot.press("l")
        assert attention.attn_layer == 0


async def test_attention_rows_can_be_chosen(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await pilot.press("2")  # focus the attention pane
        attention = app.query_one(AttentionMap)
        assert attention.has_focus and attention.row is None
        await pilot.press("up")
        n = len(app.snapshot.report.tokens)
        assert attention.row == n - 2
        await pilot.press("down")
        assert attention.row is None


async def test_mode_switch_gives_the_same_losses_with_a_bigger_graph(names, make_app, ready, until, steps):
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        fused_nodes = app.snapshot.report.graph.nodes
        await pilot.press("m")
        await until(pilot, lambda: app.snapshot.engine == "atomic", what="atomic mode")
        await steps(pilot, 2)
        assert app.snapshot.report.engine == "atomic"
        assert app.snapshot.report.graph.nodes > 5 * fused_nodes
        assert {f.engine for f in app.snapshot.engines} == {"fused", "atomic"}
        assert "atomic" in app.query_one(StatusBar).render().plain
        headless = Trainer(names, Config())
        assert list(app.snapshot.losses) == [headless.step().loss for _ in range(3)]
        await pilot.press("m")
        await until(pilot, lambda: app.snapshot.engine == "fused", what="fused mode")


async def test_save_writes_a_checkpoint_that_resumes(trainer, make_app, ready, until, steps, tmp_path):
    path = tmp_path / "run.json"
    app = make_app(trainer, save_path=str(path))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        status = app.query_one(StatusBar)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: status.saved == "saved step 2", what="the save")
        assert "saved step 2" in status.render().plain
        losses = list(app.snapshot.losses)
    resumed = load_checkpoint(path)
    assert resumed.step_count == 2 and resumed.losses == losses


async def test_a_failed_save_says_why_and_keeps_the_old_checkpoint(trainer, make_app, ready, until, tmp_path):
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    before = path.read_bytes()
    app = make_app(trainer, save_path=str(tmp_path))  # a folder: cannot be written as a file
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+s")
        status = app.query_one(StatusBar)
        await until(pilot, lambda: status.saved == "save failed", what="the failure")
        assert any(n.severity == "error" for n in app._notifications)
        assert app.is_running
    assert path.read_bytes() == before


async def test_a_resumed_run_shows_its_loss_history(trainer, names, make_app, ready, tmp_path):
    for _ in range(4):
        trainer.step()
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    app = make_app(load_checkpoint(path))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        assert app.snapshot.step == 4 and list(app.snapshot.losses) == trainer.losses
        assert "step 4" in app.query_one("#loss", Pane).render().renderables[0].plain


class _Exploding:
    """A trainer whose next step fails, or returns a report with a loss that is not a number."""

    def __init__(self, trainer, how):
        self._trainer, self._how = trainer, how

    def __getattr__(self, name):
        return getattr(self._trainer, name)

    def step(self):
        import dataclasses

        if self._how == "raise":
            raise RuntimeError("out of cheese")
        report = self._trainer.step()
        return dataclasses.replace(report, loss=math.nan)


@pytest.mark.parametrize("how, words", [("nan", "the loss is nan"), ("raise", "out of cheese")])
async def test_a_bad_step_pauses_with_a_message(trainer, make_app, ready, until, how, words):
    app = make_app(_Exploding(trainer, how))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        status = app.query_one(StatusBar)
        await until(pilot, lambda: status.notice != "", what="the notice")
        await until(pilot, lambda: not app.snapshot.running, what="the pause")
        assert any(words in str(n.message) for n in app._notifications)
        assert "paused" in status.render().plain
        assert app.is_running


async def test_help_lists_every_key_and_the_focused_pane_first(trainer, make_app, ready):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("5")  # focus the sampling pane
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [key for key, _ in app.screen.keys]
        for key in ("space", "n", "[", "]", "+", "-", "g", "G", "h", "l", "m", "z", "ctrl+s", "?", "q", "ctrl+p"):
            assert any(key in k.split(" / ") for k in keys), key
        titles = [title for title, _ in app.screen.panes]
        assert titles[0] == "Sampling"
        assert {"Loss", "Attention", "Gradient norms", "Graph"} <= set(titles)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_every_action_is_in_the_command_palette(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        from microgpt_tui.commands import MicroGPTCommands

        provider = MicroGPTCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        actions = {b.action for b in app.BINDINGS}
        assert len(names) == len(actions)
        await pilot.press("ctrl+p")
        await pilot.press(*"draw a new name")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0, what="the palette's hits")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.samples) == 1, what="a sample from the palette")


async def test_pane_keys_focus_and_small_terminals_use_tabs(trainer, make_app, ready):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        assert app.wide and all(p.display for p in app.query(Pane))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.wide and app.query_one(Tabs).display
        assert not app.query_one(Footer).show_command_palette  # room for every essential key at 80 columns
        assert [p.id for p in app.query(Pane) if p.display] == ["loss"]
        await pilot.press("4")
        await pilot.pause()
        assert [p.id for p in app.query(Pane) if p.display] == ["graph"]
        assert app.query_one("#graph", Pane).has_focus
        assert app.query_one(Tabs).active == "tab-graph"
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.wide and all(p.display for p in app.query(Pane))
        assert app.query_one("#graph", Pane).has_focus


async def test_quit_stops_the_engine(trainer, make_app, ready):
    app = make_app(trainer, paused=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("q")
    assert not app.is_running
    assert not app.runner.alive


async def test_nothing_breaks_in_a_tiny_terminal(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(40, 12)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        await pilot.press("g", "2", "3", "4", "5", "1")
        await pilot.resize_terminal(20, 8)
        await pilot.pause()
        assert app.is_running


@pytest.mark.parametrize("mode", ["truecolor", "256", "16", "none"])
async def test_every_colour_mode_renders(trainer, make_app, ready, steps, mode):
    app = make_app(trainer, color_mode=mode)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        attention = app.query_one(AttentionMap)
        rows = [line.plain for line in attention.render().renderables]
        shaded = any(ch in "".join(rows) for ch in "░▒▓█")
        assert shaded == (mode in ("16", "none"))
