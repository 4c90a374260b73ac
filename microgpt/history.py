"""A run's history: a compact record of every step, and any past step recomputed exactly by replaying it.

    history = History(trainer)              # before the first step (or right after a resume)
    report = trainer.step(); history.record(report)
    history.record_at(40)                   # loss, lr, document, per-position losses, matrix norms, graph size
    history.replay(40)                      # step 40's whole StepReport, attention and graph census included
    history.phases(40)                      # a StepInProgress positioned before step 40, to take it phase by phase
    history.rewind(trainer, 40)             # the run as it stood after step 40; the lost steps become a Ghost

What is kept:
- **Records**, one per step, in array columns (never a dict per step): loss, learning rate, graph mode, the
  per-position losses, each matrix's gradient norm, weight norm and update ratio, the graph's nodes, edges and
  depth, and the phase timings; the document is not stored: it is `docs[(step - 1) % len(docs)]`. About 350
  bytes a step for the default model. The attention is not kept: at 8 bytes a weight it would cost more than the
  rest of a record, and a replay gives it exactly.
- **States** (snapshots): the weights and both Adam moments of a `TrainerState` (microgpt.state), packed doubles
  (100,608 bytes for the default model: 3 x 4,192 floats), with the training generator's state (shared between
  states while it is unchanged, which is always: training draws nothing). The rest of a TrainerState changes
  rarely or is in the records: the sampling generator (it moves only when someone samples) and the schedule (it
  changes with set_lr and extend) are kept as short lists of changes, `(step, value)`; the losses are a column.

The state policy: a state after every `interval` steps, `interval` starting at MIN_INTERVAL (4); whenever the
states would exceed their budget (SNAPSHOT_BUDGET, 80 MiB: 833 default states) the interval doubles and
every state that is not on the new interval is dropped (the history's first state always stays). The states are
thus always evenly spaced and use between half and all of their budget: a 1,000-step default run keeps 251 states
(24 MiB, a state every 4 steps, next to 0.3 MiB of records); a 100,000-step run ends with a state every 128 steps
(782 states, 75 MiB) next to 33 MiB of records: about 110 MiB in all, and the process's memory grows by the
peak, about 80 + 33 + 12 MiB of scratch (benchmarks/history_speed.py measures both). The budget is the smallest
that still gives a state every 128 steps at 100,000 steps: a larger one would only raise the peak.
A jump to step k restores the nearest state before it and replays the steps in between in fused mode (at most
interval - 1 of them), then step k in its own graph mode: at most 4 steps' work in a 1,000-step run, at most 128
in a 100,000-step one. The states computed on the way are kept until a jump goes to another segment between two
stored states (at most interval - 1 of them, 12 MiB at interval 128), so moving the shown step by one costs one
step, not a segment. Recording a step costs a few array appends, and a state capture every `interval` steps (a
few per cent of a fused step each; the benchmark measures the mean cost per step).

Exactness: a replayed step performs exactly the float operations of the original one, from exactly its inputs
(the weights, the moments and the step number), so its report equals the original bit for bit, except the wall
clock timings, which are the recorded ones.

Saved with a checkpoint (`to_json` / `from_json`; `save_checkpoint(trainer, path, history)`): every record, the
ghosts, the lists of changes and as many states as FILE_SNAPSHOT_BUDGET allows (the coarsest even spacing that
fits in 8 MiB of base64: every 32nd step of a 1,000-step run, a 5 MB checkpoint). A resumed run replays from
those and, as it trains on, stores states at its interval again (`resumed_history`: a damaged one gives a new
history from the resumed step, and the sentence that says so).
"""

from __future__ import annotations

import base64
import bisect
import math
import random
import sys
from array import array
from dataclasses import dataclass, replace
from typing import Any

from microgpt.report import MatrixStats, StepReport, Timings
from microgpt.schedule import Schedule
from microgpt.state import Matrices, RandomState, TrainerState
from microgpt.trainer import ENGINES, StepInProgress, Trainer

MIN_INTERVAL = 4  # steps between states at the start of a run
SNAPSHOT_BUDGET = 80 * 2**20  # bytes of states kept in memory
FILE_SNAPSHOT_BUDGET = 8 * 2**20  # bytes of states written into a checkpoint (as base64)
FORMAT = "microgpt-history"
VERSION = 1



