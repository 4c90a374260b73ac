"""The engine loop's time travel (in this process, on a simulated clock): a past step replayed exactly, its
phases, a branch that retraces the run bit for bit, breakpoints that pause on the right step, samples from past
weights, and a checkpoint whose history comes back."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from microgpt.breakpoints import parse
from microgpt.checkpoint import read_checkpoint
from microgpt.config import Config
from microgpt.history import History
from microgpt.report import StepReport
from microgpt.trainer import Trainer
from microgpt_tui import protocol as p
from microgpt_tui.engine_process import EngineLoop
from microgpt_tui.messages import Progress
from microgpt_tui.shown import shown_snapshot
from tests.tui.test_runner import Simulation, TimedTrainer


def same(a: StepReport, b: StepReport) -> bool:
    """Equal to the last bit, timings aside (repr shows every float exactly)."""
    return repr(replace(a, timings=b.timings)) == repr(b)


def loop(trainer: Trainer, schedule: list[tuple[float, object]], **options: object) -> Simulation:
    sim = Simulation(schedule)
    EngineLoop(TimedTrainer(trainer, sim), sim.post, sim.receive, clock=sim.clock, **options).run()  # type: ignore[arg-type]
    return sim


@pytest.fixture
def short(names) -> Trainer:
    return Trainer(names, Config(steps=60))


@pytest.fixture
def reference(names) -> list[StepReport]:
    """The reports of an uninterrupted 40-step run (the same seed)."""
    trainer = Trainer(names, Config(steps=60))
    return [trainer.step() for _ in range(40)]


def test_a_seek_replays_exactly_the_step_of_an_uninterrupted_run(short, reference):
    steps = (1, 2, 17, 39, 40, 5, 6)
    sim = loop(short, [(0.0, p.Step(40)), *[(1.0, p.Seek(k)) for k in steps]])
    past = [m.report for m in sim.of(p.Past)]
    assert [r.step for r in past] == list(steps)
    for report in past:
        assert same(report, reference[report.step - 1]), f"step {report.step}"
    assert short.step_count == 40  # showing the past never moves the run


def test_a_seek_outside_the_history_is_refused(short):
    sim = loop(short, [(0.0, p.Step(3)), (1.0, p.Seek(4)), (1.0, p.Seek(0))])
    refused = sim.of(p.Refused)
    assert len(refused) == 2 and all("not in the history (steps 1-3)" in r.reason for r in refused)


def test_the_last_finished_step_is_shown_while_a_step_is_in_progress(short, reference):
    sim = loop(short, [(0.0, p.Step(5)), (1.0, p.NextPhase()), (1.0, p.NextPhase()), (2.0, p.Seek(5)),
                       (2.0, p.PastPhase(5)), (3.0, p.Step(1))])
    assert not sim.of(p.Refused)
    (past,) = sim.of(p.Past)
    assert same(past.report, reference[4])  # step 5, though step 6 is half done
    assert sim.of(p.PastPhaseDone)[0].report.phase.step == 5
    assert short.losses == [r.loss for r in reference[:6]]  # the step in progress went on untouched


def test_the_phases_of_a_past_step_end_in_its_report(short, reference):
    sim = loop(short, [(0.0, p.Step(20)), *[(1.0, p.PastPhase(7))] * 150])
    phases = [m.report for m in sim.of(p.PastPhaseDone)]
    assert phases[0].phase.kind == "document" and phases[0].doc == reference[6].doc
    assert all(ph.phase.step == 7 for ph in phases)
    last = phases[-1]
    assert last.phase.kind == "update"
    assert last.position_losses == reference[6].position_losses
    end = sim.of(p.Notice)[-1]  # `.` after the last phase: the end of the step, not a refusal
    assert end.title == "end of step 7" and "left/right show another step" in end.text
    assert not sim.of(p.Refused)


def test_a_past_steps_phases_are_shown_in_its_own_mode_and_learning_rate(short):
    """Step 5 is taken in atomic mode at a rate set by hand; the live run has moved on to fused and another rate:
    the panes, showing step 5's phases, name step 5's mode and rate, not the live run's."""
    sim = loop(short, [(0.0, p.Step(4)), (1.0, p.SetLr(0.05)), (1.0, p.SetEngine("atomic")), (1.0, p.Step(2)),
                       (2.0, p.SetEngine("fused")), (2.0, p.SetLr(0.002)), (2.0, p.Step(1)),
                       (3.0, p.Seek(5)), *[(4.0, p.PastPhase(5))] * 3])
    step5 = sim.of(p.Past)[-1].report  # the step as it was taken
    assert (step5.engine, step5.lr) == ("atomic", short.schedule.lr_at(5))
    live = sim.of(Progress)[-1].snapshot
    assert (live.engine, live.next_lr) == ("fused", short.schedule.lr_at(8)) and live.next_lr != step5.lr
    phases = [m.report for m in sim.of(p.PastPhaseDone)]
    assert [ph.phase.kind for ph in phases] == ["document", "forward", "forward"]
    for phase in phases:
        shown = shown_snapshot(live, phase, None, short.matrix_names, past=step5, history=True).report
        assert shown is not None and (shown.step, shown.engine, shown.lr) == (5, "atomic", step5.lr), phase.phase


