"""Documents and the character-level tokenizer.

A dataset is a UTF-8 text file with one document per line, read exactly as the reference reads it: text-mode
line iteration (universal newlines), every line stripped, empty lines dropped. The sorted unique characters of
all documents are the token ids 0..V-1, and BOS = V starts and ends every document:

    encode("emma") = [BOS, e, m, m, a, BOS]        vocab_size = V + 1

`load_dataset` accepts a path or the name of a shipped dataset (`SHIPPED`). A file that cannot be used raises
`DataError`, whose message is one line saying what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SHIPPED: tuple[str, ...] = ("names", "surnames")


class DataError(ValueError):
    """A dataset that cannot be used; str() is one line saying what is wrong and what to do."""


@dataclass(frozen=True)
class Dataset:
    """The documents of one file and the tokenizer they define."""

    name: str  # the shipped name ("names"), or the file name for a path
    path: str  # resolved path of the file read ("" for documents made in memory)
    docs: tuple[str, ...]  # documents in file order (not shuffled: the trainer shuffles)
    sha256: str  # hex sha256 of the file's bytes ("" for documents made in memory)
    uchars: tuple[str, ...]  # sorted unique characters of all documents: token ids 0..V-1
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)  # character -> token id

    def __post_init__(self) -> None:
        object.__setattr__(self, "stoi", {ch: i for i, ch in enumerate(self.uchars)})

    @classmethod
    def from_docs(cls, docs: Iterable[str], name: str = "docs", path: str = "", sha256: str = "") -> Dataset:
        """A dataset of the given documents, with the vocabulary they use."""
        docs = tuple(docs)
        return cls(name, path, docs, sha256, tuple(sorted(set("".join(docs)))))

    @property
    def bos(self) -> int:
        """The token that begins and ends every document: the id after the last character."""
        return len(self.uchars)

    @property
    def vocab_size(self) -> int:
        """Number of token ids: the characters and BOS."""
        return len(self.uchars) + 1

    def encode(self, doc: str) -> list[int]:
        """[BOS] + the id of each character + [BOS]."""
        try:
            return [self.bos] + [self.stoi[ch] for ch in doc] + [self.bos]
        except KeyError as error:
            raise DataError(f"character {error.args[0]!r} is not in the vocabulary of dataset {self.name!r}; "
                            f"use only these characters: {''.join(self.uchars)!r}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of the ids, BOS left out."""
        return "".join(self.uchars[i] for i in ids if i != self.bos)

    def char(self, token_id: int) -> str:
        """The character of one token id, or "" for BOS."""
        return "" if token_id == self.bos else self.uchars[token_id]


def shipped_path(name: str) -> Path:
    """The file of a shipped dataset: datasets/<name>.txt.

    An installed wheel holds it at microgpt/datasets/ beside this module; an editable install (which does not
    expose force-included files) reads it from the repository's top-level datasets/.
    """
    if name not in SHIPPED:
        raise DataError(f"no shipped dataset called {name!r}; the shipped datasets are {', '.join(SHIPPED)}")
    here = Path(__file__).resolve().parent
    folders = (here / "datasets", here.parent / "datasets")
    for folder in folders:
        path = folder / f"{name}.txt"
        if path.is_file():
            return path
    raise DataError(f"the shipped dataset {name!r} is missing from this installation "
                    f"(looked in {' and '.join(str(f) for f in folders)}); reinstall microgpt-tui")


def read_docs(data: bytes) -> list[str]:
    """The documents in a file's bytes, as the reference reads them: text-mode lines, stripped, non-empty."""
    lines = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")  # the same decoding and newlines as open()
    return [line.strip() for line in lines if line.strip()]


def load_dataset(spec: str = "names") -> Dataset:
    """The dataset at a path, or a shipped dataset by name; an existing path wins over a shipped name."""
    path = Path(spec).expanduser()
    if path.exists() or spec not in SHIPPED:
        name = path.name
    else:
        name, path = spec, shipped_path(spec)
    hint = "give a UTF-8 text file with one document per line"
    if not path.exists():
        raise DataError(f"no such file: {spec!r}; {hint}, or a shipped dataset: {', '.join(SHIPPED)}")
    if path.is_dir():
        raise DataError(f"{spec!r} is a directory, not a file; {hint}")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise DataError(f"cannot read {spec!r}: permission denied; check the file's permissions") from None
    except OSError as error:
        raise DataError(f"cannot read {spec!r}: {error.strerror or error}; {hint}") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(f"{spec!r} looks like a binary file (a NUL byte at offset {nul}); {hint}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{spec!r} is not UTF-8 text (invalid byte at offset {error.start}); "
                        f"convert it to UTF-8 or {hint}") from None
    docs = read_docs(data)
    if not docs:
        raise DataError(f"{spec!r} has no documents (it is empty or only blank lines); {hint}")
    sha256 = hashlib.sha256(data).hexdigest()
    return Dataset.from_docs(docs, name=name, path=str(path.resolve()), sha256=sha256)
