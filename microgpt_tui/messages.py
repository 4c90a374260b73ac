"""What the runner thread tells the app: small frozen messages, posted with `post_message` (never blocking).

A `Progress` carries a whole `Snapshot` of training (histories included), so a newer one can replace an older
one still waiting in the queue: the stream of training reports coalesces and nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from microgpt.report import BOS_LABEL, SampleToken, StepReport


@dataclass(frozen=True, eq=False)
class EngineFigures:
    """How big and how slow one graph mode's steps have been lately (smoothed over recent steps)."""

    engine: str  # "fused" or "atomic"
    nodes: float  # graph nodes per step
    nodes_per_position: float  # graph nodes per predicted position (fair across document lengths)
    seconds: float  # wall-clock seconds per step (forward, backward and update)


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
    losses: tuple[float, ...]  # the loss of every step so far, a resumed run's history included (see losses_from)
    grad_history: tuple[tuple[str, tuple[float, ...]], ...]  # matrix name -> recent gradient norms
    node_history: tuple[int, ...]  # graph node counts of recent steps
    engines: tuple[EngineFigures, ...]  # one entry per graph mode seen in this session
    commands: int = 0  # commands the runner had handled when it took this snapshot
    losses_from: int = 0  # the step index of losses[0]: the engine sends only the new losses, the runner joins them

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
class SampleStarted(Message):
    """A new sample began at this temperature; tokens follow as `SampleDrawn`."""

    sample_id: int
    temperature: float


@dataclass
class SampleDrawn(Message):
    """One more token of the sample `sample_id`."""

    sample_id: int
    token: SampleToken


@dataclass
class Saved(Message):
    """A checkpoint was written."""

    path: str
    step: int


@dataclass
class SaveFailed(Message):
    """A checkpoint could not be written; the previous file is intact."""

    reason: str


@dataclass
class Halted(Message):
    """Training paused by itself: a loss that is not finite, or an error in the engine."""

    reason: str


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

    @property
    def text(self) -> str:
        """The whole name."""
        return self.tokens[-1].text if self.tokens else ""


@dataclass
class SamplesDrawn(Message):
    """One or more samples drawn at once (`g`: one, `G`: a batch), oldest first."""

    samples: tuple[Sample, ...]


@dataclass
class EngineDied(Message):
    """The engine process ended without being asked to (killed, out of memory, crashed): why, as far as known."""

    reason: str  # e.g. "killed by signal 9 (SIGKILL)" or "exited with status 1"
