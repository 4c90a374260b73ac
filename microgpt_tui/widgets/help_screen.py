"""The help screen: every key, then what each pane shows, why it matters and how to read it."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown


def help_markdown(keys: Sequence[tuple[str, str]], panes: Sequence[tuple[str, str]]) -> str:
    """The help text: a table of keys, then one section per pane (in the order given)."""
    parts = ["# microgpt-tui help", "", "A tiny GPT learns to invent names while you watch. "
             "Press `escape` or `?` to close this help; `up`/`down`/`pgup`/`pgdn` scroll it.", "",
             "## Keys", "", "| key | what it does |", "|---|---|"]
    parts += [f"| `{key}` | {description} |" for key, description in keys]
    for title, text in panes:
        parts += ["", f"## {title}", "", text.strip()]
    return "\n".join(parts) + "\n"


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

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        """The help text in a scrolling box."""
        with VerticalScroll():
            yield Markdown(self.markdown)

    def on_mount(self) -> None:
        """Focus the scroller so the arrow keys scroll at once."""
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
