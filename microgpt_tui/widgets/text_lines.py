"""Long styled text shown line by line: each line is rendered once, and only the lines on screen are drawn.

A `Static` renders all of its text again whenever its styles are refreshed (every time its screen is shown
again), which for the help's hundreds of lines was most of the time it took to open.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget


class TextLines(Widget):
    """Styled lines (no wrapping), each rendered to a strip the first time it is on screen and kept."""

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    def __init__(self, text: Text, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._style_key: object = None
        self._set(text)

    def _set(self, text: Text) -> None:
        self._lines = list(text.split("\n", allow_blank=True))
        self._strips.clear()

    def update(self, text: Text) -> None:
        """Show other text."""
        self._set(text)
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """One row per line."""
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        """Line `y`, rendered once for this width and these colours."""
        style = self.rich_style
        key = (style, self.size.width)
        if key != self._style_key:
            self._strips.clear()
            self._style_key = key
        strip = self._strips.get(y)
        if strip is None:
            line = self._lines[y].copy() if y < len(self._lines) else Text()
            line.truncate(self.size.width, overflow="crop")
            strip = Strip(line.render(self.app.console)).apply_style(style).extend_cell_length(self.size.width, style)
            self._strips[y] = strip
        return strip
