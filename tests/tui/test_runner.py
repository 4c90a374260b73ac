"""The engine loop on its own (in this process, on a simulated clock): counted steps, the speed cap, the redraw
cap, sampling, saving, and what happens when a step goes wrong."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pytest

from microgpt.checkpoint import load_checkpoint
from microgpt.config import Config
from microgpt.trainer import Trainer
from microgpt_tui.messages import Halted, Progress, SampleDrawn, SampleStarted, Saved, SaveFailed
from microgpt_tui.runner import (
    EngineLoop,
    LossHistory,
    _Engine,
    _Pause,
    _Run,
    _Sample,
    _Save,
    _Speed,
    _Step,
    _Stop,
)


class Simulation:
    """A clock that moves only when the loop waits for commands (by the time it waits) or takes a step."""

    def __init__(self, schedule: list[tuple[float, object]], step_seconds: float = 0.01) -> None:
        self.now = 0.0
        self.schedule = sorted(schedule, key=lambda item: item[0])
        self.step_seconds = step_seconds
        self.messages: list[object] = []
        self.history = LossHistory()

    def clock(self) -> float:
        return self.now

    def receive(self, timeout: float | None) -> object | None:
        if self.schedule and self.schedule[0][0] <= self.now:
            return self.schedule.pop(0)[1]
        if timeout == 0:
            return None
        if not self.schedule:
            if timeout is None:  # nothing left to do: the simulation is over
                return _Stop()
            self.now += timeout
            return None
        due = self.schedule[0][0]
        if timeout is None or self.now + timeout >= due:
            self.now = max(self.now, due)
            return self.schedule.pop(0)[1]
        self.now += timeout
        return None

    def post(self, message: object) -> None:
        if isinstance(message, Progress):  # as the app's runner does: the whole loss history in each snapshot
            message = Progress(self.history.complete(message.snapshot))
        self.messages.append(message)

    def of(self, kind: type) -> list:
        return [m for m in self.messages if isinstance(m, kind)]


class TimedTrainer:
    """A real trainer whose steps take `step_seconds` of simulated time."""

    def __init__(self, trainer: Trainer, sim: Simulation, loss: float | None = None) -> None:
        self._trainer, self._sim, self._loss = trainer, sim, loss

    def __getattr__(self, name: str):
        return getattr(self._trainer, name)

    @property
    def engine(self) -> str:
        return self._trainer.engine

    @engine.setter
    def engine(self, value: str) -> None:
        self._trainer.engine = value

    def step(self):
        report = self._trainer.step()
        self._sim.now += self._sim.step_seconds
        return report if self._loss is None else dataclasses.replace(report, loss=self._loss)

    def sample(self, temperature: float = 0.5) -> Iterator:
        return self._trainer.sample(temperature)


def run(trainer, schedule, *, fps=4.0, sample_delay=0.0, step_seconds=0.01, loss=None) -> Simulation:
    sim = Simulation(schedule, step_seconds)
    timed = TimedTrainer(trainer, sim, loss)
    EngineLoop(timed, sim.post, sim.receive, fps=fps, sample_delay=sample_delay, clock=sim.clock).run()
    return sim


@pytest.fixture
def short(names) -> Trainer:
    return Trainer(names, Config(steps=50))


def test_a_first_snapshot_then_counted_steps(short):
    sim = run(short, [(0.0, _Step(3))])
    snapshots = [m.snapshot for m in sim.of(Progress)]
    assert snapshots[0].step == 0 and snapshots[0].report is None
    assert [s.step for s in snapshots[1:4]] == [1, 2, 3]  # every requested step is shown at once
    assert all(not s.running for s in snapshots)
    assert snapshots[-1].losses == tuple(short.losses) and len(short.losses) == 3


def test_step_requests_add_up(short):
    sim = run(short, [(0.0, _Step(1)), (0.0, _Step(1)), (0.0, _Step(2))])
    assert short.step_count == 4
    assert sim.of(Progress)[-1].snapshot.commands == 3


def test_running_publishes_at_most_fps_snapshots(short):
    sim = run(short, [(0.0, _Run()), (0.3, _Pause())], fps=10.0, step_seconds=0.01)
    steps = short.step_count
    assert 25 <= steps <= 32  # 0.3 s of 10 ms steps
    snapshots = [m.snapshot for m in sim.of(Progress)]
    assert len(snapshots) <= 1 + 1 + 3 + 2  # first, run, ~3 during 0.3 s at 10/s, pause
    assert snapshots[-1].step == steps and not snapshots[-1].running
    running = [s for s in snapshots if s.running and s.steps_per_second is not None]
    assert running and all(abs(s.steps_per_second - 100) < 15 for s in running)


def test_the_speed_cap_holds(short):
    run(short, [(0.0, _Speed(20.0)), (0.0, _Run()), (1.0, _Pause())], step_seconds=0.001)
    assert 19 <= short.step_count <= 22


def test_the_schedule_ends_and_running_stops(names):
    trainer = Trainer(names, Config(steps=5))
    sim = run(trainer, [(0.0, _Run()), (1.0, _Step(3))])  # the extra steps find nothing to do
    last = sim.of(Progress)[-1].snapshot
    assert trainer.step_count == 5 and last.finished and not last.running


def test_engine_switch_applies_to_the_next_step(short):
    sim = run(short, [(0.0, _Step(1)), (0.5, _Engine("atomic")), (0.6, _Step(1))])
    reports = [m.snapshot.report for m in sim.of(Progress) if m.snapshot.report is not None]
    assert [r.engine for r in reports][:1] == ["fused"] and reports[-1].engine == "atomic"
    assert {f.engine for f in sim.of(Progress)[-1].snapshot.engines} == {"fused", "atomic"}


def test_a_sample_comes_token_by_token(short):
    sim = run(short, [(0.0, _Sample(0.7))])
    started = sim.of(SampleStarted)
    drawn = sim.of(SampleDrawn)
    assert len(started) == 1 and started[0].temperature == 0.7
    assert drawn and drawn[-1].token.is_end and all(d.sample_id == started[0].sample_id for d in drawn)
    assert [d.token.position for d in drawn] == list(range(len(drawn)))


def test_sample_tokens_are_spaced_in_time(short):
    sim = Simulation([(0.0, _Sample(0.5))])
    times = []
    loop = EngineLoop(TimedTrainer(short, sim), lambda m: times.append((sim.now, m)), sim.receive,  # raw messages
                      sample_delay=0.08, clock=sim.clock)
    loop.run()
    token_times = [t for t, m in times if isinstance(m, SampleDrawn)]
    gaps = [b - a for a, b in zip(token_times, token_times[1:])]
    assert gaps and all(abs(g - 0.08) < 1e-9 for g in gaps)


def test_a_new_sample_replaces_one_still_being_shown(short):
    sim = run(short, [(0.0, _Sample(0.5)), (0.1, _Sample(1.5))], sample_delay=0.08)
    started = sim.of(SampleStarted)
    assert [s.temperature for s in started] == [0.5, 1.5]
    first = [d for d in sim.of(SampleDrawn) if d.sample_id == started[0].sample_id]
    assert len(first) <= 2  # cut short
    assert sim.of(SampleDrawn)[-1].sample_id == started[1].sample_id


def test_save_and_a_failed_save(short, tmp_path):
    good, bad = tmp_path / "run.json", tmp_path / "missing-folder" / "run.json"
    sim = run(short, [(0.0, _Step(2)), (0.0, _Save(str(good))), (0.0, _Save(str(bad)))])
    assert [(m.path, m.step) for m in sim.of(Saved)] == [(str(good), 2)]
    failed = sim.of(SaveFailed)
    assert len(failed) == 1 and "missing-folder" in failed[0].reason and "\n" not in failed[0].reason
    assert load_checkpoint(good).step_count == 2


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_a_loss_that_is_not_finite_pauses(short, loss):
    sim = run(short, [(0.0, _Run())], loss=loss)
    halted = sim.of(Halted)
    assert len(halted) == 1 and "step 1" in halted[0].reason
    assert short.step_count == 1 and not sim.of(Progress)[-1].snapshot.running


def test_an_engine_error_pauses_and_the_loop_goes_on(short):
    sim = Simulation([(0.0, _Run()), (0.5, _Step(1))])

    class Failing(TimedTrainer):
        def step(self):
            raise ValueError("boom")

    EngineLoop(Failing(short, sim), sim.post, sim.receive, clock=sim.clock).run()
    assert [m.reason for m in sim.of(Halted)] == ["the engine failed at step 1: boom"] * 2
    assert not sim.of(Progress)[-1].snapshot.running


def test_commands_wait_for_the_steps_requested_before_them(short, tmp_path):
    path = tmp_path / "run.json"
    sim = run(short, [(0.0, _Step(2)), (0.0, _Save(str(path))), (0.0, _Engine("atomic")), (0.0, _Step(1)),
                      (0.0, _Sample(0.5))])
    assert [m.step for m in sim.of(Saved)] == [2]
    engines = {m.snapshot.report.step: m.snapshot.report.engine for m in sim.of(Progress) if m.snapshot.report}
    assert engines == {1: "fused", 2: "fused", 3: "atomic"}
    order = [type(m).__name__ for m in sim.messages if not isinstance(m, SampleDrawn)]
    assert order.index("Saved") < order.index("SampleStarted")
    assert sim.of(Progress)[-1].snapshot.commands == 5


def test_each_loss_is_sent_once_and_joined_into_the_history(short):
    raw: list[Progress] = []
    sim = Simulation([(0.0, _Step(2)), (0.1, _Step(3))])
    EngineLoop(TimedTrainer(short, sim), lambda m: raw.append(m) if isinstance(m, Progress) else None,
               sim.receive, clock=sim.clock).run()
    sent = [loss for m in raw for loss in m.snapshot.losses]
    assert sent == short.losses  # nothing twice
    history = LossHistory()
    assert [history.complete(m.snapshot).losses for m in raw][-1] == tuple(short.losses)