def test_a_past_steps_phases_name_the_schedule_length_it_had(short):
    """Step 3 is taken in a 60-step run, later extended to twice that: the panes, showing step 3's phases, say
    step 3 of 60 (as its report does), not of the live schedule's length."""
    length = short.steps
    sim = loop(short, [(0.0, p.Step(4)), (1.0, p.Extend(2 * length)), (1.0, p.Step(2)), (2.0, p.Seek(3)),
                       *[(3.0, p.PastPhase(3))] * 3])
    step3 = sim.of(p.Past)[-1].report
    live = sim.of(Progress)[-1].snapshot
    assert step3.steps == length and live.steps == 2 * length
    phases = [m.report for m in sim.of(p.PastPhaseDone)]
    assert [ph.phase.kind for ph in phases] == ["document", "forward", "forward"]
    for phase in phases:
        shown = shown_snapshot(live, phase, None, short.matrix_names, past=step3, history=True).report
        assert shown is not None and (shown.step, shown.steps) == (3, length), phase.phase


def test_the_live_step_in_progress_keeps_the_mode_it_was_begun_in(short):
    """`m` in the middle of a step switches the steps to come: the step in progress stays in its own mode."""
    sim = loop(short, [(0.0, p.Step(2)), (1.0, p.SetEngine("atomic")), (1.0, p.NextPhase()), (1.0, p.NextPhase()),
                       (2.0, p.SetEngine("fused")), (2.0, p.NextPhase())])
    live = sim.of(Progress)[-1].snapshot
    assert live.engine == "fused"
    phases = [m.report for m in sim.of(p.PhaseDone)]
    assert [ph.phase.step for ph in phases] == [3, 3, 3]
    for phase in phases:
        shown = shown_snapshot(live, phase, None, short.matrix_names).report
        assert shown is not None and (shown.engine, shown.lr) == ("atomic", short.schedule.lr_at(3)), phase.phase


def test_a_branch_with_nothing_changed_retraces_the_run_bit_for_bit(short, reference):
    sim = loop(short, [(0.0, p.Step(30)), (1.0, p.Branch(10)), (2.0, p.Step(30))])
    assert short.step_count == 40
    assert short.losses == [r.loss for r in reference]
    snapshot = sim.of(Progress)[-1].snapshot
    assert snapshot.losses == tuple(r.loss for r in reference)  # the app's copy was cut at 10, then grew again
    assert same(snapshot.report, reference[-1])
    ghosts = sim.of(p.Branches)[-1].ghosts
    assert len(ghosts) == 1 and ghosts[0].start == 10
    assert ghosts[0].losses == tuple(r.loss for r in reference[10:30])


def test_a_branch_shows_the_step_it_went_back_to(short, reference):
    sim = loop(short, [(0.0, p.Step(30)), (1.0, p.Branch(12))])
    snapshot = sim.of(Progress)[-1].snapshot
    assert snapshot.step == 12 and same(snapshot.report, reference[11])
    assert snapshot.losses == tuple(r.loss for r in reference[:12])


def test_a_new_learning_rate_differs_from_the_next_step_and_the_status_says_so(short, reference):
    sim = loop(short, [(0.0, p.Step(10)), (1.0, p.SetLr(0.1)), (2.0, p.Step(2))])
    assert short.losses[:11] == [r.loss for r in reference[:11]]  # step 11's loss comes before its update
    assert short.losses[11] != reference[11].loss
    snapshot = sim.of(Progress)[-1].snapshot
    assert snapshot.schedule_note == "differs from the reference from step 11" and snapshot.marks == (11,)
    assert "base learning rate 0.1 from step 11" in sim.of(p.Notice)[-1].text


