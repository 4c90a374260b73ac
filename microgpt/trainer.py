"""Training: one document per step, forward position by position, one backward, one Adam update, a report.

A step is taken unit by unit, and that is the only way the engine trains: `Trainer.begin_step()` returns a
`StepInProgress` whose `advance()` does exactly one unit of work, in the reference's order:

    document (pick it, tokenize, zero the grads) -> forward (one unit per position) -> loss (the mean)
    -> backward (unbroken pieces of the reference's own reverse order) -> update (Adam, the StepReport)

`Trainer.step()` is all the units of one step. Each unit returns a cheap `Phase`; `StepInProgress.detail()`
computes the full numbers of the last unit on demand (`PhaseReport`). `Trainer.probe(word)` runs the forward
pass of any word at the current weights and changes nothing.

Randomness follows the reference: one `random.Random(seed)` shuffles the documents, then draws every weight;
training draws nothing; sampling uses its own generator that starts as a copy of the first one right after
initialisation, so sampling never disturbs training and the final samples are the reference's.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from typing import Any

from microgpt import autograd as ag
from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.floats import softmax
from microgpt.model import MODES, Code, Forward, GraphMode, Matrix, Output, Params
from microgpt.optim import Adam, norm
from microgpt.report import (
    BOS_LABEL,
    Attention,
    BackwardDetail,
    DocumentDetail,
    ForwardDetail,
    GraphCensus,
    LossDetail,
    MatrixStats,
    ParamMove,
    Phase,
    PhaseReport,
    ProbeError,
    ProbeReport,
    SampleToken,
    StepReport,
    Timings,
    UpdateDetail,
)
from microgpt.sampling import generate, top_candidates
from microgpt.schedule import Schedule
from microgpt.source import source_span
from microgpt.state import TrainerState, capture, restore

ENGINES = tuple(MODES)
NO_GRAPH = GraphCensus(nodes=0, edges=0, depth=0, params=0, constants=0, by_op=(), by_stage=())


class TrainingComplete(RuntimeError):
    """Raised by step() once every step of the schedule has been taken."""


class TrainingDiverged(ArithmeticError):
    """A step whose numbers left the floats (a log of 0, an overflowing exp); the weights are as before it."""


class Trainer:
    """Owns the model, the optimiser, the random generators and the loss history of one run."""

    def __init__(self, dataset: Dataset, config: Config | None = None, engine: str = "fused") -> None:
        self.config = config = (config or Config()).validate()
        self.dataset = dataset
        self.engine = engine
        self.rng = random.Random(config.seed)
        docs = list(dataset.docs)
        self.rng.shuffle(docs)
        self.docs = tuple(docs)
        self.params = Params.init(config, dataset.vocab_size, self.rng)
        self.sample_rng = random.Random()
        self.sample_rng.setstate(self.rng.getstate())
        self.adam = Adam.zeros(self.params)
        self.step_count = 0
        self.losses: list[float] = []
        self.schedule = Schedule.plain(config.lr, config.steps)
        self.steps_begun = 0  # numbers the steps begun, so that only the one begun last can advance

    @property
    def engine(self) -> str:
        """Which graph the next step builds: "fused" or "atomic" (same numbers)."""
        return self._engine

    @engine.setter
    def engine(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {value!r}")
        self._engine = value

    @property
    def steps(self) -> int:
        """How many steps the run has: the schedule's length (the config's, unless extended)."""
        return self.schedule.steps

    @property
    def done(self) -> bool:
        """True once the whole schedule has been trained."""
        return self.step_count >= self.steps

    def extend(self, steps: int) -> None:
        """Make the run `steps` long from the next step on (ScheduleError unless steps > step_count)."""
        self.schedule = self.schedule.extend(steps, self.step_count + 1)

    def set_lr(self, lr: float) -> None:
        """Set the base learning rate from the next step on; the linear decay continues."""
        self.schedule = self.schedule.set_lr(lr, self.step_count + 1)

    def state(self) -> TrainerState:
        """Everything the next step depends on, frozen (see microgpt.state)."""
        return capture(self)

    def restore(self, state: TrainerState) -> None:
        """Go back (or forward) exactly to a captured state."""
        restore(self, state)

    @property
    def num_params(self) -> int:
        """Number of scalar parameters."""
        return self.params.count()

    @property
    def matrix_names(self) -> tuple[str, ...]:
        """Matrix names in the reference's order."""
        return tuple(self.params.names)

    def begin_step(self) -> StepInProgress:
        """Start the next step (nothing is computed yet); raises TrainingComplete when the schedule is over.

        A step begun earlier and not finished is abandoned: only the step begun last can advance.
        """
        if self.done:
            raise TrainingComplete(f"all {self.steps} steps are done")
        self.steps_begun += 1
        return StepInProgress(self)

    def abandon_step(self) -> None:
        """Make any step in progress unable to advance (for code that changes the state under it)."""
        self.steps_begun += 1

    def step(self) -> StepReport:
        """Take one whole training step and report it (TrainingDiverged if its numbers blow up)."""
        return self.begin_step().finish()

    def probe(self, word: str) -> ProbeReport:
        """The forward pass of `word` at the current weights, in the current graph mode; changes nothing.

        Raises ProbeError naming the characters of `word` that are not in the dataset's.
        """
        ds = self.dataset
        foreign = [ch for ch in dict.fromkeys(word) if ch not in ds.stoi]
        if foreign:
            names = ", ".join(f"\u201c{ch}\u201d" for ch in foreign)
            raise ProbeError(f"{names} {'is' if len(foreign) == 1 else 'are'} not in the dataset's characters")
        tokens = ds.encode(word)
        n = min(self.config.block_size, len(tokens) - 1)
        mode = MODES[self.engine]
        forward = mode.forward(self.params, self.config)
        try:
            outputs, losses = [], []
            for p in range(n):
                out, loss = forward_position(forward, tokens, p)
                outputs.append(out)
                losses.append(loss)
            loss_node = forward.mean_loss(losses)
        except (ArithmeticError, ValueError) as error:
            raise ProbeError(f"the forward pass of {word!r} left the range of floats ({error})") from error
        order = ag.topological_order(loss_node)
        inputs, targets = token_labels(ds, tokens, n)
        return ProbeReport(
            word=word,
            step=self.step_count,
            engine=mode.name,
            tokens=inputs,
            targets=targets,
            position_losses=tuple(float(x.data) for x in losses),
            loss=float(loss_node.data),
            attention=attention_triangle(outputs),
            graph=mode.census(order, (loss_node,)),
            positions=tuple(forward_detail(ds, tokens, p, outputs[p], losses[p]) for p in range(n)),
        )

    def sample(self, temperature: float = 0.5) -> Iterator[SampleToken]:
        """Generate one new document token by token from the current weights, with the sampling generator."""
        return generate(self.params, self.config, self.dataset, self.sample_rng, temperature)