class HistoryError(ValueError):
    """A step the history cannot give, or a saved history that cannot be read; str() is one line."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What the history keeps of one step without replaying it."""

    step: int
    loss: float
    lr: float
    engine: str
    doc: str
    position_losses: tuple[float, ...]
    matrices: tuple[MatrixStats, ...]  # in the reference's parameter order
    nodes: int
    edges: int
    depth: int
    timings: Timings

    @property
    def grad_norm(self) -> float:
        """L2 norm of the whole gradient (over every matrix)."""
        return math.hypot(*(m.grad_norm for m in self.matrices))


@dataclass(frozen=True, slots=True)
class Ghost:
    """The losses of steps that a rewind took back: steps start + 1, start + 2, ... of the abandoned branch."""

    start: int
    losses: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class State:
    """The part of a TrainerState that a history stores for a step: weights, Adam's moments, training generator.

    The rest of a TrainerState is rebuilt when it is restored: the losses from the records, the sampling
    generator and the schedule from their lists of changes (they change between steps only when someone samples
    or changes the schedule, so keeping them in every state would waste the budget).
    """

    step: int
    params: Matrices
    adam_m: Matrices
    adam_v: Matrices
    rng: RandomState  # the training generator (shared between states while equal: training draws nothing)

    @classmethod
    def of(cls, trainer: Trainer) -> State:
        """The state of a trainer between two steps: the parts of trainer.state() a history keeps, packed alike."""
        return cls(trainer.step_count, Matrices.pack(trainer.params.data), Matrices.pack(trainer.adam.m),
                   Matrices.pack(trainer.adam.v), trainer.rng.getstate())

    @property
    def nbytes(self) -> int:
        """Bytes of floats held."""
        return len(self.params.data) + len(self.adam_m.data) + len(self.adam_v.data)


class Changes:
    """Something that changes now and then between steps, as (step, value): the value after that step."""

    def __init__(self, step: int, value: Any) -> None:
        self.steps = [step]
        self.values = [value]

    def note(self, step: int, value: Any) -> None:
        """Record `value` as standing after step `step` if it differs from the last one."""
        if value != self.values[-1]:
            self.steps.append(step)
            self.values.append(value)

    def at(self, step: int) -> Any:
        """The value as it stood after step `step` (and whatever happened before the next one)."""
        return self.values[max(0, bisect.bisect_right(self.steps, step) - 1)]

    def truncate(self, step: int) -> None:
        """Forget the changes after step `step` (the first value always stays)."""
        keep = max(1, bisect.bisect_right(self.steps, step))
        del self.steps[keep:], self.values[keep:]


