"""The app: six panes over one trainer, driven from the keyboard, fed by the engine process (runner.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.reactive import var
from textual.widgets import Footer, Tab, Tabs

from microgpt.model import matrix_shapes
from microgpt.report import PhaseReport, ProbeReport
from microgpt.trainer import ENGINES
from microgpt_tui.commands import MicroGPTCommands
from microgpt_tui.messages import (
    Halted,
    Progress,
    Sample,
    SampleDrawn,
    SamplesDrawn,
    SampleStarted,
    SampleState,
    Saved,
    SaveFailed,
    Snapshot,
)
from microgpt_tui.palette import ColorMode
from microgpt_tui.runner import Runner, TrainerLike
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.grad_norms import GradNorms
from microgpt_tui.widgets.graph_pane import GraphPane
from microgpt_tui.widgets.help_screen import HelpScreen, help_text, text_width
from microgpt_tui.widgets.inside import Inside
from microgpt_tui.widgets.loss_chart import LossChart
from microgpt_tui.widgets.pane import Pane
from microgpt_tui.widgets.probe_input import ProbeInput
from microgpt_tui.widgets.sampler import MAX_SAMPLES, TEMPERATURE_TENTHS, Sampler
from microgpt_tui.widgets.status_bar import StatusBar

SPEED_CAPS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200)  # steps/s; beyond the last: unlimited
PANES: tuple[tuple[str, str], ...] = (  # (id, key) in screen order
    ("loss", "1"),
    ("attention", "2"),
    ("grad", "3"),
    ("graph", "4"),
    ("sampler", "5"),
    ("inside", "6"),
)
PANE_TITLES = {"loss": "Loss", "attention": "Attention", "grad": "Gradient norms", "graph": "Graph",
               "sampler": "Sampling", "inside": "Inside"}
WIDE = (100, 30)  # from this many columns and rows, all six panes show at once; below it, one pane and tabs
DEFAULT_SAVE_PATH = "microgpt-checkpoint.json"


class MicroGPTApp(App[None]):
    """Trains microgpt step by step and shows the loss, attention, graph, gradients and samples."""

    CSS_PATH = "app.tcss"
    TITLE = "microgpt-tui"
    COMMANDS = App.COMMANDS | {MicroGPTCommands}
    ESCAPE_TO_MINIMIZE = False  # escape ends a probe first (action_escape), then restores a maximised pane
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, StatusBar"  # a maximised pane keeps the status line

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
        Binding("G", "sample(10)", "Sample ten", show=False, tooltip="Sample ten names at once"),
        Binding("h", "next_head", "Next head", show=False, tooltip="Show the next attention head (wraps)"),
        Binding("l", "next_layer", "Next layer", show=False, tooltip="Show the next layer's attention (wraps)"),
        Binding("slash", "probe", "Probe", show=False,  # the footer is full at 100 columns: the Inside pane says it
                tooltip="Probe a word: its forward pass at the current weights"),
        Binding("escape", "escape", "Back", show=False,
                tooltip="End a probe (back to training's numbers), else restore a maximised pane"),
        Binding("m", "toggle_engine", "Mode", tooltip="Switch the graph between fused and atomic (same losses)"),
        Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint to the --save path"),
        Binding("question_mark", "help", "Help", tooltip="Every key, and what each pane shows"),
        Binding("q", "quit", "Quit", tooltip="Quit microgpt-tui"),
        Binding("z", "maximize", "Maximise", tooltip="Maximise the focused pane, or restore it (also escape)"),
        *[Binding(key, f"show_pane('{pane}')", f"Pane {key}", show=False,
                  tooltip=f"Focus the {PANE_TITLES[pane]} pane (in a small terminal: show it)")
          for pane, key in PANES],
    ]

    # The app's state, bound to the panes (data_bind). `var`: the app itself draws nothing, so a change repaints
    # only the panes that show it, never the whole screen.
    snapshot: var[Snapshot | None] = var(None)
    samples: var[tuple[Sample, ...]] = var[tuple[Sample, ...]](())  # oldest first, the newest MAX_SAMPLES
    showing_sample: var[bool] = var(False)  # the newest sample is the latest thing that happened
    sample_revealed: var[int | None] = var[int | None](None)  # its tokens on screen so far (None: all)
    attn_layer: var[int] = var(0)
    attn_head: var[int] = var(0)
    temperature: var[int] = var(5)  # whole tenths
    color_mode: var[ColorMode] = var[ColorMode]("256")
    phase: var[PhaseReport | None] = var[PhaseReport | None](None)  # the shown step's current or last phase
    probe: var[ProbeReport | None] = var[ProbeReport | None](None)  # a probed word's forward pass, until escape
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
        super().__init__()
        self.until = until  # pause after this step (--until)
        self.speed = speed  # start with this steps-per-second cap (--speed)
        self.trainer_config = trainer.config
        self.dataset = trainer.dataset
        self.save_path = save_path
        self.start_paused = paused
        self.redraws_per_second = fps
        self.sample_delay = sample_delay  # seconds per letter of a sample's reveal (the sampler pane paces it)
        self.runner = Runner(trainer, self.post_message, fps=fps, sample_delay=0.0)
        self.set_reactive(MicroGPTApp.color_mode, color_mode)
        if color_mode in ("16", "none"):
            self.theme = "ansi-dark"  # the terminal's own 16 colours and background, not approximations of RGB
        self._wants_running = not paused  # what the user asked for last (snapshots may lag behind the commands)
        self._wants_engine = trainer.engine
        self._sample_seen_at: int | None = None  # the step on screen when the newest sample arrived
        self._sample: SampleState | None = None  # a sample arriving token by token (SampleStarted/SampleDrawn)
        self._batch: list[Sample] = []  # whole samples gathered from token-by-token ones, posted as one batch
        self._batch_size = 1

    # -- layout ---------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status line, tabs (small terminals only), the six panes (in grid order), the probe's input, footer."""
        yield StatusBar(self.dataset.name, id="status").data_bind(MicroGPTApp.snapshot)
        yield Tabs(*[Tab(f"{key} {PANE_TITLES[pane]}", id=f"tab-{pane}") for pane, key in PANES], id="tabs")
        with Container(id="panes"):
            yield LossChart(self.dataset.vocab_size, id="loss").data_bind(MicroGPTApp.snapshot,
                                                                             MicroGPTApp.color_mode)
            yield AttentionMap(self.trainer_config.block_size, id="attention").data_bind(
                MicroGPTApp.snapshot, MicroGPTApp.samples, MicroGPTApp.showing_sample, MicroGPTApp.sample_revealed,
                MicroGPTApp.attn_layer, MicroGPTApp.attn_head, MicroGPTApp.color_mode)
            total_params = sum(rows * cols for _, rows, cols in matrix_shapes(self.trainer_config,
                                                                               self.dataset.vocab_size))
            yield GraphPane(total_params, id="graph").data_bind(MicroGPTApp.snapshot)
            yield GradNorms(self.trainer_config.n_layer, id="grad").data_bind(MicroGPTApp.snapshot,
                                                                               MicroGPTApp.attn_layer)
            yield Inside(self.dataset.uchars, id="inside").data_bind(
                MicroGPTApp.phase, MicroGPTApp.probe, MicroGPTApp.attn_layer, MicroGPTApp.attn_head)
            yield Sampler(self.dataset, delay=self.sample_delay, id="sampler").data_bind(
                MicroGPTApp.samples, MicroGPTApp.temperature, MicroGPTApp.snapshot)
        yield ProbeInput(self.dataset.uchars, self.dataset.name, id="probe-input")
        yield Footer()

    def on_mount(self) -> None:
        """Lay out for the terminal's size, let the panes take turns redrawing, and focus the first pane."""
        training_panes = [pane for pane, _ in PANES if pane not in ("sampler", "inside")]
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
        self.set_timer(0.5, self._lay_out_help)

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

    def watch_probe(self, probe: ProbeReport | None) -> None:
        """While a probe is shown the screen carries `-probe`: the panes showing it are marked (app.tcss)."""
        self.screen.set_class(probe is not None, "-probe")

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
        if self.showing_sample and snapshot.step != self._sample_seen_at:  # a step after the sample
            self.showing_sample = False
        if snapshot.running and status.notice:
            status.notice = ""

    def on_samples_drawn(self, message: SamplesDrawn) -> None:
        """New samples join the list (the sampler reveals them); attention shows the newest until the next step."""
        self.samples = (*self.samples, *message.samples)[-MAX_SAMPLES:]
        self._sample_seen_at = self.snapshot.step if self.snapshot is not None else 0
        self.sample_revealed = None
        self.showing_sample = True

    def on_sampler_revealed(self, message: Sampler.Revealed) -> None:
        """The attention pane follows the sampler's letter-by-letter reveal."""
        if self.samples and message.sample_id == self.samples[-1].sample_id:
            self.sample_revealed = message.count

    # Token-by-token samples (SampleStarted, SampleDrawn) are gathered into whole ones, as `SamplesDrawn`.
    def on_sample_started(self, message: SampleStarted) -> None:
        """A sample begins arriving token by token."""
        self._sample = SampleState(message.sample_id, message.temperature)

    def on_sample_drawn(self, message: SampleDrawn) -> None:
        """One more token; a whole sample joins the batch, and a whole batch joins the list."""
        if self._sample is None or message.sample_id != self._sample.sample_id:
            return
        self._sample = replace(self._sample, tokens=(*self._sample.tokens, message.token))
        if not message.token.is_end:
            return
        step = self.snapshot.step if self.snapshot is not None else 0
        self._batch.append(Sample(message.sample_id, step, self._sample.temperature, self._sample.tokens))
        self._sample = None
        if len(self._batch) >= self._batch_size:
            self.post_message(SamplesDrawn(tuple(self._batch)))
            self._batch = []

    def on_saved(self, message: Saved) -> None:
        """Say where the checkpoint went."""
        self.query_one(StatusBar).saved = f"saved step {message.step}"
        self.notify(f"checkpoint of step {message.step} saved to {message.path}", timeout=4)

    def on_save_failed(self, message: SaveFailed) -> None:
        """Say why the save failed (the previous checkpoint is intact)."""
        self.query_one(StatusBar).saved = "save failed"
        self.notify(f"{message.reason} (the previous checkpoint, if any, is intact)",
                    title="checkpoint not saved", severity="error", timeout=10)

    def on_halted(self, message: Halted) -> None:
        """Training paused by itself: say why, on the status line and in a notification."""
        self._wants_running = False
        self.query_one(StatusBar).notice = message.reason.split(":")[0]
        self.notify(message.reason, title="training paused", severity="error", timeout=15)

    # -- actions --------------------------------------------------------------------------------------------------

    def action_toggle_run(self) -> None:
        """Run if paused, pause if running."""
        status = self.query_one(StatusBar)
        if self._wants_running:
            self._wants_running = False
            status.pending = "pausing…"  # until the step in progress ends (long in atomic mode)
            self.runner.pause()
        elif self.snapshot is not None and self.snapshot.finished:
            self.notify("training is finished: every step of the schedule is done", timeout=4)
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
        self.notify("speed: unlimited" if new is None else f"speed: at most {new:g} steps/s", timeout=2)

    def action_temperature(self, delta: int) -> None:
        """Change the sampling temperature by 0.1 (kept in whole tenths, within 0.1 .. 2.0)."""
        low, high = TEMPERATURE_TENTHS
        self.temperature = max(low, min(high, self.temperature + delta))

    def action_sample(self, count: int = 1) -> None:
        """Draw `count` new names at the current temperature (`g`: one, `G`: ten)."""
        self._batch, self._batch_size = [], count
        for _ in range(count):
            self.runner.sample(self.temperature / 10)

    def action_next_head(self) -> None:
        """Show the next attention head (wrapping)."""
        self.attn_head = (self.attn_head + 1) % self.trainer_config.n_head

    def action_next_layer(self) -> None:
        """Show the next layer's attention (wrapping); with one layer, say so."""
        if self.trainer_config.n_layer == 1:
            self.notify("this model has only one layer (layer 0): --n-layer 2 gives it two", timeout=3)
            return
        self.attn_layer = (self.attn_layer + 1) % self.trainer_config.n_layer

    def action_maximize(self) -> None:
        """Maximise the focused pane, or restore it (escape restores too); the status line stays."""
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        focused = self.focused
        pane = focused if isinstance(focused, Pane) else self.query_one(f"#{self.current_pane}", Pane)
        self.screen.maximize(pane, container=False)

    def action_toggle_engine(self) -> None:
        """Switch the graph mode of the following steps between fused and atomic."""
        self._wants_engine = ENGINES[(ENGINES.index(self._wants_engine) + 1) % len(ENGINES)]
        self.runner.set_engine(self._wants_engine)
        self.notify(f"graph mode: {self._wants_engine} (from the next step)", timeout=2)

    def action_save(self) -> None:
        """Save a checkpoint to the --save path."""
        self.query_one(StatusBar).saved = "saving…"
        self.runner.save(self.save_path)

    def action_probe(self) -> None:
        """Open the probe's input: type a word, enter probes it."""
        self.query_one(ProbeInput).open()

    def on_probe_input_probe_requested(self, message: ProbeInput.ProbeRequested) -> None:
        """A word to probe: the engine computes its forward pass; its `ProbeReport` is shown as `probe`."""
        # The engine process answers probes once the runner routes them (a `probe` request and record).
        self.notify(f"cannot probe “{message.word}” yet: the engine does not take probes in this build",
                    severity="warning", timeout=4)

    def action_escape(self) -> None:
        """End a probe (the panes show training again); with no probe, restore a maximised pane."""
        if self.probe is not None:
            self.probe = None
        elif self.screen.maximized is not None:
            self.screen.minimize()

    def action_show_pane(self, pane: str) -> None:
        """Focus a pane (and show it, when the panes are tabs)."""
        self.current_pane = pane
        widget = self.query_one(f"#{pane}", Pane)
        if self.screen.maximized is not None:  # a maximised pane gives its place to the one asked for
            self.screen.maximize(widget, container=False)
        widget.focus()

    def action_help(self) -> None:
        """Open the help: keys, then every pane (the focused one first)."""
        panes = [self.query_one(f"#{pane}", Pane) for pane, _ in PANES]
        panes.sort(key=lambda p: p.id != self.current_pane)
        texts = [(p.TITLE, p.HELP) for p in panes]
        if self.is_screen_installed("help"):  # kept from the last time: shown again at once
            help_screen = self.get_screen("help")
            assert isinstance(help_screen, HelpScreen)
            help_screen.show_panes(texts)
        else:
            self.install_screen(HelpScreen(self.key_help(), texts), "help")
        self.push_screen("help")

    def _lay_out_help(self) -> None:
        """Lay the help out ahead of the first `?` (the slow part of opening it the first time)."""
        panes = [self.query_one(f"#{pane}", Pane) for pane, _ in PANES]
        panes.sort(key=lambda p: p.id != self.current_pane)
        help_text(self.key_help(), [(p.TITLE, p.HELP) for p in panes], text_width(self.size.width), self.console)

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, what they do) for every binding of the app, in the help's words."""
        rows = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith("show_pane"):
                continue
            rows.append((" / ".join(self.key_label(k) for k in binding.key.split(",")), binding.tooltip))
        panes = ", ".join(f"{key} {PANE_TITLES[pane]}" for pane, key in PANES)
        rows.append(("1 … 6", f"focus a pane ({panes}); in a small terminal, show it"))
        rows.append(("up / down", "in the Attention pane (focus it with 2 or tab): choose the row whose weights "
                                  "are printed; in the Inside pane (6): choose the update's matrix, or the probed "
                                  "word's position"))
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
