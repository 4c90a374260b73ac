"""Time travel in the app (Pilot, a real trainer, the real engine process): scrubbing shows exactly the step asked
for on every pane, whichever widget has the focus; a branch retraces the run bit for bit; breakpoints pause on
the right step and say so; a checkpoint's history scrubs back after a resume; --compare draws a ghost."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from dataclasses import replace

import pytest
from textual.widgets import Tabs

from microgpt.breakpoints import parse
from microgpt.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.history import History, resumed_history
from microgpt.report import StepReport
from microgpt.trainer import Trainer
from microgpt_tui.__main__ import compared_runs
from microgpt_tui.app import MicroGPTApp
from microgpt_tui.widgets.choice_screen import ChoiceScreen
from microgpt_tui.widgets.inside import Inside
from microgpt_tui.widgets.loss_chart import LossChart
from microgpt_tui.widgets.status_bar import SHOW_WAITING_AFTER, StatusBar


def same(a: StepReport, b: StepReport) -> bool:
    """Equal to the last bit, timings aside."""
    return repr(replace(a, timings=b.timings)) == repr(b)


@pytest.fixture(scope="module")
def reference(names) -> list[StepReport]:
    """An uninterrupted 40-step run's reports (the default configuration, seed 42)."""
    trainer = Trainer(names, Config())
    return [trainer.step() for _ in range(40)]


def status(app: MicroGPTApp) -> str:
    return app.query_one(StatusBar).render().plain


def shown(app: MicroGPTApp) -> StepReport | None:
    return app.snapshot.report if app.snapshot is not None else None


async def trained(pilot, until, steps: int) -> MicroGPTApp:
    """Wait until the app has run to `steps` (started with until=steps) and paused."""
    app = pilot.app
    await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == steps and not app.snapshot.running
                and not app._wants_running, what=f"step {steps}, paused")
    return app


async def at_step(pilot, until, step: int) -> None:
    app = pilot.app
    await until(pilot, lambda: shown(app) is not None and shown(app).step == step, what=f"step {step} shown")


async def test_scrubbing_shows_exactly_each_step_asked_for(trainer, make_app, until, reference):
    app = make_app(trainer, paused=False, until=30)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 30)
        for key, step in (("left", 29), ("shift+left", 19), ("left", 18), ("home", 1), ("right", 2),
                          ("pagedown", 30), ("pageup", 1), ("shift+right", 11)):
            await pilot.press(key)
            if step == 30:
                await until(pilot, lambda: app.history_step is None, what="the live step")
            else:
                await at_step(pilot, until, step)
                assert app.history_step == step
                assert f"history · step {step} (live: 30)" in status(app)
                assert app.query_one(LossChart).cursor == step
                summary = app.query_one(LossChart).build_lines(90, 20)[0].plain
                assert summary.startswith(f"loss {reference[step - 1].loss:.4f}")  # that step's loss, not the live one
            assert same(shown(app), reference[step - 1]), f"{key} -> step {step}"
        await pilot.press("end")
        await until(pilot, lambda: app.history_step is None and shown(app).step == 30, what="live again")
        assert "history" not in status(app)


async def test_keys_scrub_with_the_tabs_focused_in_a_small_terminal(trainer, make_app, until, reference):
    app = make_app(trainer, paused=False, until=6)
    async with app.run_test(size=(80, 24)) as pilot:
        await trained(pilot, until, 6)
        tabs = app.query_one(Tabs)
        tabs.focus()
        await pilot.pause()
        before = tabs.active
        await pilot.press("left", "left")
        await at_step(pilot, until, 4)
        assert tabs.active == before  # the tabs did not take the key
        assert same(shown(app), reference[3])


async def test_training_keys_return_to_the_live_step_and_samples_come_from_the_shown_step(trainer, make_app, until):
    app = make_app(trainer, paused=False, until=8)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 8)
        await pilot.press("home")
        await at_step(pilot, until, 1)
        await pilot.press("g")
        await until(pilot, lambda: len(app.samples) == 1, what="a sample")
        assert app.samples[-1].step == 1  # drawn from step 1's weights, marked so
        await pilot.press("n")
        await until(pilot, lambda: app.snapshot.step == 9, what="step 9")
        assert app.history_step is None and shown(app).step == 9