class StepInProgress:
    """One training step taken unit by unit: `advance()` does exactly one unit and returns its `Phase`.

    The constructor computes nothing and changes nothing; the document unit picks the document and zeroes the
    gradients. If a forward, loss or backward unit blows up, `advance()` raises TrainingDiverged and the step is
    dead; the weights, Adam's moments and the step count are as they were before the step.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.number = trainer.step_count + 1
        self.mode: GraphMode = MODES[trainer.engine]
        self.phase: Phase | None = None  # the last completed unit
        self.report: StepReport | None = None  # once the update is done
        self.doc = ""
        self.tokens: list[int] = []
        self.n = 0  # positions to forward
        self.forward: Forward | None = None
        self.outputs: list[Output] = []
        self.position_losses: list[Any] = []
        self.loss_node: Any = None
        self.order: list[Any] = []  # the reference's walk from the loss (depth-first post-order)
        self.pieces: list[tuple[int, int, int]] = []  # (lo, hi, position): order[lo:hi], in backward order
        self.pieces_done = 0
        self.lr = 0.0
        self.census = NO_GRAPH
        self.t_forward = self.t_backward = self.t_update = 0.0
        self.ticket = trainer.steps_begun
        # the next unit, as a plain function: a bound method kept on self would make every step a cycle
        self._unit: Callable[[StepInProgress], Phase] = StepInProgress._document
        self._dead = ""  # why a unit blew up, once one has
        self._snapshot: dict[str, dict[str, Matrix]] = {}  # the update's before/after, for its detail
        self._forward_walk: tuple[set[Any], list[Any], int] = (set(), [], 0)  # for details: (seen, walk, losses)

    @property
    def finished(self) -> bool:
        """True once the update unit is done (the report is ready)."""
        return self.report is not None

    @property
    def pos(self) -> int:
        """Positions already forwarded."""
        return len(self.outputs)

    def advance(self) -> Phase:
        """Do exactly one unit of work and return its Phase (RuntimeError on a finished or abandoned step)."""
        if self.report is not None:
            raise RuntimeError(f"step {self.number} is finished: begin the next step")
        if self._dead:
            raise RuntimeError(f"step {self.number} diverged ({self._dead}): begin the next step")
        if self.trainer.steps_begun != self.ticket or self.trainer.step_count != self.number - 1:
            raise RuntimeError(f"step {self.number} was abandoned: another step was begun after it")
        unit = self._unit
        try:
            self.phase = phase = unit(self)
        except (ArithmeticError, ValueError) as error:  # math.log(0.0), math.exp(1000.0), 1 / 0.0, ...
            if unit is StepInProgress._update:  # the weights may have moved: not a clean divergence
                raise
            self._dead = str(error)
            raise TrainingDiverged(
                f"step {self.number} diverged ({error}): the loss left the range of floats; "
                f"the learning rate ({self.trainer.schedule.lr}) is probably too large"
            ) from error
        return phase

    def finish(self) -> StepReport:
        """Advance through every remaining unit; returns the step's report."""
        advance = self.advance
        while self.report is None:
            advance()
        return self.report

    # --- the units, in order ---

    def _document(self) -> Phase:
        """Pick the step's document, tokenize it, zero the gradients and start the graph."""
        t0 = time.perf_counter()
        trainer = self.trainer
        self.doc = trainer.docs[(self.number - 1) % len(trainer.docs)]
        self.tokens = trainer.dataset.encode(self.doc)
        self.n = min(trainer.config.block_size, len(self.tokens) - 1)
        trainer.params.zero_grad()
        self.forward = self.mode.forward(trainer.params, trainer.config)
        self._unit = StepInProgress._forward
        self.t_forward += time.perf_counter() - t0
        return Phase(self.number, "document", 0, 1, self.doc)

    def _forward(self) -> Phase:
        """Forward the next position, building its part of the graph and its loss."""
        t0 = time.perf_counter()
        p = len(self.outputs)
        assert self.forward is not None
        out, loss = forward_position(self.forward, self.tokens, p)
        self.outputs.append(out)
        self.position_losses.append(loss)
        if p + 1 == self.n:
            self._unit = StepInProgress._loss
        self.t_forward += time.perf_counter() - t0
        return Phase(self.number, "forward", p, self.n, self.doc, p)

    def _loss(self) -> Phase:
        """The mean of the position losses: the step's loss."""
        t0 = time.perf_counter()
        assert self.forward is not None
        self.loss_node = self.forward.mean_loss(self.position_losses)
        self._unit = StepInProgress._backward
        self.t_forward += time.perf_counter() - t0
        return Phase(self.number, "loss", 0, 1, self.doc)

    def _backward(self) -> Phase:
        """The next piece of the backward pass (the first piece walks the graph from the loss first)."""
        t0 = time.perf_counter()
        if not self.pieces:
            self.order = ag.topological_order(self.loss_node)
            self.pieces = backward_pieces(self.order, self.position_losses, self.mode.split_stages)
            self.loss_node.grad = 1
        i = self.pieces_done
        lo, hi, position = self.pieces[i]
        nodes = self.order[lo:hi]
        self.mode.backprop(nodes)
        self.pieces_done = i + 1
        if self.pieces_done == len(self.pieces):
            assert self.forward is not None
            self.forward.collect_grads(self.trainer.params)
            self._unit = StepInProgress._update
        self.t_backward += time.perf_counter() - t0
        layer = self.mode.layer_of(nodes) if self.trainer.config.n_layer > 1 else None  # (one layer: it says nothing)
        return Phase(self.number, "backward", i, len(self.pieces), self.doc, position, stages_of(nodes), layer)

    def _update(self) -> Phase:
        """Adam moves the weights; the loss is recorded and the step's report made."""
        trainer = self.trainer
        params = trainer.params
        t0 = time.perf_counter()
        grad_norms = {name: norm(g) for name, g in params.grad.items()}
        before = {name: norm(w) for name, w in params.data.items()}
        self._snapshot = {"before": {name: list(w) for name, w in params.data.items()}}
        self.lr = trainer.schedule.lr_at(self.number)
        moved = trainer.adam.update(params, trainer.config, self.number, self.lr)
        self._snapshot.update(after={name: list(w) for name, w in params.data.items()}, grad=dict(params.grad),
                              m=dict(trainer.adam.m), v=dict(trainer.adam.v))
        self.t_update = time.perf_counter() - t0
        loss = float(self.loss_node.data)
        trainer.step_count = self.number
        trainer.losses.append(loss)
        matrices = tuple(
            MatrixStats(name, grad_norms[name], norm(w), moved[name] / before[name] if before[name] else 0.0)
            for name, w in params.data.items()
        )
        tokens, targets = token_labels(trainer.dataset, self.tokens, self.n)
        self.report = StepReport(
            step=self.number,
            steps=trainer.steps,
            loss=loss,
            lr=self.lr,
            engine=self.mode.name,
            doc=self.doc,
            tokens=tokens,
            targets=targets,
            position_losses=tuple(float(x.data) for x in self.position_losses),
            graph=self._whole_census(),
            matrices=matrices,
            attention=attention_triangle(self.outputs),
            timings=Timings(self.t_forward, self.t_backward, self.t_update),
        )
        return Phase(self.number, "update", 0, 1, self.doc)

    # --- the numbers of the last unit, on demand ---

    def detail(self) -> PhaseReport:
        """The full numbers of the last completed unit and of the step so far (costly: only when shown)."""
        phase = self.phase
        if phase is None:
            raise RuntimeError(f"step {self.number} has not begun: advance it first")
        trainer = self.trainer
        ds = trainer.dataset
        tokens, targets = token_labels(ds, self.tokens, self.n)
        kind = phase.kind
        graph = NO_GRAPH
        if kind == "forward":
            graph = self._census_so_far()
        elif kind == "loss":  # the walk is the backward's work: walk a copy here
            graph = self.mode.census(ag.topological_order(self.loss_node), (self.loss_node,))
        elif kind in ("backward", "update"):
            graph = self._whole_census()
        if self.report is not None:
            grads = self._snapshot["grad"]
        elif self.forward is not None:
            grads = self.forward.grads(trainer.params)
        else:
            grads = trainer.params.grad
        detail: Any
        source: list[Code]
        if kind == "document":
            detail = DocumentDetail((self.number - 1) % len(trainer.docs), self.doc, tuple(self.tokens), self.n)
            source = [(StepInProgress._document, None), (Dataset.encode, None)]
        elif kind == "forward":
            p = phase.index
            detail = forward_detail(ds, self.tokens, p, self.outputs[p], self.position_losses[p])
            source = list(self.mode.forward_source)
        elif kind == "loss":
            losses = tuple(float(x.data) for x in self.position_losses)
            detail = LossDetail(losses, len(losses), float(self.loss_node.data))
            source = list(self.mode.loss_source)
        elif kind == "backward":
            detail, source = self._backward_detail(phase)
        else:
            detail = self._update_detail()
            source = [(Adam.update, "adam")]
        return PhaseReport(
            phase=phase,
            doc=self.doc,
            engine=self.mode.name,
            lr=trainer.schedule.lr_at(self.number),
            steps=trainer.steps,
            tokens=tokens,
            targets=targets,
            position_losses=tuple(float(x.data) for x in self.position_losses),
            attention=attention_triangle(self.outputs),
            graph=graph,
            grad_norms=tuple((name, norm(g)) for name, g in grads.items()),
            matrices=self.report.matrices if self.report else (),
            detail=detail,
            source=tuple(source_span(fn, part) for fn, part in source),
        )

    def _whole_census(self) -> GraphCensus:
        """The census of the step's whole graph, the walk from the loss (counted once, when first asked)."""
        if self.census is NO_GRAPH:
            self.census = self.mode.census(self.order, (self.loss_node,))
        return self.census

    def _census_so_far(self) -> GraphCensus:
        """The graph reachable from the position losses built so far, walked as the loss's walk meets them.

        Each position's walk goes on from where the last one stopped (kept for the next call: what an earlier
        position built never changes), so stepping through the forward pass walks the graph once in all.
        """
        seen, order, walked = self._forward_walk
        for loss in self.position_losses[walked:]:
            order += ag.topological_order(loss, seen)
        self._forward_walk = (seen, order, len(self.position_losses))
        return self.mode.census(order, self.position_losses)

    def _backward_detail(self, phase: Phase) -> tuple[BackwardDetail, list[Code]]:
        """The nodes of the last backward piece, and the code that ran them."""
        lo, hi, position = self.pieces[phase.index]
        nodes = self.order[lo:hi][::-1]  # in the order they were processed
        counts = Counter(map(attrgetter("kind"), nodes))
        by_kind: Counter[tuple[str, str]] = Counter()
        for kind, count in counts.items():
            by_kind[kind.op, kind.stage] += count
        done = sum(h - lo_ for lo_, h, _ in self.pieces[:phase.index + 1])
        source: list[Code] = [(self.mode.backprop, None)]
        for cls in dict.fromkeys(type(node) for node in nodes):
            step = getattr(cls, "backward_step", None)
            if step is not None:
                source.append((step, None))
        detail = BackwardDetail(position, phase.stages, tuple((op, st, c) for (op, st), c in by_kind.items()),
                                done, len(self.order) - done, phase.layer)
        return detail, source

    def _update_detail(self) -> UpdateDetail:
        """Per matrix, the parameter the update moved most, with everything Adam computed for it."""
        config = self.trainer.config
        snap = self._snapshot
        d1, d2 = 1 - config.beta1 ** self.number, 1 - config.beta2 ** self.number
        moves = []
        for name, before in snap["before"].items():
            after = snap["after"][name]
            change, r, c = max((abs(a - b), r, c) for r, (row_b, row_a) in enumerate(zip(before, after))
                               for c, (b, a) in enumerate(zip(row_b, row_a)))
            m, v = snap["m"][name][r][c], snap["v"][name][r][c]
            moves.append(ParamMove(name, r, c, snap["grad"][name][r][c], m, v, m / d1, v / d2,
                                   before[r][c], after[r][c]))
        largest = max(moves, key=lambda mv: abs(mv.change)).matrix
        return UpdateDetail(self.lr, tuple(moves), largest)


