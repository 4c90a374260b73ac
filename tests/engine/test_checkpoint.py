"""Checkpoints: an exact round trip, a resume that continues bit for bit, and one clear refusal for every bad file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from microgpt.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.trainer import Trainer

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail", "ella",
         "liam", "noah", "oliver", "elijah", "james", "lucas", "mason", "ethan", "logan"]
SMALL = Config(n_embd=4, n_head=2, block_size=8, steps=40)  # small enough for the atomic graph to be quick


@pytest.fixture
def docs_file(tmp_path: Path) -> Path:
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return path


@pytest.fixture
def dataset(docs_file: Path) -> Dataset:
    return load_dataset(str(docs_file))


def trained(dataset: Dataset, steps: int, config: Config = SMALL, engine: str = "fused") -> Trainer:
    trainer = Trainer(dataset, config, engine)
    for _ in range(steps):
        trainer.step()
    return trainer


def draw(trainer: Trainer, k: int = 5) -> list[str]:
    texts = []
    for _ in range(k):
        text = ""
        for token in trainer.sample(0.8):
            text = token.text
        texts.append(text)
    return texts


def error_of(fn: Callable[[], object]) -> str:
    """The message of the CheckpointError that fn raises: one non-empty line."""
    with pytest.raises(CheckpointError) as info:
        fn()
    message = str(info.value)
    assert message and "\n" not in message
    return message


# --- round trip and exact resume ---

def test_round_trip_restores_every_part_of_the_state(dataset: Dataset, tmp_path: Path) -> None:
    trainer = trained(dataset, 7)
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    raw = json.loads(path.read_text())
    assert raw["format"] == "microgpt-checkpoint" and raw["version"] == 2
    assert raw["schedule"] == [[1, SMALL.lr, SMALL.steps]] and raw["steps"] == SMALL.steps
    assert raw["dataset"]["sha256"] == dataset.sha256 and raw["dataset"]["num_docs"] == len(NAMES)
    assert raw["dataset"]["spec"] == dataset.path

    restored = load_checkpoint(path)
    assert restored.config == trainer.config and restored.engine == trainer.engine
    assert restored.dataset.sha256 == dataset.sha256 and restored.docs == trainer.docs
    assert restored.params.data == trainer.params.data  # == on floats: every bit
    assert restored.adam.m == trainer.adam.m and restored.adam.v == trainer.adam.v
    assert restored.step_count == 7 and restored.losses == trainer.losses
    assert restored.rng.getstate() == trainer.rng.getstate()
    assert restored.sample_rng.getstate() == trainer.sample_rng.getstate()
    assert restored.state() == trainer.state()  # every part at once


@pytest.mark.parametrize("change", ["extend", "set_lr", "both"])
def test_schedule_changes_are_saved_and_resumed_bit_for_bit(dataset: Dataset, tmp_path: Path, change: str) -> None:
    """A run whose schedule changed at step 5, saved at step 9 and resumed, equals the same run never stopped."""
    def changed(trainer: Trainer) -> None:
        if change in ("extend", "both"):
            trainer.extend(60)
        if change in ("set_lr", "both"):
            trainer.set_lr(0.03)

    straight = trained(dataset, 5)
    changed(straight)
    for _ in range(20):
        straight.step()
    paused = trained(dataset, 5)
    changed(paused)
    for _ in range(4):
        paused.step()
    save_checkpoint(paused, tmp_path / "run.json")
    raw = json.loads((tmp_path / "run.json").read_text())
    assert raw["schedule"] == paused.schedule.to_json() and len(raw["schedule"]) == 2
    resumed = load_checkpoint(tmp_path / "run.json")
    assert resumed.schedule == paused.schedule
    for _ in range(16):
        resumed.step()
    assert resumed.losses == straight.losses and resumed.params.data == straight.params.data
    assert resumed.state() == straight.state()


def test_a_version_1_checkpoint_resumes_with_the_plain_schedule(dataset: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    save_checkpoint(trained(dataset, 3), path)
    obj = json.loads(path.read_text())
    del obj["schedule"]
    obj["version"] = 1
    path.write_text(json.dumps(obj))
    resumed = load_checkpoint(path)
    assert not resumed.schedule.changed and resumed.steps == SMALL.steps
    assert resumed.step().loss == trained(dataset, 4).losses[-1]


def test_gauss_cache_and_odd_floats_survive(dataset: Dataset, tmp_path: Path) -> None:
    trainer = Trainer(dataset, SMALL)
    trainer.rng.gauss(0, 1)  # leaves a cached second value in the state
    trainer.params.data["wte"][0][:3] = [5e-324, -0.0, 1 / 3]
    save_checkpoint(trainer, tmp_path / "run.json")
    restored = load_checkpoint(tmp_path / "run.json")
    assert restored.rng.getstate() == trainer.rng.getstate() and trainer.rng.getstate()[2] is not None
    assert [x.hex() for x in restored.params.data["wte"][0]] == [x.hex() for x in trainer.params.data["wte"][0]]


@pytest.mark.parametrize(("engine", "config"), [("fused", Config()), ("atomic", SMALL)])
def test_resume_continues_bit_for_bit(dataset: Dataset, tmp_path: Path, engine: str, config: Config) -> None:
    straight = trained(dataset, 30, config, engine)
    paused = trained(dataset, 12, config, engine)
    save_checkpoint(paused, tmp_path / "run.json")
    del paused
    resumed = load_checkpoint(tmp_path / "run.json")
    assert resumed.engine == engine
    for _ in range(18):
        resumed.step()
    assert resumed.losses == straight.losses  # every loss, compared with ==
    assert resumed.params.data == straight.params.data
    assert draw(resumed) == draw(straight)


def test_resume_in_the_other_graph_mode_gives_the_same_numbers(dataset: Dataset, tmp_path: Path) -> None:
    straight = trained(dataset, 10, SMALL, "fused")
    save_checkpoint(trained(dataset, 4, SMALL, "fused"), tmp_path / "run.json")
    resumed = load_checkpoint(tmp_path / "run.json")
    resumed.engine = "atomic"
    for _ in range(6):
        resumed.step()
    assert resumed.losses == straight.losses


def test_step_zero_and_finished_runs(dataset: Dataset, tmp_path: Path) -> None:
    fresh = Trainer(dataset, SMALL)
    save_checkpoint(fresh, tmp_path / "zero.json")
    assert load_checkpoint(tmp_path / "zero.json").step().loss == Trainer(dataset, SMALL).step().loss
    done = trained(dataset, 5, Config(n_embd=4, n_head=2, block_size=8, steps=5))
    save_checkpoint(done, tmp_path / "done.json")
    restored = load_checkpoint(tmp_path / "done.json")
    assert restored.done and draw(restored) == draw(done)


def test_restoring_twice_from_one_read_shares_nothing(dataset: Dataset, tmp_path: Path) -> None:
    save_checkpoint(trained(dataset, 3), tmp_path / "run.json")
    ckpt = read_checkpoint(tmp_path / "run.json")
    a, b = ckpt.restore(dataset), ckpt.restore(dataset)
    a.step()
    b.step()
    assert a.losses == b.losses and a.params.data == b.params.data


def test_shipped_dataset_is_recorded_by_name(tmp_path: Path) -> None:
    trainer = Trainer(load_dataset("names"), SMALL)
    save_checkpoint(trainer, tmp_path / "run.json")
    assert json.loads((tmp_path / "run.json").read_text())["dataset"]["spec"] == "names"
    assert load_checkpoint(tmp_path / "run.json").dataset.name == "names"


def test_weights_and_vocabulary_for_sampling(dataset: Dataset, tmp_path: Path) -> None:
    trainer = trained(dataset, 3)
    save_checkpoint(trainer, tmp_path / "run.json")
    ckpt = read_checkpoint(tmp_path / "run.json")
    params = ckpt.weights()
    assert params.data == trainer.params.data and params.data["wte"] is not ckpt.weights().data["wte"]
    assert ckpt.vocabulary().uchars == dataset.uchars and ckpt.vocabulary().bos == dataset.bos


# --- refusing another dataset or another config ---

def test_refuses_a_dataset_whose_content_differs(dataset: Dataset, docs_file: Path, tmp_path: Path) -> None:
    save_checkpoint(trained(dataset, 2), tmp_path / "run.json")
    other = tmp_path / "other.txt"
    other.write_text("\n".join(NAMES[:-1] + ["zoe"]) + "\n")
    message = error_of(lambda: load_checkpoint(tmp_path / "run.json", load_dataset(str(other))))
    assert "'other.txt'" in message and "differs" in message and "content" in message
    docs_file.write_text("\n".join(NAMES[1:]) + "\n")  # the recorded file itself changed
    message = error_of(lambda: load_checkpoint(tmp_path / "run.json"))
    assert "'docs.txt'" in message and "differs" in message


def test_same_documents_in_another_file_are_accepted(dataset: Dataset, tmp_path: Path) -> None:
    save_checkpoint(trained(dataset, 2), tmp_path / "run.json")
    moved = tmp_path / "moved.txt"
    moved.write_bytes(Path(dataset.path).read_bytes())
    assert load_checkpoint(tmp_path / "run.json", load_dataset(str(moved))).step_count == 2


def test_missing_dataset_file(dataset: Dataset, docs_file: Path, tmp_path: Path) -> None:
    save_checkpoint(trained(dataset, 2), tmp_path / "run.json")
    docs_file.unlink()
    message = error_of(lambda: load_checkpoint(tmp_path / "run.json"))
    assert "cannot load dataset 'docs.txt'" in message and "new path" in message


def test_documents_made_in_memory(tmp_path: Path) -> None:
    memory = Dataset.from_docs(NAMES)
    save_checkpoint(trained(memory, 2), tmp_path / "run.json")
    assert "made in memory" in error_of(lambda: load_checkpoint(tmp_path / "run.json"))
    assert load_checkpoint(tmp_path / "run.json", Dataset.from_docs(NAMES)).step_count == 2
    assert "differs" in error_of(lambda: load_checkpoint(tmp_path / "run.json", Dataset.from_docs(NAMES[1:])))


def test_refuses_a_different_config_naming_each_field(dataset: Dataset, tmp_path: Path) -> None:
    save_checkpoint(trained(dataset, 2), tmp_path / "run.json")
    assert load_checkpoint(tmp_path / "run.json", config=SMALL).step_count == 2
    message = error_of(lambda: load_checkpoint(tmp_path / "run.json", config=Config(n_embd=8, n_head=2,
                                                                                        block_size=8, steps=40)))
    assert "checkpoint has n_embd=4, asked for n_embd=8" in message
    assert "n_head" not in message
    message = error_of(lambda: load_checkpoint(tmp_path / "run.json", config=Config()))
    for part in ("n_embd=4, asked for n_embd=16", "n_head=2, asked for n_head=4",
                 "block_size=8, asked for block_size=16", "steps=40, asked for steps=1000"):
        assert part in message


# --- refusing bad files ---

def saved(dataset: Dataset, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "run.json"
    save_checkpoint(trained(dataset, 3), path)
    return path, json.loads(path.read_text())


def rewrite(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj))


def drop(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    target = obj
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return obj


def put(obj: dict[str, Any], value: Any, *keys: str | int) -> dict[str, Any]:
    target: Any = obj
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return obj


DAMAGE: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "not an object": (lambda o: [1, 2, 3], "not a microgpt checkpoint"),
    "wrong format tag": (lambda o: put(o, "something-else", "format"), "not a microgpt checkpoint"),
    "newer version": (lambda o: put(o, 3, "version"), "format version 3"),
    "missing config": (lambda o: drop(o, "config"), "field config is missing"),
    "config lacks a field": (lambda o: drop(o, "config", "n_embd"), "config lacks n_embd"),
    "config field mistyped": (lambda o: put(o, "4", "config", "n_embd"), "n_embd"),
    "config unknown field": (lambda o: put(o, 1, "config", "dropout"), "dropout"),
    "config impossible": (lambda o: put(o, 3, "config", "n_head"), "divisible"),
    "missing params": (lambda o: drop(o, "params"), "field params is missing"),
    "missing adam_v": (lambda o: drop(o, "adam_v"), "field adam_v is missing"),
    "missing losses": (lambda o: drop(o, "losses"), "field losses is missing"),
    "missing sample_rng": (lambda o: drop(o, "sample_rng"), "field sample_rng is missing"),
    "missing dataset sha": (lambda o: drop(o, "dataset", "sha256"), "dataset.sha256 is missing"),
    "step as text": (lambda o: put(o, "3", "step"), "field step should be a whole number, not a string"),
    "step as bool": (lambda o: put(o, True, "step"), "field step should be a whole number"),
    "step past schedule": (lambda o: put(o, 99, "step"), "step is 99"),
    "steps disagree": (lambda o: put(o, 7, "steps"), "steps is 7"),
    "missing schedule": (lambda o: drop(o, "schedule"), "field schedule is missing"),
    "schedule not segments": (lambda o: put(o, [[1, 0.01]], "schedule"), "schedule[0] should be [start, lr, steps]"),
    "schedule not the config's": (lambda o: put(o, [[1, 0.5, 40]], "schedule"), "does not start with the config"),
    "schedule out of order": (lambda o: put(o, [[1, 0.01, 40], [9, 0.01, 50], [5, 0.01, 60]], "schedule"),
                              "schedule[2] starts before"),
    "too few losses": (lambda o: put(o, o["losses"][:2], "losses"), "losses has 2 values for 3 steps"),
    "loss not a number": (lambda o: put(o, "x", "losses", 0), "losses[0] is not a number"),
    "unknown engine": (lambda o: put(o, "gpu", "engine"), "engine is 'gpu'"),
    "unsorted uchars": (lambda o: put(o, o["uchars"][::-1], "uchars"), "uchars"),
    "matrix missing a row": (lambda o: put(o, o["params"]["wte"][:-1], "params", "wte"), "params.wte should be"),
    "matrix missing a column": (lambda o: put(o, [r[:-1] for r in o["adam_m"]["lm_head"]], "adam_m", "lm_head"),
                                "adam_m.lm_head should be"),
    "matrix of text": (lambda o: put(o, "x", "params", "wpe", 0, 0), "params.wpe[0][0] is not a number"),
    "matrix missing": (lambda o: drop(o, "params", "layer0.mlp_fc2"), "params lacks layer0.mlp_fc2"),
    "matrix unknown": (lambda o: put(o, [[0.0]], "adam_v", "extra"), "adam_v has unknown extra"),
    "rng too short": (lambda o: put(o, [3, [1, 2, 3], None], "rng"), "rng is not a random generator state"),
    "rng wrong version": (lambda o: put(o, 9, "rng", 0), "rng is not a random generator state"),
    "rng not a list": (lambda o: put(o, {}, "sample_rng"), "field sample_rng should be a list"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_files_are_refused_with_what_is_wrong(dataset: Dataset, tmp_path: Path, case: str) -> None:
    path, obj = saved(dataset, tmp_path)
    damage, expected = DAMAGE[case]
    result = damage(obj)
    rewrite(path, result if result is not None else obj)
    before = path.read_bytes()
    message = error_of(lambda: load_checkpoint(path))
    assert expected in message and str(path) in message
    assert path.read_bytes() == before


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "is empty"),
    (b"  \n", "is empty"),
    (b"emma\nolivia\n", "not a microgpt checkpoint (not JSON)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a microgpt checkpoint"),
    (b'{"format": "microgpt-checkpoint", "ver', "truncated"),
    (b'{"format": "microgpt-checkpoint",, }', "corrupt"),
    (b"[" * 100_000, "not a microgpt checkpoint"),
])
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(content)
    assert expected in error_of(lambda: read_checkpoint(path))


def test_truncated_checkpoint(dataset: Dataset, tmp_path: Path) -> None:
    path, _ = saved(dataset, tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) - 5):
        path.write_bytes(data[:cut])
        assert "truncated" in error_of(lambda: load_checkpoint(path))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in error_of(lambda: load_checkpoint(tmp_path / "nope.json"))
    assert "is a directory" in error_of(lambda: load_checkpoint(tmp_path))
