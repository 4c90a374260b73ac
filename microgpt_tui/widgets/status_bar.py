"""The status line: step (and the phase of the step in progress), what the engine is doing (and for how long),
speed, graph mode, dataset, last save; and what is shown when it is not training's latest step (a probe)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from microgpt_tui.messages import Snapshot

SHOW_WAITING_AFTER = 0.25  # seconds: a step (or a replay) shorter than this is never announced (no flicker)
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
    replaying: reactive[float | None] = reactive(None)  # when the past step named was asked for, until it arrives

    def __init__(self, dataset: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = dataset

    def on_mount(self) -> None:
        """Tick while a slow step is being computed, or a past step replayed."""
        self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        if (self.computing is not None or self.replaying is not None) and not self.death:
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
        return f"computing step {step}… {elapsed:.1f} s" if elapsed >= SHOW_WAITING_AFTER else ""

    def history_label(self) -> str:
        """The past step shown, and ` · replaying…` once its report has been on its way for a noticeable time
        (until then the panes still show the step shown before)."""
        asked = self.replaying
        if asked is None or self.death or time.monotonic() - asked < SHOW_WAITING_AFTER:
            return self.history
        return f"{self.history} · replaying…"

    def render(self) -> Text:
        """`step K / N · running · 74 steps/s · fused · names · saved step 100`, as much as the width holds."""
        return self.line(self.content_size.width)

    def line(self, width: int) -> Text:
        """The status line laid out by priority for `width` cells: the parts that matter least (speed, mode,
        dataset) are dropped first, so that the state (history, phase, breakpoint, engine stopped) survives."""
        snap = self.snapshot
        text = Text(no_wrap=True, overflow="ellipsis")
        if snap is None:
            text.append("starting…")
            return text
        if self.probe:
            text.append(f"probe “{self.probe}” · not trained on", style="bold reverse")
            step = snap.report.step if snap.report is not None else snap.step  # (the probe's report, once shown)
            text.append(f" · weights of step {step} · escape ends it")
            return text
        parts = self.parts(snap)
        kept = list(range(len(parts)))
        while width > 0 and len(kept) > 1 and _width(parts, kept) > width:
            least = max(kept, key=lambda i: (parts[i][0], i))  # the least important, the rightmost of those
            if parts[least][0] == 0:
                break  # what must stay stays (cut by the ellipsis at the very end)
            kept.remove(least)
        for n, i in enumerate(kept):
            if n:
                text.append(" · ")
            text.append_text(parts[i][1])
        return text

    def parts(self, snap: Snapshot) -> list[tuple[int, Text]]:
        """(priority, text) for each part of the line, in its order; priority 0 must stay, higher goes first."""
        width = len(str(snap.steps))
        parts: list[tuple[int, Text]] = []
        phase = snap.phase if not snap.running else None
        in_phase = phase is not None
        if phase is not None:  # `step 1 · forward 3/7 “mignon”`
            parts.append((0, Text(f"step {phase.step:>{width}} / {snap.steps} · {phase.label}", style="bold")))
        elif self.history:  # a past step shown: which (and the live one: no second step number beside it)
            parts.append((0, Text(self.history_label(), style="bold reverse")))
        else:
            parts.append((0, Text(f"step {snap.step:>{width}} / {snap.steps}", style="bold")))
        computing = self.computing_label()
        if self.death:
            parts.append((0, Text("engine stopped", style="bold red")))
        elif self.pending:  # `pausing…` while the step in progress is being finished (long in atomic mode)
            parts.append((0, Text(self.pending, style="bold")))
        elif snap.finished:
            parts.append((0, Text("finished", style="bold green")))
        elif snap.running:
            until = f" to step {snap.until}" if snap.until is not None else ""
            parts.append((0, Text(f"running{until}", style="bold green")))
        else:  # (a past step or a phase is shown only while paused: they say enough when room is short)
            parts.append((2 if self.history or in_phase else 0, Text("paused", style="bold yellow")))
        if computing:
            parts.append((1, Text(computing, style="bold")))
        if not self.death:
            rate = Text(rate_label(snap.steps_per_second))
            if snap.speed_cap is not None:
                rate.append(f" (cap {snap.speed_cap:g})", style="dim")
            parts.append((4, rate))
        parts.append((5, Text(snap.engine, style="bold")))
        parts.append((6, Text(self.dataset)))
        if self.saved:
            parts.append((3, Text(self.saved)))
        if snap.schedule_note:
            parts.append((2, Text(snap.schedule_note, style="dim")))
        if self.death:
            parts.append((1, Text(self.death.removeprefix("the engine process ").removeprefix("was "),
                                  style="bold red")))
        elif self.notice:  # (once `.` has begun the next step, that step's phase comes first)
            parts.append((1 if in_phase else 0, Text(self.notice, style="bold red")))
        return parts


def _width(parts: list[tuple[int, Text]], kept: list[int]) -> int:
    """Cells taken by the kept parts and the ` · ` between them."""
    return sum(parts[i][1].cell_len for i in kept) + 3 * (len(kept) - 1)
