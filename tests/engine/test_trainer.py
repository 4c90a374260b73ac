"""The trainer's contract: phases, reports, and what happens when the numbers blow up."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import StepInProgress, Trainer, TrainingComplete, TrainingDiverged


def test_a_step_is_its_units_in_order() -> None:
    trainer = Trainer(load_dataset("names"), Config(steps=5))
    step = trainer.begin_step()
    assert isinstance(step, StepInProgress)
    assert step.phase is None and step.report is None and not step.finished and trainer.step_count == 0
    phases = []
    while not step.finished:
        phases.append(step.advance())
    assert step.phase == phases[-1] and step.report is not None
    n = len(step.report.position_losses)
    kinds = [p.kind for p in phases]
    k = kinds.count("backward")
    assert kinds == ["document"] + ["forward"] * n + ["loss"] + ["backward"] * k + ["update"]
    assert [p.index for p in phases if p.kind == "forward"] == list(range(n))
    assert [p.index for p in phases if p.kind == "backward"] == list(range(k))
    assert {p.count for p in phases if p.kind == "backward"} == {k}
    assert trainer.step_count == 1 and trainer.losses == [step.report.loss]
    with pytest.raises(RuntimeError, match="finished"):
        step.advance()


def test_the_constructor_changes_nothing_and_an_abandoned_step_cannot_advance() -> None:
    trainer = Trainer(load_dataset("names"), Config(steps=5))
    trainer.step()
    grads = trainer.params.flat_grad()
    old = trainer.begin_step()
    assert trainer.params.flat_grad() == grads  # zeroing the grads is the document unit's work
    old.advance()
    assert trainer.params.flat_grad() != grads
    new = trainer.begin_step()
    with pytest.raises(RuntimeError, match="abandoned"):
        old.advance()
    new.advance()
    trainer.abandon_step()
    with pytest.raises(RuntimeError, match="abandoned"):
        new.advance()
    assert trainer.step().step == 2


def test_report_describes_the_step() -> None:
    trainer = Trainer(load_dataset("names"), Config(steps=3, n_layer=2))
    report = trainer.step()
    n = len(report.tokens)
    assert report.step == 1 and report.steps == 3 and report.lr == 0.01
    assert report.tokens[0] == "·" and report.targets[-1] == "·" and len(report.targets) == n
    assert math.isclose(sum(report.position_losses) / n, report.loss)
    assert len(report.attention) == 2 and len(report.attention[0]) == 4
    assert [len(row) for row in report.attention[1][3]] == list(range(1, n + 1))
    assert all(math.isclose(sum(row), 1.0) for layer in report.attention for head in layer for row in head)
    assert [m.name for m in report.matrices] == list(trainer.matrix_names)
    assert all(m.grad_norm > 0 and m.param_norm > 0 and 0 < m.update_ratio < 1 for m in report.matrices)
    assert report.graph.stage_count("params") == report.graph.params
    assert sum(count for _, count in report.graph.by_stage) == report.graph.nodes
    assert sum(count for _, count in report.graph.by_op) == report.graph.nodes


def test_schedule_end() -> None:
    trainer = Trainer(load_dataset("names"), Config(steps=2))
    trainer.step()
    trainer.step()
    assert trainer.done
    with pytest.raises(TrainingComplete):
        trainer.step()


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_a_diverging_step_leaves_the_weights_as_they_were(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(lr=50.0, steps=10), engine=engine)
    trainer.step()
    before = trainer.params.flat()
    with pytest.raises(TrainingDiverged, match="learning rate"):
        trainer.step()
    assert trainer.step_count == 1 and trainer.params.flat() == before


def test_cli_reports_divergence_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "microgpt", "train", "--lr", "50", "--steps", "5"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "smaller --lr" in result.stderr
