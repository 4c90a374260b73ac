"""What the app and the engine process say to each other: plain frozen dataclasses, pickled down two pipes.

Requests go from the app to the engine (`Run`, `Step`, `Draw`, `Save` ...); records come back (`State`,
`Samples`, `SavedTo` ...). Nothing here imports Textual: the engine process imports this module and nothing of
the UI. The app's `Runner` (runner.py) turns records into Textual messages (messages.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from microgpt.history import Ghost
from microgpt.report import Phase, PhaseReport, ProbeReport, SampleToken, StepReport

NOT_COMPUTED = -1.0
"""A gradient norm, weight norm or update ratio not computed yet (before the update, or after a resume without the
step's record): shown as `—`. Real ones are never negative, and a real NaN (a diverged run) stays NaN."""

# -- requests: app -> engine ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Train continuously."""


@dataclass(frozen=True)
class Pause:
    """Stop after the step in progress."""


@dataclass(frozen=True)
class Step:
    """Pause, then take `count` more steps (requests add up)."""

    count: int


@dataclass(frozen=True)
class NextPhase:
    """Pause, then do one more unit of the step in progress (beginning one if none is): `.` (requests add up)."""


@dataclass(frozen=True)
class RunUntil:
    """Train, and pause once step `step` is done."""

    step: int


@dataclass(frozen=True)
class Speed:
    """Cap the steps per second (None: unlimited)."""

    cap: float | None


@dataclass(frozen=True)
class SetEngine:
    """Build the next steps' graphs in this mode ("fused" or "atomic")."""

    engine: str


@dataclass(frozen=True)
class Draw:
    """Draw `count` new names from the current weights at this temperature."""

    temperature: float
    count: int = 1


@dataclass(frozen=True)
class Save:
    """Write a checkpoint to this path."""

    path: str


@dataclass(frozen=True)
class Extend:
    """Make the run `steps` long from the next step on (the schedule records the change)."""

    steps: int


@dataclass(frozen=True)
class Probe:
    """The forward pass of `word` at the current weights: not trained on, nothing changed."""

    word: str


@dataclass(frozen=True)
class Restart:
    """Start the run again from step 0: the same dataset, configuration, seed and graph mode."""


@dataclass(frozen=True)
class Stop:
    """End the engine."""


# -- time travel requests: history, branches, breakpoints (issue 9) --------------------------------------------


@dataclass(frozen=True)
class Seek:
    """Show step `step` again: its whole report, replayed exactly from the history (a `Past` follows)."""

    step: int


@dataclass(frozen=True)
class PastPhase:
    """One more unit of past step `step`, replayed phase by phase (a `PastPhaseDone` follows): `.` in history."""

    step: int


@dataclass(frozen=True)
class Branch:
    """Train again from step `step`: the run goes back to it, the steps after it become a ghost (`Branched`)."""

    step: int


@dataclass(frozen=True)
class SetLr:
    """Set the base learning rate from the next step on (the linear decay continues from there)."""

    lr: float


def step_in_progress(step: int) -> str:
    """Why `SetLr` is refused while step `step` is in progress (it has its own rate): the engine's reason, which
    the app gives too, before asking for a rate."""
    return f"step {step} is in progress: finish it first (n)"


@dataclass(frozen=True)
class DrawAt:
    """Draw `count` names from the weights after past step `step`, with the sampler's own generator."""

    temperature: float
    count: int
    step: int


@dataclass(frozen=True)
class ProbeAt:
    """The forward pass of `word` at the weights after past step `step`: not trained on, nothing changed."""

    word: str
    step: int


@dataclass(frozen=True)
class AddBreak:
    """Watch one more breakpoint condition (written as `microgpt train --break` takes it)."""

    text: str


@dataclass(frozen=True)
class ToggleBreak:
    """Turn breakpoint `index` (in the list's order) off, or on again."""

    index: int


@dataclass(frozen=True)
class RemoveBreak:
    """Stop watching breakpoint `index`."""

    index: int


TimeRequest = Seek | PastPhase | Branch | SetLr | DrawAt | ProbeAt | AddBreak | ToggleBreak | RemoveBreak


Request = (Run | Pause | Step | NextPhase | RunUntil | Speed | SetEngine | Draw | Save | Extend | Probe | Restart | Stop
           | TimeRequest)


# -- records: engine -> app -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EngineFigures:
    """How big and how slow one graph mode's steps have been lately (smoothed over recent steps)."""

    engine: str  # "fused" or "atomic"
    nodes: float  # graph nodes per step
    nodes_per_position: float  # graph nodes per predicted position (fair across document lengths)
    seconds: float  # wall-clock seconds per step (forward, backward and update); nan: no step of it was timed


@dataclass(frozen=True, eq=False)
class State:
    """The engine's state after a change: the latest step and the new losses since the previous `State`."""

    step: int  # steps completed
    steps: int  # the schedule's length
    running: bool  # training continuously (False: paused, or finished)
    until: int | None  # the step at which running pauses by itself (RunUntil), if any
    engine: str  # the graph mode the next step uses
    steps_per_second: float | None  # measured while running; None when paused
    speed_cap: float | None  # steps per second the engine will not exceed; None for unlimited
    report: StepReport | None  # the latest step (None before the first step of this engine's run)
    new_losses: tuple[float, ...]  # the losses of steps losses_from+1 .. step (each loss is sent once)
    losses_from: int  # how many losses came before new_losses (0 after a restart: the history starts again)
    grad_history: tuple[tuple[str, tuple[float, ...]], ...]  # matrix name -> recent gradient norms
    node_history: tuple[int, ...]  # graph node counts of recent steps
    engines: tuple[EngineFigures, ...]  # one entry per graph mode seen in this run
    handled: int  # requests applied so far
    phase: Phase | None = None  # the last unit done of the step in progress (None between steps)
    marks: tuple[int, ...] = ()  # steps from which the schedule changed (extended, new learning rate)
    schedule_note: str | None = None  # "differs from the reference from step K" once the schedule changed
    next_lr: float = 0.0  # the learning rate of the next step (the one in progress, if any)
    base_lr: float = 0.0  # the base learning rate of the steps to come (the schedule's latest)


@dataclass(frozen=True, eq=False)
class PhaseDone:
    """The numbers of the last unit done of the step in progress (sent for `.` and when paused mid-step)."""

    report: PhaseReport


@dataclass(frozen=True, eq=False)
class Probed:
    """A probe's forward pass."""

    report: ProbeReport


@dataclass(frozen=True)
class Refused:
    """A request that could not be done (a word with characters the dataset lacks, a schedule too short ...)."""

    what: str  # e.g. "probe", "extend"
    reason: str  # one line


@dataclass(frozen=True, eq=False)
class Computing:
    """A step is taking a while: the app says so (and counts on from `elapsed`) until the next `State`."""

    step: int  # the step being computed (1-based)
    elapsed: float = 0.0  # seconds it has taken so far


@dataclass(frozen=True, eq=False)
class Sample:
    """One drawn name, whole: the step whose weights drew it, the temperature, and every token with its odds.

    The engine draws a sample at once; the sampler pane reveals it letter by letter (presentation pacing is the
    pane's, not the engine's).
    """

    sample_id: int  # counts up over the session; a batch's samples have consecutive ids
    step: int  # steps completed when it was drawn (the weights after that step)
    temperature: float
    tokens: tuple[SampleToken, ...]
    batch: int = 0  # the id of the first sample of the same draw (`G`: ten share it); 0: drawn alone

    @property
    def draw(self) -> int:
        """Which draw it belongs to: the id of the draw's first sample (its own when drawn alone)."""
        return self.batch or self.sample_id

    @property
    def text(self) -> str:
        """The whole name."""
        return self.tokens[-1].text if self.tokens else ""


@dataclass(frozen=True, eq=False)
class Samples:
    """Names drawn for one `Draw` request, oldest first."""

    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class SavedTo:
    """A checkpoint of step `step` was written to `path` (mid_step: step+1 was in progress and is not in it)."""

    path: str
    step: int
    mid_step: bool = False


@dataclass(frozen=True)
class Notice:
    """Something the user should read once, e.g. what extending the schedule changed."""

    title: str
    text: str


@dataclass(frozen=True)
class SaveError:
    """A checkpoint could not be written (the previous file is intact); `reason` is one line."""

    reason: str


@dataclass(frozen=True)
class Halt:
    """Training paused by itself: a loss that is not finite, or an error in a step."""

    reason: str


@dataclass(frozen=True)
class Crash:
    """The engine loop itself failed and the process is about to exit: the error, in one line."""

    reason: str


# -- time travel records (issue 9) -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Past:
    """A past step's whole report, replayed exactly (timings are the recorded ones), and the recent gradient norms
    and graph sizes up to it (from the step records), for the sparklines."""

    report: StepReport
    grad_history: tuple[tuple[str, tuple[float, ...]], ...] = ()
    node_history: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class PastPhaseDone:
    """The numbers of the last unit done of a past step replayed phase by phase."""

    report: PhaseReport


@dataclass(frozen=True, eq=False)
class Branches:
    """The run's ghosts: the losses of the steps that branches took back, oldest branch first."""

    ghosts: tuple[Ghost, ...]
    first_step: int  # the first step the history can show (1, or the step a run without history resumed at + 1)
    before_first: str = ""  # why the steps before `first_step` cannot be shown ("" when it is 1)


@dataclass(frozen=True)
class Breakpoints:
    """The breakpoint list as it stands: (condition, enabled) in the order they were added."""

    entries: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class BreakHit:
    """Training paused at a breakpoint: `text` says which, at what step and value (`breakpoint loss<2.0: step
    179, loss 1.9982`)."""

    step: int
    text: str


TimeRecord = Past | PastPhaseDone | Branches | Breakpoints | BreakHit


Record = (State | Computing | PhaseDone | Probed | Refused | Samples | SavedTo | SaveError | Notice | Halt | Crash
          | TimeRecord)
