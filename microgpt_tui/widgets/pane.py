"""The base of every dashboard pane (a focusable bordered box of text lines that explains itself in the help),
and of the panes that draw training's snapshot (`TrainingPane`).

A pane draws itself as a list of one-line `Text`s. When its data changes it builds the new lines, compares them
with the lines on screen and repaints only those that differ: over SSH every unchanged line is bytes saved, and
the UI renders (Textual's line API) only the lines that changed, so a key press never waits long for a redraw.
"""

from __future__ import annotations

from typing import ClassVar, Self

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.reactive import var
from textual.strip import Strip
from textual.widget import Widget

from microgpt.report import StepReport
from microgpt_tui.labels import quoted
from microgpt_tui.messages import Snapshot

COVERED_RETRY = 0.2  # seconds between looks at whether a covered pane is on screen again


class Pane(Widget, can_focus=True):
    """A bordered, focusable pane; `HELP` says what it shows, why it matters and how to read it (Markdown)."""

    DEFAULT_CSS = """
    Pane {
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: 1fr;
        width: 1fr;
        overflow: hidden hidden;
    }
    Pane:focus {
        border: round $accent;
        border-title-color: $accent;
    }
    """

    TITLE: ClassVar[str] = ""
    """The pane's name, as on its border and in the help."""
    HELP: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = []
        self._lines_size = Size(0, 0)
        self._strips: dict[int, Strip] = {}  # rendered lines, by y
        self._strips_style: Style | None = None
        self._stale = False  # data changed since the last update_content
        self._timer_pending = False
        self.stagger = 0.0  # seconds a training update waits (set by the app so that the panes take turns)

    def on_mount(self) -> None:
        """Show the pane's name on its border (unless the pane has already put a fuller title there)."""
        self.border_title = self.border_title or self.TITLE

    def build_lines(self, width: int, height: int) -> list[Text]:
        """The pane's content as one `Text` per line, for a content area of this size."""
        return []

    def data_changed(self, urgent: bool = True) -> None:
        """Schedule `update_content`: soon if `urgent` (a key press), else after this pane's `stagger` delay.

        Several changes in a row make one update. Each pane updates in its own turn of the event loop, and while
        training runs the panes take turns across the redraw interval (`stagger`) instead of all redrawing at
        once: a key press then never waits for more than one pane's redraw.
        """
        self._stale = True
        if urgent or self.stagger <= 0:
            self.call_later(self._scheduled_update)
        elif not self._timer_pending:
            self._timer_pending = True
            self.set_timer(self.stagger, self._timed_update)

    def _timed_update(self) -> None:
        self._timer_pending = False
        self._scheduled_update()

    def _scheduled_update(self) -> None:
        if not self._stale:
            return
        if self.is_mounted and self.screen is not self.app.screen:  # covered (help, palette): redraw once back
            if not self._timer_pending:
                self._timer_pending = True
                self.set_timer(COVERED_RETRY, self._timed_update)
            return
        self._stale = False
        self.update_content()

    def update_content(self) -> None:
        """Rebuild the lines from the pane's data, and repaint the lines that changed (all of them on a resize)."""
        size = self.content_size
        if not self.is_mounted or not size:  # hidden (tab mode, behind a maximised pane): nothing on screen to
            self._forget_lines()  # repaint, but the kept lines are now stale: drawn afresh when shown again
            return
        if size != self._lines_size:
            self._rebuild(size)
            self.refresh()
            return
        new = self._fit(self.build_lines(size.width, size.height), size)
        changed = [y for y, (old, line) in enumerate(zip(self._lines, new, strict=True)) if old != line]
        self._lines = new
        for y in changed:
            self._strips.pop(y, None)
        if changed:
            self.refresh(*(Region(0, y, size.width, n) for y, n in runs(changed)))

    def _forget_lines(self) -> None:
        """Drop the kept lines, so that the next `render_line` builds them from the data as it is then."""
        self._lines = []
        self._lines_size = Size(0, 0)
        self._strips.clear()

    def _rebuild(self, size: Size) -> None:
        self._lines = self._fit(self.build_lines(size.width, size.height), size)
        self._lines_size = size
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        """One line of content, rendered once and kept until it changes."""
        size = self.content_size
        if size != self._lines_size:
            self._rebuild(size)
        style = self._strips_style
        if style is None:  # first line after a change of styles: the colours under every line may differ
            self._strips.clear()
            style = self._strips_style = self.rich_style
        strip = self._strips.get(y)
        if strip is None:
            line = self._lines[y].copy() if y < len(self._lines) else Text()
            line.truncate(size.width, overflow=line.overflow or "crop")
            strip = Strip(line.render(self.app.console)).apply_style(style)
            self._strips[y] = strip
        return strip

    def notify_style_update(self) -> None:
        """Styles changed (focus, theme): render every line again."""
        super().notify_style_update()
        self._strips_style = None

    def render(self) -> RenderableType:
        """The lines as one renderable (the screen uses `render_line`; this serves tests and screenshots)."""
        size = self.content_size
        if size != self._lines_size:
            self._rebuild(size)
        return Group(*self._lines)

    @staticmethod
    def _fit(lines: list[Text], size: Size) -> list[Text]:
        """Exactly `size.height` single lines, none wrapping."""
        fitted = []
        for line in lines[: size.height]:
            line.no_wrap = True
            if line.overflow not in ("ellipsis", "crop"):
                line.overflow = "crop"
            fitted.append(line)
        fitted.extend(Text() for _ in range(size.height - len(fitted)))
        return fitted


