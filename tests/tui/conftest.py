"""Fixtures for the app's tests: seeded trainers, a paused app, and waiting on conditions instead of sleeping."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.report import StepReport, Timings
from microgpt.trainer import Trainer
from microgpt_tui.app import MicroGPTApp

FIXED_TIMINGS = Timings(forward=0.004, backward=0.003, update=0.001)  # what snapshot tests show as ms per step


@pytest.fixture(scope="session")
def names() -> Dataset:
    """The shipped `names` dataset."""
    return load_dataset("names")


@pytest.fixture
def trainer(names: Dataset) -> Trainer:
    """A fresh trainer with the reference's configuration (seed 42)."""
    return Trainer(names, Config())


class WrappedTrainer:
    """A real trainer with hooks into its steps, for tests: `before_unit` runs before each unit of a step,
    `finished` may change a step's report. The engine loop trains through `begin_step()` only."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)

    @property
    def engine(self) -> str:
        return self._trainer.engine

    @engine.setter
    def engine(self, value: str) -> None:
        self._trainer.engine = value

    def begin_step(self) -> WrappedStep:
        return WrappedStep(self._trainer.begin_step(), self)

    def step(self) -> StepReport:
        report = self.begin_step().finish()
        assert report is not None
        return report

    def before_unit(self, step: Any) -> None:
        """Called before each unit of a step (`step.phase` is the unit done last, None before the first)."""

    def finished(self, report: StepReport) -> StepReport:
        """The report a finished step gives."""
        return report


class WrappedStep:
    """A step in progress whose units go through its trainer's hooks."""

    def __init__(self, step: Any, owner: WrappedTrainer) -> None:
        self._step, self._owner = step, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._step, name)

    @property
    def finished(self) -> bool:
        return bool(self._step.finished)

    @property
    def report(self) -> StepReport | None:
        report = self._step.report
        return None if report is None else self._owner.finished(report)

    def advance(self) -> Any:
        self._owner.before_unit(self._step)
        return self._step.advance()

    def finish(self) -> StepReport | None:
        while not self._step.finished:
            self.advance()
        return self.report


class SteadyTrainer(WrappedTrainer):
    """A trainer whose reports carry fixed timings, so that screenshots do not depend on the machine's speed."""

    def finished(self, report: StepReport) -> StepReport:
        return dataclasses.replace(report, timings=FIXED_TIMINGS)


@pytest.fixture
def steady(trainer: Trainer) -> SteadyTrainer:
    """The seeded trainer, with fixed timings in its reports."""
    return SteadyTrainer(trainer)


@pytest.fixture
def make_app() -> Callable[..., MicroGPTApp]:
    """An app that starts paused, shows samples without a letter-by-letter reveal, in 256 colours."""

    def make(trainer: Any, **options: Any) -> MicroGPTApp:
        options.setdefault("paused", True)
        options.setdefault("sample_delay", 0.0)
        options.setdefault("color_mode", "256")
        return MicroGPTApp(trainer, **options)

    return make


async def wait_until(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 20.0,
                     what: str = "the condition") -> None:
    """Let the app run until `condition()` holds, then until the panes have caught up; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.01)
    await pilot.pause()


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    """`await until(pilot, lambda: ..., what="...")`: wait for a condition, not for a fixed time."""
    return wait_until


async def started(pilot: Pilot[Any]) -> MicroGPTApp:
    """Wait for the runner's first snapshot; returns the app."""
    app = pilot.app
    assert isinstance(app, MicroGPTApp)
    await wait_until(pilot, lambda: app.snapshot is not None, what="the first snapshot")
    return app


@pytest.fixture
def ready() -> Callable[[Pilot[Any]], Awaitable[MicroGPTApp]]:
    """`app = await ready(pilot)`: wait until the runner has published its first snapshot."""
    return started


async def take_steps(pilot: Pilot[Any], count: int) -> None:
    """Press `n` count times and wait until that many more steps are shown."""
    app = pilot.app
    assert isinstance(app, MicroGPTApp) and app.snapshot is not None
    target = app.snapshot.step + count
    for _ in range(count):
        await pilot.press("n")
    await wait_until(pilot, lambda: app.snapshot is not None and app.snapshot.step >= target,
                     what=f"step {target}")


@pytest.fixture
def steps() -> Callable[[Pilot[Any], int], Awaitable[None]]:
    """`await steps(pilot, 3)`: press n three times and wait for the three steps."""
    return take_steps


@pytest.fixture(autouse=True)
def no_engine_left_behind() -> Iterator[None]:
    """Every app stops its engine process when it ends."""
    yield
    import multiprocessing

    deadline = time.monotonic() + 10
    while any(p.name == "microgpt-engine" for p in multiprocessing.active_children()):
        assert time.monotonic() < deadline, "an engine process outlived its app"
        time.sleep(0.01)
