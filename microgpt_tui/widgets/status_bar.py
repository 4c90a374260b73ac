"""The status line: step (and the phase of the step in progress), what the engine is doing (and for how long),
speed, graph mode, dataset, last save; and what is shown when it is not training's latest step (a probe)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from microgpt_tui.messages import Snapshot

SHOW_COMPUTING_AFTER = 0.25  # seconds: a step shorter than this is never announced (no flicker at full speed)
TICK = 0.1  # seconds between redraws of the `computing step K… 3.2 s` counter


def rate_label(rate: float | None) -> str:
    """Steps per second as the status line writes it: `156 steps/s`, `2.4 steps/s`, `0.2 steps/s`."""
    if rate is None:
        return "— steps/s"
    if rate >= 10:
        return f"{rate:.0f} steps/s"
    if rate >= 0.1:
        return f"{rate:.1f} steps/s"
    return f"{rate:.2f} steps/s"


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
    death: reactive[str] = reactive("")  # why the engine process died ("" while it lives)
    computing: reactive[tuple[int, float] | None] = reactive(None)  # (step, when it began) of a step under way
    probe: reactive[str] = reactive("")  # the word probed, while its forward pass is shown
    history: reactive[str] = reactive("")  # e.g. "history · step 40 (live: 312)" while a past step is shown

    def __init__(self, dataset: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = dataset

    def on_mount(self) -> None:
        """Tick while a slow step is being computed."""
        self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        if self.computing is not None and not self.death:
            self.refresh()

    def start_computing(self, step: int, elapsed: float = 0.0) -> None:
        """Step `step` has been under way for `elapsed` seconds: once it has taken a moment, count the seconds."""
        self.computing = (step, time.monotonic() - elapsed)

    def watch_snapshot(self, snapshot: Snapshot | None) -> None:
        """A snapshot at (or past) the step being computed ends the count, and so does a pause (mid-step too)."""
        if self.computing is not None and snapshot is not None and (
                snapshot.step >= self.computing[0] or not snapshot.running):
            self.computing = None

    def computing_label(self) -> str:
        """`computing step 3… 2.4 s` while a step has been under way for a noticeable time, else ""."""
        if self.computing is None or self.death:
            return ""
        step, began = self.computing
        elapsed = time.monotonic() - began
        return f"computing step {step}… {elapsed:.1f} s" if elapsed >= SHOW_COMPUTING_AFTER else ""

    def render(self) -> Text:
        """`step K / N · running · 74 steps/s · fused · names · saved step 100`."""
        snap = self.snapshot
        text = Text(no_wrap=True, overflow="ellipsis")
        if snap is None:
            text.append("starting…")
            return text
        width = len(str(snap.steps))
        if self.probe:
            text.append(f"probe “{self.probe}” · not trained on", style="bold reverse")
            text.append(f" · weights of step {snap.step} · escape ends it")
            return text
        if snap.phase is not None and not snap.running:  # `step 1 · forward 3/7 “mignon”`
            text.append(f"step {snap.phase.step:>{width}} / {snap.steps} · {snap.phase.label}", style="bold")
        else:
            if self.history:  # a past step shown: which, then the live run's own line
                text.append(self.history, style="bold reverse")
                text.append(" · ")
            text.append(f"step {snap.step:>{width}} / {snap.steps}", style="bold")
        text.append(" · ")
        computing = self.computing_label()
        if self.death:
            text.append("engine stopped", style="bold red")
        elif self.pending and not computing:
            text.append(self.pending, style="bold")
        elif snap.finished:
            text.append("finished", style="bold green")
        elif snap.running:
            text.append("running", style="bold green")
            if snap.until is not None:
                text.append(f" to step {snap.until}", style="bold green")
        else:
            text.append("paused", style="bold yellow")
        if computing:
            text.append(" · ")
            text.append(computing, style="bold")
        if not self.death:
            text.append(" · ")
            text.append(rate_label(snap.steps_per_second))
            if snap.speed_cap is not None:
                text.append(f" (cap {snap.speed_cap:g})", style="dim")
        text.append(" · ")
        text.append(snap.engine, style="bold")
        text.append(f" · {self.dataset}")
        if self.saved:
            text.append(f" · {self.saved}")
        if snap.schedule_note:
            text.append(f" · {snap.schedule_note}", style="dim")
        if self.death:
            text.append(f" · {self.death.removeprefix('the engine process ').removeprefix('was ')}", style="bold red")
        elif self.notice:
            text.append(f" · {self.notice}", style="bold red")
        return text
