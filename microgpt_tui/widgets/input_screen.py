"""A small question over the dashboard answered with a line of text (a step number, a path); escape cancels."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class InputScreen(ModalScreen[str | None]):
    """Asks for one value; `check` returns why a value is refused (or None), and the screen stays until it is good."""

    DEFAULT_CSS = """
    InputScreen {
        align: center middle;
    }
    InputScreen > Vertical {
        width: 70;
        max-width: 95%;
        height: auto;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    InputScreen #error {
        color: $error;
        height: auto;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without changing anything")]

    def __init__(self, title: str, prompt: str, *, value: str = "",
                 check: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.value = value
        self.check = check

    def compose(self) -> ComposeResult:
        """The prompt, the input, and a line for why a value was refused."""
        with Vertical() as box:
            box.border_title = self.title_text
            box.border_subtitle = "enter: ok · escape: cancel"
            yield Static(self.prompt)
            yield Input(self.value, id="value")
            yield Static("", id="error")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        why = self.check(value) if self.check is not None else None
        if why:
            self.query_one("#error", Static).update(why)
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        """Close, changing nothing."""
        self.dismiss(None)
