"""Training: one document per step, forward position by position, one backward, one Adam update, a report.

A step can be taken whole (`Trainer.step()`) or phase by phase through `Trainer.begin_step()`, which returns a
`StepInProgress`: forward one position at a time, then the loss, the backward pass and the update.

Randomness follows the reference: one `random.Random(seed)` shuffles the documents, then draws every weight;
training draws nothing; sampling uses its own generator that starts as a copy of the first one right after
initialisation, so sampling never disturbs training and the final samples are the reference's.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from microgpt import autograd as ag
from microgpt import fused as fu
from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.model import AtomicForward, FusedForward, Output, Params
from microgpt.optim import Adam, norm
from microgpt.report import (
    BOS_LABEL,
    GraphCensus,
    MatrixStats,
    SampleToken,
    StepReport,
    Timings,
)
from microgpt.sampling import generate
from microgpt.schedule import Schedule
from microgpt.state import TrainerState, capture, restore

ENGINES = ("fused", "atomic")


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

    @property
    def engine(self) -> str:
        """Which graph the next step builds: "fused" or "atomic" (same numbers)."""
        return self._engine

    @engine.setter
    def engine(self, value: str) -> None:
        if value not in ENGINES:
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
        """Start the next step; raises TrainingComplete when the schedule is over."""
        if self.done:
            raise TrainingComplete(f"all {self.steps} steps are done")
        return StepInProgress(self)

    def step(self) -> StepReport:
        """Take one whole training step and report it (TrainingDiverged if its numbers blow up)."""
        return self.begin_step().run()

    def sample(self, temperature: float = 0.5) -> Iterator[SampleToken]:
        """Generate one new document token by token from the current weights, with the sampling generator."""
        return generate(self.params, self.config, self.dataset, self.sample_rng, temperature)


class StepInProgress:
    """One training step taken phase by phase: forward each position, loss, backward, update."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        config = trainer.config
        self.number = trainer.step_count + 1
        self.doc = trainer.docs[(self.number - 1) % len(trainer.docs)]
        self.tokens = trainer.dataset.encode(self.doc)
        self.n = min(config.block_size, len(self.tokens) - 1)
        self.engine = trainer.engine
        trainer.params.zero_grad()
        self.forward: AtomicForward | FusedForward
        if self.engine == "atomic":
            self.forward = AtomicForward(trainer.params, config)
        else:
            self.forward = FusedForward(trainer.params, config)
        self.outputs: list[Output] = []
        self.position_losses: list[Any] = []
        self.loss_node: Any = None
        self.order: list[Any] = []
        self.t_forward = self.t_backward = self.t_update = 0.0

    @property
    def pos(self) -> int:
        """Positions already forwarded."""
        return len(self.outputs)

    def forward_position(self) -> Output:
        """Forward the next position (building its part of the graph) and its loss."""
        t0 = time.perf_counter()
        p = self.pos
        out = self.forward(self.tokens[p], p)
        self.outputs.append(out)
        self.position_losses.append(self.forward.position_loss(out.logits, self.tokens[p + 1]))  # type: ignore[arg-type]
        self.t_forward += time.perf_counter() - t0
        return out

    def finish_forward(self) -> float:
        """Forward the remaining positions and average the losses; returns the loss."""
        while self.pos < self.n:
            self.forward_position()
        t0 = time.perf_counter()
        self.loss_node = self.forward.mean_loss(self.position_losses)
        self.t_forward += time.perf_counter() - t0
        return float(self.loss_node.data)

    def backward(self) -> None:
        """Backpropagate from the loss: every parameter's gradient, in the reference's order."""
        if self.loss_node is None:
            self.finish_forward()
        t0 = time.perf_counter()
        self.order = ag.backward(self.loss_node)
        if isinstance(self.forward, AtomicForward):
            self.forward.collect_grads(self.trainer.params)
        self.t_backward = time.perf_counter() - t0

    def update(self) -> StepReport:
        """Apply Adam, record the loss and return the step's report."""
        if not self.order:
            self.backward()
        trainer = self.trainer
        params = trainer.params
        t0 = time.perf_counter()
        grad_norms = {name: norm(g) for name, g in params.grad.items()}
        before = {name: norm(w) for name, w in params.data.items()}
        lr_t = trainer.schedule.lr_at(self.number)
        moved = trainer.adam.update(params, trainer.config, self.number, lr_t)
        self.t_update = time.perf_counter() - t0
        loss = float(self.loss_node.data)
        trainer.step_count = self.number
        trainer.losses.append(loss)
        matrices = tuple(
            MatrixStats(name, grad_norms[name], norm(w), moved[name] / before[name] if before[name] else 0.0)
            for name, w in params.data.items()
        )
        ds = trainer.dataset
        labels = [BOS_LABEL if t == ds.bos else ds.uchars[t] for t in self.tokens]
        census = ag.atomic_census(self.order) if self.engine == "atomic" else fused_census(self.order)
        return StepReport(
            step=self.number,
            steps=trainer.steps,
            loss=loss,
            lr=lr_t,
            engine=self.engine,
            doc=self.doc,
            tokens=tuple(labels[: self.n]),
            targets=tuple(labels[1: self.n + 1]),
            position_losses=tuple(float(x.data) for x in self.position_losses),
            graph=census,
            matrices=matrices,
            attention=attention_triangle(self.outputs),
            timings=Timings(self.t_forward, self.t_backward, self.t_update),
        )

    def run(self) -> StepReport:
        """All phases. A step that fails in the forward or backward pass leaves the weights untouched."""
        try:
            self.finish_forward()
            self.backward()
        except (ArithmeticError, ValueError) as error:  # math.log(0.0), math.exp(1000.0), 1 / 0.0, ...
            raise TrainingDiverged(
                f"step {self.number} diverged ({error}): the loss left the range of floats; "
                f"the learning rate ({self.trainer.schedule.lr}) is probably too large"
            ) from error
        return self.update()


def attention_triangle(outputs: list[Output]) -> tuple[tuple[tuple[tuple[float, ...], ...], ...], ...]:
    """[layer][head][query][key] from the per-position outputs."""
    if not outputs:
        return ()
    n_layer = len(outputs[0].attention)
    n_head = len(outputs[0].attention[0])
    return tuple(
        tuple(tuple(tuple(out.attention[li][h]) for out in outputs) for h in range(n_head))
        for li in range(n_layer)
    )


def fused_census(order: list[fu.Node]) -> GraphCensus:
    """Count a fused graph: its op nodes plus every parameter scalar they read, and the edges to both."""
    whole: dict[str, int] = {}
    rows: dict[tuple[str, int], int] = {}
    edges = 0
    height: dict[int, int] = {}
    for node in order:  # children before parents
        reads = node.params_read()
        below = 1 if reads else 0  # a parameter leaf under this node
        for c in node.children:
            below = max(below, height[id(c)])
        height[id(node)] = below + 1
        edges += len(node.children)
        for name, row, count in reads:
            edges += count
            if row is None:
                whole[name] = count
            else:
                rows[name, row] = count
    params = sum(whole.values()) + sum(n for (name, _), n in rows.items() if name not in whole)
    by_op = Counter(node.op for node in order)
    by_op["param"] = params
    by_stage = Counter(node.stage for node in order)
    by_stage["params"] = params
    return GraphCensus(
        nodes=len(order) + params,
        edges=edges,
        depth=height[id(order[-1])] if order else 0,
        params=params,
        constants=0,
        by_op=tuple(by_op.most_common()),
        by_stage=tuple((s, by_stage[s]) for s in ag.STAGES if by_stage[s]),
    )
