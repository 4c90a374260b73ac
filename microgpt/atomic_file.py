"""Writing files so that nothing the user had is lost: whole-file replacement and whole-line appends.

    write_atomically(path, payload, "checkpoint")   # a temp file beside it, fsync, rename: old or new, never half
    check_writable(path, "JSON log")                 # before a long computation, so a typo fails at once
    log = LineFile.open(path, append=True)           # appends whole lines; a torn last line is dropped first

Every failure raises `AtomicWriteError` (or `LineFileError` for an appended file), whose message is one line
saying what could not be written, why, and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import IO


class AtomicWriteError(Exception):
    """A file that could not be written; str() is one line: what, where, why and what to do."""


class LineFileError(AtomicWriteError):
    """A line-by-line file (a log) that could not be opened or appended to."""


def check_writable(path: str | Path, what: str) -> None:
    """Raise AtomicWriteError unless a file can be written at `path` (tried with a temp file, then removed)."""
    path = Path(path)
    if path.is_dir():
        raise AtomicWriteError(explain(path, IsADirectoryError(errno.EISDIR, "Is a directory"), what))
    if path.exists() and not path.is_file():
        raise AtomicWriteError(f"cannot write the {what} to {path}: it exists and is not a regular file; "
                               "choose another path")
    tmp = None
    try:
        fd, tmp = _create_temp(path)
        os.close(fd)
    except OSError as error:
        raise AtomicWriteError(explain(path, error, what)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_atomically(path: str | Path, payload: bytes, what: str) -> None:
    """Write to a temp file in the same folder, flush and fsync it, then rename it onto `path`.

    A failure (or Ctrl-C) at any point leaves the previous file at `path` untouched and no temp file behind.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        check_writable(path, what)  # raises the message for a directory or a device
    tmp = None
    try:
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as error:
        raise AtomicWriteError(explain(path, error, what)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class LineFile:
    """A text file written one whole line at a time: one write per line, flushed, so a crash tears at most one."""

    def __init__(self, path: Path, stream: IO[str], what: str, dropped_torn: bool = False) -> None:
        self.path = path
        self.what = what
        self._stream = stream
        self.fresh = stream.tell() == 0  # nothing was in the file: a header goes first
        self.dropped_torn = dropped_torn  # a last line without its newline was cut when the file was opened

    @classmethod
    def open(cls, path: str | Path, what: str, append: bool) -> LineFile:
        """Open `path` to append to (dropping a torn last line first) or to write anew."""
        path = Path(path)
        if path.is_dir():
            raise LineFileError(explain(path, IsADirectoryError(errno.EISDIR, "Is a directory"), what))
        if path.exists() and not path.is_file():
            raise LineFileError(f"cannot write the {what} to {path}: it is not a regular file; choose another path")
        try:
            dropped = append and path.exists() and drop_torn_line(path)
            stream = open(path, "a" if append else "w", encoding="utf-8", newline="\n")
        except OSError as error:
            raise LineFileError(explain(path, error, what)) from None
        return cls(path, stream, what, dropped)

    def lines(self) -> list[str]:
        """The whole lines already in the file (without their newlines)."""
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise LineFileError(f"cannot read the {self.what} {self.path}: {error}; choose another path") from None

    def keep_lines(self, keep: int) -> None:
        """Cut the file after its first `keep` lines."""
        try:
            data = self.path.read_bytes()
            end = 0
            for _ in range(keep):
                end = data.index(b"\n", end) + 1
            self._stream.flush()
            os.truncate(self.path, end)
        except (OSError, ValueError) as error:
            raise LineFileError(f"cannot shorten the {self.what} {self.path}: {error}; choose another path") from None
        self.fresh = end == 0

    def write_line(self, line: str) -> None:
        """Append one line (it must not contain a newline) in a single write, and flush it."""
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except OSError as error:
            raise LineFileError(explain(self.path, error, self.what)) from None
        self.fresh = False

    def close(self) -> None:
        """Close the file (a failure to flush is said, once)."""
        try:
            self._stream.close()
        except OSError as error:
            raise LineFileError(explain(self.path, error, self.what)) from None


def drop_torn_line(path: Path) -> bool:
    """Cut a last line that has no newline (a write torn by a crash); True if one was dropped."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return False
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        chunk = 1 << 16
        end = size
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - chunk)
            f.seek(start)
            block = f.read(end - start)
            i = block.rfind(b"\n")
            if i >= 0:
                f.truncate(start + i + 1)
                return True
            end = start
        f.truncate(0)
        return True


def _create_temp(path: Path) -> tuple[int, str]:
    """Create a new hidden temp file beside `path` (permissions as an ordinary new file); its fd and name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", str(path.parent))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def explain(path: Path, error: OSError, what: str) -> str:
    """One line for a failed write: what, where, why, and what to do."""
    folder = path.parent
    head = f"cannot write the {what} to {path}"
    if isinstance(error, FileNotFoundError):
        return f"{head}: folder {folder} does not exist; create it or choose another path"
    if isinstance(error, NotADirectoryError):
        return f"{head}: {folder} is not a folder; choose another path"
    if isinstance(error, IsADirectoryError) or path.is_dir():
        return f"{head}: it is a directory; give a file name inside it, such as {path / 'run.json'}"
    if isinstance(error, PermissionError):
        return f"{head}: permission denied in {folder}; choose a folder you can write to"
    if error.errno == errno.ENOSPC:
        return f"{head}: the disk is full; free some space or choose another disk"
    if error.errno == errno.EDQUOT:
        return f"{head}: the disk quota is exceeded; free some space or choose another disk"
    if error.errno == errno.EROFS:
        return f"{head}: the file system is read-only; choose another path"
    return f"{head}: {error.strerror or error}; choose another path"