def forward_position(forward: Forward, tokens: Sequence[int], p: int) -> tuple[Output, Any]:
    """Position p's forward pass and its loss -log p(target)."""
    out = forward(tokens[p], p)
    return out, forward.position_loss(out.logits, tokens[p + 1])


def backward_pieces(order: Sequence[Any], losses: Sequence[Any], split_stages: bool) -> list[tuple[int, int, int]]:
    """Cut the reference's walk into the pieces the backward pass runs, in the order it runs them.

    The walk from the loss meets the position losses in order, each followed by the nodes only it reaches: so
    position p's nodes lie between the loss of p - 1 and its own (the last position's run on to the root).
    Backward runs the walk from its end: position n - 1 first. With `split_stages`, a position's piece is cut
    again wherever the model stage changes. Returns (lo, hi, position): order[lo:hi] is one piece.
    """
    ends = []
    start = 0
    for loss in losses:
        start = order.index(loss, start) + 1
        ends.append(start)
    ends[-1] = len(order)
    pieces = []
    for p in range(len(losses) - 1, -1, -1):
        lo, hi = (ends[p - 1] if p else 0), ends[p]
        if not split_stages:
            pieces.append((lo, hi, p))
            continue
        while hi > lo:
            stage = order[hi - 1].stage
            cut = hi - 1
            while cut > lo and order[cut - 1].stage == stage:
                cut -= 1
            pieces.append((cut, hi, p))
            hi = cut
    return pieces


