"""The engine loop on its own (in this process, on a simulated clock, with fake pipes): counted steps, the speed
cap, the redraw cap, sampling, saving, restarting, running to a step, and what happens when a step goes wrong;
then the reader's side: records become messages, and the engine's death is said with its cause."""

from __future__ import annotations

import dataclasses
import math
import signal

import pytest

from microgpt.checkpoint import load_checkpoint
from microgpt.config import Config
from microgpt.trainer import Trainer
from microgpt_tui import protocol as p
from microgpt_tui.engine_process import EngineLoop
from microgpt_tui.messages import Progress
from microgpt_tui.runner import death_reason, to_message
from tests.tui.conftest import WrappedTrainer


class Simulation:
    """A clock that moves only when the loop waits for commands (by the time it waits) or takes a step."""

    def __init__(self, schedule: list[tuple[float, object]], step_seconds: float = 0.01) -> None:
        self.now = 0.0
        self.schedule = sorted(schedule, key=lambda item: item[0])
        self.step_seconds = step_seconds
        self.messages: list[object] = []  # records, with each State turned into the app's Snapshot
        self.losses: list[float] = []

    def clock(self) -> float:
        return self.now

    def receive(self, timeout: float | None) -> object | None:
        if self.schedule and self.schedule[0][0] <= self.now:
            return self.schedule.pop(0)[1]
        if timeout == 0:
            return None
        if not self.schedule:
            if timeout is None:  # nothing left to do: the simulation is over
                return p.Stop()
            self.now += timeout
            return None
        due = self.schedule[0][0]
        if timeout is None or self.now + timeout >= due:
            self.now = max(self.now, due)
            return self.schedule.pop(0)[1]
        self.now += timeout
        return None

    def post(self, record: object) -> None:
        if isinstance(record, p.State):  # as the app's reader does: the whole loss history in each snapshot
            message = to_message(record, self.losses)
            assert isinstance(message, Progress)
            record = message
        self.messages.append(record)

    def of(self, kind: type) -> list:
        return [m for m in self.messages if isinstance(m, kind)]


class TimedTrainer(WrappedTrainer):
    """A real trainer whose steps take `step_seconds` of simulated time (all in their first unit)."""

    def __init__(self, trainer: Trainer, sim: Simulation, loss: float | None = None) -> None:
        super().__init__(trainer)
        self._sim, self._loss = sim, loss

    def before_unit(self, step) -> None:
        if step.phase is None:
            self._sim.now += self._sim.step_seconds

    def finished(self, report):
        return report if self._loss is None else dataclasses.replace(report, loss=self._loss)


def run(trainer, schedule, *, fps=4.0, step_seconds=0.01, loss=None) -> Simulation:
    sim = Simulation(schedule, step_seconds)
    timed = TimedTrainer(trainer, sim, loss)
    EngineLoop(timed, sim.post, sim.receive, fps=fps, clock=sim.clock).run()
    return sim


@pytest.fixture
def short(names) -> Trainer:
    return Trainer(names, Config(steps=50))


def test_a_first_snapshot_then_counted_steps(short):
    sim = run(short, [(0.0, p.Step(3))])
    snapshots = [m.snapshot for m in sim.of(Progress)]
    assert snapshots[0].step == 0 and snapshots[0].report is None
    assert [s.step for s in snapshots[1:4]] == [1, 2, 3]  # every requested step is shown at once
    assert all(not s.running for s in snapshots)
    assert snapshots[-1].losses == tuple(short.losses) and len(short.losses) == 3


def test_step_requests_add_up(short):
    sim = run(short, [(0.0, p.Step(1)), (0.0, p.Step(1)), (0.0, p.Step(2))])
    assert short.step_count == 4
    assert sim.of(Progress)[-1].snapshot.commands == 3