def test_a_learning_rate_asked_for_while_training_runs_holds_from_the_step_after_the_running_one(short):
    """While training runs a step is always in progress: the new rate waits for it, it is not refused."""
    sim = loop(short, [(0.0, p.Run()), (0.105, p.SetLr(0.1)), (0.3, p.Pause())])
    assert not sim.of(p.Refused)
    notice = next(n for n in sim.of(p.Notice) if n.title == "learning rate")
    start = short.schedule.segments[-1].start
    assert short.schedule.segments[-1].lr == 0.1 and 10 < start <= short.step_count
    assert f"base learning rate 0.1 from step {start}" in notice.text
    assert sim.of(Progress)[-1].snapshot.schedule_note == f"differs from the reference from step {start}"


def test_a_learning_rate_asked_for_between_the_phases_of_a_step_is_refused(short):
    sim = loop(short, [(0.0, p.Step(3)), (1.0, p.NextPhase()), (1.0, p.NextPhase()), (2.0, p.SetLr(0.1))])
    assert sim.of(p.Refused)[-1].reason == p.step_in_progress(4)
    assert not short.schedule.changed


def test_a_breakpoint_pauses_after_the_step_where_it_becomes_true(short, reference):
    threshold = sorted(r.loss for r in reference[:40])[3]  # true first at some step in 1..40
    first = next(r for r in reference if r.loss < threshold)
    sim = loop(short, [(0.0, p.Run())], breaks=((parse(f"loss<{threshold!r}"), True),))
    assert short.step_count == first.step
    hit = sim.of(p.BreakHit)[-1]
    assert hit.step == first.step
    assert hit.text == f"breakpoint loss<{threshold!r}: step {first.step}, loss {first.loss:.4f}"
    assert not sim.of(Progress)[-1].snapshot.running


def test_a_breakpoint_list_is_added_toggled_removed_and_a_bad_one_refused(short):
    sim = loop(short, [(0.0, p.AddBreak("loss < 2")), (0.0, p.AddBreak("spike")), (0.0, p.ToggleBreak(0)),
                       (0.0, p.AddBreak("lose<2")), (0.0, p.RemoveBreak(1)), (0.0, p.RemoveBreak(5))])
    lists = [m.entries for m in sim.of(p.Breakpoints)]
    assert lists[-1] == (("loss<2", False),)
    assert (("loss<2", True), ("spike", True)) in lists
    reasons = [r.reason for r in sim.of(p.Refused)]
    assert reasons[0].startswith("cannot use 'lose<2' as a breakpoint; give one of loss<X")
    assert reasons[1] == "there is no such breakpoint"


def test_a_breakpoint_that_cannot_fire_is_added_with_a_note_and_a_duplicate_refused(short):
    sim = loop(short, [(0.0, p.Step(10)), (1.0, p.AddBreak("step=5")), (1.0, p.AddBreak("step = 5")),
                       (1.0, p.AddBreak("step=61")), (1.0, p.AddBreak("step=11"))])
    assert sim.of(p.Breakpoints)[-1].entries == (("step=5", True), ("step=61", True), ("step=11", True))
    assert [n.text for n in sim.of(p.Notice)] == [
        "breakpoint step=5 is already past (the run is at step 10): it will not fire",
        "breakpoint step=61 is after the last step (60): it will not fire"]
    assert [(r.what, r.reason) for r in sim.of(p.Refused)] == [("breakpoint", "step=5 is already in the list")]


def test_refusals_of_time_travel_say_what_was_refused_in_words_not_the_requests_name(short):
    sim = loop(short, [(0.0, p.Step(3)), (1.0, p.Seek(9)), (1.0, p.Branch(9)), (1.0, p.DrawAt(0.5, 1, 9)),
                       (1.0, p.AddBreak("nonsense"))])
    assert [r.what for r in sim.of(p.Refused)] == ["history", "branch", "sample", "breakpoint"]


def test_a_breakpoint_list_given_to_the_loop_keeps_its_order_and_its_off_ones_through_a_restart(short):
    listed = (("step=2", False), ("spike", True), ("every=3", True))
    sim = loop(short, [(0.0, p.Run()), (1.0, p.Restart()), (2.0, p.Run())],
               breaks=tuple((parse(text), on) for text, on in listed))
    assert [m.entries for m in sim.of(p.Breakpoints)] == [listed, listed]  # at start, and after the restart
    assert [h.step for h in sim.of(p.BreakHit)] == [3, 3]  # step=2 is off, in the first run and the second


