"""The engine process: a loop that owns the trainer, does one unit of work at a time and reads requests between.

`engine_main` is what the child process runs: it makes the process quiet (the terminal belongs to the app),
tunes the interpreter like `microgpt train`, then runs `EngineLoop` until a `Stop` request or until the app's
end of the pipe closes. The loop takes requests from `protocol` and posts records back.

The loop trains only through the phase API: it advances a `StepInProgress` one unit at a time (the document,
each forward position, the loss, each backward piece, the update) and looks at its requests between units, so a
`.` lands between phases even in a 5-second atomic step; a pause while running finishes the step in progress
first (it counts as one requested step), so that training stops on a whole step. Single steps and phases are
counted, so three quick presses are three steps. While running, a `State` goes out at most `fps` times a second;
a requested step or a change of state goes out at once.

This module imports no Textual and no Rich (tests/engine/test_isolation.py checks it in a fresh interpreter).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Protocol, cast

from microgpt import cli
from microgpt.breakpoints import BreakpointError, Condition, Hit, Watch, never_fires, parse
from microgpt.checkpoint import save_checkpoint
from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.history import History, HistoryError
from microgpt.report import (
    MatrixStats,
    Phase,
    PhaseReport,
    ProbeError,
    ProbeReport,
    SampleToken,
    StepReport,
    Timings,
)
from microgpt.schedule import Schedule, ScheduleError
from microgpt.trainer import Trainer, TrainingComplete, TrainingDiverged
from microgpt_tui import protocol as p

GRAD_HISTORY = 48  # gradient norms kept per matrix for the history sparklines
NODE_HISTORY = 120  # graph sizes kept for the node-count sparkline
RATE_WINDOW = 2.0  # seconds of recent steps that the steps-per-second figure averages over
SMOOTHING = 0.8  # weight of the past in the per-mode graph-size and step-time averages
SLOW_STEP = 0.2  # seconds: a step under way for this long is announced (`Computing`)
LOOK_EVERY = 0.004  # seconds of units done between two looks at the requests while training runs freely


class StepLike(Protocol):
    """The part of `microgpt.trainer.StepInProgress` the engine loop uses."""

    number: int
    phase: Phase | None
    report: StepReport | None

    @property
    def finished(self) -> bool: ...
    def advance(self) -> Phase: ...
    def detail(self) -> PhaseReport: ...


class TrainerLike(Protocol):
    """The part of `microgpt.trainer.Trainer` the engine loop uses."""

    engine: str
    sample_rng: random.Random

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
    @property
    def steps(self) -> int: ...
    @property
    def docs(self) -> Sequence[str]: ...
    @property
    def matrix_names(self) -> tuple[str, ...]: ...
    @property
    def schedule(self) -> Schedule: ...
    def begin_step(self) -> StepLike: ...
    def extend(self, steps: int) -> None: ...
    def set_lr(self, lr: float) -> None: ...
    def probe(self, word: str) -> ProbeReport: ...
    def sample(self, temperature: float = 0.5) -> Iterator[SampleToken]: ...


def fresh_trainer(dataset: Dataset, config: Config, engine: str) -> Trainer:
    """A run at step 0 (a restart: the same dataset, configuration and seed as before)."""
    return Trainer(dataset, config, engine=engine)


def engine_main(trainer: TrainerLike, requests: Connection, records: Connection, fps: float,
                app_ends: tuple[Connection, ...], history: History | None = None,
                breaks: Sequence[tuple[Condition, bool]] = ()) -> None:
    """The engine process: quiet, tuned like `microgpt train`, then the loop (`breaks`: the breakpoint list, as
    (condition, on) in order).

    It closes its copies of the app's ends of the pipes, so that if the app dies the requests end (EOF) and the
    engine ends with them instead of waiting forever; and so that the app sees EOF on the records the moment
    this process dies.
    """
    for end in app_ends:
        end.close()
    with contextlib.suppress(ValueError, OSError):  # forked from the app: its event loop's wake-up fd is not ours
        signal.set_wakeup_fd(-1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the app's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def receive(timeout: float | None) -> p.Request | None:
        request: p.Request | None = requests.recv() if requests.poll(timeout) else None
        return request

    cli.tune_gc()
    try:
        EngineLoop(trainer, records.send, receive, fps=fps, history=history, breaks=breaks).run()
    except (EOFError, OSError):  # the app is gone
        pass
    except Exception as error:  # say why before dying, so that the app can tell the user
        with contextlib.suppress(OSError, ValueError):
            records.send(p.Crash(f"{type(error).__name__}: {error}"))
        raise


class EngineLoop:
    """Owns a trainer and does what the requests say, one unit of work at a time, posting what happened."""

    def __init__(
        self,
        trainer: TrainerLike,
        post: Callable[[p.Record], object],
        receive: Callable[[float | None], p.Request | None],
        *,
        fps: float = 3.0,
        clock: Callable[[], float] = time.perf_counter,
        fresh: Callable[[Dataset, Config, str], TrainerLike] = fresh_trainer,
        history: History | None = None,
        breaks: Sequence[tuple[Condition, bool]] = (),  # the breakpoint list: (condition, on), in order
    ) -> None:
        self._trainer = trainer
        self._post = post
        self._receive = receive
        self._interval = 1.0 / fps
        self._clock = clock
        self._fresh = fresh
        self._handled = 0
        self._stopping = False
        self._pending_steps = 0
        self._waiting: deque[p.Request] = deque()  # requests to apply once the requested steps are taken
        self._cap: float | None = None
        self._sample_id = 0
        self._forget()
        self._begin_history(history, breaks)

    def _forget(self) -> None:
        """Start the run's own state afresh (at start, and on a restart)."""
        self._running = False
        self._until: int | None = None
        self._pending_steps = 0  # steps to finish (the one in progress counts as one)
        self._pending_phases = 0  # units to do, one per `.`
        self._step: StepLike | None = None  # the step in progress
        self._lr_after_step: float | None = None  # a base learning rate asked for while a running step was taken
        self._step_began = 0.0
        self._announced = False  # a `Computing` went out for the step in progress
        self._detail_sent: Phase | None = None  # the unit whose numbers the app last received
        self._losses_sent = 0
        self._next_step_at = 0.0
        self._last_publish = -math.inf
        self._dirty = True
        self._report: StepReport | None = None
        self._step_times: deque[float] = deque()
        self._grads: dict[str, deque[float]] = {}
        self._nodes: deque[int] = deque(maxlen=NODE_HISTORY)
        self._engines: dict[str, p.EngineFigures] = {}

    def run(self) -> None:
        """Publish a first state, then work until a stop request (or until the requests end)."""
        self._announce_time_travel()
        if self._trainer.step_count > 0:
            self._resumed()
        self._publish(self._clock())
        while not self._stopping:
            self._take_requests(self._idle_timeout(self._clock()))
            if self._stopping:
                break
            now = self._clock()
            if self._has_work(now):
                self._advance(now)
            self._apply_waiting()
            now = self._clock()
            asked = self._pending_steps or self._pending_phases  # each finished request publishes on its own
            if self._dirty and not asked and (not self._running or now - self._last_publish >= self._interval):
                self._publish(now)

    def _has_work(self, now: float) -> bool:
        """A unit is due: asked for (`.`, `n`), or running (a new step only once the speed cap allows)."""
        if self._pending_phases or self._pending_steps:
            return True
        return self._running and (self._step is not None or now >= self._next_step_at)

    def _idle_timeout(self, now: float) -> float | None:
        """Seconds to wait for a request before there is work again; None to wait for a request."""
        if self._pending_steps or self._pending_phases:
            return 0.0
        if self._running:
            if self._step is not None:
                return 0.0  # between two units of a step: only look
            due = [self._next_step_at]
            if self._dirty:
                due.append(self._last_publish + self._interval)
            return max(0.0, min(due) - now)
        return 0.0 if self._dirty else None

    def _take_requests(self, timeout: float | None) -> None:
        request = self._receive(timeout)
        while request is not None:
            self._handle(request)
            request = None if self._stopping else self._receive(0)

    def _handle(self, request: p.Request) -> None:
        """Apply a request, or keep it until the steps requested before it are taken (so that `n n ctrl+s`
        saves after the two steps, and `n m` switches mode after the step)."""
        later = isinstance(request, (p.SetEngine, p.Draw, p.Save, p.Step, p.NextPhase, p.Probe, p.Extend,
                                     *TIME_REQUESTS))
        if self._waiting or (self._pending_steps and later and not isinstance(request, p.Step)):
            if not isinstance(request, p.Stop):
                self._waiting.append(request)
                return
        self._apply(request)

    def _apply_waiting(self) -> None:
        while self._waiting and not self._pending_steps:
            self._apply(self._waiting.popleft())

    def _apply(self, request: p.Request) -> None:
        now = self._clock()
        match request:
            case p.Run():
                self._until = None
                self._start_running(now)
            case p.RunUntil(step):
                self._until = step
                if self._trainer.step_count < step:
                    self._start_running(now)
                else:
                    self._running = False
            case p.Pause():
                if self._running and self._step is not None:  # the pause lands between steps: this one ends first
                    self._pending_steps = max(self._pending_steps, 1)
                self._running = False
                self._until = None
            case p.Step(count):
                self._running = False
                self._until = None
                self._pending_steps += count
            case p.NextPhase():
                self._running = False
                self._until = None
                if self._step is None and self._trainer.done:
                    self._post(p.Refused("phase", f"all {self._trainer.steps} steps are done"))
                else:
                    self._pending_phases += 1
            case p.Speed(cap):
                self._cap = cap
                self._next_step_at = now
                self._step_times.clear()
            case p.SetEngine(engine):
                self._trainer.engine = engine
                if self._trainer.done and self._step is None:
                    self._regraph()
            case p.Draw(temperature, count):
                self._draw(temperature, count)
            case p.Save(path):
                self._save(path)
            case p.Extend(steps):
                self._extend(steps)
            case p.Probe(word):
                self._probe(word)
            case p.Restart():
                old = self._trainer
                self._trainer = self._fresh(old.dataset, old.config, old.engine)  # the mode chosen last
                self._forget()
                self._begin_history(None, self._watch.listed())  # a restart keeps the breakpoint list
                self._announce_time_travel()
            case p.Stop():
                self._stopping = True
            case p.Seek() | p.PastPhase() | p.Branch() | p.SetLr() | p.DrawAt() | p.ProbeAt() | p.AddBreak() \
                    | p.ToggleBreak() | p.RemoveBreak():
                self._time_travel(request)
        self._handled += 1
        if not isinstance(request, SHOWING_THE_PAST):  # those change nothing live: no state to send (or repaint)
            self._dirty = True  # the next state tells the app this request was applied

    def _start_running(self, now: float) -> None:
        if not self._trainer.done and not self._running:
            self._running = True
            self._next_step_at = now
            self._step_times.clear()

    def _advance(self, now: float) -> None:
        """One unit of the step in progress (beginning a step first if none is in progress)."""
        trainer = self._trainer
        if self._step is None:
            try:
                self._step = trainer.begin_step()
            except TrainingComplete as done:
                if self._pending_phases:
                    self._post(p.Refused("phase", str(done)))
                self._stop_running()
                return
            self._step_began = now
            self._announced = False
        step = self._step
        try:
            self._advance_units(step, now)
        except TrainingDiverged:  # the weights are those of the last good step: saving still works
            self._step = None
            self._halt(f"step {step.number} diverged: {self._blew_up(step.number)}")
            return
        except Exception as error:  # the app must survive anything a step raises
            self._step = None
            self._halt(f"the engine failed at step {trainer.step_count + 1}: {error}")
            return
        end = self._clock()
        self._dirty = True
        if self._pending_phases:  # a `.`: its numbers go to the app at once
            self._pending_phases -= 1
            self._send_detail()
        elif not self._announced and end - self._step_began >= SLOW_STEP:
            self._announced = True
            self._post(p.Computing(step.number, end - self._step_began))
        if step.finished:
            self._step = None
            self._finished(step, end)

    def _advance_units(self, step: StepLike, now: float) -> None:
        """One unit, or, while training runs with no `.` asked for, units for LOOK_EVERY seconds (up to the end of
        the step): a look at the requests costs a system call, and a step has dozens of units. A `.` still
        lands between two units, a few milliseconds later at most."""
        step.advance()
        if self._pending_phases or not (self._running or self._pending_steps):
            return
        until = now + LOOK_EVERY
        while not step.finished and self._clock() < until:
            step.advance()

    def _finished(self, step: StepLike, end: float) -> None:
        """A step's update is done: record it, and stop where asked to."""
        report = step.report
        assert report is not None
        counted = self._pending_steps > 0
        if counted:
            self._pending_steps -= 1
        self._record(report, end)
        self._set_waiting_lr()  # asked for while this step ran: it holds from the next one
        hits = self._remember(report)
        if self._cap is not None:
            self._next_step_at = max(self._next_step_at + 1.0 / self._cap, end - 1.0 / self._cap)
        trainer = self._trainer
        if not math.isfinite(report.loss):
            self._halt(f"the loss is {report.loss} at step {report.step}: {self._blew_up(report.step)}")
        elif hits:  # a breakpoint fired: pause after this step, and say which one
            self._stop_running()
            self._post(p.BreakHit(report.step, "; ".join(str(hit) for hit in hits)))
        elif trainer.done or (self._until is not None and trainer.step_count >= self._until):
            if trainer.done and self._pending_phases:
                self._post(p.Refused("phase", f"all {trainer.steps} steps are done"))
            self._stop_running()
        if counted or not self._running:
            self._publish(end)
        self._show_hit_samples(hits, report.step)

    def _send_detail(self) -> None:
        """The numbers of the last unit of the step in progress, to the app (once per unit)."""
        step = self._step
        if step is None or step.phase is None or step.phase == self._detail_sent:
            return
        self._detail_sent = step.phase
        try:
            self._post(p.PhaseDone(step.detail()))
        except Exception as error:  # the numbers are for showing: their failure must not stop training
            self._post(p.Refused("phase", f"the numbers of {step.phase.label} could not be computed: {error}"))

    def _stop_running(self) -> None:
        self._running = False
        self._until = None
        self._pending_steps = 0
        self._pending_phases = 0
        self._dirty = True

    def _record(self, report: StepReport, end: float) -> None:
        self._report = report
        self._dirty = True
        times = self._step_times
        times.append(end)
        while len(times) > 2 and end - times[0] > RATE_WINDOW:  # two steps at least: slow steps have a rate too
            times.popleft()
        for stats in report.matrices:
            self._grads.setdefault(stats.name, deque(maxlen=GRAD_HISTORY)).append(stats.grad_norm)
        self._nodes.append(report.graph.nodes)
        positions = max(1, len(report.position_losses))
        seconds = report.timings.total
        old = self._engines.get(report.engine)
        if old is None:
            new = p.EngineFigures(report.engine, report.graph.nodes, report.graph.nodes / positions, seconds)
        else:
            w = SMOOTHING
            new = p.EngineFigures(
                report.engine,
                w * old.nodes + (1 - w) * report.graph.nodes,
                w * old.nodes_per_position + (1 - w) * report.graph.nodes / positions,
                w * old.seconds + (1 - w) * seconds,
            )
        self._engines[report.engine] = new

    def _blew_up(self, step: int) -> str:
        """What made step `step`'s numbers leave the floats, and the way back, in the app's terms: the weights come
        from the update before it, so the learning rate to blame is the one that update used, not the one set now."""
        used = f" (step {step - 1} used learning rate {self._trainer.schedule.lr_at(step - 1):.4g})" if step > 1 else ""
        return (f"the weights blew up{used}; go back to an earlier step (left), press b, then set a smaller "
                "learning rate (ctrl+p: Set learning rate…)")

    def _halt(self, reason: str) -> None:
        self._stop_running()
        self._post(p.Halt(reason))
        if self._step is None:  # the step a new learning rate waited for failed: it holds from now on
            self._set_waiting_lr()

    def _rate(self) -> float | None:
        times = self._step_times
        if not self._running or len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    def _publish(self, now: float) -> None:
        trainer = self._trainer
        losses = trainer.losses
        step = self._step
        idle = not (self._running or self._pending_steps or self._pending_phases)
        if step is not None and idle:
            self._send_detail()  # paused between two units: the app shows that unit's numbers
        schedule = trainer.schedule
        state = p.State(
            step=trainer.step_count,
            steps=trainer.steps,
            running=self._running,
            until=self._until,
            engine=trainer.engine,
            steps_per_second=self._rate(),
            speed_cap=self._cap,
            report=self._report,
            new_losses=tuple(losses[self._losses_sent:]),  # only the new ones: a long run's history is long
            losses_from=self._losses_sent,
            grad_history=tuple((name, tuple(values)) for name, values in self._grads.items()),
            node_history=tuple(self._nodes),
            engines=tuple(self._engines.values()),
            handled=self._handled,
            phase=step.phase if step is not None else None,
            marks=tuple(segment.start for segment in schedule.segments[1:]),
            schedule_note=schedule.status(),
            next_lr=schedule.lr_at(trainer.step_count + 1),
            base_lr=schedule.lr,
        )
        self._losses_sent = len(losses)
        self._last_publish = now
        self._dirty = False
        self._post(state)

    # -- sampling and saving ----------------------------------------------------------------------------------

    def _draw(self, temperature: float, count: int) -> None:
        samples = []
        step = self._trainer.step_count
        batch = self._sample_id + 1
        try:
            for _ in range(count):
                self._sample_id += 1
                tokens = tuple(self._trainer.sample(temperature))
                samples.append(p.Sample(self._sample_id, step, temperature, tokens, batch))
        except Exception as error:
            self._post(p.Halt(f"sampling failed: {error}"))
            return
        self._post(p.Samples(tuple(samples)))

    def _save(self, path: str) -> None:
        """Write a checkpoint; in the middle of a step it holds the state before that step (the weights move only
        in the update, the last unit)."""
        step = self._trainer.step_count
        try:
            save_checkpoint(self._trainer, path, self._history)  # type: ignore[arg-type]
        except Exception as error:  # CheckpointError says why in one line; anything else must not kill us
            self._post(p.SaveError(str(error) or type(error).__name__))
        else:
            self._post(p.SavedTo(path, step, mid_step=self._step is not None))

    def _extend(self, steps: int) -> None:
        """Make the run `steps` long from the next step on, and say once what that changed."""
        trainer = self._trainer
        try:
            trainer.extend(steps)
        except ScheduleError as error:
            self._post(p.Refused("extend", str(error)))
            return
        self._post(p.Notice("schedule extended", trainer.schedule.describe()))

    def _probe(self, word: str, trainer: TrainerLike | None = None) -> None:
        """A word's forward pass at the current weights, or at `trainer`'s (training is untouched)."""
        try:
            report = (self._trainer if trainer is None else trainer).probe(word)
        except ProbeError as error:
            self._post(p.Refused("probe", str(error)))
            return
        self._post(p.Probed(report))

    def _resumed(self) -> None:
        """A resumed run: its last step's document recomputed at the restored weights, so the panes are not empty."""
        trainer = self._trainer
        k = trainer.step_count
        doc = trainer.docs[(k - 1) % len(trainer.docs)]
        try:
            probe = trainer.probe(doc)
        except (ProbeError, ArithmeticError, ValueError):
            return
        history = self._history
        if history.start < k <= history.end:  # the checkpoint holds the step's record: its gradients, its ratios
            matrices = history.record_at(k).matrices
            self._grads, nodes = self._recent(k)
            self._nodes.extend(nodes)
            grads = f"the gradients are step {k}'s, from the checkpoint's history"
        else:  # no backward pass has run in this session, and the checkpoint has no record of the step
            matrices = tuple(MatrixStats(name, p.NOT_COMPUTED, p.NOT_COMPUTED, p.NOT_COMPUTED)
                             for name in trainer.matrix_names)
            grads = ("" if history.lost else "the checkpoint has no history: ") + \
                "the gradients fill in with the next step"
        self._report = StepReport(
            step=k, steps=trainer.steps, loss=probe.loss, lr=trainer.schedule.lr_at(k), engine=probe.engine, doc=doc,
            tokens=probe.tokens, targets=probe.targets, position_losses=probe.position_losses, graph=probe.graph,
            matrices=matrices, attention=probe.attention, timings=Timings(0.0, 0.0, 0.0),
        )
        lost = f"{history.lost}. " if history.lost else ""  # a damaged saved history: said first
        self._post(p.Notice(f"resumed at step {k}", f"{lost}the panes show step {k}'s document “{doc}” recomputed "
                            f"at the restored weights (those after step {k}); {grads}"))

    def _recent(self, step: int) -> tuple[dict[str, deque[float]], list[int]]:
        """The gradient norms of every matrix and the graph sizes of the recorded steps up to `step`, as many as
        the sparklines keep (from the history's step records: no replay)."""
        history = self._history
        grads = {name: deque(history.matrix_series(name, max(history.start + 1, step - GRAD_HISTORY + 1), step),
                             maxlen=GRAD_HISTORY) for name in self._trainer.matrix_names}
        end = step - history.start
        return grads, list(history.nodes[max(0, end - NODE_HISTORY): end])

    def _regraph(self) -> None:
        """A finished run's last step, its graph built again in the new mode (no update: the same weights)."""
        report = self._report
        if report is None or report.engine == self._trainer.engine:
            return
        try:
            probe = self._trainer.probe(report.doc)
        except (ProbeError, ArithmeticError, ValueError) as error:
            self._post(p.Refused("mode", f"the last step's graph could not be rebuilt: {error}"))
            return
        self._report = replace(report, engine=probe.engine, graph=probe.graph)
        if probe.engine not in self._engines:  # the mode has now built a graph: its size is known, not its time
            positions = max(1, len(probe.position_losses))
            self._engines[probe.engine] = p.EngineFigures(probe.engine, probe.graph.nodes,
                                                          probe.graph.nodes / positions, math.nan)

    # -- time travel: history, branches, breakpoints (issue 9) ----------------------------------------------------

    def _begin_history(self, history: History | None, breaks: Sequence[tuple[Condition, bool]]) -> None:
        """Keep the run's history from here (or go on with a resumed run's), and watch the breakpoint list
        `breaks`: (condition, on), in order."""
        trainer = cast(Trainer, self._trainer)  # a real trainer, or a test's wrapper around one
        self._history = history if history is not None and history.end == trainer.step_count else History(trainer)
        self._watch = Watch(trainer, (), self._history)
        for condition, enabled in breaks:
            self._watch.add(condition, enabled)
        self._past: StepLike | None = None  # a past step replayed phase by phase
        self._spare: Trainer | None = None  # a trainer of the run that holds past weights to sample from or probe

    def _announce_time_travel(self) -> None:
        """Tell the app what the history holds and which breakpoints are watched."""
        history = self._history
        why = ("" if not history.start else "the saved history was damaged" if history.lost
               else "this run was resumed from a checkpoint saved without one (microgpt train)")
        self._post(p.Branches(tuple(history.ghosts), history.start + 1, why))
        self._post_breakpoints()

    def _post_breakpoints(self) -> None:
        self._post(p.Breakpoints(tuple((condition.text, on) for condition, on in self._watch.listed())))

    def _remember(self, report: StepReport) -> list[Hit]:
        """Record a finished step in the history and check the breakpoints; the hits."""
        try:
            self._history.record(report)
        except HistoryError as error:  # cannot happen in order; never let it stop training
            self._post(p.Notice("history restarted", f"{error}; the history starts again at step {report.step}"))
            self._history = History(cast(Trainer, self._trainer))
        if not math.isfinite(report.loss):
            return []  # the pause on a non-finite loss says it already
        return self._watch.check(report)

    def _show_hit_samples(self, hits: list[Hit], step: int) -> None:
        """The samples that made breakpoints fire (memorized), to the Sampling pane like a draw of `g`'s; they
        were drawn with the breakpoint's own generator, so the sampler's stands where it was."""
        samples: list[p.Sample] = []
        for hit in hits:
            if hit.sample and all(hit.sample is not s.tokens for s in samples):  # (two memorized=N: one sample)
                self._sample_id += 1
                samples.append(p.Sample(self._sample_id, step, hit.sample[0].temperature, hit.sample))
        if samples:
            self._post(p.Samples(tuple(samples)))

    def _time_travel(self, request: p.TimeRequest) -> None:
        """Apply a request about the run's past, a branch, the learning rate or the breakpoints."""
        try:
            match request:
                case p.Seek(step):
                    self._past = None
                    report = self._history.replay(self._past_step(step))
                    grads, nodes = self._recent(step)
                    self._post(p.Past(report, tuple((name, tuple(v)) for name, v in grads.items()), tuple(nodes)))
                case p.PastPhase(step):
                    self._past_phase(self._past_step(step))
                case p.Branch(step):
                    self._branch(self._past_step(step))
                case p.SetLr(lr):
                    self._set_lr(lr)
                case p.DrawAt(temperature, count, step):
                    self._draw_at(temperature, count, self._past_step(step))
                case p.ProbeAt(word, step):
                    self._probe(word, self._spare_at(self._past_step(step)))
                case p.AddBreak(text):
                    condition = parse(text)
                    self._watch.add(condition)  # refuses one already listed
                    self._post_breakpoints()
                    if remark := never_fires(condition, self._trainer.step_count, self._trainer.steps):
                        self._post(p.Notice("breakpoint", remark))  # accepted, but it will not fire
                case p.ToggleBreak(index):
                    entry = self._watch.entries[index]
                    entry.enabled = not entry.enabled
                    self._post_breakpoints()
                case p.RemoveBreak(index):
                    self._watch.remove(self._watch.entries[index])
                    self._post_breakpoints()
        except (HistoryError, BreakpointError, ScheduleError) as error:
            self._post(p.Refused(REQUEST_WORDS[type(request)], str(error)))
        except IndexError:
            self._post(p.Refused("breakpoint", "there is no such breakpoint"))

    def _past_step(self, step: int) -> int:
        """`step`, if the history can show it (HistoryError otherwise)."""
        history = self._history
        if not history.start < step <= history.end:
            first = history.start + 1
            if step < first and history.start:
                how = "whose history was damaged" if history.lost else "without one"
                raise HistoryError(f"steps before {first} are not in this run's history (it was resumed from a "
                                   f"checkpoint {how})")
            raise HistoryError(f"step {step} is not in the history (steps {first}-{history.end})")
        return step

    def _past_phase(self, step: int) -> None:
        """One more unit of a past step, replayed phase by phase on the history's own trainer."""
        past = self._past
        if past is None or past.number != step:
            past = self._past = cast(StepLike, self._history.phases(step))
        if past.finished:  # not a refusal: the replay has reached its end
            self._post(p.Notice(f"end of step {step}", f"every phase of step {step} is shown: left/right show "
                                                       "another step"))
            return
        past.advance()
        self._post(p.PastPhaseDone(past.detail()))

    def _branch(self, step: int) -> None:
        """The run goes back to the state after `step`; the steps after it become a ghost on the loss chart."""
        trainer = cast(Trainer, self._trainer)
        self._stop_running()
        self._step = None  # a step in progress is abandoned with the rest
        self._detail_sent = None
        self._past = None
        self._history.rewind(trainer, step)
        self._watch.rewind(step)
        self._set_waiting_lr()  # asked for while the abandoned step ran: it holds from the next one
        self._losses_sent = min(self._losses_sent, step)
        history = self._history
        self._report = history.replay(step) if step > history.start else None
        self._grads.clear()
        self._nodes.clear()
        for k in range(max(history.start + 1, step - max(GRAD_HISTORY, NODE_HISTORY) + 1), step + 1):
            record = history.record_at(k)
            if k > step - GRAD_HISTORY:
                for stats in record.matrices:
                    self._grads.setdefault(stats.name, deque(maxlen=GRAD_HISTORY)).append(stats.grad_norm)
            self._nodes.append(record.nodes)
        self._announce_time_travel()

    def _set_lr(self, lr: float) -> None:
        """The base learning rate from the next step on. The step in progress has its own: while training runs,
        the new rate waits for it to end (a running step is always in progress); a step stopped between phases
        (`.`) must be finished first."""
        if self._step is not None:
            if self._running or self._pending_steps:
                self._lr_after_step = lr
            else:
                self._post(p.Refused("learning rate", p.step_in_progress(self._step.number)))
            return
        self._trainer.set_lr(lr)
        status = self._trainer.schedule.status() or "the schedule is the reference's"
        self._post(p.Notice("learning rate", f"base learning rate {lr:g} from step {self._trainer.step_count + 1}; "
                                             f"{status}"))

    def _set_waiting_lr(self) -> None:
        """Set the learning rate asked for while a running step was taken, if there is one, now that no step is in
        progress."""
        if self._lr_after_step is not None:
            lr, self._lr_after_step = self._lr_after_step, None
            self._set_lr(lr)

    def _spare_at(self, step: int) -> Trainer:
        """The spare trainer, holding the run's state after past step `step` (the live trainer is never touched),
        in the graph mode chosen last."""
        trainer = self._trainer
        if self._spare is None:
            self._spare = Trainer(trainer.dataset, trainer.config)
        spare = self._spare
        spare.restore(self._history.full_state(self._history.state_at(step)))
        spare.engine = trainer.engine
        return spare

    def _draw_at(self, temperature: float, count: int, step: int) -> None:
        """Names drawn from the weights after past step `step`, with the sampler's own generator (which then
        stands where it would after drawing them live)."""
        trainer = self._trainer
        sampler = self._spare_at(step)
        sampler.sample_rng.setstate(trainer.sample_rng.getstate())
        samples = []
        batch = self._sample_id + 1
        for _ in range(count):
            self._sample_id += 1
            samples.append(p.Sample(self._sample_id, step, temperature, tuple(sampler.sample(temperature)), batch))
        trainer.sample_rng.setstate(sampler.sample_rng.getstate())
        self._post(p.Samples(tuple(samples)))


SHOWING_THE_PAST = (p.Seek, p.PastPhase, p.DrawAt, p.ProbeAt)
TIME_REQUESTS = (p.Seek, p.PastPhase, p.Branch, p.SetLr, p.DrawAt, p.ProbeAt, p.AddBreak, p.ToggleBreak,
                 p.RemoveBreak)
REQUEST_WORDS: dict[type, str] = {  # what a refused request was, in the words of the notice's title
    p.Seek: "history", p.PastPhase: "phase", p.Branch: "branch", p.SetLr: "learning rate", p.DrawAt: "sample",
    p.ProbeAt: "probe", p.AddBreak: "breakpoint", p.ToggleBreak: "breakpoint", p.RemoveBreak: "breakpoint",
}
