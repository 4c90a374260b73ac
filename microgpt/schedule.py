"""The learning-rate schedule of one run: the reference's linear decay, and every change made to it since.

A schedule is a list of segments recorded from the start. A segment says: from step `start` on, step s uses

    lr_t = lr * (1 - (s - 1) / steps)

which for the first segment, the config's (lr, steps), is the reference's decay with its exact float operations.
Two changes add a segment from the next step on:

    extend(N)   the schedule becomes N steps long; the decay continues as in an N-step run
    set_lr(X)   the base learning rate becomes X; the decay continues over the same length

The schedule can say in words what its changes did, and from which step the run differs from a plain run of the
configuration (the status line's "differs from the reference from step K": the first step whose rate is not the
configured run's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ScheduleError(ValueError):
    """A schedule change or a recorded schedule that cannot be used; str() is one line."""


@dataclass(frozen=True)
class Segment:
    """From step `start` on: a linear decay of `lr` to 0 over `steps` steps (counted from step 1)."""

    start: int  # the first step this segment governs (1-based)
    lr: float  # the base learning rate: lr_t at step 1 of a run with this decay
    steps: int  # the length of the decay; lr_t reaches 0 after step `steps`

    def lr_at(self, step: int) -> float:
        """lr * (1 - (step - 1) / steps): the reference's operations, in its order."""
        return self.lr * (1 - (step - 1) / self.steps)


