"""The app: five panes over one trainer, driven from the keyboard, fed by the engine process (runner.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.filter import LineFilter, Monochrome, NoColor
from textual.notifications import Notification, Notify, SeverityLevel
from textual.reactive import var
from textual.widgets import Footer, Tab, Tabs

from microgpt.trainer import ENGINES
from microgpt_tui.commands import MicroGPTCommands
from microgpt_tui.messages import (
    Halted,
    Progress,
    SampleDrawn,
    SampleStarted,
    SampleState,
    Saved,
    SaveFailed,
    Snapshot,
)
from microgpt_tui.palette import ColorMode
from microgpt_tui.runner import Runner, TrainerLike
from microgpt_tui.themes import TERMINAL_THEME
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.grad_norms import GradNorms
from microgpt_tui.widgets.graph_census import GraphCensus
from microgpt_tui.widgets.help_screen import HelpScreen, help_markdown
from microgpt_tui.widgets.loss_chart import LossChart
from microgpt_tui.widgets.pane import Pane
from microgpt_tui.widgets.sampler import TEMPERATURE_TENTHS, Sampler
from microgpt_tui.widgets.status_bar import StatusBar

SPEED_CAPS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200)  # steps/s; beyond the last: unlimited
PANES: tuple[tuple[str, str], ...] = (  # (id, key) in screen order
    ("loss", "1"),
    ("attention", "2"),
    ("grad", "3"),
    ("graph", "4"),
    ("sampler", "5"),
)
PANE_TITLES = {"loss": "Loss", "attention": "Attention", "grad": "Gradient norms", "graph": "Graph",
               "sampler": "Sampling"}
WIDE = (100, 30)  # from this many columns and rows, all five panes show at once; below it, one pane and tabs
DEFAULT_SAVE_PATH = "microgpt-checkpoint.json"
NO_COLOR_FILTERS: tuple[LineFilter, ...] = (NoColor(),)  # every cell in the terminal's default colours


class MicroGPTApp(App[None]):
    """Trains microgpt step by step and shows the loss, attention, graph, gradients and samples."""

    CSS_PATH = "app.tcss"
    TITLE = "microgpt-tui"
    COMMANDS = App.COMMANDS | {MicroGPTCommands}

    BINDINGS: ClassVar[list[BindingType]] = [  # in the help's order; the footer shows those with show=True
        Binding("space", "toggle_run", "Run/pause", tooltip="Start training, or pause after the current step"),
        Binding("n", "step", "Step", tooltip="One training step, pausing first if running (presses add up)"),
        Binding("left_square_bracket", "speed(-1)", "Slower", show=False,
                tooltip="Cap training at fewer steps per second"),
        Binding("right_square_bracket", "speed(1)", "Faster", show=False,
                tooltip="Allow more steps per second, up to unlimited"),
        Binding("plus,equals_sign", "temperature(1)", "temp+", tooltip="Raise the sampling temperature by 0.1",
                group=Binding.Group("temp", compact=True)),
        Binding("minus,underscore", "temperature(-1)", "temp-", tooltip="Lower the sampling temperature by 0.1",
                group=Binding.Group("temp", compact=True)),
        Binding("g", "sample", "Sample", tooltip="Draw a new name from the current weights, token by token"),
        Binding("h", "next_head", "Next head", show=False, tooltip="Show the next attention head (wraps)"),
        Binding("l", "next_layer", "Next layer", show=False, tooltip="Show the next layer's attention (wraps)"),
        Binding("m", "toggle_engine", "Mode", tooltip="Switch the graph between fused and atomic (same losses)"),
        Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint to the --save path"),
        Binding("question_mark", "help", "Help", tooltip="Every key, and what each pane shows"),
        Binding("q", "quit", "Quit", tooltip="Quit microgpt-tui"),
        *[Binding(key, f"show_pane('{pane}')", f"Pane {key}", show=False,
                  tooltip=f"Focus the {PANE_TITLES[pane]} pane (in a small terminal: show it)")
          for pane, key in PANES],
    ]

    # The app's state, bound to the panes (data_bind). `var`: the app itself draws nothing, so a change repaints
    # only the panes that show it, never the whole screen.
    snapshot: var[Snapshot | None] = var(None)
    sample: var[SampleState | None] = var(None)
    showing_sample: var[bool] = var(False)
    attn_layer: var[int] = var(0)
    attn_head: var[int] = var(0)
    temperature: var[int] = var(5)  # whole tenths
    color_mode: var[ColorMode] = var[ColorMode]("256")
    current_pane: var[str] = var("loss")
    wide: var[bool] = var(True)

    def __init__(
        self,
        trainer: TrainerLike,
        *,
        paused: bool = False,
        fps: float = 3.0,
        save_path: str = DEFAULT_SAVE_PATH,
        color_mode: ColorMode = "256",
        sample_delay: float = 0.08,
        until: int | None = None,
        speed: float | None = None,
    ) -> None:
        super().__init__(ansi_color=color_mode in ("16", "none"))  # the terminal's own colours, not RGB
        self.until = until  # pause after this step (--until)
        self.speed = speed  # start with this steps-per-second cap (--speed)
        self.trainer_config = trainer.config
        self.dataset = trainer.dataset
        self.save_path = save_path
        self.start_paused = paused
        self.redraws_per_second = fps
        self.runner = Runner(trainer, self.post_message, fps=fps, sample_delay=sample_delay)
        self.set_reactive(MicroGPTApp.color_mode, color_mode)
        if color_mode in ("16", "none"):
            self.register_theme(TERMINAL_THEME)
            self.theme = TERMINAL_THEME.name  # the terminal's own colours and background, not approximations of RGB
        self.no_color = color_mode == "none"  # Textual's `:nocolor` styles: emphasis by reverse, bold, underline
        self._wants_running = not paused  # what the user asked for last (snapshots may lag behind the commands)
        self._wants_engine = trainer.engine
        self._sample_end_step: int | None = None
        self._notification_kinds: dict[str, str] = {}  # identity of a notification on its way -> its kind
        self._notification_shown: dict[str, Notification] = {}  # kind -> the latest notification of that kind

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters for the colour mode we chose (not for NO_COLOR alone): no colour at all in `none`."""
        if self.color_mode == "none":
            return NO_COLOR_FILTERS
        return [f for f in super().get_line_filters() if not isinstance(f, Monochrome | NoColor)]

    # -- layout ---------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status line, tabs (small terminals only), the five panes, footer."""
        yield StatusBar(self.dataset.name, id="status").data_bind(MicroGPTApp.snapshot)
        yield Tabs(*[Tab(f"{key} {PANE_TITLES[pane]}", id=f"tab-{pane}") for pane, key in PANES], id="tabs")
        with Container(id="panes"):
            yield LossChart(self.dataset.vocab_size, id="loss").data_bind(MicroGPTApp.snapshot,
                                                                             MicroGPTApp.color_mode)
            yield AttentionMap(self.trainer_config.block_size, id="attention").data_bind(
                MicroGPTApp.snapshot, MicroGPTApp.sample, MicroGPTApp.showing_sample, MicroGPTApp.attn_layer,
                MicroGPTApp.attn_head, MicroGPTApp.color_mode)
            yield GradNorms(self.trainer_config.n_layer, id="grad").data_bind(MicroGPTApp.snapshot)
            yield GraphCensus(id="graph").data_bind(MicroGPTApp.snapshot)
            yield Sampler(self.dataset, id="sampler").data_bind(MicroGPTApp.sample, MicroGPTApp.temperature)
        yield Footer()

    def on_mount(self) -> None:
        """Lay out for the terminal's size, let the panes take turns redrawing, and focus the first pane."""
        training_panes = [pane for pane, _ in PANES if pane != "sampler"]
        for turn, pane in enumerate(training_panes):  # spread over the first half of the redraw interval
            self.query_one(f"#{pane}", Pane).stagger = turn / len(training_panes) / 2 / self.redraws_per_second
        self._fit(self.size.width, self.size.height)
        self.watch_current_pane(self.current_pane)
        self.query_one(f"#{self.current_pane}", Pane).focus()

    def on_ready(self) -> None:
        """Once the first frame is on screen: listen to the engine, and train unless asked to start paused."""
        self.runner.start()
        if not self.start_paused:
            self.runner.run()

    def on_resize(self, event: events.Resize) -> None:
        """Switch between all panes at once and one pane with tabs."""
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        self.wide = width >= WIDE[0] and height >= WIDE[1]

    def watch_wide(self, wide: bool) -> None:
        """Tabs only when the panes do not all fit; the palette's key in the footer only when there is room."""
        self.screen.set_class(not wide, "-tabs")
        footer = self.query_one(Footer)
        if footer.show_command_palette != wide:
            footer.show_command_palette = wide
            footer.refresh(recompose=True)  # the palette's key is part of the footer's composition
        if not wide:
            self.query_one(f"#{self.current_pane}", Pane).focus()

    def watch_current_pane(self, pane: str) -> None:
        """Mark the current pane (the one shown in tab mode) and its tab."""
        for other, _ in PANES:
            self.query_one(f"#{other}", Pane).set_class(other == pane, "-current")
        tabs = self.query_one(Tabs)
        if tabs.active != f"tab-{pane}":
            tabs.active = f"tab-{pane}"

    @on(Tabs.TabActivated)
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab.id is not None:
            self.current_pane = event.tab.id.removeprefix("tab-")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused pane becomes the current one (help lists it first; tab mode shows it)."""
        if isinstance(event.widget, Pane) and event.widget.id:
            self.current_pane = event.widget.id

    # -- messages from the runner ---------------------------------------------------------------------------------

    def on_progress(self, message: Progress) -> None:
        """Hand the latest snapshot to every pane."""
        snapshot = message.snapshot
        status = self.query_one(StatusBar)
        if snapshot.commands >= self.runner.sent:  # it has seen all our commands: its state is the truth
            self._wants_running = snapshot.running
            self._wants_engine = snapshot.engine
            status.pending = ""
        self.snapshot = snapshot
        if (self.showing_sample and self.sample is not None and self.sample.finished
                and self._sample_end_step is not None and snapshot.step != self._sample_end_step):
            self.showing_sample = False
        if snapshot.running and status.notice:
            status.notice = ""

    def on_sample_started(self, message: SampleStarted) -> None:
        """A new sample replaces the old one; attention follows the sample."""
        self.sample = SampleState(message.sample_id, message.temperature)
        self._sample_end_step = None
        self.showing_sample = True

    def on_sample_drawn(self, message: SampleDrawn) -> None:
        """One more token of the current sample."""
        if self.sample is None or message.sample_id != self.sample.sample_id:
            return
        self.sample = replace(self.sample, tokens=(*self.sample.tokens, message.token))
        if message.token.is_end:
            self._sample_end_step = self.snapshot.step if self.snapshot is not None else 0

    def on_saved(self, message: Saved) -> None:
        """Say where the checkpoint went."""
        self.query_one(StatusBar).saved = f"saved step {message.step}"
        self.say("save", f"checkpoint of step {message.step} saved to {message.path}", timeout=4)

    def on_save_failed(self, message: SaveFailed) -> None:
        """Say why the save failed (the previous checkpoint is intact)."""
        self.query_one(StatusBar).saved = "save failed"
        self.say("save", f"{message.reason} (the previous checkpoint, if any, is intact)",
                 title="checkpoint not saved", severity="error", timeout=10)

    def on_halted(self, message: Halted) -> None:
        """Training paused by itself: say why, on the status line and in a notification."""
        self._wants_running = False
        self.query_one(StatusBar).notice = message.reason.split(":")[0]
        self.say("halted", message.reason, title="training paused", severity="error", timeout=15)

    # -- notifications --------------------------------------------------------------------------------------------

    def say(self, kind: str, text: str, *, title: str = "", severity: SeverityLevel = "information",
            timeout: float = 4.0) -> None:
        """Notify the user; a notification replaces the one of the same `kind` (speed, mode, save ...) on screen."""
        notification = Notification(text, title, severity, timeout, markup=False)
        self._notification_kinds[notification.identity] = kind
        self.post_message(Notify(notification))

    def on_notify(self, event: Notify) -> None:
        """Before Textual shows a notification of ours, take down the previous one of its kind."""
        kind = self._notification_kinds.pop(event.notification.identity, None)
        if kind is None:
            return
        previous = self._notification_shown.get(kind)
        self._notification_shown[kind] = event.notification
        if previous is not None:
            self._unnotify(previous, refresh=False)  # Textual 8.2.8 has no public way to remove one notification

    # -- actions --------------------------------------------------------------------------------------------------

    def action_toggle_run(self) -> None:
        """Run if paused, pause if running."""
        status = self.query_one(StatusBar)
        if self._wants_running:
            self._wants_running = False
            status.pending = "pausing…"  # until the step in progress ends (long in atomic mode)
            self.runner.pause()
        elif self.snapshot is not None and self.snapshot.finished:
            self.say("finished", "training is finished: every step of the schedule is done", timeout=4)
        else:
            self._wants_running = True
            status.pending = "starting…"
            self.runner.run()

    def action_step(self) -> None:
        """Pause if running, then one more step (presses add up)."""
        self._wants_running = False
        self.query_one(StatusBar).pending = "stepping…"
        self.runner.step(1)

    def action_speed(self, direction: int) -> None:
        """Move the steps-per-second cap one notch down (-1) or up (+1)."""
        cap = self.snapshot.speed_cap if self.snapshot is not None else None
        rate = self.snapshot.steps_per_second if self.snapshot is not None else None
        new = next_speed_cap(cap, direction, rate)
        self.runner.set_speed(new)
        self.say("speed", "speed: unlimited" if new is None else f"speed: at most {new:g} steps/s", timeout=2)

    def action_temperature(self, delta: int) -> None:
        """Change the sampling temperature by 0.1 (kept in whole tenths, within 0.1 .. 2.0)."""
        low, high = TEMPERATURE_TENTHS
        self.temperature = max(low, min(high, self.temperature + delta))

    def action_sample(self) -> None:
        """Draw a new name at the current temperature."""
        self.runner.sample(self.temperature / 10)

    def action_next_head(self) -> None:
        """Show the next attention head (wrapping)."""
        self.attn_head = (self.attn_head + 1) % self.trainer_config.n_head

    def action_next_layer(self) -> None:
        """Show the next layer's attention (wrapping)."""
        self.attn_layer = (self.attn_layer + 1) % self.trainer_config.n_layer

    def action_toggle_engine(self) -> None:
        """Switch the graph mode of the following steps between fused and atomic."""
        self._wants_engine = ENGINES[(ENGINES.index(self._wants_engine) + 1) % len(ENGINES)]
        self.runner.set_engine(self._wants_engine)
        self.say("mode", f"graph mode: {self._wants_engine} (from the next step)", timeout=2)

    def action_save(self) -> None:
        """Save a checkpoint to the --save path."""
        self.query_one(StatusBar).saved = "saving…"
        self.runner.save(self.save_path)

    def action_show_pane(self, pane: str) -> None:
        """Focus a pane (and show it, when the panes are tabs)."""
        self.current_pane = pane
        self.query_one(f"#{pane}", Pane).focus()

    def action_help(self) -> None:
        """Open the help: keys, then every pane (the focused one first)."""
        panes = [self.query_one(f"#{pane}", Pane) for pane, _ in PANES]
        panes.sort(key=lambda p: p.id != self.current_pane)
        self.push_screen(HelpScreen(help_markdown(self.key_help(), [(p.TITLE, p.HELP) for p in panes])))

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, what they do) for every binding of the app, in the help's words."""
        rows = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith("show_pane"):
                continue
            rows.append((" / ".join(self.key_label(k) for k in binding.key.split(",")), binding.tooltip))
        panes = ", ".join(f"{key} {PANE_TITLES[pane]}" for pane, key in PANES)
        rows.append(("1 … 5", f"focus a pane ({panes}); in a small terminal, show it"))
        rows.append(("up / down", "in the Attention pane: choose the row whose weights are printed"))
        rows.append(("tab / shift+tab", "move the focus from pane to pane"))
        rows.append(("ctrl+p", "the command palette: every action by name"))
        return rows

    def key_label(self, key: str) -> str:
        """How a key is written in the help: `space`, `+`, `ctrl+s`."""
        label = self.get_key_display(Binding(key, ""))
        return "ctrl+" + label[1:] if label.startswith("^") else label

    async def action_quit(self) -> None:
        """Stop the engine and leave."""
        self.runner.stop()
        self.exit()

    def on_unmount(self) -> None:
        """Never leave the engine process behind."""
        self.runner.stop()


def next_speed_cap(cap: float | None, direction: int, rate: float | None = None) -> float | None:
    """The next notch of the speed cap: None (unlimited) is above the fastest notch.

    Slowing down from unlimited goes to the fastest notch below the measured rate, so that the first press
    already makes a difference.
    """
    if cap is None:
        if direction > 0:
            return None
        below = [c for c in SPEED_CAPS if rate is None or c < rate]
        return below[-1] if below else SPEED_CAPS[0]
    index = min(range(len(SPEED_CAPS)), key=lambda i: abs(SPEED_CAPS[i] - cap))
    index += 1 if direction > 0 else -1
    if index >= len(SPEED_CAPS):
        return None
    return SPEED_CAPS[max(0, index)]
