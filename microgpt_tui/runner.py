"""The engine's side of the app: a child process that owns the trainer; commands in, frozen messages out.

The UI never computes engine work and never waits for it. `Runner.run()`, `step()`, `sample()` ... only send a
small command down a pipe. The child process (forked before the app starts drawing) owns the trainer and runs
`EngineLoop`: one unit of work at a time (a step, a sample token, a save), looking at its commands between units.
Single steps are counted, so three quick presses are three steps. While running, a snapshot goes out at most
`fps` times a second; a requested step or a change of state goes out at once. A reader thread in the app's
process turns what arrives into `post_message` calls.

Why a process and not a thread: the engine is pure Python, so a thread would share the interpreter lock with the
UI; every key press would then wait for the engine's time slices (tens of milliseconds). In its own process the
engine keeps a core to itself and the UI answers keys at once.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, Protocol

from textual.message import Message

from microgpt import cli
from microgpt.checkpoint import save_checkpoint
from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.report import SampleToken, StepReport
from microgpt.trainer import TrainingComplete, TrainingDiverged
from microgpt_tui.messages import (
    EngineFigures,
    Halted,
    Progress,
    SampleDrawn,
    SampleStarted,
    Saved,
    SaveFailed,
    Snapshot,
)

GRAD_HISTORY = 48  # gradient norms kept per matrix for the history sparklines
NODE_HISTORY = 120  # graph sizes kept for the node-count sparkline
RATE_WINDOW = 2.0  # seconds of recent steps that the steps-per-second figure averages over
SMOOTHING = 0.8  # weight of the past in the per-mode graph-size and step-time averages


class TrainerLike(Protocol):
    """The part of `microgpt.trainer.Trainer` the runner uses."""

    engine: str

    @property
    def step_count(self) -> int: ...
    @property
    def done(self) -> bool: ...
    @property
    def losses(self) -> Sequence[float]: ...
    @property
    def config(self) -> Config: ...
    @property
    def dataset(self) -> Dataset: ...
    def step(self) -> StepReport: ...
    def sample(self, temperature: float = 0.5) -> Iterator[SampleToken]: ...


@dataclass(frozen=True)
class _Run:
    """Train continuously."""


@dataclass(frozen=True)
class _Pause:
    """Stop after the step in progress."""


@dataclass(frozen=True)
class _Step:
    """Pause, then take `count` more steps."""

    count: int


@dataclass(frozen=True)
class _Speed:
    """Cap the steps per second (None: unlimited)."""

    cap: float | None


@dataclass(frozen=True)
class _Engine:
    """Build the next steps' graphs in this mode."""

    engine: str


@dataclass(frozen=True)
class _Sample:
    """Draw a new name at this temperature (replacing a sample still being shown)."""

    temperature: float


@dataclass(frozen=True)
class _Save:
    """Write a checkpoint to this path."""

    path: str


@dataclass(frozen=True)
class _Stop:
    """End the engine."""


_Command = _Run | _Pause | _Step | _Speed | _Engine | _Sample | _Save | _Stop


class Runner:
    """The app's handle on the engine process; every method returns at once."""

    def __init__(
        self,
        trainer: TrainerLike,
        post: Callable[[Message], object],
        *,
        fps: float = 3.0,
        sample_delay: float = 0.08,
    ) -> None:
        self._post = post
        self.sent = 0  # commands sent so far; each snapshot says how many the engine had handled
        forking = "fork" in multiprocessing.get_all_start_methods()  # no copy of the trainer to make (not Windows)
        context = multiprocessing.get_context("fork") if forking else multiprocessing.get_context("spawn")
        child_commands, self._commands = context.Pipe(duplex=False)  # (receiving end, sending end)
        self._reports, child_reports = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_engine_main, name="microgpt-engine", daemon=True,
            args=(trainer, child_commands, child_reports, fps, sample_delay, (self._commands, self._reports)),
        )
        self._process.start()  # now, before the app takes over the terminal
        child_commands.close()
        child_reports.close()
        self._reader = threading.Thread(target=self._read, name="microgpt-reader", daemon=True)

    @property
    def alive(self) -> bool:
        """True while the engine process runs."""
        return bool(self._process.is_alive())

    def start(self) -> None:
        """Start handing the engine's messages to the app (the first one is a snapshot)."""
        self._reader.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the engine to end after the unit of work in progress, and wait for it."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._send(_Stop())
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout)
        with contextlib.suppress(OSError):
            self._commands.close()
        if self._reader.is_alive():
            self._reader.join(timeout)

    def _read(self) -> None:
        losses = LossHistory()
        while True:
            try:
                message = self._reports.recv()
            except (EOFError, OSError):
                return
            if isinstance(message, Progress):
                message = Progress(losses.complete(message.snapshot))
            self._post(message)

    def _send(self, command: _Command) -> None:
        if self._commands.closed:
            return  # the engine is stopping or gone (keys pressed after q): nothing left to do
        self.sent += 1
        try:
            self._commands.send(command)
        except (OSError, ValueError):  # the engine process ended under us
            pass

    def run(self) -> None:
        """Train continuously."""
        self._send(_Run())

    def pause(self) -> None:
        """Pause after the step in progress."""
        self._send(_Pause())

    def step(self, count: int = 1) -> None:
        """Pause, then take `count` more steps (requests add up)."""
        self._send(_Step(count))

    def set_speed(self, cap: float | None) -> None:
        """Cap the steps per second; None for as fast as the engine goes."""
        self._send(_Speed(cap))

    def set_engine(self, engine: str) -> None:
        """Build the following steps' graphs in this mode ("fused" or "atomic")."""
        self._send(_Engine(engine))

    def sample(self, temperature: float) -> None:
        """Draw a new name from the current weights at this temperature, token by token."""
        self._send(_Sample(temperature))

    def save(self, path: str) -> None:
        """Write a checkpoint between two steps; a `Saved` or `SaveFailed` message follows."""
        self._send(_Save(path))


