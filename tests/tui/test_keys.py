"""Every key and state of the app, driven with Pilot on a paused (or counted-step) engine."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import signal
import time

import pytest
from textual.command import CommandList, CommandPalette
from textual.geometry import Size
from textual.widgets import Footer, Tabs
from textual.widgets._footer import FooterKey

from microgpt.checkpoint import load_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.sampling import softmax_probs, top_candidates
from microgpt.trainer import Trainer
from microgpt_tui.app import next_speed_cap
from microgpt_tui.messages import EngineDied, Progress
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.choice_screen import ChoiceScreen
from microgpt_tui.widgets.graph_pane import GraphPane
from microgpt_tui.widgets.help_screen import HelpScreen
from microgpt_tui.widgets.pane import Pane
from microgpt_tui.widgets.sampler import Sampler
from microgpt_tui.widgets.status_bar import StatusBar
from tests.tui.conftest import WrappedTrainer


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


async def test_sample_draws_a_whole_name(trainer, make_app, ready, until):
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
        assert any(part in str(attention.border_title) for part in ("layer 1 · head 1", "L1 H1"))  # by width
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
        assert app.query_one("#loss", Pane).border_title == "Loss · step 4"
        report = app.snapshot.report  # the panes show the resumed step's document at once, never "no attention yet"
        assert report is not None and report.step == 4 and report.doc == trainer.docs[3]
        assert report.position_losses == trainer.probe(trainer.docs[3]).position_losses
        await pilot.pause(0.2)
        lines = app.query_one(AttentionMap).render().renderables
        assert "No attention yet" not in " ".join(line.plain for line in lines)
        assert any("resumed at step 4" in str(n.title) for n in app._notifications)


class _Exploding(WrappedTrainer):
    """A trainer whose next step fails, or returns a report with a loss that is not a number."""

    def __init__(self, trainer, how):
        super().__init__(trainer)
        self._how = how

    def before_unit(self, step):
        if self._how == "raise":
            raise RuntimeError("out of cheese")

    def finished(self, report):
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
        actions = {b.action for b in app.BINDINGS} | {action for _, _, action in app.PALETTE}
        assert len(names) == len(actions)
        assert {"Run to step…", "Save as…"} <= set(names)
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
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("q")  # nothing trained since the start: nothing to lose, no question
        await pilot.pause()
    assert not app.is_running
    assert not app.runner.alive


@pytest.mark.parametrize("key, yes", [("q", "q"), ("q", "y"), ("ctrl+q", "ctrl+q")])
async def test_quitting_with_unsaved_steps_asks_first(trainer, make_app, ready, until, steps, key, yes):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        await pilot.press(key)
        assert isinstance(app.screen, ChoiceScreen) and "step 2 is not saved" in str(app.screen.body)
        await pilot.press("x")  # anything else stays
        assert not isinstance(app.screen, ChoiceScreen) and app.is_running
        await pilot.press(key)
        await pilot.press(yes)
        await pilot.pause()
    assert not app.is_running and not app.runner.alive


async def test_the_palette_quit_asks_too_and_a_save_makes_quitting_safe(trainer, make_app, ready, until, steps,
                                                                          tmp_path):
    app = make_app(trainer, save_path=str(tmp_path / "run.json"))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await app.action_quit()  # what the palette's "Quit" runs
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.saved_step == 1, what="the save")
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


async def test_r_restarts_from_step_zero_asking_first(trainer, make_app, ready, until, steps):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 3)
        await pilot.press("r")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("n")  # not a yes: nothing happens
        await settled(pilot, app)
        assert app.snapshot.step == 3
        await pilot.press("r", "y")
        await until(pilot, lambda: app.snapshot.step == 0 and app.snapshot.losses == (), what="step 0")
        await pilot.press("r")  # nothing to lose now: no question
        assert not isinstance(app.screen, ChoiceScreen)
        await steps(pilot, 2)
        headless = Trainer(trainer.dataset, Config())
        assert list(app.snapshot.losses) == [headless.step().loss, headless.step().loss]


async def test_r_keeps_the_graph_mode_chosen_last(names, make_app, ready, until, steps):
    app = make_app(Trainer(names, Config(n_embd=8, n_head=2, block_size=8)))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await pilot.press("m")
        await until(pilot, lambda: app.live.engine == "atomic", what="atomic mode")
        await pilot.press("r", "y")
        await until(pilot, lambda: app.live.step == 0 and app.live.commands >= app.runner.sent, what="step 0")
        assert app.live.engine == "atomic"
        assert any("atomic mode" in str(n.message) for n in app._notifications)
        await steps(pilot, 1)
        assert app.snapshot.report.engine == "atomic"


async def test_a_finished_run_still_samples_saves_and_switches_heads(names, make_app, ready, until, tmp_path):
    app = make_app(Trainer(names, Config(steps=3)), save_path=str(tmp_path / "run.json"))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.finished and not app.snapshot.running, what="the end")
        assert "finished" in app.query_one(StatusBar).render().plain
        await pilot.press("g", "h", "ctrl+s")
        await until(pilot, lambda: len(app.samples) == 1 and app.saved_step == 3, what="a sample and a save")
        assert app.query_one(AttentionMap).attn_head == 1
        assert load_checkpoint(tmp_path / "run.json").step_count == 3


async def test_until_trains_and_pauses_after_that_step_and_speed_starts_capped(trainer, make_app, until):
    app = make_app(trainer, paused=False, until=6, speed=50.0)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == 6
                    and not app.snapshot.running, what="the pause after step 6")
        assert app.snapshot.speed_cap == 50.0
        status = app.query_one(StatusBar).render().plain
        assert "paused" in status and "(cap 50)" in status


async def test_run_to_step_from_the_palette(trainer, make_app, ready, until):
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p", *"run to step")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0, what="the palette's hits")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        await pilot.press(*["backspace"] * 5, "0", "enter")
        assert isinstance(app.screen, InputScreen)  # step 0 is refused: it says why
        assert "a step after 0" in str(app.screen.query_one("#error").render())
        await pilot.press("backspace", "4", "enter")
        await until(pilot, lambda: app.snapshot.step == 4 and not app.snapshot.running, what="step 4, paused")


async def test_set_learning_rate_from_the_palette(trainer, make_app, ready, until, steps):
    from textual.widgets import Input

    from microgpt.schedule import Segment
    from microgpt_tui.widgets.input_screen import InputScreen

    config = trainer.config
    reference = Trainer(trainer.dataset, config)
    expected = [reference.step() for _ in range(5)]
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 3)
        before = app.snapshot
        await pilot.press("ctrl+p", *"set learning rate")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0, what="the palette's hits")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        assert "from step 4 on" in str(app.screen.query_one("Static").render())
        field = app.screen.query_one("#value", Input)
        sent = app.runner.sent
        for bad in ("abc", "-1", "0", "inf", "nan"):  # refused on the spot, with the reason: nothing is sent
            await pilot.press(*["backspace"] * len(field.value), *bad, "enter")
            assert isinstance(app.screen, InputScreen), bad
            assert "a positive number" in str(app.screen.query_one("#error").render()), bad
        assert app.runner.sent == sent
        await pilot.press("escape")
        assert not isinstance(app.screen, InputScreen)
        await settled(pilot, app)
        assert (app.snapshot.schedule_note, app.snapshot.marks, app.snapshot.next_lr) == (None, (), before.next_lr)
        assert "differs from the reference" not in app.query_one(StatusBar).render().plain

        rate = config.lr * 5
        app.action_set_lr()
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question again")
        field = app.screen.query_one("#value", Input)
        await pilot.press(*["backspace"] * len(field.value), *f"{rate:g}", "enter")
        await until(pilot, lambda: app.snapshot.schedule_note == "differs from the reference from step 4",
                    what="the new rate")
        assert app.snapshot.marks == (4,)
        assert "differs from the reference from step 4" in app.query_one(StatusBar).render().plain
        await steps(pilot, 2)
        taken = app.snapshot.report
        assert taken is not None and taken.step == 5
        segment = Segment(4, rate, config.steps)  # the new base rate, the linear decay going on from step 4
        assert taken.lr == segment.lr_at(5) != expected[4].lr
        assert app.snapshot.losses[:4] == tuple(r.loss for r in expected[:4])  # step 4's loss is before its update
        assert app.snapshot.losses[4] != expected[4].loss
        await pilot.press("left")  # step 4, shown again: it used the new rate too
        await until(pilot, lambda: app.past is not None and app.past.step == 4, what="step 4")
        assert app.past.lr == segment.lr_at(4) != expected[3].lr
        assert "differs from the reference from step 4" in app.query_one(StatusBar).render().plain


async def open_from_the_palette(pilot, app, until, name: str) -> None:
    """Type a command's name into the palette and run the first hit."""
    await pilot.press("ctrl+p", *name)
    commands = app.screen.query_one(CommandList)
    await until(pilot, lambda: commands.option_count > 0, what="the palette's hits")
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), what="the palette to close")


