"""The help screen: every key as a list, then what each pane shows, why it matters and how to read it.

It is two Rich renderables in one scroller (a key grid and the panes' Markdown), not a tree of widgets, so that
it opens at once even while training runs, and the key list stays one line per key at 80 columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

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


class HelpScreen(ModalScreen[None]):
    """A scrollable page of help over the dashboard."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 110;
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
        """The help text in a scrolling box."""
        with VerticalScroll():
            yield Static(help_renderable(self.keys, self.panes), id="help-text")

    def on_mount(self) -> None:
        """Focus the scroller so the arrow keys scroll at once."""
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
