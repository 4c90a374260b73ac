"""The status line: step, running or paused, speed, graph mode, dataset and the last checkpoint saved."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from microgpt_tui.messages import Snapshot


class StatusBar(Widget):
    """One line of facts about the run; a notice (such as why training paused) is appended when there is one."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    snapshot: reactive[Snapshot | None] = reactive(None)
    saved: reactive[str] = reactive("")  # e.g. "saved step 100"
    notice: reactive[str] = reactive("")  # e.g. "the loss is nan at step 12"
    pending: reactive[str] = reactive("")  # what was asked and not yet done, e.g. "pausing…" during a long step

    def __init__(self, dataset: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = dataset

    def render(self) -> Text:
        """`step K / N · running · 74 steps/s · fused · names · saved step 100`."""
        snap = self.snapshot
        text = Text(no_wrap=True, overflow="ellipsis")
        if snap is None:
            text.append("starting…")
            return text
        width = len(str(snap.steps))
        text.append(f"step {snap.step:>{width}} / {snap.steps}", style="bold")
        text.append(" · ")
        if self.pending:
            text.append(self.pending, style="bold")
        elif snap.finished:
            text.append("finished", style="bold green")
        elif snap.running:
            text.append("running", style="bold green")
        else:
            text.append("paused", style="bold yellow")
        text.append(" · ")
        rate = snap.steps_per_second
        if rate is None:
            text.append("— steps/s")
        else:
            text.append(f"{rate:.1f} steps/s" if rate < 10 else f"{rate:.0f} steps/s")
        if snap.speed_cap is not None:
            text.append(f" (cap {snap.speed_cap:g})", style="dim")
        text.append(" · ")
        text.append(snap.engine, style="bold")
        text.append(f" · {self.dataset}")
        if self.saved:
            text.append(f" · {self.saved}")
        if self.notice:
            text.append(f" · {self.notice}", style="bold red")
        return text