async def test_set_learning_rate_offers_the_current_base_rate(trainer, make_app, ready, until, steps):
    """After a change, the question offers the rate now in force: enter keeps it (it does not set the configured
    one back)."""
    from textual.widgets import Input

    from microgpt_tui.widgets.input_screen import InputScreen

    config = trainer.config
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        await open_from_the_palette(pilot, app, until, "set learning rate")
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        field = app.screen.query_one("#value", Input)
        assert float(field.value) == config.lr
        rate = config.lr * 5
        await pilot.press(*["backspace"] * len(field.value), *repr(rate), "enter")
        await until(pilot, lambda: app.snapshot.schedule_note == "differs from the reference from step 3",
                    what="the new rate")
        assert app.snapshot.base_lr == rate
        changed = app.snapshot.next_lr
        await open_from_the_palette(pilot, app, until, "set learning rate")
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question again")
        field = app.screen.query_one("#value", Input)
        assert float(field.value) == rate  # the rate in force, not the configured one
        await pilot.press("enter")  # as offered: nothing changes
        await until(pilot, lambda: not isinstance(app.screen, InputScreen), what="the question to close")
        await settled(pilot, app)
        snapshot = app.snapshot
        assert (snapshot.base_lr, snapshot.next_lr, snapshot.marks) == (rate, changed, (3,))
        assert snapshot.schedule_note == "differs from the reference from step 3"