def test_running_publishes_at_most_fps_snapshots(short):
    sim = run(short, [(0.0, p.Run()), (0.3, p.Pause())], fps=10.0, step_seconds=0.01)
    steps = short.step_count
    assert 25 <= steps <= 32  # 0.3 s of 10 ms steps
    snapshots = [m.snapshot for m in sim.of(Progress)]
    assert len(snapshots) <= 1 + 1 + 3 + 2  # first, run, ~3 during 0.3 s at 10/s, pause
    assert snapshots[-1].step == steps and not snapshots[-1].running
    running = [s for s in snapshots if s.running and s.steps_per_second is not None]
    assert running and all(abs(s.steps_per_second - 100) < 15 for s in running)


def test_the_speed_cap_holds(short):
    run(short, [(0.0, p.Speed(20.0)), (0.0, p.Run()), (1.0, p.Pause())], step_seconds=0.001)
    assert 19 <= short.step_count <= 22


def test_the_schedule_ends_and_running_stops(names):
    trainer = Trainer(names, Config(steps=5))
    sim = run(trainer, [(0.0, p.Run()), (1.0, p.Step(3))])  # the extra steps find nothing to do
    last = sim.of(Progress)[-1].snapshot
    assert trainer.step_count == 5 and last.finished and not last.running


def test_engine_switch_applies_to_the_next_step(short):
    sim = run(short, [(0.0, p.Step(1)), (0.5, p.SetEngine("atomic")), (0.6, p.Step(1))])
    reports = [m.snapshot.report for m in sim.of(Progress) if m.snapshot.report is not None]
    assert [r.engine for r in reports][:1] == ["fused"] and reports[-1].engine == "atomic"
    assert {f.engine for f in sim.of(Progress)[-1].snapshot.engines} == {"fused", "atomic"}


def test_a_sample_is_drawn_whole_and_sent_as_one_record(short):
    sim = run(short, [(0.0, p.Step(2)), (0.0, p.Draw(0.7))])
    (record,) = sim.of(p.Samples)
    (sample,) = record.samples
    assert sample.step == 2 and sample.temperature == 0.7 and sample.sample_id == 1
    assert sample.tokens[-1].is_end and [t.position for t in sample.tokens] == list(range(len(sample.tokens)))
    reference = Trainer(short.dataset, Config(steps=50))
    reference.step(), reference.step()
    assert sample.text == "".join(t.char for t in reference.sample(0.7))  # the very same draw


def test_a_batch_is_ten_samples_with_consecutive_ids(short):
    sim = run(short, [(0.0, p.Draw(0.5)), (0.0, p.Draw(1.0, 10))])
    first, batch = sim.of(p.Samples)
    assert [s.sample_id for s in first.samples] == [1]
    assert [s.sample_id for s in batch.samples] == list(range(2, 12))
    assert all(s.temperature == 1.0 and s.step == 0 and s.tokens[-1].is_end for s in batch.samples)


def test_save_and_a_failed_save(short, tmp_path):
    good, bad = tmp_path / "run.json", tmp_path / "missing-folder" / "run.json"
    sim = run(short, [(0.0, p.Step(2)), (0.0, p.Save(str(good))), (0.0, p.Save(str(bad)))])
    assert [(m.path, m.step) for m in sim.of(p.SavedTo)] == [(str(good), 2)]
    failed = sim.of(p.SaveError)
    assert len(failed) == 1 and "missing-folder" in failed[0].reason and "\n" not in failed[0].reason
    assert load_checkpoint(good).step_count == 2


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_a_loss_that_is_not_finite_pauses(short, loss):
    sim = run(short, [(0.0, p.Run())], loss=loss)
    halted = sim.of(p.Halt)
    assert len(halted) == 1 and halted[0].reason.startswith(f"the loss is {loss} at step 1: the weights blew up")
    assert "--lr" not in halted[0].reason and "Set learning rate…" in halted[0].reason
    assert short.step_count == 1 and not sim.of(Progress)[-1].snapshot.running


def test_a_divergence_names_the_learning_rate_of_the_update_that_did_it_and_the_way_back(short):
    sim = run(short, [(0.0, p.SetLr(50.0)), (0.0, p.Step(1)), (1.0, p.SetLr(0.01)), (1.0, p.Step(1))])
    (halted,) = sim.of(p.Halt)
    assert halted.reason == ("step 2 diverged: the weights blew up (step 1 used learning rate 50); go back to an "
                             "earlier step (left), press b, then set a smaller learning rate (ctrl+p: Set learning "
                             "rate…)")  # not the rate set since, not a command-line flag, not Python's words
    assert short.step_count == 1 and not sim.of(Progress)[-1].snapshot.running