def test_every_n_fires_on_each_of_its_steps_and_space_runs_on(short):
    sim = loop(short, [(0.0, p.Run()), (5.0, p.Run()), (10.0, p.Run())], breaks=((parse("every=7"), True),))
    assert [h.step for h in sim.of(p.BreakHit)] == [7, 14, 21]
    assert short.step_count == 21


def test_the_sample_that_fires_memorized_goes_to_the_app_and_the_sampler_stands(names):
    from microgpt.breakpoints import memorization_draw
    from microgpt.data import Dataset
    from tests.engine.test_breakpoints import CONFIG, NAMES

    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    sim = loop(trainer, [(0.0, p.Run())], breaks=((parse("memorized=5"), True),))
    hit = sim.of(p.BreakHit)[-1]
    drawn = sim.of(p.Samples)[-1].samples
    twin = Trainer(Dataset.from_docs(NAMES), CONFIG)
    for _ in range(hit.step):
        twin.step()
    expected = memorization_draw(twin, hit.step)
    assert len(drawn) == 1 and drawn[0].step == hit.step and drawn[0].temperature == 0.5
    assert drawn[0].tokens == expected and f"\u201c{drawn[0].text}\u201d seen at step" in hit.text
    assert trainer.sample_rng.getstate() == twin.sample_rng.getstate()  # the sampler's own generator untouched


def test_samples_from_a_past_step_use_its_weights_and_the_samplers_generator(names, short):
    sim = loop(short, [(0.0, p.Step(12)), (1.0, p.DrawAt(0.5, 3, 5))])
    drawn = sim.of(p.Samples)[-1].samples
    twin = Trainer(names, Config(steps=60))
    for _ in range(5):
        twin.step()
    assert all(s.step == 5 for s in drawn)
    assert [s.text for s in drawn] == [list(twin.sample(0.5))[-1].text for _ in range(3)]
    assert short.sample_rng.getstate() == twin.sample_rng.getstate()  # the sampler's generator moved on


def test_a_checkpoint_keeps_the_history_and_a_resumed_run_scrubs_back(names, short, reference, tmp_path):
    path = str(tmp_path / "run.json")
    loop(short, [(0.0, p.Step(25)), (1.0, p.Save(path))])
    ckpt = read_checkpoint(path)
    assert ckpt.history is not None
    resumed = ckpt.restore(names)
    sim = loop(resumed, [(0.0, p.Seek(3)), (0.0, p.Step(2)), (1.0, p.Seek(26))],
               history=History.from_json(ckpt.history, resumed))
    past = [m.report for m in sim.of(p.Past)]
    assert [r.step for r in past] == [3, 26]
    assert all(same(r, reference[r.step - 1]) for r in past)
    assert not any(math.isnan(r.loss) for r in past)


def test_a_probe_at_a_past_step_uses_its_weights_and_leaves_the_run_alone(names, short, reference):
    """`/` in history: the word's forward pass at the weights after the shown step, bit for bit those of a run
    stopped there; the live trainer is not touched (its own probe and its next steps are as if nothing happened)."""
    sim = loop(short, [(0.0, p.Step(12)), (1.0, p.ProbeAt("emma", 5)), (1.0, p.Probe("emma")),
                       (1.0, p.ProbeAt("emma", 13)), (1.0, p.ProbeAt("em1a", 5)), (2.0, p.Step(3))])
    at_5, live = [m.report for m in sim.of(p.Probed)]
    twin = Trainer(names, Config(steps=60))
    for _ in range(5):
        twin.step()
    assert at_5.step == 5 and repr(at_5) == repr(twin.probe("emma"))
    for _ in range(7):
        twin.step()
    assert live.step == 12 and repr(live) == repr(twin.probe("emma"))
    assert repr(at_5) != repr(live)  # (the weights did move in between)
    assert short.step_count == 15 and short.losses == [r.loss for r in reference[:15]]
    assert short.sample_rng.getstate() == twin.sample_rng.getstate()
    not_in_history, foreign = sim.of(p.Refused)
    assert "step 13 is not in the history (steps 1-12)" in not_in_history.reason
    assert foreign.what == "probe" and "“1” is not in the dataset's characters" in foreign.reason