async def test_set_learning_rate_mid_step_is_refused_without_asking(trainer, make_app, ready, until, steps):
    """After `.` has begun a step, its rate is fixed: the palette's command says so at once (as the engine
    would), instead of asking for a rate the engine then refuses."""
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        await pilot.press("full_stop", "full_stop")
        await until(pilot, lambda: app.live.phase is not None and app.live.phase.kind == "forward",
                    what="step 3's first position")
        sent = app.runner.sent
        await open_from_the_palette(pilot, app, until, "set learning rate")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, InputScreen)
        assert app.runner.sent == sent  # nothing asked of the engine
        said = [(str(n.title), str(n.message)) for n in app._notifications]
        assert ("learning rate: not done", "step 3 is in progress: finish it first (n)") in said
        await pilot.press("n")  # the step finished, the question is asked again
        await until(pilot, lambda: app.snapshot.step == 3 and app.live.phase is None, what="step 3 done")
        await open_from_the_palette(pilot, app, until, "set learning rate")
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")


async def test_save_as_from_the_palette(trainer, make_app, ready, until, steps, tmp_path):
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        app.action_save_as()
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        app.screen.query_one("#value").value = str(tmp_path / "chosen.json")
        await pilot.press("enter")
        await until(pilot, lambda: app.saved_step == 1, what="the save")
    assert load_checkpoint(tmp_path / "chosen.json").step_count == 1


