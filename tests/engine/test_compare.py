"""Runs side by side: a saved run's losses read back from a checkpoint or a JSON log, and a legend of what differs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from microgpt import cli
from microgpt.compare import CompareError, SavedRun, legend, read_run
from microgpt.config import Config
from microgpt.schedule import Schedule

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
FLAGS = ["--n-embd", "8", "--n-head", "2", "--block-size", "8", "--steps", "30", "--samples", "2"]
CONFIG = Config(n_embd=8, n_head=2, block_size=8, steps=30)


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return str(path)


def test_a_log_and_a_checkpoint_give_the_same_losses(tiny: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    log, save = tmp_path / "steps.jsonl", tmp_path / "run.json"
    assert cli.main(["train", "--dataset", tiny, *FLAGS, "--lr", "0.02", "--seed", "7", "--log-json", str(log),
                     "--save", str(save)]) == 0
    printed = [float(line.split("loss ")[1]) for line in capsys.readouterr().out.splitlines()
               if line.startswith("step ")]
    from_log, from_checkpoint = read_run(log), read_run(save)
    assert from_log.losses == from_checkpoint.losses and len(from_log.losses) == 30
    assert [round(x, 4) for x in from_log.losses] == printed
    assert from_log.config == from_checkpoint.config == replace(CONFIG, lr=0.02, seed=7)
    assert from_log.dataset == from_checkpoint.dataset == "tiny.txt"
    assert legend(from_log, CONFIG, "tiny.txt") == "steps.jsonl: lr 0.02, seed 7"
    assert legend(from_checkpoint, replace(CONFIG, lr=0.02, seed=7), "tiny.txt") == "run.json: same settings"
    assert legend(from_checkpoint, replace(CONFIG, lr=0.02, seed=7, n_embd=16), "names") == \
        "run.json: width 8, dataset tiny.txt"


def test_a_resumed_log_and_a_torn_last_line(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, save = tmp_path / "steps.jsonl", tmp_path / "run.json"
    cli.main(["train", "--dataset", tiny, *FLAGS, "--until", "12", "--log-json", str(log), "--save", str(save)])
    cli.main(["train", "--resume", str(save), "--log-json", str(log)])
    whole = read_run(log)
    assert len(whole.losses) == 30 and whole.losses == read_run(save).losses
    with log.open("a") as f:
        f.write('{"step": 31, "lo')
    assert read_run(log).losses == whole.losses


def test_a_changed_schedule_is_named(tiny: str) -> None:
    changed = Schedule.plain(0.01, 30).set_lr(0.1, 11)
    saved = SavedRun("branch.json", "tiny.txt", CONFIG, changed, (3.0,) * 12)
    assert legend(saved, CONFIG, "tiny.txt", Schedule.plain(0.01, 30)) == "branch.json: lr changed from step 11"
    assert legend(SavedRun("old.jsonl", None, None, None, (3.0,)), CONFIG, "names") == "old.jsonl"


def test_a_checkpoint_is_read_once(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save = tmp_path / "run.json"
    cli.main(["train", "--dataset", tiny, *FLAGS, "--until", "3", "--save", str(save)])
    reads: list[Path] = []
    read_bytes = Path.read_bytes

    def counted(self: Path) -> bytes:
        reads.append(self)
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    assert len(read_run(save).losses) == 3
    assert reads == [save]


@pytest.mark.parametrize("content", [b"", b"\x00\x01binary", b"hello\n", b'{"step": 2, "loss": 3}\n',
                                     b'{"run": {}}\n', b'{"format": "microgpt-checkpoint"}', b'{"step": 1}\n',
                                     pytest.param(b"[" * 100_000, id="nested too deep"),
                                     pytest.param(b'{"run": 1}\n{"x": ' + b"[" * 100_000, id="a line nested too deep")])
def test_bad_files_are_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(CompareError) as info:
        read_run(path)
    assert str(info.value) and "\n" not in str(info.value)
    for missing in (tmp_path / "nope.json", tmp_path):
        with pytest.raises(CompareError, match="no such file|directory"):
            read_run(missing)


def test_a_log_names_schedule_changes_as_its_checkpoint_does(tiny: str, tmp_path: Path) -> None:
    """A log's step lines carry each step's schedule length and rate: an extension made on resume (and a rate
    changed with it) is named in its legend as in the checkpoint's, not "same settings"."""
    log, save = tmp_path / "steps.jsonl", tmp_path / "run.json"
    cli.main(["train", "--dataset", tiny, *FLAGS, "--until", "10", "--log-json", str(log), "--save", str(save)])
    cli.main(["train", "--resume", str(save), "--until", "20", "--log-json", str(log)])
    cli.main(["train", "--resume", str(save), "--steps", "60", "--until", "25", "--log-json", str(log)])
    from_log, from_checkpoint = read_run(log), read_run(save)
    assert from_log.losses == from_checkpoint.losses and len(from_log.losses) == 25
    assert from_log.schedule is not None and from_checkpoint.schedule is not None
    plain = Schedule.plain(CONFIG.lr, CONFIG.steps)
    said = legend(from_checkpoint, CONFIG, "tiny.txt", plain)
    assert said == "run.json: steps 60, lr changed from step 21"  # where the extension began, not step 2
    assert legend(from_log, CONFIG, "tiny.txt", plain) == said.replace("run.json", "steps.jsonl")
    for k in range(1, 26):  # the rates rebuilt from the lines are the ones the run used
        assert from_log.schedule.lr_at(k) == from_checkpoint.schedule.lr_at(k)
