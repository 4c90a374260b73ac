"""What the runner's reader thread tells the app: small messages, posted with `post_message` (never blocking).

A `Progress` carries a whole `Snapshot` of training (histories included), so a newer one can replace an older
one still waiting in the queue: the stream of training reports coalesces and nothing is lost. The plain values
that cross the process boundary (`Sample`, `EngineFigures`) are defined in protocol.py and re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from microgpt.history import Ghost
from microgpt.report import BOS_LABEL, Phase, PhaseReport, ProbeReport, SampleToken, StepReport
from microgpt_tui.protocol import EngineFigures, Sample

__all__ = ["EngineFigures", "Sample"]  # plain values from the protocol, re-exported for the widgets


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything the panes show about training at one moment; plain values, safe to keep on the UI thread."""

    step: int  # steps completed
    steps: int  # the schedule's length
    running: bool  # training continuously (False: paused, or finished)
    engine: str  # the graph mode the next step uses
    steps_per_second: float | None  # measured while running; None when paused
    speed_cap: float | None  # steps per second the runner will not exceed; None for unlimited
    report: StepReport | None  # the latest step (None before the first step of this session)
    losses: tuple[float, ...]  # the loss of every step so far, a resumed run's history included
    grad_history: tuple[tuple[str, tuple[float, ...]], ...]  # matrix name -> recent gradient norms
    node_history: tuple[int, ...]  # graph node counts of recent steps
    engines: tuple[EngineFigures, ...]  # one entry per graph mode seen in this session
    commands: int = 0  # requests the engine had handled when it took this snapshot
    until: int | None = None  # the step at which running pauses by itself ("run to step"), if any
    phase: Phase | None = None  # the last unit done of the step in progress (None between steps)
    marks: tuple[int, ...] = ()  # steps from which the schedule changed
    schedule_note: str | None = None  # "differs from the reference from step K" once the schedule changed
    next_lr: float = 0.0  # the learning rate of the next step (the one in progress, if any)
    base_lr: float = 0.0  # the base learning rate of the steps to come (what "Set learning rate…" offers)
    probe: str | None = None  # the probed word whose forward pass `report` is (None: training's numbers)

    @property
    def finished(self) -> bool:
        """True when every step of the schedule is done."""
        return self.step >= self.steps


@dataclass(frozen=True, eq=False)
class SampleState:
    """A sample as far as it has been shown: its tokens so far, in order."""

    sample_id: int
    temperature: float  # the temperature it was drawn at
    tokens: tuple[SampleToken, ...] = ()

    @property
    def finished(self) -> bool:
        """True once the last token (BOS, or a full block) has arrived."""
        return bool(self.tokens) and self.tokens[-1].is_end

    @property
    def text(self) -> str:
        """The name so far."""
        return self.tokens[-1].text if self.tokens else ""

    def attention(self, layer: int, head: int) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
        """Input labels and attention rows of one head: row p holds the weights of position p over 0..p."""
        labels = tuple(BOS_LABEL if t.position == 0 else self.tokens[t.position - 1].char for t in self.tokens)
        rows = tuple(t.attention[layer][head] for t in self.tokens)
        return labels, rows


@dataclass
class Progress(Message):
    """Training moved on (or its state changed): the latest snapshot."""

    snapshot: Snapshot

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot holds everything an older one does."""
        return isinstance(message, Progress)


@dataclass
class Computing(Message):
    """A step is taking a while (the status line says so, counting on from `elapsed`, until it is done)."""

    step: int
    elapsed: float = 0.0


@dataclass
class PhaseShown(Message):
    """The numbers of the last unit done of the step in progress (after `.`, or when paused mid-step)."""

    report: PhaseReport


@dataclass
class ProbeShown(Message):
    """A probed word's forward pass at the weights of `report.step` (the live ones, or a past step's)."""

    report: ProbeReport


@dataclass
class Refused(Message):
    """The engine could not do what was asked (`what`: "probe", "extend", "phase" ...); `reason` is one line."""

    what: str
    reason: str


@dataclass
class Notice(Message):
    """Something to read once, e.g. what extending the schedule changed."""

    title: str
    text: str


@dataclass
class Saved(Message):
    """A checkpoint was written (mid_step: the step after `step` was in progress and is not in it)."""

    path: str
    step: int
    mid_step: bool = False


@dataclass
class SaveFailed(Message):
    """A checkpoint could not be written; the previous file is intact."""

    reason: str


@dataclass
class Halted(Message):
    """Training paused by itself: a loss that is not finite, or an error in the engine."""

    reason: str


@dataclass
class SamplesDrawn(Message):
    """One or more samples drawn at once (`g`: one, `G`: a batch), oldest first."""

    samples: tuple[Sample, ...]


@dataclass
class EngineDied(Message):
    """The engine process ended without being asked to (killed, out of memory, crashed): why, as far as known."""

    reason: str  # e.g. "killed by signal 9 (SIGKILL)" or "exited with status 1"


# -- time travel (issue 9) ------------------------------------------------------------------------------------


@dataclass
class PastShown(Message):
    """A past step's whole report, replayed exactly, and the recent gradient norms and graph sizes up to it."""

    report: StepReport
    grad_history: tuple[tuple[str, tuple[float, ...]], ...] = ()
    node_history: tuple[int, ...] = ()


@dataclass
class PastPhaseShown(Message):
    """The numbers of the last unit done of a past step replayed phase by phase."""

    report: PhaseReport


@dataclass
class BranchesChanged(Message):
    """The run's ghosts (steps that branches took back) and the first step its history can show."""

    ghosts: tuple[Ghost, ...]
    first_step: int
    before_first: str = ""  # why the steps before it cannot be shown


@dataclass
class BreakpointsChanged(Message):
    """The breakpoint list as the engine watches it: (condition, enabled)."""

    entries: tuple[tuple[str, bool], ...]


@dataclass
class BreakpointHit(Message):
    """Training paused at a breakpoint; `text` says which, at what step and value."""

    step: int
    text: str
