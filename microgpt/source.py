"""The engine's own source lines, read at run time, so that a learner can match numbers with the code."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from microgpt.report import SourceSpan

ROOT = Path(__file__).resolve().parent.parent  # paths are shown relative to the folder holding microgpt/


@cache
def source_span(fn: Callable[..., Any]) -> SourceSpan:
    """The lines that define `fn` (a function or method of microgpt), where they are."""
    lines, first = inspect.getsourcelines(fn)
    path = Path(inspect.getsourcefile(fn) or "").resolve()
    try:
        shown = path.relative_to(ROOT).as_posix()
    except ValueError:
        shown = str(path)
    return SourceSpan(fn.__qualname__, shown, first, tuple(line.rstrip("\n") for line in lines))