class SlowHistory(History):
    """A history whose replay of one step takes `seconds` (a jump far back in a long run)."""

    def __init__(self, trainer: Trainer, slow_step: int, seconds: float) -> None:
        super().__init__(trainer)
        self.slow_step, self.seconds = slow_step, seconds

    def replay(self, step: int) -> StepReport:
        if step == self.slow_step:
            time.sleep(self.seconds)
        return super().replay(step)


async def test_a_slow_replay_says_replaying_and_a_fast_one_never_does(trainer, make_app, until):
    app = make_app(trainer, paused=False, until=12, history=SlowHistory(trainer, slow_step=2, seconds=1.5))
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 12)
        labels: list[str] = []  # the status line, sampled while the past step is on its way

        def arrived() -> bool:
            labels.append(status(app))
            return shown(app).step == 11

        await pilot.press("left")  # step 11: replayed at once
        await until(pilot, arrived, what="step 11")
        await pilot.pause(3 * SHOW_WAITING_AFTER)  # long past the moment `replaying…` would be said
        labels.append(status(app))
        assert "history · step 11 (live: 12)" in labels[-1]
        assert all("replaying" not in text for text in labels)

        await pilot.press("home")  # step 1 (replayed at once)
        await at_step(pilot, until, 1)
        await pilot.press("right")  # step 2: slow
        asked = app.query_one(StatusBar).replaying  # when the app asked for it
        assert asked is not None
        first, early = status(app), time.monotonic() - asked < SHOW_WAITING_AFTER
        assert "history · step 2 (live: 12)" in first and not (early and "replaying" in first)
        assert shown(app).step == 1  # the panes still show the step before
        await until(pilot, lambda: "replaying…" in status(app), what="replaying…")
        assert time.monotonic() - asked >= SHOW_WAITING_AFTER and shown(app).step == 1
        assert "history · step 2 (live: 12) · replaying…" in status(app)
        await at_step(pilot, until, 2)
        assert "history · step 2 (live: 12)" in status(app) and "replaying" not in status(app)

        await pilot.press("end", "full_stop", "full_stop")  # the live step 13, begun: then back to step 2
        await until(pilot, lambda: app.phase is not None and app.phase.phase.kind == "forward", what="step 13 begun")
        app.go_to_step(2)
        await pilot.pause()
        assert "history · step 2 (live: 13)" in status(app)  # not the live step's phase (13: in progress)
        await until(pilot, lambda: "history · step 2 (live: 13) · replaying…" in status(app), what="replaying…")
        await at_step(pilot, until, 2)
        assert "replaying" not in status(app)
        await pilot.press("end")  # the live step's phase again
        await until(pilot, lambda: "step   13 / 1000 · forward 1/" in status(app), what="step 13's phase")


async def test_dot_in_history_steps_through_the_past_steps_phases(trainer, make_app, until, reference):
    app = make_app(trainer, paused=False, until=5)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 5)
        await pilot.press("left", "left")
        await at_step(pilot, until, 3)
        await pilot.press("full_stop", "full_stop")
        await until(pilot, lambda: app.phase is not None and app.phase.phase.kind == "forward",
                    what="the first forward position of step 3")
        assert app.phase.doc == reference[2].doc and shown(app).step == 3
        assert "history · step 3 (live: 5) · forward 1/" in status(app)
        assert shown(app).position_losses == reference[2].position_losses[:1]
        assert trainer.step_count == 0  # the app's copy; the engine's run is untouched (it is at step 5)
        assert app.snapshot.step == 5


