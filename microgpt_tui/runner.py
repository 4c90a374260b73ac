"""The app's handle on the engine process: requests down one pipe, records up the other, messages to the app.

The UI never computes engine work and never waits for it. `Runner.run()`, `step()`, `sample()` ... only send a
small request (protocol.py) to the engine process (engine_process.py), which owns the trainer. A reader thread
turns each record that comes back into a Textual message (messages.py) and posts it. When the engine's end of
the pipe closes without the app having asked it to stop, that too becomes a message, `EngineDied`, with the cause
(exit status or signal): the app never learns about the engine's death by silence.

Why a process and not a thread: the engine is pure Python, so a thread would share the interpreter lock with the
UI; every key press would then wait for the engine's time slices (tens of milliseconds). In its own process the
engine keeps a core to itself and the UI answers keys at once.

The process is forked (not spawned): the child starts with the parent's trainer in memory, nothing to copy, and a
fork works while the app runs (a spawned child needs the real stderr, which Textual has replaced). A new engine
after a death is forked the same way, from the app's process, with the trainer to start from.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from textual.message import Message

from microgpt.breakpoints import Condition
from microgpt.history import History
from microgpt_tui import protocol as p
from microgpt_tui.engine_process import TrainerLike, engine_main
from microgpt_tui.messages import (
    BranchesChanged,
    BreakpointHit,
    BreakpointsChanged,
    Computing,
    EngineDied,
    Halted,
    Notice,
    PastPhaseShown,
    PastShown,
    PhaseShown,
    ProbeShown,
    Progress,
    Refused,
    SamplesDrawn,
    Saved,
    SaveFailed,
    Snapshot,
)

PROCESS_NAME = "microgpt-engine"


class Runner:
    """The app's handle on the engine process; every method returns at once."""

    def __init__(self, trainer: TrainerLike, post: Callable[[Message], object], *, fps: float = 3.0,
                 history: History | None = None, breaks: Sequence[tuple[Condition, bool]] = ()) -> None:
        self._post = post
        self._fps = fps
        self._start_process(trainer, history, breaks)

    def _start_process(self, trainer: TrainerLike, history: History | None = None,
                       breaks: Sequence[tuple[Condition, bool]] = ()) -> None:
        self.sent = 0  # requests sent so far; each snapshot says how many the engine had handled
        self._stopping = False
        forking = "fork" in multiprocessing.get_all_start_methods()  # no copy of the trainer to make (not Windows)
        context = multiprocessing.get_context("fork") if forking else multiprocessing.get_context("spawn")
        child_requests, self._requests = context.Pipe(duplex=False)  # (receiving end, sending end)
        self._records, child_records = context.Pipe(duplex=False)
        self._process = context.Process(
            target=engine_main, name=PROCESS_NAME, daemon=True,
            args=(trainer, child_requests, child_records, self._fps, (self._requests, self._records), history,
                  tuple(breaks)),
        )
        self._process.start()
        child_requests.close()
        child_records.close()  # now the records end (EOF) the moment the child dies
        self._reader = threading.Thread(target=self._read, args=(self._process, self._records),
                                        name="microgpt-reader", daemon=True)

    @property
    def alive(self) -> bool:
        """True while the engine process runs."""
        return bool(self._process.is_alive())

    @property
    def pid(self) -> int | None:
        """The engine process's id (None before it started)."""
        return self._process.pid

    def start(self) -> None:
        """Start handing the engine's records to the app (the first one is a snapshot)."""
        self._reader.start()

    def restart(self, trainer: TrainerLike, history: History | None = None,
                breaks: Sequence[tuple[Condition, bool]] = ()) -> None:
        """Replace the engine process (after its death) with a new one that starts from `trainer` (and its
        history, and this breakpoint list: (condition, on), in order)."""
        self.stop()
        self._start_process(trainer, history, breaks)
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the engine to end after the unit of work in progress, and wait for it."""
        self._stopping = True
        if self._process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._requests.send(p.Stop())
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout)
        with contextlib.suppress(OSError):
            self._requests.close()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout)

    def _read(self, process: BaseProcess, records: Connection) -> None:
        """The reader thread: each record becomes a message; the end of the pipe becomes `EngineDied`."""
        losses: list[float] = []
        crash = ""
        while True:
            try:
                record = records.recv()
            except (EOFError, OSError):
                break
            if isinstance(record, p.Crash):
                crash = record.reason
                continue
            message = to_message(record, losses)
            if message is not None:
                self._post(message)
        with contextlib.suppress(OSError):
            records.close()
        if self._stopping and process is self._process:
            return
        process.join(2.0)
        self._post(EngineDied(death_reason(process.exitcode, crash)))

    def _send(self, request: p.Request) -> None:
        if self._requests.closed:
            return  # the engine is stopping or gone (keys pressed after q): nothing left to do
        self.sent += 1
        try:
            self._requests.send(request)
        except (OSError, ValueError):  # the engine process ended under us; the reader says so
            pass

    def run(self) -> None:
        """Train continuously."""
        self._send(p.Run())

    def run_until(self, step: int) -> None:
        """Train, and pause once step `step` is done."""
        self._send(p.RunUntil(step))

    def pause(self) -> None:
        """Pause after the step in progress."""
        self._send(p.Pause())

    def step(self, count: int = 1) -> None:
        """Pause, then finish the step in progress or take a whole one, `count` times (requests add up)."""
        self._send(p.Step(count))

    def next_phase(self) -> None:
        """Pause, then do one more unit of the step in progress; a `PhaseShown` follows."""
        self._send(p.NextPhase())

    def extend(self, steps: int) -> None:
        """Make the run `steps` long from the next step on; a `Notice` (or a `Refused`) follows."""
        self._send(p.Extend(steps))

    def probe(self, word: str) -> None:
        """The forward pass of `word` at the current weights; a `ProbeShown` (or a `Refused`) follows."""
        self._send(p.Probe(word))

    def set_speed(self, cap: float | None) -> None:
        """Cap the steps per second; None for as fast as the engine goes."""
        self._send(p.Speed(cap))

    def set_engine(self, engine: str) -> None:
        """Build the following steps' graphs in this mode ("fused" or "atomic")."""
        self._send(p.SetEngine(engine))

    def sample(self, temperature: float, count: int = 1) -> None:
        """Draw `count` names from the current weights at this temperature; one `SamplesDrawn` follows."""
        self._send(p.Draw(temperature, count))

    def save(self, path: str) -> None:
        """Write a checkpoint between two steps; a `Saved` or `SaveFailed` message follows."""
        self._send(p.Save(path))

    def restart_run(self) -> None:
        """Start the run again from step 0 (the same seed and settings) in the running engine."""
        self._send(p.Restart())

    # -- time travel (issue 9) ------------------------------------------------------------------------------------

    def seek(self, step: int) -> None:
        """Replay past step `step` exactly; a `PastShown` (or a `Refused`) follows."""
        self._send(p.Seek(step))

    def past_phase(self, step: int) -> None:
        """One more unit of past step `step`; a `PastPhaseShown` follows."""
        self._send(p.PastPhase(step))

    def branch(self, step: int) -> None:
        """Train again from step `step`: the later steps become a ghost; a `BranchesChanged` follows."""
        self._send(p.Branch(step))

    def set_lr(self, lr: float) -> None:
        """Set the base learning rate from the next step on; a `Notice` (or a `Refused`) follows."""
        self._send(p.SetLr(lr))

    def sample_at(self, temperature: float, count: int, step: int) -> None:
        """Draw names from the weights after past step `step`; one `SamplesDrawn` follows."""
        self._send(p.DrawAt(temperature, count, step))

    def probe_at(self, word: str, step: int) -> None:
        """The forward pass of `word` at the weights after past step `step`; a `ProbeShown` (or a `Refused`)
        follows."""
        self._send(p.ProbeAt(word, step))

    def add_break(self, text: str) -> None:
        """Watch one more breakpoint; a `BreakpointsChanged` (or a `Refused`) follows."""
        self._send(p.AddBreak(text))

    def toggle_break(self, index: int) -> None:
        """Turn a breakpoint off or on again; a `BreakpointsChanged` follows."""
        self._send(p.ToggleBreak(index))

    def remove_break(self, index: int) -> None:
        """Stop watching a breakpoint; a `BreakpointsChanged` follows."""
        self._send(p.RemoveBreak(index))