class LossHistory:
    """Joins the new losses of each snapshot into the whole history (the engine sends each loss once)."""

    def __init__(self) -> None:
        self._losses: list[float] = []

    def complete(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with every loss so far."""
        del self._losses[snapshot.losses_from:]
        self._losses.extend(snapshot.losses)
        return replace(snapshot, losses=tuple(self._losses), losses_from=0)


def _engine_main(trainer: TrainerLike, commands: Connection, reports: Connection, fps: float,
                 sample_delay: float, app_ends: tuple[Connection, Connection]) -> None:
    """The engine process: quiet (the terminal belongs to the app), tuned like `microgpt train`, then the loop.

    It closes its copies of the app's ends of the pipes, so that if the app dies the commands end (EOF) and the
    engine ends with them instead of waiting forever.
    """
    for end in app_ends:
        end.close()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the app's to handle

    def receive(timeout: float | None) -> _Command | None:
        return commands.recv() if commands.poll(timeout) else None

    cli.tune_gc()
    try:
        EngineLoop(trainer, reports.send, receive, fps=fps, sample_delay=sample_delay).run()
    except (EOFError, OSError):  # the app is gone
        pass


class EngineLoop:
    """Owns a trainer and does what the commands say, one unit of work at a time, posting what happened."""

    def __init__(
        self,
        trainer: TrainerLike,
        post: Callable[[Message], Any],
        receive: Callable[[float | None], _Command | None],
        *,
        fps: float = 3.0,
        sample_delay: float = 0.08,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._trainer = trainer
        self._post = post
        self._receive = receive
        self._interval = 1.0 / fps
        self._sample_delay = sample_delay
        self._clock = clock
        self._handled = 0
        self._losses_sent = 0
        self._running = False
        self._stopping = False
        self._pending_steps = 0
        self._waiting: deque[_Command] = deque()  # commands to apply once the requested steps are taken
        self._cap: float | None = None
        self._next_step_at = 0.0
        self._last_publish = -math.inf
        self._dirty = False
        self._report: StepReport | None = None
        self._step_times: deque[float] = deque()
        self._grads: dict[str, deque[float]] = {}
        self._nodes: deque[int] = deque(maxlen=NODE_HISTORY)
        self._engines: dict[str, EngineFigures] = {}
        self._sample_id = 0
        self._sample_tokens: deque[SampleToken] = deque()
        self._next_token_at = 0.0

    def run(self) -> None:
        """Publish a first snapshot, then work until a stop command (or until the commands end)."""
        self._publish(self._clock())
        while not self._stopping:
            self._take_commands(self._idle_timeout(self._clock()))
            if self._stopping:
                break
            now = self._clock()
            self._emit_sample_tokens(now)
            if self._pending_steps or (self._running and now >= self._next_step_at):
                self._train_one(now)
            self._apply_waiting()
            now = self._clock()
            if self._dirty and (not self._running or now - self._last_publish >= self._interval):
                self._publish(now)

    def _idle_timeout(self, now: float) -> float | None:
        """Seconds to wait for a command before there is work again; None to wait for a command."""
        due: list[float] = []
        if self._pending_steps:
            return 0.0
        if self._running:
            due.append(self._next_step_at)
            if self._dirty:
                due.append(self._last_publish + self._interval)
        elif self._dirty:
            return 0.0
        if self._sample_tokens:
            due.append(self._next_token_at)
        if not due:
            return None
        return max(0.0, min(due) - now)

    def _take_commands(self, timeout: float | None) -> None:
        command = self._receive(timeout)
        while command is not None:
            self._handle(command)
            command = None if self._stopping else self._receive(0)

    def _handle(self, command: _Command) -> None:
        """Apply a command, or keep it until the steps requested before it are taken (so that `n n ctrl+s`
        saves after the two steps, and `n m` switches mode after the step)."""
        later = isinstance(command, (_Engine, _Sample, _Save, _Step))
        if self._waiting or (self._pending_steps and later and not isinstance(command, _Step)):
            if not isinstance(command, _Stop):
                self._waiting.append(command)
                return
        self._apply(command)

    def _apply_waiting(self) -> None:
        while self._waiting and not self._pending_steps:
            self._apply(self._waiting.popleft())

    def _apply(self, command: _Command) -> None:
        now = self._clock()
        match command:
            case _Run():
                if not self._trainer.done and not self._running:
                    self._running = True
                    self._next_step_at = now
                    self._step_times.clear()
                self._dirty = True
            case _Pause():
                self._running = False
                self._dirty = True
            case _Step(count):
                self._running = False
                self._pending_steps += count
                self._dirty = True
            case _Speed(cap):
                self._cap = cap
                self._next_step_at = now
                self._step_times.clear()
                self._dirty = True
            case _Engine(engine):
                self._trainer.engine = engine
                self._dirty = True
            case _Sample(temperature):
                self._start_sample(temperature, now)
            case _Save(path):
                self._save(path)
            case _Stop():
                self._stopping = True
        self._handled += 1
        self._dirty = True  # the next snapshot tells the app this command was applied

    def _train_one(self, now: float) -> None:
        counted = self._pending_steps > 0
        if counted:
            self._pending_steps -= 1
        if self._trainer.done:
            self._pending_steps = 0
            self._running = False
            self._dirty = True
            return
        try:
            report = self._trainer.step()
        except TrainingComplete:
            self._pending_steps = 0
            self._running = False
            self._dirty = True
            return
        except TrainingDiverged as error:  # the weights are those of the last good step: saving still works
            self._halt(f"{error} (try a smaller --lr, or resume from an earlier checkpoint)")
            return
        except Exception as error:  # the app must survive anything the engine raises
            self._halt(f"the engine failed at step {self._trainer.step_count + 1}: {error}")
            return
        end = self._clock()
        self._record(report, end)
        if self._cap is not None:
            self._next_step_at = max(self._next_step_at + 1.0 / self._cap, end - 1.0 / self._cap)
        if not math.isfinite(report.loss):
            self._halt(f"the loss is {report.loss} at step {report.step}: training paused "
                       "(try a smaller --lr, or resume from an earlier checkpoint)")
        elif self._trainer.done:
            self._running = False
            self._pending_steps = 0
        if counted or not self._running:
            self._publish(end)

    def _record(self, report: StepReport, end: float) -> None:
        self._report = report
        self._dirty = True
        self._step_times.append(end)
        while end - self._step_times[0] > RATE_WINDOW:
            self._step_times.popleft()
        for stats in report.matrices:
            self._grads.setdefault(stats.name, deque(maxlen=GRAD_HISTORY)).append(stats.grad_norm)
        self._nodes.append(report.graph.nodes)
        positions = max(1, len(report.position_losses))
        seconds = report.timings.total
        old = self._engines.get(report.engine)
        if old is None:
            new = EngineFigures(report.engine, report.graph.nodes, report.graph.nodes / positions, seconds)
        else:
            w = SMOOTHING
            new = EngineFigures(
                report.engine,
                w * old.nodes + (1 - w) * report.graph.nodes,
                w * old.nodes_per_position + (1 - w) * report.graph.nodes / positions,
                w * old.seconds + (1 - w) * seconds,
            )
        self._engines[report.engine] = new

    def _halt(self, reason: str) -> None:
        self._running = False
        self._pending_steps = 0
        self._dirty = True
        self._post(Halted(reason))

    def _rate(self) -> float | None:
        times = self._step_times
        if not self._running or len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    def _publish(self, now: float) -> None:
        trainer = self._trainer
        snapshot = Snapshot(
            step=trainer.step_count,
            steps=trainer.config.steps,
            running=self._running,
            engine=trainer.engine,
            steps_per_second=self._rate(),
            speed_cap=self._cap,
            report=self._report,
            losses=tuple(trainer.losses[self._losses_sent:]),  # only the new ones: a long run's history is long
            losses_from=self._losses_sent,
            grad_history=tuple((name, tuple(values)) for name, values in self._grads.items()),
            node_history=tuple(self._nodes),
            engines=tuple(self._engines.values()),
            commands=self._handled,
        )
        self._losses_sent = len(trainer.losses)
        self._last_publish = now
        self._dirty = False
        self._post(Progress(snapshot))

    # -- sampling and saving ----------------------------------------------------------------------------------

    def _start_sample(self, temperature: float, now: float) -> None:
        self._sample_id += 1
        self._sample_tokens.clear()
        try:
            tokens = list(self._trainer.sample(temperature))
        except Exception as error:
            self._post(Halted(f"sampling failed: {error}"))
            return
        self._post(SampleStarted(self._sample_id, temperature))
        self._sample_tokens.extend(tokens)
        self._next_token_at = now
        self._emit_sample_tokens(now)

    def _emit_sample_tokens(self, now: float) -> None:
        while self._sample_tokens and now >= self._next_token_at:
            self._post(SampleDrawn(self._sample_id, self._sample_tokens.popleft()))
            self._next_token_at = max(self._next_token_at + self._sample_delay, now)
            if self._sample_delay > 0:
                break

    def _save(self, path: str) -> None:
        step = self._trainer.step_count
        try:
            save_checkpoint(self._trainer, path)  # type: ignore[arg-type]
        except Exception as error:  # CheckpointError says why in one line; anything else must not kill us
            self._post(SaveFailed(str(error) or type(error).__name__))
        else:
            self._post(Saved(path, step))
