"""The engine's own source lines, read at run time, so that a learner can match numbers with the code.

A function's lines that compute a unit's numbers (not its setup) are marked in the engine's source by two comment
lines, `# inside: NAME` before them and `# inside: end` after; `source_span(fn, NAME)` shows only those lines.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from microgpt.report import SourceSpan

ROOT = Path(__file__).resolve().parent.parent  # paths are shown relative to the folder holding microgpt/
MARK = "# inside: "


@cache
def source_span(fn: Callable[..., Any], part: str | None = None) -> SourceSpan:
    """The lines that define `fn` (a function or method of microgpt), or only its part marked `part`, where they are."""
    lines, first = inspect.getsourcelines(fn)
    path = Path(inspect.getsourcefile(fn) or "").resolve()
    try:
        shown = path.relative_to(ROOT).as_posix()
    except ValueError:
        shown = str(path)
    text = [line.rstrip("\n") for line in lines]
    if part is not None:
        marks = [line.strip() for line in text]
        start = marks.index(MARK + part) + 1  # a missing mark is the engine's bug: ValueError says which
        end = marks.index(MARK + "end", start)
        text, first = text[start:end], first + start
    return SourceSpan(fn.__qualname__, shown, first, tuple(text))