class TrainingPane(Pane):
    """A pane that draws training's snapshot, redraws in its turn while training runs, and names its step.

    The title says which step the lines show (`Attention · step 469 · layer 0 · head 2`), updated together with
    the lines, so that every pane on screen can be checked against the others.
    """

    snapshot: var[Snapshot | None] = var(None)
    SHOWS_PROBE: ClassVar[bool] = True
    """The pane draws a probed word's numbers while one is shown (and its title says so)."""

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """Redraw the lines that changed: at once when paused, in this pane's turn while training runs."""
        self.data_changed(urgent=snapshot is None or not snapshot.running)

    @property
    def report(self) -> StepReport | None:
        """The step report the pane draws (None before the first step of this session)."""
        return self.snapshot.report if self.snapshot is not None else None

    def shown_step(self) -> int | None:
        """The step whose numbers the pane shows (None: none yet)."""
        report = self.report
        return report.step if report is not None else None

    def title_parts(self) -> list[str]:
        """What the title says after the pane's name and step (e.g. the layer and head)."""
        return []

    def short_title_parts(self) -> list[str]:
        """`title_parts` in fewer characters, for a narrow pane."""
        return self.title_parts()

    def probe_word(self) -> str | None:
        """The probed word this pane shows (None: training's numbers)."""
        snapshot = self.snapshot
        return snapshot.probe if self.SHOWS_PROBE and snapshot is not None else None

    def title(self) -> str:
        """`Name · step K · parts…`: the pane, the step it shows (or the probe), and what else it was asked to show."""
        step = self.shown_step()
        word = self.probe_word()
        if word is not None:
            head = [self.TITLE, f"probe {quoted(word)} · not trained on"]
        else:
            head = [self.TITLE, *([] if step is None else [f"step {step}"])]
        title = " · ".join([*head, *self.title_parts()])
        if len(title) + 6 > self.outer_size.width:  # the border's corners and spaces take 6 cells
            title = " · ".join([*head, *self.short_title_parts()])
        if word is not None and len(title) + 6 > self.outer_size.width:
            title = " · ".join([self.TITLE, f"probe {quoted(word)}", *self.short_title_parts()])
        return title

    def update_title(self) -> None:
        """Put the title on the border when it changed, repainting only the border's top line."""
        title = self.title()
        if self.border_title == title:
            return
        self._quiet = True  # setting a title repaints the whole pane: every line's bytes again, over SSH too
        try:
            self.border_title = title
        finally:
            self._quiet = False
        top = Region(-self.content_offset.x, -self.content_offset.y, self.outer_size.width, 1)
        self.refresh(top)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        """Mark regions for repainting (nothing while a title is being set: `update_title` repaints its line)."""
        if getattr(self, "_quiet", False):
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def on_mount(self) -> None:
        """The full title from the start."""
        self.update_title()

    def on_resize(self) -> None:
        """A narrow pane takes the short title, a wide one the full title."""
        self.update_title()

    def update_content(self) -> None:
        """The title and the lines change together."""
        self.update_title()
        super().update_content()


def runs(ys: list[int]) -> list[tuple[int, int]]:
    """Sorted line numbers as (first, count) runs of consecutive lines: 2, 3, 4, 7 -> (2, 3), (7, 1)."""
    out: list[tuple[int, int]] = []
    for y in ys:
        if out and out[-1][0] + out[-1][1] == y:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((y, 1))
    return out
