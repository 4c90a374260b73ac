"""Fixtures shared by every test folder: the reference's data file and the tmux end-to-end switch."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_NAMES = REPO.parent / "shared" / "datasets" / "names.txt"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests marked `tmux` where there is no tmux to drive a real terminal."""
    if item.get_closest_marker("tmux") and shutil.which("tmux") is None:
        pytest.skip("tmux is not on PATH: install it (e.g. apt-get install tmux) to run the end-to-end tests")


@pytest.fixture(scope="session")
def reference_names() -> Path:
    """makemore's names.txt, the reference's training set, kept beside the repository (never inside it)."""
    if not REFERENCE_NAMES.is_file():
        pytest.skip(f"makemore's names.txt is not at {REFERENCE_NAMES}: put a copy there to run this test")
    return REFERENCE_NAMES


@pytest.fixture(scope="session")
def tmux() -> str:
    """The tmux executable; the test is skipped where tmux is not installed."""
    path = shutil.which("tmux")
    if path is None:
        pytest.skip("tmux is not on PATH: install it (e.g. apt-get install tmux) to run the end-to-end tests")
    return path


# -- reading a terminal's escape stream (tmux `capture-pane -e -p`) -----------------------------------------------

SGR_SEQUENCE = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESCAPE = re.compile(r"\x1b(?:\[[0-9;:?]*[A-Za-ln-z]|\][^\x07]*\x07|[()][0-9A-Z])")


@dataclass(frozen=True)
class Cell:
    """One character cell: its text and the pen it was drawn with (colours as `default`, `ansi:N`, `256:N`,
    `rgb:R,G,B`; `ansi:N` covers the 16 colours of SGR 30-37/90-97 and 40-47/100-107)."""

    char: str
    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    dim: bool = False
    underline: bool = False
    reverse: bool = False

    @property
    def shown_fg(self) -> str:
        """The colour the glyph is drawn in, after reverse video (`default-fg`/`default-bg`: the terminal's)."""
        return _shown(self.bg, "default-bg") if self.reverse else _shown(self.fg, "default-fg")

    @property
    def shown_bg(self) -> str:
        """The colour behind the glyph, after reverse video."""
        return _shown(self.fg, "default-fg") if self.reverse else _shown(self.bg, "default-bg")


def _shown(colour: str, default: str) -> str:
    return default if colour == "default" else colour


def _colour(params: list[str], i: int) -> tuple[str, int]:
    """The extended colour starting at params[i] (after 38/48): `256:N` or `rgb:R,G,B`, and the next index."""
    kind = params[i] if i < len(params) else ""
    if kind == "5":
        return f"256:{int(params[i + 1])}", i + 2
    if kind == "2":
        r, g, b = (int(p or 0) for p in params[i + 1: i + 4])
        return f"rgb:{r},{g},{b}", i + 4
    raise ValueError(f"unknown extended colour {params[i - 1:]!r}")


def sgr_colours(params: str) -> list[str]:
    """The colour parameters one SGR sequence sets (`39`, `49`, `38;5;16`, `30`, `48;2;1;2;3` ...), in order."""
    parts = params.replace(":", ";").split(";") if params else ["0"]
    found, i = [], 0
    while i < len(parts):
        code = int(parts[i] or 0)
        if code in (38, 48):
            colour, j = _colour(parts, i + 1)
            found.append(f"{code};{colour}")
            i = j
            continue
        if code in (39, 49) or 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
            found.append(str(code))
        i += 1
    return found


def parse_screen(ansi: str) -> list[list[Cell]]:
    """The cells of a captured screen, row by row, each with the pen in force when it was written."""
    rows: list[list[Cell]] = []
    pen = Cell("")
    for line in ansi.split("\n"):
        row: list[Cell] = []
        pos = 0
        for match in SGR_SEQUENCE.finditer(line):
            row.extend(replace(pen, char=ch) for ch in OTHER_ESCAPE.sub("", line[pos:match.start()]))
            pen = _apply_sgr(pen, match.group(1))
            pos = match.end()
        row.extend(replace(pen, char=ch) for ch in OTHER_ESCAPE.sub("", line[pos:]))
        rows.append(row)
    return rows


def _apply_sgr(pen: Cell, params: str) -> Cell:
    parts = params.replace(":", ";").split(";") if params else ["0"]
    i = 0
    while i < len(parts):
        code = int(parts[i] or 0)
        i += 1
        if code == 0:
            pen = Cell("")
        elif code in (38, 48):
            colour, i = _colour(parts, i)
            pen = replace(pen, **{"fg" if code == 38 else "bg": colour})
        elif code == 39:
            pen = replace(pen, fg="default")
        elif code == 49:
            pen = replace(pen, bg="default")
        elif 30 <= code <= 37 or 90 <= code <= 97:
            pen = replace(pen, fg=f"ansi:{code - 30 if code < 90 else code - 82}")
        elif 40 <= code <= 47 or 100 <= code <= 107:
            pen = replace(pen, bg=f"ansi:{code - 40 if code < 100 else code - 92}")
        elif code in (1, 2, 4, 7):
            pen = replace(pen, **{{1: "bold", 2: "dim", 4: "underline", 7: "reverse"}[code]: True})
        elif code == 22:
            pen = replace(pen, bold=False, dim=False)
        elif code == 24:
            pen = replace(pen, underline=False)
        elif code == 27:
            pen = replace(pen, reverse=False)
    return pen


def same_colour(a: str, b: str) -> bool:
    """Whether two colours are one on screen (`ansi:N` and `256:N` name the same colour for N < 16)."""
    def norm(c: str) -> str:
        if c.startswith("256:") and int(c[4:]) < 16:
            return f"ansi:{c[4:]}"
        return c
    return norm(a) == norm(b)


@pytest.fixture(scope="session")
def screen_cells() -> Callable[[str], list[list[Cell]]]:
    """`cells = screen_cells(ansi)`: a captured screen as rows of `Cell`s (see `parse_screen`)."""
    return parse_screen


def colour_codes(ansi: str) -> set[str]:
    """Every colour parameter the SGR sequences of a stream set (`39`, `38;256:16`, `41`, `48;rgb:1,2,3` ...)."""
    return {code for match in SGR_SEQUENCE.finditer(ansi) for code in sgr_colours(match.group(1))}


@pytest.fixture(scope="session")
def stream_colours() -> Callable[[str], set[str]]:
    """`stream_colours(ansi)`: the colour parameters used anywhere in an escape stream (see `colour_codes`)."""
    return colour_codes
