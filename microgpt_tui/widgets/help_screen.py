"""The help screen: every key as a list, then what each pane shows, why it matters and how to read it.

The key grid and the panes' Markdown are laid out once, at the width the box will have, into plain styled lines
(not a tree of widgets, and not a renderable that every layout pass lays out again), so that the help opens at
once even while training runs; the key list stays one line per key at 80 columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from microgpt_tui.widgets.text_lines import TextLines

INTRO = ("A tiny GPT learns to invent names while you watch. Press escape or ? to close this help; "
         "up/down/pgup/pgdn scroll it.")


def key_list(keys: Sequence[tuple[str, str]]) -> Table:
    """The keys as a two-column list: the key, then what it does (wrapped under itself, never under the key)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1)
    for key, description in keys:
        grid.add_row(key, description)
    return grid


def help_markdown(panes: Sequence[tuple[str, str]]) -> str:
    """The panes' help as Markdown: one section per pane (in the order given)."""
    parts: list[str] = []
    for title, text in panes:
        parts += [f"## {title}", "", text.strip(), ""]
    return "\n".join(parts)


def help_renderable(keys: Sequence[tuple[str, str]], panes: Sequence[tuple[str, str]]) -> RenderableType:
    """The whole help: the intro, the key list, then the panes."""
    return Group(Text("microgpt-tui help", style="bold"), Text(INTRO, style="dim"), Text(),
                 Text("Keys", style="bold underline"), key_list(keys), Text(),
                 Markdown(help_markdown(panes)))


_LAID_OUT: dict[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], int], Text] = {}


def help_text(keys: Sequence[tuple[str, str]], panes: Sequence[tuple[str, str]], width: int,
              console: Console) -> Text:
    """The help laid out once at `width` cells: styled lines that never need laying out again (kept for reuse)."""
    key = (tuple(keys), tuple(panes), width)
    if key not in _LAID_OUT:
        options = console.options.update_width(max(20, width))
        lines = console.render_lines(help_renderable(keys, panes), options, pad=False)
        text = Text(no_wrap=True, overflow="crop")
        for y, line in enumerate(lines):
            if y:
                text.append("\n")
            for segment in line:
                if not segment.control:
                    text.append(segment.text, segment.style)
        _LAID_OUT.clear()  # one layout is enough: the next one is for another width or another pane first
        _LAID_OUT[key] = text
    return _LAID_OUT[key]


def text_width(screen_width: int) -> int:
    """The width of the help's text in a terminal `screen_width` cells wide (see HelpScreen's CSS)."""
    box = min(110, screen_width * 9 // 10)
    return box - 2 - 2 - 1  # border, padding, scrollbar


class HelpScreen(ModalScreen[None]):
    """A scrollable page of help over the dashboard."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background;  /* opaque: the dashboard under it is not drawn again, so it opens at once */
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 110;
        scrollbar-size-vertical: 1;
        height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close help"),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]], panes: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = list(keys)
        self.panes = list(panes)

    def compose(self) -> ComposeResult:
        """The help text in a scrolling box, laid out for the width the box will have."""
        with VerticalScroll():
            yield TextLines(self._text(), id="help-text")

    def _text(self) -> Text:
        return help_text(self.keys, self.panes, text_width(self.app.size.width), self.app.console)

    def show_panes(self, panes: Sequence[tuple[str, str]]) -> None:
        """Show the panes' help in this order (the screen is kept and shown again: it opens at once)."""
        if list(panes) != self.panes:
            self.panes = list(panes)
            self.query_one("#help-text", TextLines).update(self._text())
            self.query_one(VerticalScroll).scroll_home(animate=False)

    def on_resize(self) -> None:
        """Lay the text out again for the new width."""
        self.query_one("#help-text", TextLines).update(self._text())

    def on_mount(self) -> None:
        """Focus the scroller so the arrow keys scroll at once."""
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