def test_an_engine_error_pauses_and_the_loop_goes_on(short):
    sim = Simulation([(0.0, p.Run()), (0.5, p.Step(1))])

    class Failing(TimedTrainer):
        def before_unit(self, step):
            raise ValueError("boom")

    EngineLoop(Failing(short, sim), sim.post, sim.receive, clock=sim.clock).run()
    assert [m.reason for m in sim.of(p.Halt)] == ["the engine failed at step 1: boom"] * 2
    assert not sim.of(Progress)[-1].snapshot.running


def test_commands_wait_for_the_steps_requested_before_them(short, tmp_path):
    path = tmp_path / "run.json"
    sim = run(short, [(0.0, p.Step(2)), (0.0, p.Save(str(path))), (0.0, p.SetEngine("atomic")), (0.0, p.Step(1)),
                      (0.0, p.Draw(0.5))])
    assert [m.step for m in sim.of(p.SavedTo)] == [2]
    engines = {m.snapshot.report.step: m.snapshot.report.engine for m in sim.of(Progress) if m.snapshot.report}
    assert engines == {1: "fused", 2: "fused", 3: "atomic"}
    order = [type(m).__name__ for m in sim.messages]
    assert order.index("SavedTo") < order.index("Samples")
    assert sim.of(p.Samples)[0].samples[0].step == 3
    assert sim.of(Progress)[-1].snapshot.commands == 5


def test_each_loss_is_sent_once_and_joined_into_the_history(short):
    raw: list[p.State] = []
    sim = Simulation([(0.0, p.Step(2)), (0.1, p.Step(3))])
    EngineLoop(TimedTrainer(short, sim), lambda r: raw.append(r) if isinstance(r, p.State) else None,
               sim.receive, clock=sim.clock).run()
    sent = [loss for r in raw for loss in r.new_losses]
    assert sent == short.losses  # nothing twice
    history: list[float] = []
    snapshots = [to_message(r, history).snapshot for r in raw]
    assert snapshots[-1].losses == tuple(short.losses)
    assert not hasattr(snapshots[-1], "losses_from")  # transport details stay off the UI's snapshot


def test_restart_goes_back_to_step_zero_with_the_same_run(short):
    sim = run(short, [(0.0, p.Step(3)), (0.1, p.SetEngine("atomic")), (0.2, p.Restart()), (0.3, p.Step(2))])
    snapshots = [m.snapshot for m in sim.of(Progress)]
    after = [s for s in snapshots if s.commands >= 3]
    assert after[0].step == 0 and after[0].losses == () and after[0].report is None
    assert after[0].engine == "atomic"  # the graph mode chosen last
    assert snapshots[-1].step == 2 and snapshots[-1].report.engine == "atomic"
    headless = Trainer(short.dataset, Config(steps=50))
    assert list(snapshots[-1].losses) == [headless.step().loss, headless.step().loss]


def test_run_until_pauses_after_that_step(short):
    sim = run(short, [(0.0, p.RunUntil(40))])
    last = sim.of(Progress)[-1].snapshot
    assert short.step_count == 40 and not last.running and last.until is None
    running = [m.snapshot for m in sim.of(Progress) if m.snapshot.running]
    assert running and all(s.until == 40 for s in running)


def test_slow_and_counted_steps_are_announced(short):
    sim = run(short, [(0.0, p.Step(2)), (1.0, p.Run()), (3.0, p.Pause())], step_seconds=0.5)
    computing = [r.step for r in sim.of(p.Computing)]
    assert computing[:2] == [1, 2]  # counted steps
    assert 3 in computing and 4 in computing  # running, but each step takes 0.5 s