async def test_the_last_finished_step_is_reachable_while_a_step_is_in_progress(trainer, make_app, until, reference):
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(trainer, paused=False, until=5)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 5)
        await pilot.press("full_stop")  # step 6 begins: its document
        await until(pilot, lambda: app.phase is not None and app.live.phase is not None, what="step 6's document")
        await pilot.press("left")  # the step the run stopped on, not the one before it
        await at_step(pilot, until, 5)
        assert app.history_step == 5 and same(shown(app), reference[4])
        assert "history · step 5 (live: 6)" in status(app)
        await pilot.press("right")  # back to the step in progress, its phase shown again
        await until(pilot, lambda: app.history_step is None, what="the live step")
        assert app.phase is not None and app.phase.phase.step == 6 and "document" in status(app)
        await pilot.press("left", "left", "end")
        await until(pilot, lambda: app.history_step is None and app.phase is not None, what="live again")
        app.action_go_to()
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        assert "(1-6; 6 is the live step (in progress))" in str(app.screen.query_one("Static").render())
        field = app.screen.query_one("#value")
        await pilot.press(*["backspace"] * len(field.value), "5", "enter")
        await at_step(pilot, until, 5)
        assert app.history_step == 5 and same(shown(app), reference[4])
        assert app.live.step == 5 and app.live.phase is not None  # the step in progress waits, untouched


async def test_run_to_step_from_history_shows_the_live_run(trainer, make_app, until, reference):
    from microgpt_tui.widgets.input_screen import InputScreen

    app = make_app(trainer, paused=False, until=5)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 5)
        await pilot.press("home")
        await at_step(pilot, until, 1)
        app.action_run_to()
        await until(pilot, lambda: isinstance(app.screen, InputScreen), what="the question")
        field = app.screen.query_one("#value")
        await pilot.press(*["backspace"] * len(field.value), "9", "enter")
        assert app.history_step is None  # left at once, like space and n
        await until(pilot, lambda: app.live.step == 9 and not app.live.running, what="step 9, paused")
        await until(pilot, lambda: shown(app).step == 9, what="step 9 shown")
        assert app.history_step is None and "history" not in status(app)
        assert same(shown(app), reference[8])


async def test_a_probe_in_history_uses_the_shown_steps_weights_and_says_so(names, trainer, make_app, until):
    app = make_app(trainer, paused=False, until=8)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 8)
        await pilot.press("left", "left", "left")
        await at_step(pilot, until, 5)
        await pilot.press("slash")
        await pilot.pause()
        assert "at the weights of step 5" in str(app.query_one("#probe-hint").render())
        await pilot.press(*"emma", "enter")
        await until(pilot, lambda: app.probe is not None, what="the probe")
        twin = Trainer(names, Config())
        for _ in range(5):
            twin.step()
        assert repr(app.probe) == repr(twin.probe("emma"))  # step 5's weights, not the live step 8's
        await pilot.pause()
        assert "probe “emma” · not trained on · weights of step 5 · escape ends it" in status(app)
        assert app.query_one(LossChart).border_title == "Loss · step 5"
        inside = "\n".join(line.plain for line in app.query_one(Inside).render().renderables)  # type: ignore[attr-defined]
        assert "“emma” at the weights of step 5" in inside
        await pilot.press("right")  # another step shown: the probe (of step 5's weights) ends
        await at_step(pilot, until, 6)
        assert app.probe is None and "history · step 6 (live: 8)" in status(app)


async def test_the_inside_pane_in_history_names_the_shown_step_and_what_dot_does(trainer, make_app, until):
    app = make_app(trainer, paused=False, until=4)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 4)
        inside = app.query_one(Inside)

        def said() -> str:
            return " ".join(" ".join(line.plain for line in inside.render().renderables).split())  # type: ignore[attr-defined]

        assert inside.border_title == "Inside" and "Press . to take one phase of a training step" in said()
        await pilot.press("left")
        await at_step(pilot, until, 3)
        await pilot.pause()
        assert inside.border_title == "Inside · step 3"  # as every other pane: `Loss · step 3`
        assert "Press . to replay step 3 phase by phase" in said() and "take one phase" not in said()
        await pilot.press("end")
        await until(pilot, lambda: app.history_step is None, what="the live step")
        await pilot.pause()
        assert inside.border_title == "Inside" and "Press . to take one phase of a training step" in said()