@dataclass(frozen=True)
class Schedule:
    """The segments of a run's learning rate, first to last; the last one governs the steps to come."""

    segments: tuple[Segment, ...]

    @classmethod
    def plain(cls, lr: float, steps: int) -> Schedule:
        """The reference's schedule: one decay of `lr` over `steps` steps."""
        return cls((Segment(1, lr, steps),))

    @property
    def steps(self) -> int:
        """How many steps the run has: the length of the last segment's decay."""
        return self.segments[-1].steps

    @property
    def lr(self) -> float:
        """The base learning rate of the steps to come."""
        return self.segments[-1].lr

    @property
    def changed(self) -> bool:
        """True once the schedule is no longer one plain decay."""
        return len(self.segments) > 1

    def segment_at(self, step: int) -> Segment:
        """The segment that governs 1-based step `step`."""
        for segment in reversed(self.segments):
            if segment.start <= step:
                return segment
        return self.segments[0]

    def lr_at(self, step: int) -> float:
        """The learning rate of 1-based step `step`."""
        return self.segment_at(step).lr_at(step)

    def extend(self, steps: int, at: int) -> Schedule:
        """Make the run `steps` long from step `at` on (the steps before `at` keep their rates)."""
        if steps < at:
            raise ScheduleError(f"a schedule of {steps} steps ends before step {at}; give more than {at - 1}")
        return self._change(Segment(at, self.lr, steps))

    def set_lr(self, lr: float, at: int) -> Schedule:
        """Set the base learning rate to `lr` from step `at` on, the linear decay continuing over the same length."""
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0 or lr == float("inf"):
            raise ScheduleError(f"the learning rate must be a positive number, got {lr!r}")
        return self._change(Segment(at, float(lr), self.steps))

    def _change(self, new: Segment) -> Schedule:
        """Append `new`; a change at the step where the last change starts replaces that change.

        The first segment, the config's, is always kept: a change before step 1 follows it and governs from step 1.
        """
        last = self.segments[-1]
        if (new.lr, new.steps) == (last.lr, last.steps):
            return self
        if new.start < last.start:
            raise ScheduleError(f"cannot change the schedule at step {new.start}: it was changed at step "
                                f"{last.start}")
        kept = self.segments[:-1] if new.start == last.start and len(self.segments) > 1 else self.segments
        if (kept[-1].lr, kept[-1].steps) == (new.lr, new.steps):
            return Schedule(kept)  # the change undoes the last one before it governed a step
        return Schedule((*kept, new))

    # --- comparison with a plain run, in words ---

    def first_difference(self, lr: float | None = None, steps: int | None = None) -> int | None:
        """The first step whose rate differs from a plain run of (lr, steps), or None if there is none.

        The plain run defaults to the first segment's rate over this schedule's length: the run as configured.
        Only the steps both runs have are compared.
        """
        first = self.segments[0]
        plain = Segment(1, first.lr if lr is None else lr, self.steps if steps is None else steps)
        end = min(self.steps, plain.steps)
        for i, segment in enumerate(self.segments):
            stop = min(end, self.segments[i + 1].start - 1 if i + 1 < len(self.segments) else end)
            if (segment.lr, segment.steps) == (plain.lr, plain.steps):
                continue
            for s in range(segment.start, stop + 1):
                if segment.lr_at(s) != plain.lr_at(s):
                    return s
        return None

    def first_change(self) -> int | None:
        """The first step whose rate differs from the run as configured (the decay that governs step 1), or None.

        A step past the configured run's end differs from it: that run has no such step. So a 20-step run extended
        to 40 at step 21 first differs at step 21, not at step 2 (where a plain 40-step run would first differ).
        """
        first = self.segment_at(1)
        step = self.first_difference(first.lr, first.steps)
        if step is None and self.steps > first.steps:
            return first.steps + 1
        return step

    def status(self) -> str | None:
        """For a status line: "differs from the reference from step K", or None while the run is the configured one.

        The reference is the run as configured: K is the first step whose learning rate is not that run's.
        """
        step = self.first_change()
        return None if step is None else f"differs from the reference from step {step}"

    def describe(self) -> str:
        """The schedule's segments and their effect in words, e.g. for a 1000-step run extended to 2000:

        steps 1-1000 used a 1000-step schedule and steps 1001-2000 a 2000-step one; the learning rate jumps
        from 1.0e-05 to 5.0e-03 at step 1001; this run matches neither a 1000- nor a 2000-step run
        """
        segments = [s for i, s in enumerate(self.segments)
                    if i + 1 == len(self.segments) or self.segments[i + 1].start > s.start]  # those that govern
        first = self.segments[0]
        if len(segments) == 1 and not self.changed:
            return f"a plain {first.steps}-step schedule from learning rate {first.lr:.1e}"
        show_lr = len({s.lr for s in segments}) > 1 or segments[0].lr != first.lr
        show_steps = len({s.steps for s in segments}) > 1 or segments[0].steps != first.steps or not show_lr
        parts = []
        for i, segment in enumerate(segments):
            end = segments[i + 1].start - 1 if i + 1 < len(segments) else self.steps
            what = []
            if show_steps:
                what.append(f"{_article(segment.steps)} {segment.steps}-step schedule" if i == 0
                            else f"{_article(segment.steps)} {segment.steps}-step one")
            if show_lr:
                what.append(f"base learning rate {segment.lr:.1e}")
            span = f"step {segment.start}" if end == segment.start else f"steps {segment.start}-{end}"
            parts.append(f"{span} {'used ' if i == 0 else ''}{' at '.join(what)}")
        sentence = [parts[0] + "".join(f"{' and ' if i == len(parts) - 1 else ', '}{p}"
                                       for i, p in enumerate(parts[1:], 1))]
        for before, after in zip(segments, segments[1:]):
            s = after.start
            old, new = before.lr_at(s - 1), after.lr_at(s)
            verb = "jumps" if new > old else "drops" if new < old else "stays"
            sentence.append(f"the learning rate {verb} from {old:.1e} to {new:.1e} at step {s}" if verb != "stays"
                            else f"the learning rate stays at {new:.1e} at step {s}")
        sentence.append(self.matching())
        return "; ".join(sentence)

    def matching(self) -> str:
        """Whether this run is a plain run of the configured learning rate, in words."""
        first = self.segments[0]
        step = self.first_difference()
        if step is None:
            return f"this run matches a plain {self.steps}-step run"
        if first.steps == self.steps:
            return f"this run differs from a plain {self.steps}-step run from step {step}"
        return (f"this run matches neither {_article(first.steps)} {first.steps}- nor "
                f"{_article(self.steps)} {self.steps}-step run")

    # --- as JSON ---

    def to_json(self) -> list[list[Any]]:
        """[[start, lr, steps], ...]: floats by repr, exact."""
        return [[s.start, s.lr, s.steps] for s in self.segments]

    @classmethod
    def from_json(cls, value: Any) -> Schedule:
        """The inverse of to_json, checked (ScheduleError saying what is wrong)."""
        if not isinstance(value, list) or not value:
            raise ScheduleError("schedule should be a non-empty list of [start, lr, steps]")
        segments = []
        for i, item in enumerate(value):
            if not (isinstance(item, list) and len(item) == 3):
                raise ScheduleError(f"schedule[{i}] should be [start, lr, steps]")
            start, lr, steps = item
            if any(isinstance(x, bool) or not isinstance(x, int) for x in (start, steps)) or start < 1 or steps < 1:
                raise ScheduleError(f"schedule[{i}] should have a whole start and length of at least 1")
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
                raise ScheduleError(f"schedule[{i}] has a learning rate that is not a positive number")
            segments.append(Segment(start, float(lr), steps))
        if segments[0].start != 1:
            raise ScheduleError("schedule[0] should start at step 1")
        for i in range(1, len(segments)):
            low = segments[i - 1].start + (0 if i == 1 else 1)  # a change before step 1 keeps the first
            if segments[i].start < low:
                raise ScheduleError(f"schedule[{i}] starts before the segment it follows")
        return cls(tuple(segments))


def _article(n: int) -> str:
    """'a' or 'an' before a number said in English (an 8-, an 11-, an 18000-step run)."""
    digits = str(n)
    eleven_or_eighteen = len(digits) % 3 == 2 and digits[:2] in ("11", "18")
    return "an" if digits[0] == "8" or eleven_or_eighteen else "a"