def test_steps_slower_than_one_a_second_have_a_rate(short):
    sim = run(short, [(0.0, p.Run()), (20.0, p.Pause())], step_seconds=5.0)
    rates = [m.snapshot.steps_per_second for m in sim.of(Progress) if m.snapshot.running and m.snapshot.step >= 2]
    assert rates and all(r is not None and abs(r - 0.2) < 1e-9 for r in rates)


def test_records_become_messages():
    sample = p.Sample(1, 0, 0.5, ())
    assert to_message(p.Samples((sample,)), []).samples == (sample,)
    assert to_message(p.SavedTo("a.json", 3), []).step == 3
    assert to_message(p.SaveError("no"), []).reason == "no"
    assert to_message(p.Halt("nan"), []).reason == "nan"
    assert to_message(p.Computing(4), []).step == 4


def test_the_cause_of_death_in_words():
    assert death_reason(-signal.SIGKILL) == "the engine process was killed by signal 9 (SIGKILL)"
    assert death_reason(1) == "the engine process exited with status 1"
    assert death_reason(1, "MemoryError: ") == "the engine process exited with status 1: MemoryError: "
    assert "without being asked" in death_reason(0)


def test_a_dot_does_one_unit_and_sends_its_numbers(short):
    sim = run(short, [(0.0, p.NextPhase()), (0.0, p.NextPhase()), (0.0, p.NextPhase())])
    phases = [r.report.phase for r in sim.of(p.PhaseDone)]
    assert [(ph.step, ph.kind, ph.index) for ph in phases] == [(1, "document", 0), (1, "forward", 0),
                                                               (1, "forward", 1)]
    assert phases[1].label.startswith("forward 1/") and short.step_count == 0
    last = sim.of(Progress)[-1].snapshot
    assert last.phase == phases[-1] and last.step == 0 and not last.running
    assert len(sim.of(p.PhaseDone)[-1].report.position_losses) == 2  # the partial numbers so far


def test_n_finishes_the_step_in_progress_and_phase_by_phase_equals_whole(short):
    sim = run(short, [(0.0, p.NextPhase()), (0.0, p.NextPhase()), (0.1, p.Step(1)), (0.2, p.Step(1))])
    headless = Trainer(short.dataset, Config(steps=50))
    assert short.losses == [headless.step().loss, headless.step().loss]  # bit for bit
    last = sim.of(Progress)[-1].snapshot
    assert last.step == 2 and last.phase is None


def test_every_phase_of_a_step_one_dot_at_a_time(names):
    trainer = Trainer(names, Config(steps=5))
    sim = run(trainer, [(0.0, p.NextPhase())] * 400)
    kinds = [r.report.phase.kind for r in sim.of(p.PhaseDone)]
    first = kinds[: kinds.index("update") + 1]
    assert first[0] == "document" and first[1] == "forward" and "loss" in first and first[-1] == "update"
    assert first.index("loss") < first.index("backward")
    assert trainer.step_count == 5 and sim.of(p.Refused)  # past the end: refused, said once per press
    assert trainer.losses == [Trainer(names, Config(steps=5)).step().loss] + trainer.losses[1:]


class UnitTimedTrainer(TimedTrainer):
    """A real trainer each of whose units takes `step_seconds` of simulated time."""

    def before_unit(self, step) -> None:
        self._sim.now += self._sim.step_seconds


def test_a_pause_while_running_finishes_the_step_in_progress(names):
    trainer = Trainer(names, Config(steps=5))
    sim = run(trainer, [(0.0, p.Run()), (0.05, p.Pause()), (1.0, p.Run())], step_seconds=0.1)
    snapshots = [m.snapshot for m in sim.of(Progress)]
    paused = [s for s in snapshots[1:] if not s.running]
    assert paused[0].step == 1 and paused[0].phase is None  # after step 1, not inside it
    assert not [s for s in snapshots if not s.running and s.phase is not None]
    assert not sim.of(p.PhaseDone)  # no half-done step to show
    assert trainer.step_count == 5
    assert trainer.losses == [Trainer(names, Config(steps=5)).step().loss] + trainer.losses[1:]