async def test_a_branch_with_nothing_changed_reproduces_the_run_bit_for_bit(trainer, make_app, until, reference):
    app = make_app(trainer, paused=False, until=20)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 20)
        app.go_to_step(10)
        await at_step(pilot, until, 10)
        await pilot.press("b")
        await until(pilot, lambda: app.snapshot.step == 10 and app.history_step is None, what="back at step 10")
        assert [g.label for g in app.query_one(LossChart).ghosts] == ["before the branch at step 10"]
        assert app.ghosts[0].losses == tuple(r.loss for r in reference[10:20]) and app.ghosts[0].first_step == 11
        app.runner.run_until(20)
        await until(pilot, lambda: app.snapshot.step == 20 and not app.snapshot.running, what="step 20 again")
        assert app.snapshot.losses == tuple(r.loss for r in reference[:20])
        assert same(shown(app), reference[19])


async def test_samples_of_steps_a_branch_took_back_are_marked_as_before_it(trainer, make_app, until):
    from microgpt_tui.widgets.sampler import Sampler

    app = make_app(trainer, paused=False, until=12)
    async with app.run_test(size=(160, 48)) as pilot:
        await trained(pilot, until, 12)
        await pilot.press("g")  # step 12: a step the branch takes back
        await until(pilot, lambda: len(app.samples) == 1, what="a sample at step 12")
        app.go_to_step(4)
        await at_step(pilot, until, 4)
        await pilot.press("g")  # step 4: still in the run after the branch
        await until(pilot, lambda: len(app.samples) == 2, what="a sample at step 4")
        app.go_to_step(8)
        await at_step(pilot, until, 8)
        await pilot.press("b")
        await until(pilot, lambda: app.snapshot.step == 8 and len(app.ghosts) == 1, what="back at step 8")
        await pilot.press("g")  # step 8, after the branch: the current model
        await until(pilot, lambda: len(app.samples) == 3, what="a sample after the branch")
        sampler = app.query_one(Sampler)
        wide = [line.plain for line in sampler.build_lines(120, 40) if line.plain.startswith("step ")]
        assert [line.split(" · “")[0] for line in wide] == [
            "step 12 (before the branch at 8) · T 0.50", "step 4 (earlier) · T 0.50", "step 8 · T 0.50"]
        narrow = [line.plain for line in sampler.build_lines(24, 40) if line.plain.startswith("step ")]
        assert narrow[0].startswith("step 12 (ghost) · T 0.50")  # no room: the short form


async def test_the_sample_that_fires_memorized_is_in_the_sampling_pane(make_app, until):
    from microgpt.data import Dataset
    from microgpt.seen import TrainingDocs
    from microgpt_tui.widgets.sampler import Sampler
    from tests.engine.test_breakpoints import CONFIG, NAMES

    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    docs = TrainingDocs(trainer.docs)
    app = make_app(trainer, paused=False, breaks=[parse("memorized=5")])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "breakpoint" in status(app) and app.samples, what="the memorized breakpoint")
        sample = app.samples[-1]
        seen = docs.lookup(sample.text, sample.step)
        assert sample.step == app.snapshot.step and seen.kind == "trained"
        assert f"sample “{sample.text}” seen at step {seen.step}" in status(app)  # curly quotes, as the panes
        lines = [line.plain for line in app.query_one(Sampler).build_lines(100, 30)]
        assert any(f"“{sample.text}” (seen at step {seen.step})" in line for line in lines)
        rows = [line for line in lines if "→" in line]
        assert len(rows) == len(sample.tokens) and rows[0].startswith(f"·→{sample.text[0]}")  # with its odds


async def test_a_breakpoint_pauses_on_its_step_and_says_so(trainer, make_app, until, reference):
    threshold = 3.0
    first = next(r for r in reference if r.loss < threshold)
    app = make_app(trainer, paused=False, breaks=[parse(f"loss<{threshold}")])
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: "breakpoint" in status(app), what="the breakpoint")
        assert app.snapshot.step == first.step and same(shown(app), first)
        assert f"breakpoint loss<{threshold}: step {first.step}, loss {first.loss:.4f}" in status(app)
        assert app.breakpoints == ((f"loss<{threshold}", True),)
        await pilot.press("space")  # runs on: still true, it fires again only after being false for a step
        await until(pilot, lambda: app.snapshot.step > first.step + 1, what="running on")