def to_message(record: p.Record, losses: list[float]) -> Message | None:
    """The app's message for an engine record; `losses` is the reader's copy of the whole loss history."""
    match record:
        case p.State():
            del losses[record.losses_from:]
            losses.extend(record.new_losses)
            return Progress(snapshot_of(record, tuple(losses)))
        case p.Computing(step, elapsed):
            return Computing(step, elapsed)
        case p.PhaseDone(report):
            return PhaseShown(report)
        case p.Probed(report):
            return ProbeShown(report)
        case p.Refused(what, reason):
            return Refused(what, reason)
        case p.Notice(title, text):
            return Notice(title, text)
        case p.Samples(samples):
            return SamplesDrawn(samples)
        case p.SavedTo(path, step, mid_step):
            return Saved(path, step, mid_step)
        case p.SaveError(reason):
            return SaveFailed(reason)
        case p.Halt(reason):
            return Halted(reason)
        case p.Past(report, grad_history, node_history):
            return PastShown(report, grad_history, node_history)
        case p.PastPhaseDone(report):
            return PastPhaseShown(report)
        case p.Branches(ghosts, first_step, before_first):
            return BranchesChanged(ghosts, first_step, before_first)
        case p.Breakpoints(entries):
            return BreakpointsChanged(entries)
        case p.BreakHit(step, text):
            return BreakpointHit(step, text)
    return None


def snapshot_of(state: p.State, losses: tuple[float, ...]) -> Snapshot:
    """What the panes show of an engine state, with the whole loss history (transport details left behind)."""
    return Snapshot(
        step=state.step,
        steps=state.steps,
        running=state.running,
        until=state.until,
        engine=state.engine,
        steps_per_second=state.steps_per_second,
        speed_cap=state.speed_cap,
        report=state.report,
        losses=losses,
        grad_history=state.grad_history,
        node_history=state.node_history,
        engines=state.engines,
        commands=state.handled,
        phase=state.phase,
        marks=state.marks,
        schedule_note=state.schedule_note,
        next_lr=state.next_lr,
        base_lr=state.base_lr,
    )


def death_reason(exitcode: int | None, crash: str = "") -> str:
    """Why the engine process ended, in words: `the engine process was killed by signal 9 (SIGKILL)`."""
    if exitcode is None:
        reason = "the engine process stopped answering"
    elif exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        reason = f"the engine process was killed by signal {-exitcode} ({name})"
    elif exitcode == 0:
        reason = "the engine process ended without being asked to"
    else:
        reason = f"the engine process exited with status {exitcode}"
    return f"{reason}: {crash}" if crash else reason
