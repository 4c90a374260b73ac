"""Trainer state: captured between steps, restored exactly, so the same steps again give the same numbers."""

from __future__ import annotations

import dataclasses

import pytest

from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.state import Matrices
from microgpt.trainer import Trainer

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
SMALL = Config(n_embd=8, n_head=2, block_size=8, steps=12)


def everything(trainer: Trainer) -> tuple[object, ...]:
    """Every part of a trainer that the next step depends on, as plain comparable values."""
    return (trainer.step_count, trainer.params.flat(), trainer.adam.m, trainer.adam.v, trainer.rng.getstate(),
            trainer.sample_rng.getstate(), list(trainer.losses), trainer.schedule)


def hexes(values: list[float]) -> list[str]:
    return [x.hex() for x in values]


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_capture_more_steps_restore_the_same_steps_again(engine: str) -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), SMALL, engine)
    for _ in range(3):
        trainer.step()
    state = trainer.state()
    before = everything(trainer)
    first = [trainer.step() for _ in range(4)]
    first_weights = trainer.params.flat()
    first_samples = [t.text for t in trainer.sample(0.7)]
    assert everything(trainer) != before
    trainer.restore(state)
    assert everything(trainer) == before
    again = [trainer.step() for _ in range(4)]
    assert [r.loss.hex() for r in again] == [r.loss.hex() for r in first]
    assert [r.position_losses for r in again] == [r.position_losses for r in first]
    assert [r.matrices for r in again] == [r.matrices for r in first]
    assert hexes(trainer.params.flat()) == hexes(first_weights)
    assert [t.text for t in trainer.sample(0.7)] == first_samples


def test_a_state_is_frozen_and_shares_nothing_with_the_trainer() -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), SMALL)
    trainer.step()
    state = trainer.state()
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.step = 5  # type: ignore[misc]
    trainer.step()
    trainer.restore(state)
    trainer.params.data["wte"][0][0] = 123.0  # writing the restored weights leaves the state as it was
    trainer.restore(state)
    assert trainer.params.data["wte"][0][0] != 123.0 and state.step == 1 and len(state.losses) == 1


def test_restore_goes_forward_too_and_into_another_trainer() -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), SMALL)
    for _ in range(5):
        trainer.step()
    later = trainer.state()
    fresh = Trainer(Dataset.from_docs(NAMES), SMALL)
    fresh.restore(later)
    assert everything(fresh) == everything(trainer)
    assert fresh.step().loss == trainer.step().loss


def test_the_schedule_is_part_of_the_state() -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), SMALL)
    trainer.step()
    state = trainer.state()
    trainer.set_lr(0.05)
    assert trainer.step().lr == 0.05 * (1 - 1 / 12)
    trainer.restore(state)
    assert not trainer.schedule.changed and trainer.step().lr == 0.01 * (1 - 1 / 12)


def test_packing_keeps_every_bit() -> None:
    odd = {"a": [[5e-324, -0.0, 1 / 3], [float("inf"), -1e308, 2.0 ** -1074]]}
    back = Matrices.pack(odd).unpack()
    assert [hexes(r) for r in back["a"]] == [hexes(r) for r in odd["a"]]


def test_restore_refuses_another_model() -> None:
    small = Trainer(Dataset.from_docs(NAMES), SMALL)
    wide = Trainer(Dataset.from_docs(NAMES), Config(n_embd=16, n_head=2, block_size=8, steps=12))
    before = everything(small)
    with pytest.raises(ValueError, match="shapes"):
        small.restore(wide.state())
    assert everything(small) == before


def test_a_step_begun_before_a_restore_cannot_advance_over_the_restored_weights() -> None:
    trainer = Trainer(load_dataset("names"), Config(steps=10))
    state = trainer.state()
    step = trainer.begin_step()
    step.advance()
    trainer.restore(state)
    with pytest.raises(RuntimeError):
        step.advance()