class History:
    """Every step of one run since `start`: records, evenly spaced states, ghosts of abandoned branches."""

    def __init__(self, trainer: Trainer, snapshot_budget: int = SNAPSHOT_BUDGET,
                 min_interval: int = MIN_INTERVAL) -> None:
        self.trainer = trainer
        self.start = trainer.step_count  # records cover steps start + 1 .. end
        self.matrix_names = trainer.matrix_names
        self.snapshot_budget = snapshot_budget
        self.interval = min_interval
        self.losses = array("d")
        self.lrs = array("d")
        self.engines = array("b")
        self.position_ends = array("q")  # where each step's per-position losses end in `position_losses`
        self.position_losses = array("d")
        self.matrix_stats = array("d")  # per step, per matrix: grad norm, weight norm, update ratio
        self.nodes = array("q")
        self.edges = array("q")
        self.depths = array("q")
        self.timings = array("d")  # per step: forward, backward, update seconds
        self.ghosts: list[Ghost] = []
        self.earlier_losses = tuple(trainer.losses)  # the losses of the steps before `start`
        self.sample_rng = Changes(self.start, trainer.sample_rng.getstate())
        self.schedule = Changes(self.start, trainer.schedule)
        self._states: dict[int, State] = {}
        self._state_steps: list[int] = []  # sorted keys of _states
        self._scratch: dict[int, State] = {}  # states computed by the last replays, within one segment
        self._scratch_base = -1  # the stored state that segment starts from
        self._replayer: Trainer | None = None
        self.lost = ""  # why the steps up to `start` cannot be shown, when a saved history could not be read
        self._keep(State.of(trainer))

    # -- recording ------------------------------------------------------------------------------------------

    @property
    def end(self) -> int:
        """The last recorded step (start when nothing is recorded yet)."""
        return self.start + len(self.losses)

    def record(self, report: StepReport) -> None:
        """Keep the step the trainer has just taken (call it right after each step, in order)."""
        trainer = self.trainer
        if report.step != self.end + 1 or trainer.step_count != report.step:
            raise HistoryError(f"step {report.step} cannot follow step {self.end} in this history "
                               f"(the trainer is at step {trainer.step_count})")
        self.sample_rng.note(report.step - 1, trainer.sample_rng.getstate())  # samples drawn before this step
        self.schedule.note(report.step - 1, trainer.schedule)  # a change (set_lr, extend) made before it
        self.losses.append(report.loss)
        self.lrs.append(report.lr)
        self.engines.append(ENGINES.index(report.engine))
        self.position_losses.extend(report.position_losses)
        self.position_ends.append(len(self.position_losses))
        for m in report.matrices:
            self.matrix_stats.fromlist([m.grad_norm, m.param_norm, m.update_ratio])
        self.nodes.append(report.graph.nodes)
        self.edges.append(report.graph.edges)
        self.depths.append(report.graph.depth)
        t = report.timings
        self.timings.fromlist([t.forward, t.backward, t.update])
        if report.step % self.interval == 0:
            self._keep(State.of(trainer))

    def _keep(self, state: State) -> None:
        """Store a state, sharing what equals the previous one's (shapes, generator), then thin to budget."""
        if self._state_steps:
            last = self._states[self._state_steps[-1]]
            shapes = last.params.shapes
            state = State(state.step, replace(state.params, shapes=shapes), replace(state.adam_m, shapes=shapes),
                          replace(state.adam_v, shapes=shapes), last.rng if last.rng == state.rng else state.rng)
        if state.step not in self._states:
            bisect.insort(self._state_steps, state.step)
        self._states[state.step] = state
        capacity = max(2, self.snapshot_budget // max(1, state.nbytes))
        while len(self._states) > capacity:
            self.interval *= 2
            kept = [s for s in self._state_steps if s % self.interval == 0 or s == self.start]
            self._states = {s: self._states[s] for s in kept}
            self._state_steps = kept

    # -- reading --------------------------------------------------------------------------------------------

    def _index(self, step: int) -> int:
        """The column index of a recorded step (HistoryError when it is not recorded)."""
        if not self.start < step <= self.end:
            if 0 < step <= self.start:
                how = "with a damaged history" if self.lost else "without a history"
                raise HistoryError(f"step {step} is before this history starts (it begins after step "
                                   f"{self.start}, where the run was resumed {how})")
            raise HistoryError(f"step {step} is not in the history: it holds steps {self.start + 1} to {self.end}")
        return step - self.start - 1

    def engine_at(self, step: int) -> str:
        """The graph mode step `step` was taken in."""
        return ENGINES[self.engines[self._index(step)]]

    def doc_at(self, step: int) -> str:
        """The document step `step` trained on."""
        docs = self.trainer.docs
        return docs[(step - 1) % len(docs)]

    def record_at(self, step: int) -> StepRecord:
        """The stored numbers of one step (no replay)."""
        i = self._index(step)
        names = self.matrix_names
        stats = self.matrix_stats[3 * len(names) * i: 3 * len(names) * (i + 1)]
        begin = self.position_ends[i - 1] if i else 0
        return StepRecord(
            step=step,
            loss=self.losses[i],
            lr=self.lrs[i],
            engine=ENGINES[self.engines[i]],
            doc=self.doc_at(step),
            position_losses=tuple(self.position_losses[begin:self.position_ends[i]]),
            matrices=tuple(MatrixStats(name, *stats[3 * j: 3 * j + 3]) for j, name in enumerate(names)),
            nodes=self.nodes[i],
            edges=self.edges[i],
            depth=self.depths[i],
            timings=Timings(*self.timings[3 * i: 3 * i + 3]),
        )

    def matrix_series(self, name: str, first: int, last: int, field: int = 0) -> list[float]:
        """One matrix's grad norm (field 0), weight norm (1) or update ratio (2) for steps first..last."""
        j = self.matrix_names.index(name)
        width = 3 * len(self.matrix_names)
        a, b = self._index(first), self._index(last)
        return self.matrix_stats[a * width + 3 * j + field: (b + 1) * width: width].tolist()

    @property
    def states(self) -> tuple[int, ...]:
        """The steps after which a state is stored."""
        return tuple(self._state_steps)

    def memory(self) -> dict[str, int]:
        """Bytes held, by kind: records (columns and ghosts), stored states, scratch states, generator states."""
        columns = (self.losses, self.lrs, self.engines, self.position_ends, self.position_losses,
                   self.matrix_stats, self.nodes, self.edges, self.depths, self.timings)
        rngs = {id(s.rng): s.rng for s in self._states.values()} | {id(s): s for s in self.sample_rng.values}
        return {
            "records": sum(len(c) * c.itemsize for c in columns)
            + sum(32 * len(g.losses) for g in self.ghosts),  # a ghost's losses: a tuple of floats
            "states": sum(s.nbytes for s in self._states.values()),
            "scratch": sum(s.nbytes for s in self._scratch.values()),
            "generators": sum(sys.getsizeof(s[1]) + sum(map(sys.getsizeof, s[1])) for s in rngs.values()),
        }

    def nbytes(self) -> int:
        """Bytes held in all."""
        return sum(self.memory().values())

    # -- replaying ------------------------------------------------------------------------------------------

    def full_state(self, state: State) -> TrainerState:
        """A stored state made whole again: the losses, sampling generator and schedule of its step."""
        k = state.step
        losses = self.earlier_losses + tuple(self.losses[:k - self.start])
        return TrainerState(k, state.params, state.adam_m, state.adam_v, state.rng, self.sample_rng.at(k),
                            losses, self.schedule.at(k))

    def _replay_trainer(self) -> Trainer:
        """A second trainer of the same run, used for replays (the live one is never touched)."""
        if self._replayer is None:
            live = self.trainer
            self._replayer = Trainer(live.dataset, live.config, "fused")
            self._replayer.docs = live.docs
        return self._replayer

    def state_at(self, step: int) -> State:
        """The state after step `step` (start <= step <= end), replayed from the nearest stored one if needed."""
        if step != self.start:
            self._index(step)
        found = self._states.get(step) or self._scratch.get(step)
        if found is not None:
            return found
        self._advance_to(step)
        return self._scratch[step]

    def _advance_to(self, step: int) -> Trainer:
        """The replay trainer holding the state after `step`, from the nearest stored or scratch state."""
        base = self._state_steps[bisect.bisect_right(self._state_steps, step) - 1]
        if base != self._scratch_base:
            self._scratch, self._scratch_base = {}, base
        known = max((s for s in self._scratch if s <= step), default=base)
        trainer = self._replay_trainer()
        trainer.restore(self.full_state(self._states[known] if known == base else self._scratch[known]))
        trainer.engine = "fused"
        for j in range(known + 1, step + 1):
            trainer.schedule = self.schedule.at(j - 1)  # the schedule as it stood when step j was taken
            trainer.step()
            self._scratch[j] = State.of(trainer)
        return trainer

    def _take(self, step: int) -> tuple[Trainer, int]:
        """The replay trainer just before step `step`, in that step's graph mode and schedule."""
        i = self._index(step)
        trainer = self._advance_to(step - 1)
        trainer.engine = ENGINES[self.engines[i]]
        trainer.schedule = self.schedule.at(step - 1)
        return trainer, i

    def replay(self, step: int) -> StepReport:
        """Step `step`'s full report, recomputed exactly (in its own graph mode); timings are the recorded ones."""
        trainer, i = self._take(step)
        report = trainer.step()
        if step not in self._states:
            self._scratch[step] = State.of(trainer)
        return replace(report, timings=Timings(*self.timings[3 * i: 3 * i + 3]))

    def phases(self, step: int) -> StepInProgress:
        """Step `step` not yet taken, to be taken phase by phase on the replay trainer (valid until the next call)."""
        return self._take(step)[0].begin_step()

    # -- branching ------------------------------------------------------------------------------------------

    def rewind(self, trainer: Trainer, step: int) -> Ghost | None:
        """Put `trainer` back to the run as it stood after step `step`; the later steps become a ghost.

        Weights, Adam moments, both generators, the loss list and the schedule are those of that moment, so
        training on with nothing changed gives the same steps again, bit for bit. Returns the ghost (None when
        nothing was undone).
        """
        if step == self.end:
            return None
        state = self.state_at(step)
        i = step - self.start
        ghost = Ghost(step, tuple(self.losses[i:]))
        trainer.restore(self.full_state(state))
        for column, width in ((self.losses, 1), (self.lrs, 1), (self.engines, 1), (self.position_ends, 1),
                              (self.matrix_stats, 3 * len(self.matrix_names)), (self.nodes, 1), (self.edges, 1),
                              (self.depths, 1), (self.timings, 3)):
            del column[i * width:]
        del self.position_losses[self.position_ends[-1] if i else 0:]
        self._states = {s: st for s, st in self._states.items() if s <= step}
        self._state_steps = [s for s in self._state_steps if s <= step]
        self._scratch = {s: st for s, st in self._scratch.items() if s <= step}
        self.sample_rng.truncate(step)
        self.schedule.truncate(step)
        self.ghosts.append(ghost)
        self.trainer = trainer
        self._keep(state)
        return ghost

    # -- saving ---------------------------------------------------------------------------------------------

    def to_json(self, snapshot_budget: int = FILE_SNAPSHOT_BUDGET) -> dict[str, Any]:
        """The history as JSON-able values (arrays as base64 of little-endian bytes: exact and compact)."""
        steps = self._state_steps
        per_state = 4 * self._states[steps[0]].nbytes // 3 + 1  # base64
        interval = self.interval
        chosen = steps
        while len(chosen) > max(1, snapshot_budget // per_state):
            interval *= 2
            chosen = [s for s in steps if s % interval == 0 or s == self.start]
        rngs: list[RandomState] = []
        for s in chosen:
            if not any(r is self._states[s].rng for r in rngs):
                rngs.append(self._states[s].rng)
        return {
            "format": FORMAT,
            "version": VERSION,
            "start": self.start,
            "end": self.end,
            "interval": self.interval,
            "matrices": list(self.matrix_names),
            "columns": {name: _encode(getattr(self, name)) for name in COLUMNS},
            "states": [{"step": s, "rng": next(j for j, r in enumerate(rngs) if r is self._states[s].rng),
                        **{part: _encode_bytes(getattr(self._states[s], part).data) for part in PARTS}}
                       for s in chosen],
            "rngs": [_rng_to_json(r) for r in rngs],
            "sample_rng": [[s, _rng_to_json(st)] for s, st in zip(self.sample_rng.steps, self.sample_rng.values)],
            "schedule": [[s, sc.to_json()] for s, sc in zip(self.schedule.steps, self.schedule.values)],
            "ghosts": [{"start": g.start, "losses": _encode(array("d", g.losses))} for g in self.ghosts],
        }

    @classmethod
    def from_json(cls, obj: Any, trainer: Trainer, snapshot_budget: int = SNAPSHOT_BUDGET) -> History:
        """The history saved by to_json, for `trainer` restored from the same checkpoint (HistoryError if not)."""
        try:
            return cls._from_json(obj, trainer, snapshot_budget)
        except HistoryError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError):
            raise HistoryError("the saved history is damaged") from None  # which Python error helps no one

    @classmethod
    def _from_json(cls, obj: Any, trainer: Trainer, snapshot_budget: int) -> History:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise HistoryError("the saved history is not a microgpt history")
        if obj["version"] != VERSION:
            raise HistoryError(f"the saved history has version {obj['version']}; this microgpt reads {VERSION}")
        if obj["end"] != trainer.step_count:
            raise HistoryError(f"the saved history ends at step {obj['end']}, the run is at step "
                               f"{trainer.step_count}")
        if list(obj["matrices"]) != list(trainer.matrix_names):
            raise HistoryError("the saved history is of a model with other matrices")
        history = cls(trainer, snapshot_budget)
        start = int(obj["start"])
        if not 0 <= start <= trainer.step_count:
            raise HistoryError(f"the saved history starts at step {start}, after the run's step")
        history.start = start
        history.interval = int(obj["interval"])
        history.earlier_losses = tuple(trainer.losses[:start])
        for name, typecode in COLUMNS.items():
            setattr(history, name, _decode(obj["columns"][name], typecode))
        width = {"matrix_stats": 3 * len(history.matrix_names), "timings": 3}
        n = obj["end"] - start
        for name in COLUMNS:
            if name != "position_losses" and len(getattr(history, name)) != n * width.get(name, 1):
                raise HistoryError(f"the saved history's {name} column has the wrong length")
        ends = history.position_ends
        if any(b < a for a, b in zip(ends, ends[1:])) or (n and ends[-1] != len(history.position_losses)):
            raise HistoryError("the saved history's per-position losses do not add up")
        if history.losses.tobytes() != array("d", trainer.losses[start:]).tobytes():
            raise HistoryError("the saved history's losses are not the run's")
        rngs = [_rng_from_json(r) for r in obj["rngs"]]
        live = history._states[trainer.step_count]
        shapes = live.params.shapes
        history._states, history._state_steps = {}, []
        for item in obj["states"]:
            parts = [Matrices(shapes, _decode_bytes(item[part])) for part in PARTS]
            if any(len(p.data) != len(live.params.data) for p in parts) or not start <= item["step"] <= n + start:
                raise HistoryError("a saved state does not fit this model or this run")
            history._keep(State(int(item["step"]), parts[0], parts[1], parts[2], rngs[item["rng"]]))
        history._keep(live)
        if start not in history._states:
            raise HistoryError(f"the saved history has no state at its start (step {start})")
        history.sample_rng = _changes([(s, _rng_from_json(st)) for s, st in obj["sample_rng"]])
        history.schedule = _changes([(s, Schedule.from_json(sc)) for s, sc in obj["schedule"]])
        history.ghosts = [Ghost(int(g["start"]), tuple(_decode(g["losses"], "d"))) for g in obj["ghosts"]]
        return history


def resumed_history(saved: Any, trainer: Trainer) -> History | None:
    """The history a checkpoint holds (`Checkpoint.history`), for the trainer restored from it; None when it holds
    none. One that cannot be read gives a new history from the trainer's step, its `lost` saying so in plain
    words (for the app's notice and the terminal)."""
    if saved is None:
        return None
    try:
        return History.from_json(saved, trainer)
    except HistoryError as error:
        history = History(trainer)
        k = trainer.step_count
        history.lost = f"{error}, so the steps up to {k} cannot be shown; training carries on from step {k}"
        return history


COLUMNS = {"losses": "d", "lrs": "d", "engines": "b", "position_ends": "q", "position_losses": "d",
           "matrix_stats": "d", "nodes": "q", "edges": "q", "depths": "q", "timings": "d"}
PARTS = ("params", "adam_m", "adam_v")


def _changes(items: list[tuple[int, Any]]) -> Changes:
    """A Changes list from its saved (step, value) pairs, in order."""
    changes = Changes(*items[0])
    for step, value in items[1:]:
        if step < changes.steps[-1]:
            raise HistoryError("the saved history's changes are out of order")
        changes.steps.append(step)
        changes.values.append(value)
    return changes


def _encode_bytes(data: bytes) -> str:
    """Packed little-endian doubles as base64 (Matrices hold native-order doubles)."""
    if sys.byteorder == "big":
        values = array("d")
        values.frombytes(data)
        return _encode(values)
    return base64.b64encode(data).decode("ascii")


def _decode_bytes(text: str) -> bytes:
    """The inverse of _encode_bytes."""
    return _decode(text, "d").tobytes()


def _encode(values: array[Any]) -> str:
    """An array as base64 of its little-endian bytes."""
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _decode(text: str, typecode: str) -> array[Any]:
    """The inverse of _encode."""
    values = array(typecode)
    values.frombytes(base64.b64decode(text.encode("ascii"), validate=True))
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _rng_to_json(state: RandomState) -> list[Any]:
    """random.Random.getstate() as JSON: [version, base64 of its 625 words, gauss_next]."""
    version, internal, gauss_next = state
    return [version, _encode(array("Q", internal)), gauss_next]


def _rng_from_json(value: list[Any]) -> RandomState:
    """The inverse of _rng_to_json, checked by a scratch generator."""
    version, internal, gauss_next = value
    state: RandomState = (version, tuple(_decode(internal, "Q")), None if gauss_next is None else float(gauss_next))
    try:
        random.Random().setstate(state)
    except (ValueError, TypeError, OverflowError):
        raise HistoryError("a saved generator state is damaged") from None
    return state

