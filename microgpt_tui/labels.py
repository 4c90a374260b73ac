"""How a token's character is written on screen so that a teacher can see it, and padded by terminal cells.

A space, a tab or a zero-width character printed as itself is invisible; a CJK character or an emoji takes two
cells, so padding by `len()` misaligns a column. Every pane writes token characters through `label()` and pads
them with `pad()`, which count terminal cells (`rich.cells.cell_len`), never code points.
"""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len

SPACE_LABEL = "␣"
PROBE_MARK = "probe · not trained on"  # on every pane that shows a probed word
CUT_MARK = "…"


def label(char: str) -> str:
    """A token's character as a visible label: `␣` for a space, control pictures for control characters."""
    if char == " ":
        return SPACE_LABEL
    if len(char) != 1:
        return char  # already a label (BOS), or empty
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ .. ␟, ␉ for a tab
    if code == 0x7F:
        return "␡"
    category = unicodedata.category(char)
    if category in ("Zs", "Zl", "Zp"):
        return "⍽"  # a space of another kind (no-break space, ideographic space, ...)
    if category in ("Mn", "Me", "Cf") or cell_len(char) == 0:
        return f"◌{char}" if category in ("Mn", "Me") else f"<U+{code:04X}>"  # combining mark / invisible format
    return char


def quoted(text: str) -> str:
    """A name in quotes with its spaces kept, except a space at either end, shown as `␣` (else invisible)."""
    core = text.strip(" ")
    if not core:
        return f"“{SPACE_LABEL * len(text)}”"
    start = len(text) - len(text.lstrip(" "))
    end = len(text) - len(text.rstrip(" "))
    return f"“{SPACE_LABEL * start}{core}{SPACE_LABEL * end}”"


def pad(text: str, width: int, align: str = "center") -> str:
    """`text` padded with spaces to `width` terminal cells (never cut): "left", "right" or "center"."""
    gap = max(0, width - cell_len(text))
    if align == "left":
        return text + " " * gap
    if align == "right":
        return " " * gap + text
    return " " * (gap // 2) + text + " " * (gap - gap // 2)


def cut_doc(doc: str, predictions: int) -> tuple[str, bool]:
    """The part of a document a step trained on (`predictions` targets), `…`-marked when it was cut.

    A document of n characters has n + 1 targets (its letters, then the end); the block size may leave fewer.
    """
    if len(doc) + 1 <= predictions:
        return doc, False
    return doc[:predictions] + CUT_MARK, True
