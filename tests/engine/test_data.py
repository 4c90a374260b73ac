"""Documents and tokenizer: files read as the reference reads them, one clear error for each unusable file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from microgpt.data import SHIPPED, DataError, Dataset, load_dataset, read_docs, shipped_path


def reference_read(path: Path) -> list[str]:
    """How the reference reads its input file."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def write(tmp_path: Path, data: bytes, name: str = "docs.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def one_line_error(spec: str) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(spec)
    message = str(info.value)
    assert "\n" not in message and message
    return message


# --- the shipped datasets ---

def test_names_is_the_default_and_has_5163_names() -> None:
    ds = load_dataset()
    assert ds.name == "names"
    assert len(ds.docs) == 5163
    assert ds.uchars == tuple("abcdefghijklmnopqrstuvwxyz")
    assert ds.vocab_size == 27 and ds.bos == 26


def test_surnames() -> None:
    ds = load_dataset("surnames")
    assert len(ds.docs) == 88799
    assert ds.vocab_size == 27


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_is_read_like_the_reference(name: str) -> None:
    path = shipped_path(name)
    ds = load_dataset(name)
    assert ds.path == str(path.resolve())
    assert ds.docs == tuple(reference_read(path))
    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_shipped_name() -> None:
    with pytest.raises(DataError, match="names, surnames"):
        shipped_path("pokemon")


def test_an_existing_path_wins_over_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, b"zed\nzoe\n", name="names")
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("names")
    assert ds.docs == ("zed", "zoe")
    assert ds.path == str(tmp_path.resolve() / "names")


def test_reference_names_txt(reference_names: Path) -> None:
    ds = load_dataset(str(reference_names))
    assert len(ds.docs) == 32033
    assert ds.vocab_size == 27
    assert ds.name == "names.txt"
    assert ds.sha256.startswith("0a30b555") and ds.sha256.endswith("8cc4d")


# --- reading a file ---

def test_docs_keep_file_order_and_are_stripped(tmp_path: Path) -> None:
    ds = load_dataset(str(write(tmp_path, b"  zoe \n\n\t\namy\r\nbob\rcy")))
    assert ds.docs == ("zoe", "amy", "bob", "cy")
    assert ds.name == "docs.txt"
    assert ds.uchars == tuple("abcemoyz")


def test_lines_split_exactly_as_text_mode_iteration(tmp_path: Path) -> None:
    # str.splitlines() would also split at \x0b \x0c \x1c \x85 \u2028; text-mode files split only at newlines
    tricky = "a\x0bb\nc\x0cd\r\ne\x1cf\x85g\u2028h\rbom\ufeff\n \u00a0x\u3000 \n"
    # long enough to cross the text reader's buffer boundaries, with a byte-order mark first
    path = write(tmp_path, ("\ufeff" + tricky * 3000).encode("utf-8"))
    assert read_docs(path.read_bytes()) == reference_read(path)
    assert load_dataset(str(path)).docs == tuple(reference_read(path))


def test_unicode_documents(tmp_path: Path) -> None:
    ds = load_dataset(str(write(tmp_path, "zoë\nbjörk\nπ\n".encode())))
    assert ds.docs == ("zoë", "björk", "π")
    assert ds.uchars == tuple(sorted(set("zoëbjörkπ")))


# --- the tokenizer ---

def test_encode_decode_round_trip() -> None:
    ds = Dataset.from_docs(["emma", "bob"])
    assert ds.uchars == ("a", "b", "e", "m", "o")
    assert ds.bos == 5 and ds.vocab_size == 6
    assert ds.encode("emma") == [5, 2, 3, 3, 0, 5]
    assert ds.encode("") == [5, 5]
    assert ds.decode([5, 2, 3, 3, 0, 5]) == "emma"
    assert ds.decode([]) == ""
    assert [ds.char(i) for i in range(ds.vocab_size)] == ["a", "b", "e", "m", "o", ""]


def test_encode_of_an_unknown_character() -> None:
    ds = Dataset.from_docs(["emma"])
    with pytest.raises(DataError, match="'z'"):
        ds.encode("zoe")


def test_dataset_is_frozen_and_comparable() -> None:
    a = Dataset.from_docs(["ab", "c"])
    assert a == Dataset.from_docs(["ab", "c"])
    assert hash(a) == hash(Dataset.from_docs(["ab", "c"]))
    with pytest.raises(AttributeError):
        a.name = "other"  # type: ignore[misc]


# --- errors: one line, what is wrong and what to do ---

def test_missing_file_names_the_shipped_datasets(tmp_path: Path) -> None:
    message = one_line_error(str(tmp_path / "nope.txt"))
    assert "no such file" in message and "nope.txt" in message
    assert "names, surnames" in message


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in one_line_error(str(tmp_path))


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n\t\n"])
def test_no_documents(tmp_path: Path, data: bytes) -> None:
    assert "no documents" in one_line_error(str(write(tmp_path, data)))


def test_binary_file(tmp_path: Path) -> None:
    message = one_line_error(str(write(tmp_path, b"ab\ncd\x00\x01\x02")))
    assert "binary" in message and "offset 5" in message


def test_not_utf8(tmp_path: Path) -> None:
    message = one_line_error(str(write(tmp_path, "zoe\nrené\n".encode("latin-1"))))
    assert "not UTF-8" in message and "offset 7" in message


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, b"zoe\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert "permission denied" in one_line_error(str(path))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"zoe\n")
    path.chmod(0)
    try:
        assert "permission denied" in one_line_error(str(path))
    finally:
        path.chmod(0o644)


def test_data_error_is_a_value_error() -> None:
    assert issubclass(DataError, ValueError)
