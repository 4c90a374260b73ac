"""A trainer's state between two steps, frozen: everything the next step depends on, to capture and restore exactly.

    state = trainer.state()       # step count, weights, Adam's m and v, both generators, losses, schedule
    ...                           # more steps
    trainer.restore(state)        # back where it was: the same steps again give the same numbers, bit for bit

Matrices are packed as doubles (8 bytes a number, every bit kept), so a state is immutable and small: the
default model's weights and moments take about 100 KB. Checkpoints, history snapshots and branches use it.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from microgpt.model import Matrix
from microgpt.schedule import Schedule

if TYPE_CHECKING:
    from microgpt.trainer import Trainer

RandomState = tuple[int, tuple[int, ...], float | None]  # what random.Random.getstate() returns


@dataclass(frozen=True)
class Matrices:
    """Named matrices packed row after row as doubles, in their order."""

    shapes: tuple[tuple[str, int, int], ...]  # (name, rows, cols)
    data: bytes

    @classmethod
    def pack(cls, matrices: dict[str, Matrix]) -> Matrices:
        """Pack [rows][cols] lists of floats."""
        shapes = tuple((name, len(m), len(m[0])) for name, m in matrices.items())
        values = array("d")
        for m in matrices.values():
            for row in m:
                values.fromlist(row)  # (a list: much faster than extend)
        return cls(shapes, values.tobytes())

    def unpack(self) -> dict[str, Matrix]:
        """Fresh [rows][cols] lists of floats."""
        values = array("d")
        values.frombytes(self.data)
        flat = values.tolist()
        out: dict[str, Matrix] = {}
        i = 0
        for name, rows, cols in self.shapes:
            out[name] = [flat[i + r * cols: i + (r + 1) * cols] for r in range(rows)]
            i += rows * cols
        return out


@dataclass(frozen=True)
class TrainerState:
    """Everything a training step depends on, at the moment between two steps."""

    step: int  # steps taken so far
    params: Matrices  # the weights
    adam_m: Matrices  # Adam's first moments
    adam_v: Matrices  # Adam's second moments
    rng: RandomState  # the training generator (shuffle, init; training itself draws nothing)
    sample_rng: RandomState  # the sampling generator
    losses: tuple[float, ...]  # the loss of every step taken, step 1 first
    schedule: Schedule  # the learning rate of every step, with its changes


def capture(trainer: Trainer) -> TrainerState:
    """The trainer's state now (between steps)."""
    return TrainerState(
        step=trainer.step_count,
        params=Matrices.pack(trainer.params.data),
        adam_m=Matrices.pack(trainer.adam.m),
        adam_v=Matrices.pack(trainer.adam.v),
        rng=trainer.rng.getstate(),
        sample_rng=trainer.sample_rng.getstate(),
        losses=tuple(trainer.losses),
        schedule=trainer.schedule,
    )


def restore(trainer: Trainer, state: TrainerState) -> None:
    """Put `trainer` exactly in `state` (a ValueError, changing nothing, if the shapes are not the trainer's)."""
    expected = tuple((name, len(m), len(m[0])) for name, m in trainer.params.data.items())
    for what, matrices in (("weights", state.params), ("adam_m", state.adam_m), ("adam_v", state.adam_v)):
        if matrices.shapes != expected:
            raise ValueError(f"the state's {what} have other shapes than this trainer's model")
    if not 0 <= state.step <= state.schedule.steps or len(state.losses) != state.step:
        raise ValueError(f"the state's step {state.step} does not fit its schedule or its {len(state.losses)} losses")
    for target, source in ((trainer.params.data, state.params), (trainer.adam.m, state.adam_m),
                           (trainer.adam.v, state.adam_v)):
        for name, matrix in source.unpack().items():
            target[name][:] = matrix
    trainer.abandon_step()  # a step begun before the restore must not advance over the restored weights
    trainer.params.zero_grad()
    trainer.rng.setstate(state.rng)
    trainer.sample_rng.setstate(state.sample_rng)
    trainer.step_count = state.step
    trainer.losses[:] = state.losses
    trainer.schedule = state.schedule
