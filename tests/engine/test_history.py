"""History: every past step replayed bit for bit, rewinds that retrace the original run, and a saved history."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from microgpt.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.history import History, HistoryError, State, resumed_history
from microgpt.report import StepReport
from microgpt.trainer import Trainer

SMALL = Config(n_embd=8, n_head=2, block_size=8, steps=200)  # small enough for atomic steps to be quick


@pytest.fixture(scope="module")
def names() -> Dataset:
    return load_dataset("names")


def same(a: StepReport, b: StepReport) -> bool:
    """Equal to the last bit, timings aside (repr shows every float exactly)."""
    return repr(replace(a, timings=b.timings)) == repr(b)


def run(trainer: Trainer, history: History | None, steps: int, engines: str = "f") -> list[StepReport]:
    """Take `steps` steps, cycling through the graph modes in `engines` (f fused, a atomic), recording each."""
    reports = []
    for i in range(steps):
        trainer.engine = "atomic" if engines[i % len(engines)] == "a" else "fused"
        report = trainer.step()
        if history is not None:
            history.record(report)
        reports.append(report)
    return reports


def state_of(trainer: Trainer) -> tuple[bytes, object, object, list[float], int]:
    """Everything training depends on, comparable bit for bit."""
    state = trainer.state()
    return (state.params.data + state.adam_m.data + state.adam_v.data, trainer.rng.getstate(),
            trainer.sample_rng.getstate(), list(trainer.losses), trainer.step_count)


@pytest.mark.parametrize("engines", ["f", "a", "ffaf"])
def test_replaying_any_step_gives_the_uninterrupted_report(names: Dataset, engines: str) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 23, engines)
    for step in [7, 1, 23, 22, 8, 4, 5, 12, 13, 2, 3]:
        replayed = history.replay(step)
        assert same(replayed, reports[step - 1]), f"step {step}"
        assert replayed.timings == reports[step - 1].timings  # the recorded ones
        assert replayed.engine == reports[step - 1].engine
    assert len(trainer.losses) == 23 and trainer.step_count == 23  # the live run was not touched


def test_default_model_replays_exactly_with_attention(names: Dataset) -> None:
    trainer = Trainer(names, Config())
    history = History(trainer)
    reports = run(trainer, history, 30)
    for step in (1, 17, 30, 9):
        report = history.replay(step)
        assert report.attention == reports[step - 1].attention and report.attention
        assert report.position_losses == reports[step - 1].position_losses
        assert [m.grad_norm for m in report.matrices] == [m.grad_norm for m in reports[step - 1].matrices]
        assert same(report, reports[step - 1])


def test_records_hold_each_steps_numbers(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 9, "fa")
    for r in reports:
        rec = history.record_at(r.step)
        assert (rec.loss, rec.lr, rec.engine, rec.doc) == (r.loss, r.lr, r.engine, r.doc)
        assert rec.position_losses == r.position_losses and rec.matrices == r.matrices
        assert (rec.nodes, rec.edges, rec.depth, rec.timings) == (r.graph.nodes, r.graph.edges, r.graph.depth,
                                                                  r.timings)
    assert history.matrix_series("lm_head", 2, 5) == [r.matrix("lm_head").grad_norm for r in reports[1:5]]
    assert list(history.losses) == trainer.losses
    with pytest.raises(HistoryError, match="holds steps 1 to 9"):
        history.record_at(10)


def test_states_thin_out_evenly_within_their_budget(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    size = State.of(trainer).nbytes
    history = History(trainer, snapshot_budget=6 * size, min_interval=1)
    reports = run(trainer, history, 40)
    assert history.interval == 8  # 41 states at 1 -> 6 allowed: 1, 2, 4, 8 (0, 8, .., 40: 6 states)
    assert history.states == (0, 8, 16, 24, 32, 40)
    assert sum(State.of(trainer).nbytes for _ in history.states) <= 6 * size
    for step in (40, 1, 39, 15, 16, 17, 14):
        assert same(history.replay(step), reports[step - 1]), f"step {step}"


def test_phases_of_a_past_step_end_in_its_report(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 10, "af")
    for step in (6, 3):
        phased = history.phases(step)
        assert phased.number == step and phased.mode.name == reports[step - 1].engine
        kinds = []
        while not phased.finished:
            kinds.append(phased.advance().kind)
            if kinds[-1] == "forward":
                assert phased.detail().position_losses == reports[step - 1].position_losses[:phased.pos]
        assert kinds[0] == "document" and kinds[-1] == "update" and "backward" in kinds
        assert phased.report is not None and same(phased.report, reports[step - 1])
    assert trainer.step_count == 10 and same(history.replay(10), reports[9])  # the live run was not touched


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_rewind_with_nothing_changed_retraces_the_run(names: Dataset, engine: str) -> None:
    original = Trainer(names, SMALL, engine)
    history = History(original)
    reports = run(original, history, 9, engine[0])
    original.sample(0.7).__next__()  # samples drawn after step 9 move the sampling generator
    after_draw = original.sample_rng.getstate()
    reports += run(original, history, 9, engine[0])
    samples = ["".join(t.char for t in original.sample(0.7)) for _ in range(3)]
    end = state_of(original)

    ghost = history.rewind(original, 12)
    assert ghost is not None and ghost.start == 12 and ghost.losses == tuple(r.loss for r in reports[12:])
    assert original.sample_rng.getstate() == after_draw  # the generator as it stood after step 12
    ghost = history.rewind(original, 7)
    assert ghost is not None and ghost.start == 7 and ghost.losses == tuple(r.loss for r in reports[7:12])
    assert history.end == 7 and original.step_count == 7 and original.losses == [r.loss for r in reports[:7]]
    again = run(original, history, 2, engine[0])
    original.sample(0.7).__next__()  # the same draw at the same moment
    again += run(original, history, 9, engine[0])
    assert all(same(a, b) for a, b in zip(again, reports[7:], strict=True))
    assert ["".join(t.char for t in original.sample(0.7)) for _ in range(3)] == samples
    assert state_of(original) == end
    for step in (3, 8, 12, 18):
        assert same(history.replay(step), reports[step - 1])
    assert len(history.ghosts) == 2 and history.ghosts[1] == ghost


def test_rewind_to_every_step_and_to_the_start(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 6)
    fresh = Trainer(names, SMALL)
    assert history.rewind(trainer, 6) is None  # nothing to undo
    for step in (5, 2, 0):
        history.rewind(trainer, step)
        assert trainer.losses == [r.loss for r in reports[:step]]
        trainer.params.zero_grad()
        if step == 0:
            assert state_of(trainer) == state_of(fresh)
    assert all(same(a, b) for a, b in zip(run(trainer, history, 6), reports))
    assert [g.start for g in history.ghosts] == [5, 2, 0]
    with pytest.raises(HistoryError, match="not in the history"):
        history.rewind(trainer, 7)


def test_a_branch_with_another_learning_rate_differs_and_its_history_follows(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 12)
    history.rewind(trainer, 5)
    trainer.set_lr(0.05)
    branch = run(trainer, history, 3)
    assert branch[0].lr != reports[5].lr and branch[1].loss != reports[6].loss
    assert history.end == 8 and same(history.replay(7), branch[1]) and same(history.replay(3), reports[2])
    trainer.extend(300)  # a longer schedule from step 9 on: the steps before it keep theirs
    branch += run(trainer, history, 2)
    assert branch[3].steps == 300 and same(history.replay(8), branch[2]) and same(history.replay(10), branch[4])
    history.rewind(trainer, 8)
    assert trainer.steps == 300  # the run as it stood after step 8: the change made there included
    history.rewind(trainer, 7)
    assert trainer.steps == 200 and trainer.schedule.lr == 0.05
    history.rewind(trainer, 5)
    assert trainer.schedule.lr == 0.05  # set while paused after step 5
    history.rewind(trainer, 4)
    assert trainer.schedule.lr == SMALL.lr and not trainer.schedule.changed


def test_resumed_without_a_history_starts_there(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    run(trainer, None, 5)
    history = History(trainer)
    reports = run(trainer, history, 4)
    assert same(history.replay(7), reports[1])
    with pytest.raises(HistoryError, match="before this history starts"):
        history.replay(3)
    with pytest.raises(HistoryError, match="cannot follow"):
        history.record(reports[0])


def test_saved_history_comes_back_and_scrubs_back(names: Dataset, tmp_path: Path) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer, min_interval=1)
    reports = run(trainer, history, 25, "ffa")
    history.rewind(trainer, 20)
    reports[20:] = run(trainer, history, 5, "ffa")
    trainer.sample(0.5).__next__()
    save_checkpoint(trainer, tmp_path / "run.json")
    per_state = State.of(trainer).nbytes * 4 // 3 + 1
    text = json.dumps(history.to_json(snapshot_budget=5 * per_state))
    resumed = load_checkpoint(tmp_path / "run.json", names)
    loaded = History.from_json(json.loads(text), resumed)
    assert loaded.states == (0, 8, 16, 24, 25)  # the file kept every 8th state; the live one is the run itself
    assert [(g.start, g.losses) for g in loaded.ghosts] == [(g.start, g.losses) for g in history.ghosts]
    for step in (25, 1, 9, 24, 17):
        assert same(loaded.replay(step), reports[step - 1]), f"step {step}"
    assert loaded.record_at(13) == history.record_at(13)
    after = run(resumed, loaded, 3)
    assert all(same(a, b) for a, b in zip(after, run(trainer, history, 3)))
    loaded.rewind(resumed, 10)
    assert resumed.sample_rng.getstate() == history.sample_rng.at(10)


def test_a_damaged_or_foreign_history_is_refused_in_one_line(names: Dataset) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    run(trainer, history, 4)
    good = history.to_json()
    other = Trainer(names, SMALL)
    run(other, None, 3)
    cases = {
        "not a history": ({"weights": 1}, trainer),
        "another step": (good, other),
        "a cut column": ({**good, "columns": {**good["columns"], "losses": good["columns"]["losses"][:8]}}, trainer),
        "bad base64": ({**good, "columns": {**good["columns"], "nodes": "!!"}}, trainer),
        "missing key": ({k: v for k, v in good.items() if k != "states"}, trainer),
        "bad schedule": ({**good, "schedule": [[0, [[1, -1.0, 5]]]]}, trainer),
        "bad generator": ({**good, "rngs": [[3, "AAAA", None]]}, trainer),
        "a state of another model": ({**good, "states": [{**good["states"][0], "adam_v": "AAAA"}]}, trainer),
    }
    cases |= {
        "ghosts not a list": ({**good, "ghosts": "nope"}, trainer),
        "a state's fields replaced": ({**good, "states": [{**good["states"][0], "params": "AAAAAA=="}]}, trainer),
        "a column cut short": ({**good, "columns": {**good["columns"], "lrs": good["columns"]["lrs"][:-3]}}, trainer),
    }
    for case, (obj, target) in cases.items():
        try:
            History.from_json(obj, target)
        except HistoryError as error:
            assert str(error).startswith("the saved history ") and "\n" not in str(error), case
            assert not re.search(r"Error|padding|indices|multiple of item size", str(error)), f"{case}: {error}"
        else:
            pytest.fail(f"{case}: accepted")


def test_a_damaged_saved_history_gives_a_new_one_that_says_so_in_plain_words(names: Dataset, tmp_path: Path) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    run(trainer, history, 6)
    save_checkpoint(trainer, tmp_path / "run.json", history)
    assert resumed_history(None, trainer) is None  # a checkpoint saved without one: none, at no cost
    kept = resumed_history(read_checkpoint(tmp_path / "run.json").history, load_checkpoint(tmp_path / "run.json"))
    assert kept is not None and (kept.start, kept.end, kept.lost) == (0, 6, "")
    obj = json.loads((tmp_path / "run.json").read_text())
    for damage in ({**obj["history"], "ghosts": "nope"}, {**obj["history"], "end": 5000}, "nope"):
        (tmp_path / "bad.json").write_text(json.dumps({**obj, "history": damage}))
        resumed = load_checkpoint(tmp_path / "bad.json")
        new = resumed_history(read_checkpoint(tmp_path / "bad.json").history, resumed)
        assert new is not None and (new.start, new.end) == (6, 6), damage
        assert new.lost.startswith("the saved history ") and new.lost.endswith(
            ", so the steps up to 6 cannot be shown; training carries on from step 6"), new.lost
        new.record(resumed.step())  # and it records the steps trained from here
        assert new.end == 7


def test_memory_per_step_is_small(names: Dataset) -> None:
    trainer = Trainer(names, Config())
    history = History(trainer, snapshot_budget=0)  # at most two states
    run(trainer, history, 20)
    memory = history.memory()
    state, full = State.of(trainer), trainer.state()
    assert (state.step, state.params, state.adam_m, state.adam_v, state.rng) == \
        (full.step, full.params, full.adam_m, full.adam_v, full.rng)  # the parts of a TrainerState it keeps
    assert State.of(trainer).nbytes == 3 * 4192 * 8
    assert len(history.states) <= 2 and memory["states"] <= 2 * 3 * 4192 * 8
    assert memory["records"] / 20 < 600  # per step: ~300 bytes of matrix norms, timings and graph, 8 per letter
    assert memory["generators"] < 50_000  # one training generator state, one sampling state


def test_a_checkpoint_with_its_history_resumes_and_scrubs_back(names: Dataset, tmp_path: Path) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 14, "fa")
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path, history)
    ckpt = read_checkpoint(path)
    assert ckpt.history is not None and read_checkpoint(path).step == 14
    resumed = ckpt.restore(names)
    loaded = History.from_json(ckpt.history, resumed)
    assert all(same(loaded.replay(r.step), r) for r in reports)
    save_checkpoint(trainer, tmp_path / "plain.json")
    assert read_checkpoint(tmp_path / "plain.json").history is None


def test_a_history_saved_on_a_state_step_comes_back(names: Dataset, tmp_path: Path) -> None:
    trainer = Trainer(names, SMALL)
    history = History(trainer)
    reports = run(trainer, history, 8)  # step 8 is on the interval: the file holds a state at its last step
    save_checkpoint(trainer, tmp_path / "run.json", history)
    ckpt = read_checkpoint(tmp_path / "run.json")
    assert ckpt.history is not None and ckpt.history["states"][-1]["step"] == 8
    loaded = History.from_json(ckpt.history, ckpt.restore(names))
    assert all(same(loaded.replay(r.step), r) for r in reports)