async def test_the_model_line_says_what_is_trained(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        line = app.query_one("#model").render().plain
        assert line == ("1 layer · width 16 · 4 heads · block 16 · 4,192 params · names: 5,163 docs · seed 42 · "
                        "fused")
        await pilot.press("m")
        await until(pilot, lambda: app.query_one("#model").render().plain.endswith("atomic"), what="the mode")


class _Slow(WrappedTrainer):
    """A trainer whose steps take about `seconds` each (spread over their units)."""

    def __init__(self, trainer, seconds):
        super().__init__(trainer)
        self._seconds = seconds

    def before_unit(self, step):
        time.sleep(self._seconds / 20)  # a default step has about 20 units


async def test_a_slow_step_is_counted_on_the_status_line_and_slow_rates_are_shown(trainer, make_app, ready, until):
    app = make_app(_Slow(trainer, 0.7))
    async with app.run_test(size=(120, 32)) as pilot:
        await ready(pilot)
        status = app.query_one(StatusBar)
        await pilot.press("n")
        await until(pilot, lambda: "computing step 1… 0." in status.render().plain, what="the count")
        await until(pilot, lambda: app.snapshot.step == 1, what="step 1")
        assert "computing" not in status.render().plain
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.steps_per_second is not None, what="a rate", timeout=30)
        assert re.search(r" [01]\.\d steps/s", status.render().plain)  # about 1.4 a second, never "—"
        await until(pilot, lambda: "computing step" in status.render().plain, what="the count while running")


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


async def test_the_engines_death_is_said_and_a_new_engine_starts(trainer, make_app, ready, until, steps, tmp_path):
    app = make_app(trainer, save_path=str(tmp_path / "run.json"))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 3)
        await pilot.press("ctrl+s")
        status = app.query_one(StatusBar)
        await until(pilot, lambda: status.saved == "saved step 3", what="the save")
        await steps(pilot, 2)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.running, what="training to run")
        old_pid = app.runner.pid
        os.kill(old_pid, signal.SIGKILL)
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the question after the death")
        # (records already in the pipe when it was killed may still arrive: the panes keep the last of them)
        shown = app.query_one("#loss", Pane).render().renderables[0].plain
        assert f"loss {app.snapshot.losses[-1]:.4f}" in shown
        await pilot.pause(0.3)
        line = status.render().plain
        assert "engine stopped" in line and "running" not in line and "steps/s" not in line
        assert "killed by signal 9 (SIGKILL)" in line
        assert any("the engine process was killed by signal 9 (SIGKILL)" in str(n.message) and n.severity == "error"
                   for n in app._notifications)
        assert app.query_one("#loss", Pane).render().renderables[0].plain == shown  # the panes keep their state
        assert app.snapshot.report is not None
        question = app.screen.query_one("#choices").render()
        assert "restart from the checkpoint" in str(question) and "step 0" in str(question)
        await pilot.press("x")  # any other key: stay and look
        assert not isinstance(app.screen, ChoiceScreen)
        await pilot.press("n")  # a key that needs the engine asks again
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("c")  # from the checkpoint of step 3, in a new process
        await until(pilot, lambda: app.runner.alive and app.snapshot.step == 3 and app.snapshot.commands == 0,
                    what="the new engine's first snapshot")
        assert app.runner.pid != old_pid
        assert "engine stopped" not in status.render().plain and "paused" in status.render().plain
        await steps(pilot, 1)
        headless = Trainer(trainer.dataset, Config())
        assert list(app.snapshot.losses) == [headless.step().loss for _ in range(4)]


