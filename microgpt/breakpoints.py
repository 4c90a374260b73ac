"""Breakpoints: conditions on the steps of a run that stop training when they become true.

    watch = Watch(trainer, [parse("loss<2.0"), parse("spike")])
    report = trainer.step()
    for hit in watch.check(report):
        print(hit)          # breakpoint loss<2.0: step 179, loss 1.9982

The conditions (FORMS):
- `loss<X`, `loss>X`: the step's own loss (the number the reference prints);
- `smooth<X`, `smooth>X`: the smoothed loss, the debiased moving average the loss chart draws (microgpt.smoothing);
- `step=N`: step N; `every=N`: every Nth step;
- `spike`: the whole gradient's norm above three times its median over the 50 steps before, from step 51;
- `memorized` or `memorized=N`: every N steps (50 by default) a sample is drawn from the weights, with a generator
  of the breakpoint's own (seeded by the run's seed and the step, so the run and the sampler are untouched and a
  replay draws the same), and it is a document the run has already trained on.

A condition fires when it becomes true, not on every step it stays true (so training can run on after a hit);
`step=N` and `every=N` are moments and fire on each of their steps. A watch lists each condition once;
`never_fires` says when one cannot fire (a `step=N` already past or after the last step), for a note. A
non-finite loss is not a breakpoint: the engine loop always pauses on it.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from microgpt.history import Changes, History
from microgpt.report import SampleToken, StepReport
from microgpt.sampling import generate
from microgpt.seen import TRAINED, TrainingDocs
from microgpt.smoothing import smooth_step
from microgpt.trainer import Trainer

FORMS = "loss<X, loss>X, smooth<X, smooth>X, step=N, every=N, spike, memorized or memorized=N"
SPIKE_WINDOW = 50  # steps whose median gradient norm a spike is measured against
SPIKE_FACTOR = 3.0  # how many times that median a spike is
MEMORIZED_EVERY = 50  # default steps between two memorization samples
MEMORIZED_TEMPERATURE = 0.5  # the reference's sampling temperature

_LEVEL = re.compile(r"(loss|smooth)\s*([<>])\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_COUNT = re.compile(r"(step|every|memorized)\s*=\s*(\d+)")


class BreakpointError(ValueError):
    """A condition that cannot be parsed (str(): one line listing the accepted forms), or one already listed."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed condition."""

    text: str  # as written, without spaces: "loss<2.0"
    kind: str  # loss, smooth, step, every, spike, memorized
    op: str  # "<" or ">" for loss and smooth, "" otherwise
    value: float  # the threshold, step or period (0 for spike)

    @property
    def moment(self) -> bool:
        """True for step=N and every=N, which fire on each of their steps."""
        return self.kind in ("step", "every")

    @property
    def key(self) -> tuple[str, str, float]:
        """What it tests, whatever the spelling: `loss<2` and `loss < 2.0` are the same condition."""
        return self.kind, self.op, self.value


def parse(text: str) -> Condition:
    """A condition from its written form (BreakpointError listing the accepted forms otherwise)."""
    written = "".join(text.split())
    lowered = written.lower()
    if match := _LEVEL.fullmatch(lowered):
        kind, op, number = match.groups()
        value = float(number)
        if math.isfinite(value):
            return Condition(written, kind, op, value)
    elif match := _COUNT.fullmatch(lowered):
        kind, number = match.groups()
        if int(number) >= 1:
            return Condition(written, kind, "", float(int(number)))
    elif lowered == "spike":
        return Condition(written, "spike", "", 0.0)
    elif lowered == "memorized":
        return Condition(written, "memorized", "", float(MEMORIZED_EVERY))
    raise BreakpointError(f"cannot use {text!r} as a breakpoint; give one of {FORMS} "
                          "(X a number, N a whole number from 1)")


