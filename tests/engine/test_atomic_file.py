"""Writing files: a checkpoint replaces the old file whole or not at all; a log is appended whole lines at a time."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from microgpt import atomic_file
from microgpt.atomic_file import AtomicWriteError, LineFile, LineFileError, check_writable, drop_torn_line
from microgpt.checkpoint import load_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.trainer import Trainer

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
SMALL = Config(n_embd=4, n_head=2, block_size=8, steps=40)


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return load_dataset(str(path))


def trained(dataset: Dataset, steps: int) -> Trainer:
    trainer = Trainer(dataset, SMALL)
    for _ in range(steps):
        trainer.step()
    return trainer


def error_of(fn: Callable[[], object], kind: type[Exception] = AtomicWriteError) -> str:
    """The message of the error that fn raises: one non-empty line."""
    with pytest.raises(kind) as info:
        fn()
    message = str(info.value)
    assert message and "\n" not in message
    return message


# --- saving safely ---

def test_failed_replace_keeps_the_previous_checkpoint(dataset: Dataset, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = trained(dataset, 3)
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    before = path.read_bytes()
    trainer.step()

    def disk_full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_file.os, "replace", disk_full)
    assert "disk is full" in error_of(lambda: save_checkpoint(trainer, path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.txt", "run.json"]  # no temp file left
    monkeypatch.undo()
    save_checkpoint(trainer, path)
    assert load_checkpoint(path).step_count == 4


def test_interrupted_write_keeps_the_previous_checkpoint(dataset: Dataset, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = trained(dataset, 3)
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    before = path.read_bytes()

    def ctrl_c(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_file.os, "fsync", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(trainer, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.txt", "run.json"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_read_only_folder(dataset: Dataset, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "run.json"
    trainer = trained(dataset, 1)
    save_checkpoint(trainer, path)
    before = path.read_bytes()
    trainer.step()
    folder.chmod(0o555)
    try:
        assert "permission denied" in error_of(lambda: save_checkpoint(trainer, path))
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)


def test_permission_denied_keeps_the_previous_checkpoint(dataset: Dataset, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = trained(dataset, 1)
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    before = path.read_bytes()
    trainer.step()

    def denied(*args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic_file.os, "open", denied)  # what a read-only folder does, even where tests run as root
    assert "permission denied" in error_of(lambda: save_checkpoint(trainer, path))
    assert "permission denied" in error_of(lambda: check_writable(path, "checkpoint"))
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_unwritable_places(dataset: Dataset, tmp_path: Path) -> None:
    trainer = Trainer(dataset, SMALL)
    assert "does not exist" in error_of(lambda: save_checkpoint(trainer, tmp_path / "nope" / "run.json"))
    assert "is a directory" in error_of(lambda: save_checkpoint(trainer, tmp_path))
    (tmp_path / "file").write_text("x")
    assert "not a folder" in error_of(lambda: save_checkpoint(trainer, tmp_path / "file" / "run.json"))
    if Path("/dev/null").exists():
        assert "not a regular file" in error_of(lambda: check_writable("/dev/null", "checkpoint"))
    assert "JSON log" in error_of(lambda: check_writable(tmp_path / "nope" / "log.jsonl", "JSON log"))
    check_writable(tmp_path / "new.json", "checkpoint")
    assert not (tmp_path / "new.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.txt", "file"]


def test_new_checkpoint_gets_ordinary_permissions(dataset: Dataset, tmp_path: Path) -> None:
    save_checkpoint(Trainer(dataset, SMALL), tmp_path / "run.json")
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert (tmp_path / "run.json").stat().st_mode & 0o777 == 0o666 & ~umask


# --- whole lines ---

def test_lines_are_appended_whole_and_flushed(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    file = LineFile.open(path, "JSON log", append=False)
    assert file.fresh
    file.write_line('{"a": 1}')
    assert path.read_text() == '{"a": 1}\n'  # flushed: readable before close
    file.close()
    file = LineFile.open(path, "JSON log", append=True)
    assert not file.fresh and not file.dropped_torn
    file.write_line('{"b": 2}')
    file.close()
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'


def test_one_write_per_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = LineFile.open(tmp_path / "log.jsonl", "JSON log", append=False)
    writes: list[str] = []
    real = file._stream.write

    def spy(text: str) -> int:
        writes.append(text)
        return real(text)

    monkeypatch.setattr(file._stream, "write", spy)
    file.write_line("x" * 100_000)
    file.write_line("y")
    file.close()
    assert writes == ["x" * 100_000 + "\n", "y\n"]


@pytest.mark.parametrize(("content", "kept", "dropped"), [
    (b"", b"", False),
    (b"one\ntwo\n", b"one\ntwo\n", False),
    (b"one\ntwo\n{\"step\": 3, \"lo", b"one\ntwo\n", True),
    (b"no newline at all", b"", True),
    (b"a\n" + b"x" * 200_000, b"a\n", True),  # the last newline is further back than one read
])
def test_a_torn_last_line_is_dropped(tmp_path: Path, content: bytes, kept: bytes, dropped: bool) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(content)
    assert drop_torn_line(path) == dropped
    assert path.read_bytes() == kept


def test_appending_drops_a_torn_line_first(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"step": 1}\n{"step": 2, "lo')
    file = LineFile.open(path, "JSON log", append=True)
    assert file.dropped_torn
    file.write_line('{"step": 2}')
    file.close()
    assert path.read_bytes() == b'{"step": 1}\n{"step": 2}\n'


def test_keep_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("a\nb\nc\n")
    file = LineFile.open(path, "JSON log", append=True)
    file.keep_lines(1)
    file.write_line("d")
    file.close()
    assert path.read_text() == "a\nd\n"


def test_unwritable_logs_are_log_errors(tmp_path: Path) -> None:
    message = error_of(lambda: LineFile.open(tmp_path / "nope" / "log.jsonl", "JSON log", append=False),
                       LineFileError)
    assert message.startswith("cannot write the JSON log to") and "does not exist" in message
    assert "is a directory" in error_of(lambda: LineFile.open(tmp_path, "JSON log", append=True), LineFileError)