async def test_after_a_death_a_new_engine_can_start_from_step_zero(trainer, make_app, ready, until, steps):
    app = make_app(trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        app.runner._process.terminate()
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the question")
        assert "killed by signal 15 (SIGTERM)" in app.engine_death
        await pilot.press("0")
        await until(pilot, lambda: app.runner.alive and app.snapshot.step == 0, what="a new engine at step 0")
        await steps(pilot, 1)
        assert app.snapshot.losses == (Trainer(trainer.dataset, Config()).step().loss,)


async def test_dot_steps_through_a_step_phase_by_phase_and_every_pane_follows(names, make_app, ready, until):
    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        status = app.query_one(StatusBar)
        await pilot.press("full_stop")
        await until(pilot, lambda: app.phase is not None, what="the document phase")
        assert app.phase.phase.kind == "document"
        assert re.search(r"step +1 / 1000 · document “mignon”", status.render().plain)
        for _ in range(3):
            await pilot.press("full_stop")
        await until(pilot, lambda: app.phase.phase.kind == "forward" and app.phase.phase.index == 2,
                    what="the third forward position")
        doc = app.phase.doc
        assert re.search(rf"step +1 / 1000 · forward 3/{len(doc) + 1} “{doc}”", status.render().plain)
        shown = app.snapshot.report
        assert shown.step == 1 and shown.doc == doc and len(shown.position_losses) == 3
        assert len(shown.attention[0][0]) == 3  # the heatmap has the three rows forwarded so far
        assert app.snapshot.step == 0 and app.live.report is None  # training itself is still before step 1
        await pilot.pause(0.3)
        for pane in ("loss", "attention", "graph", "grad"):  # every pane names the step it shows
            assert "step 1" in str(app.query_one(f"#{pane}", Pane).border_title), pane
        await pilot.press("n")  # finishes the step in progress
        await until(pilot, lambda: app.snapshot.step == 1 and app.phase is None, what="step 1 done")
        assert app.snapshot.report.doc == doc
        assert list(app.snapshot.losses) == [Trainer(names, Config()).step().loss]


async def test_space_pauses_after_the_step_in_progress_of_a_slow_step(trainer, make_app, ready, until):
    app = make_app(_Slow(trainer, 2.0))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        status = app.query_one(StatusBar)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.running, what="running")
        await pilot.pause(0.3)
        await pilot.press("space")
        await pilot.pause(0.3)
        assert app.snapshot.step == 0 and "pausing…" in status.render().plain  # step 1 is being finished
        await until(pilot, lambda: not app.snapshot.running and app.snapshot.commands >= app.runner.sent,
                    what="the pause", timeout=30)
        assert app.snapshot.step == 1 and app.snapshot.phase is None and app.phase is None  # after step 1
        await pilot.pause(0.3)
        line = status.render().plain
        assert re.search(r"step +1 / 1000 · paused", line) and "pausing" not in line
        await pilot.press("full_stop")  # `.` stops inside a step on purpose
        await until(pilot, lambda: app.phase is not None, what="a phase of step 2")
        await pilot.press("space")  # runs on from there ...
        await until(pilot, lambda: app.snapshot.running, what="running again")
        await pilot.press("space")  # ... and pausing again finishes step 2 too
        await until(pilot, lambda: not app.snapshot.running and app.snapshot.commands >= app.runner.sent,
                    what="the second pause", timeout=30)
        assert app.snapshot.step == 2 and app.snapshot.phase is None and app.phase is None