def stages_of(nodes: Sequence[Any]) -> tuple[str, ...]:
    """The model stages of a stretch of the walk, in the order the backward pass meets them (leaves aside)."""
    kinds = dict.fromkeys(map(attrgetter("kind"), reversed(nodes)))
    return tuple(dict.fromkeys(kind.stage for kind in kinds if kind.stage != "params"))  # leaves do nothing


def token_labels(dataset: Dataset, tokens: Sequence[int], n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The inputs and the targets of n positions as labels (BOS as BOS_LABEL)."""
    labels = [BOS_LABEL if t == dataset.bos else dataset.uchars[t] for t in tokens[:n + 1]]
    return tuple(labels[:n]), tuple(labels[1:n + 1])


def forward_detail(dataset: Dataset, tokens: Sequence[int], p: int, out: Output, loss: Any) -> ForwardDetail:
    """The numbers of position p's forward pass: attention scores and weights, the prediction and its loss."""
    probs = softmax(out.logit_data)  # the same float operations as the loss's p(target)
    target = tokens[p + 1]
    inputs, targets = token_labels(dataset, tokens[p:p + 2], 1)
    return ForwardDetail(
        position=p,
        input=inputs[0],
        target=targets[0],
        scores=tuple(tuple(tuple(head) for head in layer) for layer in out.scores),
        weights=tuple(tuple(tuple(head) for head in layer) for layer in out.attention),
        top=top_candidates(probs, dataset),
        p_target=probs[target],
        loss=float(loss.data),
    )


def attention_triangle(outputs: list[Output]) -> Attention:
    """[layer][head][query][key] from the per-position outputs."""
    if not outputs:
        return ()
    n_layer = len(outputs[0].attention)
    n_head = len(outputs[0].attention[0])
    return tuple(
        tuple(tuple(tuple(out.attention[li][h]) for out in outputs) for h in range(n_head))
        for li in range(n_layer)
    )