async def test_the_breakpoint_list_adds_toggles_removes_and_refuses_a_bad_condition(trainer, make_app, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("k", "a", *"lose<2", "enter")
        error = app.screen.query_one("#error").render()
        assert "cannot use 'lose<2' as a breakpoint; give one of loss<X" in str(error)
        await pilot.press(*["backspace"] * 6, *"step=3", "enter")
        await until(pilot, lambda: app.breakpoints == (("step=3", True),), what="the breakpoint added")
        await pilot.press("space")
        await until(pilot, lambda: app.breakpoints == (("step=3", False),), what="turned off")
        await pilot.press("space", "escape")
        await until(pilot, lambda: app.breakpoints == (("step=3", True),), what="turned on again")
        await pilot.press("space")
        await until(pilot, lambda: app.snapshot.step == 3 and "breakpoint step=3: step 3" in status(app),
                    what="the pause at step 3")
        await pilot.press("k", "d")
        await until(pilot, lambda: app.breakpoints == (), what="removed")


async def test_a_breakpoint_that_cannot_fire_is_added_with_a_note_and_a_duplicate_refused(trainer, make_app, until):
    app = make_app(trainer)
    last = trainer.steps
    async with app.run_test(size=(100, 32), notifications=True) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("k", "a", *f"step={last + 1}", "enter")
        note = f"breakpoint step={last + 1} is after the last step ({last}): it will not fire"
        await until(pilot, lambda: any(note in str(n.message) for n in app._notifications), what="the note")
        assert app.breakpoints == ((f"step={last + 1}", True),)
        await pilot.press("a", *f"step = {last + 1}", "enter")
        refusal = f"step={last + 1} is already in the list"
        await until(pilot, lambda: any(refusal in str(n.message) for n in app._notifications), what="the refusal")
        assert app.breakpoints == ((f"step={last + 1}", True),)


async def test_a_new_engine_after_a_death_keeps_the_breakpoint_list_with_its_off_ones(trainer, make_app, until):
    app = make_app(trainer, breaks=[parse("step=1"), parse("spike"), parse("every=3")])
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("k", "space", "escape")  # step=1 off: the list is as the user left it
        listed = (("step=1", False), ("spike", True), ("every=3", True))
        await until(pilot, lambda: app.breakpoints == listed, what="step=1 turned off")
        old_pid = app.runner.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the question after the death")
        await pilot.press("0")
        # the new engine says its list before its first snapshot (the reader posts in order)
        await until(pilot, lambda: app.runner.alive and app.runner.pid != old_pid and app.snapshot is not None
                    and app.snapshot.commands == 0, what="the new engine's first snapshot")
        assert app.breakpoints == listed
        await pilot.press("space")  # the new engine watches the same list: step=1 stays off
        await until(pilot, lambda: "breakpoint" in status(app), what="a breakpoint")
        assert app.snapshot.step == 3 and "breakpoint every=3: step 3" in status(app)


async def test_a_damaged_saved_history_is_said_in_the_app_in_plain_words(trainer, make_app, until, tmp_path):
    path = tmp_path / "run.json"
    history = History(trainer)
    for _ in range(4):
        history.record(trainer.step())
    save_checkpoint(trainer, path, history)
    obj = json.loads(path.read_text())
    obj["history"]["ghosts"] = "nope"
    path.write_text(json.dumps(obj))
    resumed = load_checkpoint(path)
    app = make_app(resumed, history=resumed_history(read_checkpoint(path).history, resumed))
    async with app.run_test(size=(100, 32), notifications=True) as pilot:
        await until(pilot, lambda: any("resumed at step 4" in str(n.title) for n in app._notifications),
                    what="the resume notice")
        said = " ".join(str(n.message) for n in app._notifications)
        assert "the saved history is damaged, so the steps up to 4 cannot be shown; training carries on from " \
               "step 4" in said
        assert "has no history" not in said and "Error" not in said
        await pilot.press("n")  # step 5: then left asks for step 4, the first the new history cannot show
        await until(pilot, lambda: app.live.step == 5, what="step 5")
        await pilot.press("left", "left")
        await until(pilot, lambda: any("no history before" in str(n.message) for n in app._notifications),
                    what="the no-history notice")
        notice = [str(n.message) for n in app._notifications if "no history before" in str(n.message)][-1]
        assert notice == "no history before step 5: the saved history was damaged"  # not "saved without one"


async def test_a_checkpoint_with_history_resumes_and_scrubs_back(trainer, make_app, until, reference, tmp_path):
    path = str(tmp_path / "run.json")
    app = make_app(trainer, paused=False, until=8, save_path=path)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 8)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.saved_step == 8, what="the save")
    resumed = load_checkpoint(path)
    app = make_app(resumed, history=resumed_history(read_checkpoint(path).history, resumed))
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.first_step == 1)
        await pilot.press("home")
        await at_step(pilot, until, 1)
        assert same(shown(app), reference[0])
        await pilot.press("right", "right")
        await at_step(pilot, until, 3)
        assert same(shown(app), reference[2])


