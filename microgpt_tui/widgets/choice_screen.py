"""A small question over the dashboard, answered with one key: each choice names its key; any other key leaves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True)
class Choice:
    """One answer: the keys that give it, what it does, and the value the screen returns."""

    keys: tuple[str, ...]  # Textual key names, e.g. ("q", "y")
    label: str  # e.g. "quit"
    value: str


class ChoiceScreen(ModalScreen[str | None]):
    """Asks one question; returns the chosen value, or None for any key that is not a choice (stay as you were)."""

    DEFAULT_CSS = """
    ChoiceScreen {
        align: center middle;
    }
    ChoiceScreen > Vertical {
        width: auto;
        max-width: 90%;
        height: auto;
        border: round $error;
        background: $surface;
        padding: 0 1;
    }
    ChoiceScreen.-calm > Vertical {
        border: round $accent;
    }
    ChoiceScreen Static {
        width: auto;
    }
    """

    def __init__(self, title: str, body: str, choices: Sequence[Choice], *, other: str = "stay",
                 alarm: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="" if alarm else "-calm")
        self.title_text = title
        self.body = body
        self.choices = tuple(choices)
        self.other = other  # what any other key does, in words

    def compose(self) -> ComposeResult:
        """The question, then one line per choice."""
        with Vertical() as box:
            box.border_title = self.title_text
            if self.body:
                yield Static(self.body, id="body")
            lines = Text()
            for choice in self.choices:
                lines.append(f"\n  {' / '.join(choice.keys)}", style="bold")
                lines.append(f"  {choice.label}")
            lines.append("\n  any other key", style="bold")
            lines.append(f"  {self.other}")
            yield Static(lines, id="choices")

    def on_key(self, event: events.Key) -> None:
        """The choice whose key was pressed; None for any other key."""
        event.stop()
        event.prevent_default()
        for choice in self.choices:
            if event.key in choice.keys or (event.character is not None and event.character in choice.keys):
                self.dismiss(choice.value)
                return
        self.dismiss(None)