async def test_a_probe_is_shown_until_escape_and_changes_nothing(names, make_app, ready, until, steps):
    from microgpt_tui.widgets.probe_input import ProbeInput

    app = make_app(Trainer(names, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        await pilot.press("slash", *"emma", "enter")
        await until(pilot, lambda: app.probe is not None, what="the probe")
        assert not app.query_one(ProbeInput).display
        assert app.snapshot.report.doc == "emma" and app.snapshot.report.tokens[0] == "·"
        assert "probe “emma” · not trained on" in app.query_one(StatusBar).render().plain
        await pilot.press("escape")
        await until(pilot, lambda: app.probe is None, what="the end of the probe")
        assert app.snapshot.report.doc != "emma" or app.live.report.doc == "emma"
        await steps(pilot, 1)
        headless = Trainer(names, Config())
        assert list(app.snapshot.losses) == [headless.step().loss for _ in range(3)]


async def test_extend_the_schedule_from_the_palette(names, make_app, ready, until):
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(Trainer(names, Config(steps=3)))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.finished, what="the end")
        app.action_extend()
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        app.screen.query_one("#value").value = "5"
        await pilot.press("enter")
        await until(pilot, lambda: app.snapshot.steps == 5, what="the longer schedule")
        assert any("step 4" in str(n.message) for n in app._notifications)
        assert app.query_one("#loss").marks == (4,)
        assert "differs from the reference from step 4" in app.query_one(StatusBar).render().plain  # not step 2
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.finished and app.snapshot.step == 5, what="step 5")


async def test_m_on_a_finished_run_shows_the_last_step_in_atomic_at_once(names, make_app, ready, until):
    app = make_app(Trainer(names, Config(steps=2)))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.finished, what="the end")
        fused = app.snapshot.report.graph.nodes
        await pilot.press("m")
        await until(pilot, lambda: app.snapshot.report.engine == "atomic", what="the atomic graph")
        assert app.snapshot.report.graph.nodes > 5 * fused and app.snapshot.step == 2
        shown = "\n".join(line.plain for line in app.query_one(GraphPane).build_lines(60, 30))
        assert "step 2 (atomic)" in shown and "not run" not in shown  # the table agrees with the graph shown
        assert re.search(r"▶atomic +[\d.,k]+ +— ms", shown) and "Same losses" in shown and "nan" not in shown
        said = [str(n.message) for n in app._notifications]
        assert any("step 2's graph recomputed in atomic mode" in m for m in said)
        assert not any("from the next step" in m for m in said)  # there is none


async def test_while_training_every_pane_names_the_same_step(trainer, make_app, ready, until):
    app = make_app(trainer, paused=False, fps=4.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step > 5, what="training")
        agreed = 0
        for _ in range(100):
            await pilot.pause(0.02)
            steps = {pane: re.search(r"step (\d+)", str(app.query_one(f"#{pane}", Pane).border_title))
                     for pane in ("loss", "attention", "grad", "graph")}
            numbers = {m.group(1) for m in steps.values() if m is not None}
            if len(numbers) == 1:
                agreed += 1
            else:  # only while the panes take their turns after a change (within one redraw interval)
                assert time.monotonic() - app._shown_at < 1 / 4.0 + 0.25, steps  # (slack: a busy machine)
        assert agreed > 10  # (most samples agree on an idle machine; a loaded one redraws slower)



