"""Colour modes and the small drawing helpers every pane shares: heat cells, sparklines, number formats.

The terminal may show 16.7 million colours, 256 (what an SSH session usually gets: OpenSSH does not forward
COLORTERM), 16, or none at all (NO_COLOR). Heat cells use a viridis-like ramp: interpolated in truecolor, picked
by hand from the xterm-256 cube in 256 colours (so that neighbouring levels never collapse into one colour), and
shade characters ` ░▒▓█` in 16 colours and without colour.

In 16 colours and without colour the app uses `themes.TERMINAL_THEME`. This module imports no Textual: the
command line imports it before it tells Textual (through the environment) which colour system to use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

from rich.color import Color
from rich.style import Style
from rich.text import Text

ColorMode = Literal["truecolor", "256", "16", "none"]
COLOR_MODES: tuple[str, ...] = get_args(ColorMode)

# Rich's names for the colour systems of each mode (what Textual's TEXTUAL_COLOR_SYSTEM accepts).
RICH_COLOR_SYSTEMS: dict[str, str] = {"truecolor": "truecolor", "256": "256", "16": "standard", "none": "standard"}

VIRIDIS: tuple[tuple[int, int, int], ...] = (
    (0x44, 0x01, 0x54), (0x48, 0x24, 0x75), (0x41, 0x44, 0x87), (0x35, 0x5F, 0x8D), (0x2A, 0x78, 0x8E),
    (0x21, 0x91, 0x8C), (0x22, 0xA8, 0x84), (0x44, 0xBF, 0x70), (0x7A, 0xD1, 0x51), (0xBD, 0xDF, 0x26),
    (0xFD, 0xE7, 0x25),
)
# The same ramp in the xterm-256 palette: nearest cube colours, with collisions moved to a distinct neighbour.
XTERM_RAMP: tuple[int, ...] = (53, 54, 60, 24, 31, 30, 36, 71, 113, 148, 220)
SHADES = " ░▒▓█"
SPARKS = "▁▂▃▄▅▆▇█"


def detect_color_mode(environ: Mapping[str, str] | None = None) -> ColorMode:
    """The colour mode a terminal with this environment supports (NO_COLOR wins; then COLORTERM, TERM).

    NO_COLOR counts when it is set to anything but the empty string (no-color.org).
    """
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return "none"
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    term = env.get("TERM", "").lower()
    if "256" in term:
        return "256"
    if term in ("", "dumb"):
        return "none"
    return "16"


def heat_level(value: float, levels: int) -> int:
    """Which of `levels` equal steps a weight in [0, 1] falls in (anything not finite counts as 0)."""
    if not math.isfinite(value) or value <= 0:
        return 0
    return min(levels - 1, int(value * levels))


def shade_level(value: float) -> int:
    """Which shade character shows a weight: blank below 0.05 (as good as nothing), then one per quarter."""
    if not math.isfinite(value) or value < 0.05:
        return 0
    return min(len(SHADES) - 1, 1 + int(value * (len(SHADES) - 1)))


def heat_cell(value: float, mode: ColorMode, width: int = 2) -> tuple[str, Style]:
    """Text and style of one heatmap cell for a weight in [0, 1]."""
    if mode in ("16", "none"):
        return SHADES[shade_level(value)] * width, Style.null()
    return " " * width, Style(bgcolor=heat_color(value, mode))


def heat_color(value: float, mode: ColorMode) -> Color:
    """The ramp colour of a weight in [0, 1] (truecolor or 256 modes)."""
    if mode == "256":
        return Color.from_ansi(XTERM_RAMP[heat_level(value, len(XTERM_RAMP))])
    v = min(1.0, max(0.0, value if math.isfinite(value) else 0.0)) * (len(VIRIDIS) - 1)
    i = min(int(v), len(VIRIDIS) - 2)
    f = v - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    r, g, bl = (round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return Color.from_rgb(r, g, bl)


def sparkline(values: Sequence[float], lo: float | None = None, hi: float | None = None) -> str:
    """One block character per value, scaled between lo and hi (default: the values' own range)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    lo = min(finite) if lo is None else lo
    hi = max(finite) if hi is None else hi
    span = hi - lo
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append("?")
        elif span <= 0:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            k = round((v - lo) / span * (len(SPARKS) - 1))
            out.append(SPARKS[min(len(SPARKS) - 1, max(0, k))])
    return "".join(out)


def compact(n: float) -> str:
    """A count in at most about 5 characters: 987, 6.1k, 59.6k, 1.2M."""
    if n < 1000:
        return f"{n:.0f}"
    if n < 100_000:
        return f"{n / 1000:.1f}k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def sci(x: float) -> str:
    """A positive quantity in 7 characters of scientific notation: 9.7e-01."""
    return f"{x:.1e}" if math.isfinite(x) else f"{x!s:>7}"


def prob(p: float) -> str:
    """A probability in 3 or 4 characters: .41, .07, 1.0, and <.01 when it would round to .00 (0 if it is 0)."""
    if p >= 0.995:
        return "1.0"
    if p < 0.005:
        return "<.01" if p > 0 else "0"
    return f"{p:.2f}"[1:]


def pack(chunks: Sequence[Text], width: int, max_lines: int, sep: str = "  ") -> list[Text]:
    """Lay chunks of text left to right into at most `max_lines` lines of `width` cells (the rest is dropped)."""
    lines = [Text(no_wrap=True, overflow="ellipsis")]
    for chunk in chunks:
        line = lines[-1]
        if line.cell_len and line.cell_len + len(sep) + chunk.cell_len > width:
            if len(lines) == max_lines:
                break
            lines.append(Text(no_wrap=True, overflow="ellipsis"))
            line = lines[-1]
        if line.cell_len:
            line.append(sep)
        line.append_text(chunk)
    return lines


def append_runs(text: Text, cells: Sequence[tuple[str, Style]]) -> Text:
    """Append cells to `text`, one span per run of equal styles (every change of style costs bytes on screen)."""
    run, style = "", None
    for cell, cell_style in cells:
        if cell_style != style and run:
            text.append(run, style=style)
            run = ""
        run += cell
        style = cell_style
    if run:
        text.append(run, style=style)
    return text


def wrap(text: str, width: int, style: str = "dim") -> list[Text]:
    """A sentence broken into lines of at most `width` cells, at spaces."""
    return pack([Text(word, style=style) for word in text.split()], width, max_lines=1_000, sep=" ")