async def test_a_run_resumed_without_history_says_why_it_cannot_go_back(trainer, make_app, until, reference):
    for _ in range(3):
        trainer.step()  # as `microgpt train` leaves it: a checkpoint of step 3 without a history
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.first_step == 4)

        def said() -> list[str]:
            return [str(n.message) for n in app._notifications if "no history before" in str(n.message)]

        for key in ("left", "home", "pageup"):
            await pilot.press(key)
            await until(pilot, lambda: said(), what=f"a word after {key}")
            assert said()[-1] == ("no history before step 3: this run was resumed from a checkpoint saved without "
                                  "one (microgpt train)")
            assert app.history_step is None
            app.clear_notifications()
        app.runner.step(3)
        await until(pilot, lambda: app.snapshot.step == 6, what="step 6")
        await pilot.press("home")  # the first step the history holds, and why not step 1
        await at_step(pilot, until, 4)
        assert same(shown(app), reference[3]) and said()[-1].startswith("no history before step 4: ")
        app.clear_notifications()
        await pilot.press("right", "left")  # within the history: nothing to say
        await at_step(pilot, until, 4)
        await pilot.pause(0.2)
        assert not said()


async def test_compare_draws_a_saved_run_as_a_ghost_with_its_legend(names, trainer, make_app, until, tmp_path):
    other = Trainer(names, Config(lr=0.02))
    for _ in range(12):
        other.step()
    save_checkpoint(other, tmp_path / "fast.json")
    args = argparse.Namespace(compare=[str(tmp_path / "fast.json")])
    app = make_app(trainer, compare=compared_runs(args, trainer), paused=False, until=4)
    async with app.run_test(size=(100, 32)) as pilot:
        await trained(pilot, until, 4)
        chart = app.query_one(LossChart)
        assert [g.label for g in chart.ghosts] == ["fast.json: lr 0.02"]
        assert chart.ghosts[0].losses == tuple(other.losses)
        text = "\n".join(line.plain for line in chart.build_lines(90, 16))
        assert "fast.json: lr 0.02" in text


async def test_the_sampler_marks_training_documents_and_counts_a_batchs_new_names(trainer, make_app, until):
    from microgpt.seen import TrainingDocs
    from microgpt_tui.widgets.sampler import Sampler

    app = make_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("G")
        await until(pilot, lambda: len(app.samples) == 10, what="a batch")
        texts = [s.text for s in app.samples]
        sampler = app.query_one(Sampler)
        sampler.docs = TrainingDocs([*texts[:2], "zzz"])  # as if the run's first documents were two of them
        lines = "\n".join(line.plain for line in sampler.build_lines(150, 40))
        assert f"{10 - sum(t in texts[:2] for t in texts)}/10 new" in lines
        assert f"“{texts[1]}” (in the data)" in lines  # step 2 trains on it: not yet at step 0
        sampler.docs = TrainingDocs(texts[:2])
        app.samples = tuple(replace(s, step=5) for s in app.samples)
        await pilot.pause()
        lines = "\n".join(line.plain for line in sampler.build_lines(150, 40))
        assert f"“{texts[0]}” (seen at step 1)" in lines