def never_fires(condition: Condition, step: int, last: int) -> str:
    """Why `condition` cannot fire in a run after step `step` whose schedule ends at step `last` (a note to say,
    not an error), or "" when it can: a step=N already past or after the last step, an every=N that first falls
    after it."""
    n = int(condition.value)
    if condition.kind == "step" and n <= step:
        return f"breakpoint {condition.text} is already past (the run is at step {step}): it will not fire"
    if condition.kind == "step" and n > last:
        return f"breakpoint {condition.text} is after the last step ({last}): it will not fire"
    if condition.kind == "every" and (step // n + 1) * n > last:
        return (f"breakpoint {condition.text} first falls on step {(step // n + 1) * n}, after the last step "
                f"({last}): it will not fire")
    return ""


@dataclass(frozen=True, slots=True)
class Hit:
    """A condition that fired: which, at what step, and what it measured."""

    condition: Condition
    step: int
    value: float | None  # the measured value (loss, smoothed loss, gradient norm), None for moments
    detail: str  # the measurement in words, after "step N, "
    sample: tuple[SampleToken, ...] = ()  # memorized: the sample that was a trained document, token by token

    def __str__(self) -> str:
        detail = f", {self.detail}" if self.detail else ""
        return f"breakpoint {self.condition.text}: step {self.step}{detail}"


@dataclass(slots=True)
class Entry:
    """A condition in a watch list, with whether it is on and its truth over the steps."""

    condition: Condition
    enabled: bool
    truth: Changes  # False/True from the step it was added


class Watch:
    """Checks a list of conditions after each step of one trainer's run."""

    def __init__(self, trainer: Trainer, conditions: Iterable[Condition] = (), history: History | None = None) -> None:
        self.trainer = trainer
        self.docs = TrainingDocs(trainer.docs)
        self.entries: list[Entry] = []
        self.averages = array("d")  # the smoothed loss's running average after each step since step 1
        self.finites = array("q")  # how many finite losses that average holds
        self.smooths = array("d")  # the smoothed loss after each step, as the loss chart draws it
        for loss in trainer.losses:
            self._smooth_on(loss)
        self.first_total = trainer.step_count + 1  # the step of totals[0]
        self.totals = array("d")  # the whole gradient's norm of each step from first_total
        if history is not None and history.end == trainer.step_count:
            self.first_total = history.start + 1
            self.totals.extend(history.record_at(s).grad_norm for s in range(history.start + 1, history.end + 1))
        self._sample: tuple[int, tuple[SampleToken, ...]] = (-1, ())  # the last memorization sample: (step, tokens)
        self.hits: list[Hit] = []  # what the last check found
        for condition in conditions:
            self.add(condition)

    def add(self, condition: Condition, enabled: bool = True) -> Entry:
        """Watch one more condition from the next step on (turned off unless `enabled`); one already true fires only
        once it becomes true again. A condition already listed is refused (BreakpointError)."""
        for entry in self.entries:
            if entry.condition.key == condition.key:
                listed = entry.condition.text
                raise BreakpointError(f"{condition.text} is already in the list"
                                      + (f" (as {listed})" if listed != condition.text else ""))
        k = self.trainer.step_count
        now = False
        if k and condition.kind in ("loss", "smooth"):
            value = self.trainer.losses[-1] if condition.kind == "loss" else self.smooth(k)
            now = value < condition.value if condition.op == "<" else value > condition.value
        elif k and condition.kind == "spike" and k - self.first_total >= 0:
            now = self._spike(k)[0]
        entry = Entry(condition, enabled, Changes(k, now))
        self.entries.append(entry)
        return entry

    def listed(self) -> list[tuple[Condition, bool]]:
        """The list as it stands: (condition, on) in order, what a new watch is given to watch the same."""
        return [(entry.condition, entry.enabled) for entry in self.entries]

    def remove(self, entry: Entry) -> None:
        """Stop watching a condition."""
        self.entries.remove(entry)

    def rewind(self, step: int) -> None:
        """Forget the steps after `step` (after History.rewind)."""
        del self.averages[step:]
        del self.finites[step:]
        del self.smooths[step:]
        del self.totals[max(0, step + 1 - self.first_total):]
        self.first_total = min(self.first_total, step + 1)
        for entry in self.entries:
            entry.truth.truncate(step)
        self._sample = (-1, ())

    def smooth(self, step: int) -> float:
        """The smoothed loss after step `step`, as the loss chart draws it."""
        return self.smooths[step - 1]

    def _smooth_on(self, loss: float) -> None:
        """The smoothed loss after one more step (microgpt.smoothing's rule, which the loss chart follows too)."""
        average, finite = (self.averages[-1], self.finites[-1]) if self.averages else (0.0, 0)
        average, finite, smoothed = smooth_step(average, finite, loss)
        self.averages.append(average)
        self.finites.append(finite)
        self.smooths.append(smoothed)

    def check(self, report: StepReport) -> list[Hit]:
        """The conditions that became true at this step (call it after every step, in order)."""
        k = report.step
        self._smooth_on(report.loss)
        self.totals.append(math.hypot(*(m.grad_norm for m in report.matrices)))
        hits = []
        for entry in self.entries:
            if not entry.enabled:
                continue
            before = entry.truth.at(k - 1)
            true, value, detail = self._evaluate(entry.condition, report, before)
            entry.truth.note(k, true)
            if true and (entry.condition.moment or not before):
                sample = self._sample[1] if entry.condition.kind == "memorized" else ()
                hits.append(Hit(entry.condition, k, value, detail, sample))
        self.hits = hits
        return hits

    def _evaluate(self, condition: Condition, report: StepReport, before: bool) -> tuple[bool, float | None, str]:
        """(true?, measured value, the measurement in words) of one condition at the step just taken."""
        k, x = report.step, condition.value
        if condition.kind in ("loss", "smooth"):
            value = report.loss if condition.kind == "loss" else self.smooth(k)
            true = value < x if condition.op == "<" else value > x
            return true, value, f"{'loss' if condition.kind == 'loss' else 'smoothed loss'} {value:.4f}"
        if condition.kind == "step":
            return k == x, None, ""
        if condition.kind == "every":
            return k % x == 0, None, ""
        if condition.kind == "spike":
            return self._spike(k)
        if k % int(x):
            return before, None, ""  # between two samples, what the last one showed stands
        return self._memorized(k)

    def _spike(self, k: int) -> tuple[bool, float | None, str]:
        """The whole gradient's norm against three times its median over the 50 steps before."""
        i = k - self.first_total  # index of step k in totals
        total = self.totals[i]
        if k <= SPIKE_WINDOW or i < SPIKE_WINDOW:
            return False, total, ""
        median = statistics.median(self.totals[i - SPIKE_WINDOW:i])
        true = total > SPIKE_FACTOR * median
        return true, total, (f"gradient norm {total:.4g}, {total / median:.1f}x the median {median:.4g} "
                             f"of the last {SPIKE_WINDOW} steps")

    def _memorized(self, k: int) -> tuple[bool, float | None, str]:
        """A sample from the weights after step k: is it a document already trained on?"""
        if self._sample[0] != k:
            self._sample = (k, memorization_draw(self.trainer, k))
        tokens = self._sample[1]
        text = tokens[-1].text if tokens else ""
        seen = self.docs.lookup(text, k)
        return seen.kind == TRAINED, None, f"sample \u201c{text}\u201d {seen}"


def memorization_draw(trainer: Trainer, step: int) -> tuple[SampleToken, ...]:
    """The sample the memorized breakpoint draws after `step`, token by token with its odds: its own generator,
    seeded by the run and the step."""
    rng = random.Random(f"microgpt memorized {trainer.config.seed} {step}")
    return tuple(generate(trainer.params, trainer.config, trainer.dataset, rng, MEMORIZED_TEMPERATURE))


def memorization_sample(trainer: Trainer, step: int) -> str:
    """The text of the sample the memorized breakpoint draws after `step`."""
    tokens = memorization_draw(trainer, step)
    return tokens[-1].text if tokens else ""
