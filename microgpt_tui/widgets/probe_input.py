"""The probe's input line: a word of the dataset's characters, typed after `/`, refused with a reason otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Static

from microgpt_tui.labels import label


def foreign_chars(word: str, vocabulary: Iterable[str]) -> list[str]:
    """The characters of `word` that are not in `vocabulary`, each once, in the order they first appear."""
    known = set(vocabulary)
    seen: list[str] = []
    for ch in word:
        if ch not in known and ch not in seen:
            seen.append(ch)
    return seen


def describe_vocabulary(vocabulary: Iterable[str], limit: int = 40) -> str:
    """The dataset's characters in one short run (`abcdefghijklmnopqrstuvwxyz`), cut with `…` past `limit`."""
    chars = "".join(label(ch) for ch in sorted(vocabulary))
    return chars if len(chars) <= limit else chars[: limit - 1] + "…"


class VocabularyValidator(Validator):
    """Accepts a non-empty word made only of the dataset's characters; a failure names the characters refused."""

    def __init__(self, vocabulary: Iterable[str], dataset: str) -> None:
        super().__init__()
        self.vocabulary = frozenset(vocabulary)
        self.dataset = dataset

    def validate(self, value: str) -> ValidationResult:
        """Success, or a failure whose description says which characters are not the dataset's."""
        if not value:
            return self.failure("type a word to probe")
        foreign = foreign_chars(value, self.vocabulary)
        if not foreign:
            return self.success()
        named = ", ".join(f"“{label(ch)}”" for ch in foreign)
        noun = "is" if len(foreign) == 1 else "are"
        return self.failure(f"{named} {noun} not in the {self.dataset} dataset "
                            f"(its characters: {describe_vocabulary(self.vocabulary)})")


class ProbeInput(Vertical):
    """A one-line input for the word to probe, with a line under it saying what is wrong with the word so far.

    It sits between the panes and the footer (the panes give it the rows it needs while it is open).
    """

    DEFAULT_CSS = """
    ProbeInput {
        height: auto;
        display: none;
        background: $panel;
        padding: 0 1;
    }
    ProbeInput.-open {
        display: block;
    }
    ProbeInput > Input {
        border: tall $accent;
        width: 1fr;
    }
    ProbeInput > Input.-invalid {
        border: tall $error;
    }
    ProbeInput > #probe-hint {
        height: auto;
        color: $text-muted;
    }
    ProbeInput > #probe-hint.-refused {
        color: $text-error;
        text-style: bold;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close", tooltip="Close the probe's input without probing")]

    @dataclass
    class ProbeRequested(Message):
        """The user asked to probe this word (it is made only of the dataset's characters)."""

        word: str

    def __init__(self, vocabulary: Iterable[str], dataset: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.validator = VocabularyValidator(vocabulary, dataset)
        self.dataset = dataset
        self._return_focus: Widget | None = None
        self._past_step: int | None = None  # the past step whose weights the word will be probed at (history)

    def compose(self) -> ComposeResult:
        """The input and its hint line."""
        yield Input(placeholder=f"a word to probe, e.g. emma (characters of the {self.dataset} dataset)",
                    validators=[self.validator], validate_on=["changed", "submitted"], id="probe-word")
        yield Static(self._hint(), id="probe-hint")

    def _hint(self) -> str:
        weights = "the current weights" if self._past_step is None else f"the weights of step {self._past_step}"
        return f"enter: probe this word at {weights} (not trained on) · escape: close"

    @property
    def is_open(self) -> bool:
        """True while the input is on screen."""
        return self.has_class("-open")

    def open(self, past_step: int | None = None) -> None:
        """Show the input, empty, and put the cursor in it (closing gives the focus back); `past_step`: the past
        step shown, whose weights the word will be probed at."""
        self._past_step = past_step
        if not self.is_open:
            self._return_focus = self.app.focused
        field = self.query_one(Input)
        field.value = ""
        self._say(None)
        self.add_class("-open")
        field.focus()

    def action_close(self) -> None:
        """Hide the input; the focus goes back to where it was before."""
        if self._return_focus is not None and self._return_focus.is_attached:
            self._return_focus.focus()
        else:
            self.screen.focus_next()
        self.remove_class("-open")
        self.app.refresh_bindings()  # the footer shows the keys of the widget that has the focus now

    def _say(self, refusal: str | None) -> None:
        hint = self.query_one("#probe-hint", Static)
        hint.update(refusal if refusal else self._hint())
        hint.set_class(refusal is not None, "-refused")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        """Refuse foreign characters as they are typed (an empty input is not an error yet)."""
        event.stop()
        result = event.validation_result
        refusal = None
        if event.value and result is not None and not result.is_valid:
            refusal = result.failure_descriptions[0]
        self._say(refusal)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Ask for the probe, or say again why the word cannot be probed."""
        event.stop()
        result = event.validation_result
        if result is not None and not result.is_valid:
            self._say(result.failure_descriptions[0])
            return
        self.action_close()
        self.post_message(self.ProbeRequested(event.value))