def test_after_dots_space_runs_on_and_a_pause_still_finishes_the_step(names):
    trainer = Trainer(names, Config(steps=5))
    sim = Simulation([(0.0, p.NextPhase()), (0.0, p.NextPhase()), (0.5, p.Run()), (0.55, p.Pause())], 0.01)
    EngineLoop(UnitTimedTrainer(trainer, sim), sim.post, sim.receive, fps=4.0, clock=sim.clock).run()
    dots = [r.report.phase for r in sim.of(p.PhaseDone)]
    assert [(ph.step, ph.kind) for ph in dots] == [(1, "document"), (1, "forward")]  # `.` stops inside a step
    snapshots = [m.snapshot for m in sim.of(Progress)]
    resumed = next(i for i, s in enumerate(snapshots) if s.running)
    after = [s for s in snapshots[resumed:] if not s.running]
    assert after[0].step == 1 and after[0].phase is None and trainer.step_count == 1  # ran on, paused after it
    assert trainer.losses == [Trainer(names, Config(steps=5)).step().loss]


def test_a_dot_while_running_still_stops_inside_the_step(names):
    trainer = Trainer(names, Config(steps=5))
    sim = Simulation([(0.0, p.Run()), (0.05, p.NextPhase())], 0.01)
    EngineLoop(UnitTimedTrainer(trainer, sim), sim.post, sim.receive, fps=4.0, clock=sim.clock).run()
    last = sim.of(Progress)[-1].snapshot
    assert not last.running and last.phase is not None and last.step == 0


def test_saving_in_the_middle_of_a_step_saves_the_state_before_it(short, tmp_path):
    path = tmp_path / "mid.json"
    sim = run(short, [(0.0, p.Step(1)), (0.1, p.NextPhase()), (0.1, p.NextPhase()), (0.2, p.Save(str(path)))])
    (saved,) = sim.of(p.SavedTo)
    assert saved.step == 1 and saved.mid_step
    resumed = load_checkpoint(path)
    assert resumed.step_count == 1 and resumed.losses == short.losses[:1]
    headless = Trainer(short.dataset, Config(steps=50))
    headless.step()
    assert resumed.step().loss == headless.step().loss


def test_a_probe_changes_nothing_and_a_foreign_word_is_refused(short):
    sim = run(short, [(0.0, p.Step(1)), (0.1, p.Probe("emma")), (0.1, p.Probe("x1")), (0.2, p.Step(1))])
    (probed,) = sim.of(p.Probed)
    assert probed.report.word == "emma" and len(probed.report.position_losses) == 5
    (refused,) = sim.of(p.Refused)
    assert refused.what == "probe" and "1" in refused.reason
    headless = Trainer(short.dataset, Config(steps=50))
    assert short.losses == [headless.step().loss, headless.step().loss]


def test_extending_the_schedule_says_what_changed_and_marks_the_step(names):
    trainer = Trainer(names, Config(steps=3))
    sim = run(trainer, [(0.0, p.Step(3)), (0.1, p.Extend(2)), (0.2, p.Extend(5)), (0.3, p.Run())])
    (refused,) = sim.of(p.Refused)
    assert refused.what == "extend"
    (notice,) = sim.of(p.Notice)
    assert "step 4" in notice.text
    last = sim.of(Progress)[-1].snapshot
    assert trainer.step_count == 5 and last.steps == 5 and last.marks == (4,) and last.finished


def test_m_on_a_finished_run_rebuilds_the_last_graph_in_the_new_mode(names):
    trainer = Trainer(names, Config(steps=2))
    sim = run(trainer, [(0.0, p.Step(2)), (0.1, p.SetEngine("atomic"))])
    reports = [m.snapshot.report for m in sim.of(Progress) if m.snapshot.report is not None]
    fused, atomic = reports[0], reports[-1]
    assert fused.engine == "fused" and atomic.engine == "atomic" and atomic.step == 2
    assert atomic.graph.nodes > 5 * reports[-2].graph.nodes or reports[-2].engine == "atomic"
    assert atomic.loss == trainer.losses[-1] and trainer.step_count == 2  # no update
