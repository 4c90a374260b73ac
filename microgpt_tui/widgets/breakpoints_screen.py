"""The breakpoint list over the dashboard (`k`): the conditions that pause training, each on or off; add, toggle,
remove. The engine owns the list; this screen shows the app's copy of it and asks for changes with messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Static

from microgpt.breakpoints import FORMS, BreakpointError, parse
from microgpt_tui.widgets.input_screen import InputScreen


class BreakpointsScreen(ModalScreen[None]):
    """Lists the breakpoints; `a` adds one, space turns the selected one off or on, `d` removes it."""

    DEFAULT_CSS = """
    BreakpointsScreen {
        align: center middle;
    }
    BreakpointsScreen > Vertical {
        width: 72;
        max-width: 95%;
        height: auto;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Add a breakpoint condition"),
        Binding("space,t", "switch", "On/off", tooltip="Turn the selected breakpoint off, or on again"),
        Binding("d,delete", "remove", "Remove", tooltip="Remove the selected breakpoint"),
        Binding("up", "move(-1)", "Up", show=False, tooltip="Select the breakpoint above"),
        Binding("down", "move(1)", "Down", show=False, tooltip="Select the breakpoint below"),
        Binding("escape,k", "close", "Close", tooltip="Back to the dashboard"),
    ]

    entries: reactive[tuple[tuple[str, bool], ...]] = reactive[tuple[tuple[str, bool], ...]](())
    selected: reactive[int] = reactive(0)

    @dataclass
    class Add(Message):
        """Watch this condition (already checked with microgpt.breakpoints.parse)."""

        text: str

    @dataclass
    class Toggle(Message):
        """Turn breakpoint `index` off, or on again."""

        index: int

    @dataclass
    class Remove(Message):
        """Stop watching breakpoint `index`."""

        index: int

    def __init__(self, entries: tuple[tuple[str, bool], ...]) -> None:
        super().__init__()
        self.set_reactive(BreakpointsScreen.entries, entries)

    def compose(self) -> ComposeResult:
        """The list, then the keys."""
        with Vertical() as box:
            box.border_title = "breakpoints"
            box.border_subtitle = "a: add · space: on/off · d: remove · escape: close"
            yield Static(self._listing(), id="list")

    def _listing(self) -> Text:
        text = Text()
        if not self.entries:
            text.append("no breakpoints: a adds one (training then pauses after the step where it becomes true)\n",
                        style="dim")
        for i, (condition, enabled) in enumerate(self.entries):
            mark = "[x]" if enabled else "[ ]"
            line = Text(f"{'>' if i == self.selected else ' '} {mark} {condition}" + ("" if enabled else "  (off)"))
            if i == self.selected:
                line.stylize("reverse")
            text.append_text(line)
            text.append("\n")
        text.append(f"forms: {FORMS}; the pause on a loss that is not finite is always on", style="dim")
        return text

    def watch_entries(self) -> None:
        """Show the list as the engine now has it."""
        self.selected = max(0, min(self.selected, len(self.entries) - 1))
        self._redraw()

    def watch_selected(self) -> None:
        """Move the highlight."""
        self._redraw()

    def _redraw(self) -> None:
        if self.is_mounted:
            self.query_one("#list", Static).update(self._listing())

    def action_move(self, delta: int) -> None:
        """Select the breakpoint above or below."""
        if self.entries:
            self.selected = (self.selected + delta) % len(self.entries)

    def action_switch(self) -> None:
        """Turn the selected breakpoint off or on."""
        if self.entries:
            self.app.post_message(self.Toggle(self.selected))

    def action_remove(self) -> None:
        """Remove the selected breakpoint."""
        if self.entries:
            self.app.post_message(self.Remove(self.selected))

    def action_add(self) -> None:
        """Ask for a condition; a bad one is refused with the accepted forms, and the question stays."""

        def check(text: str) -> str | None:
            try:
                parse(text)
            except BreakpointError as error:
                return str(error)
            return None

        def answered(text: str | None) -> None:
            if text:
                self.app.post_message(self.Add(text))
                self.selected = len(self.entries)

        self.app.push_screen(InputScreen("add a breakpoint", "Pause after the step where this becomes true "
                                         "(e.g. loss<2.0, smooth<2.5, step=100, every=50, spike, memorized):",
                                         check=check), answered)

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