async def test_quitting_at_once_never_raises_from_a_late_timer_or_snapshot(names, make_app, ready):
    """Started and quit at once, again and again: the help's layout timer (0.5 s after training starts) and the
    engine's snapshots may arrive while the screen is being taken down; neither may raise (NoMatches)."""
    for attempt in range(5):
        app = make_app(Trainer(names, Config()), paused=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            await pilot.pause(0.42 + 0.04 * attempt)  # around the help's timer, while snapshots stream in
            app.exit()
    # The same, made certain: the timer and a snapshot handled after the screen is gone do nothing.
    live = app.live
    assert live is not None and not app.is_running
    app._lay_out_help()
    app.on_progress(Progress(live))
    app.on_engine_died(EngineDied("the engine process was killed by signal 9"))


async def test_after_a_death_a_checkpoint_of_another_run_is_not_offered(trainer, make_app, ready, until, tmp_path):
    from microgpt.data import Dataset

    path = tmp_path / "run.json"
    other = Trainer(Dataset.from_docs(["abc", "bca", "cab"], name="abc"), Config())
    other.step()
    save_checkpoint(other, path)  # the file saves go to holds a run of another dataset
    app = make_app(trainer, save_path=str(path))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        os.kill(app.runner.pid, signal.SIGKILL)
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the question after the death")
        question = str(app.screen.query_one("#choices").render())
        body = str(app.screen.query_one("#body").render())
        assert "restart from the checkpoint" not in question and "restart from step 0" in question
        assert "no restart from a checkpoint:\nit holds a run of another dataset ('abc', 3 docs)" in body
        await pilot.press("c")  # not a choice: stay and look
        assert not isinstance(app.screen, ChoiceScreen) and not app.runner.alive
        save_checkpoint(Trainer(trainer.dataset, Config(n_embd=8)), path)  # this dataset, another model
        app.offer_restart()
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the question again")
        body = str(app.screen.query_one("#body").render())
        assert "no restart from a checkpoint:\nit holds a run of another configuration (n_embd 8)" in body
        assert "restart from the checkpoint" not in str(app.screen.query_one("#choices").render())
        await pilot.press("x")
        path.unlink()
        app.offer_restart()
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the question again")
        body = str(app.screen.query_one("#body").render())
        assert f"no restart from a checkpoint:\nnothing saved at {path} yet" in body


async def test_footer_keys_are_as_wide_born_compact_as_once_told_not(trainer, make_app, ready):
    """Each key of the footer is born compact (Textual's default) and only then learns the footer is not: after a
    resize recomposes the footer, a key laid out in between kept the compact width, its label cut ("Qui"). The
    footer's keys take the same room either way, so that nothing depends on that moment (tester defect 23)."""
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        keys = [key for key in app.query(FooterKey) if not key.has_class("-command-palette")]
        assert keys
        for key in keys:
            widths = []
            for compact in (True, False):
                key.compact = compact
                await pilot.pause()
                widths.append(key.get_content_width(Size(100, 1), Size(100, 1)))
            assert widths[0] == widths[1], key.description


async def test_the_palette_does_not_open_over_a_question_waiting_for_its_answer(trainer, make_app, ready):
    """ctrl+p in the "go to step…" question used to stack the palette and a second question over the first,
    which then took the next keys after the second was answered (tester2 defect 25)."""
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        app.action_run_to()
        await pilot.pause()
        assert isinstance(app.screen, InputScreen)
        depth = len(app.screen_stack)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert len(app.screen_stack) == depth and isinstance(app.screen, InputScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")  # on the dashboard it opens
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_a_pause_on_the_way_to_until_does_not_forget_it(names, make_app, until):
    """--until 10 (or Run to step…), paused at about step 2 with space: space runs on to step 10 and pauses there
    again, not past it (tester2 defect 28); once reached, space runs on and on."""
    app = make_app(Trainer(names, Config(steps=40)), paused=False, until=10, speed=5.0)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.live is not None and app.live.step >= 2, what="step 2")
        await pilot.press("space")
        await until(pilot, lambda: app.live is not None and not app.live.running, what="the pause")
        paused_at = app.live.step
        assert paused_at < 10
        await pilot.press("space")
        await until(pilot, lambda: app.live.step == 10 and not app.live.running, what="the pause at step 10")
        assert app.run_target is None
        await pilot.press("space")
        await until(pilot, lambda: app.live.step >= 11, what="past step 10")


async def test_a_run_started_without_paused_never_says_paused_before_it_runs(trainer, make_app):
    """The engine's first state (step 0, not yet running) used to show `step 0 / 1000 · paused` for a moment
    (tester2 defect 29): until the engine runs, the status line says `starting…`."""
    app = make_app(trainer, paused=False)
    seen: list[str] = []
    async with app.run_test(size=(100, 32)) as pilot:
        bar = app.query_one(StatusBar)
        for _ in range(2000):
            seen.append(str(bar.render()))
            if app.live is not None and app.live.running:
                break
            await pilot.pause(0.002)
        assert app.live is not None and app.live.running
    assert not any("paused" in line for line in seen), sorted(set(seen), key=seen.index)
