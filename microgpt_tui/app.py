"""The app: six panes over one trainer, driven from the keyboard, fed by the engine process (runner.py).

The app holds the state the panes draw (the latest snapshot, the sample, the selected head) and turns keys into
requests to the engine. When the engine process dies, the panes keep their last state, the status line and a
notification say why, and a small question offers a new engine (from the last checkpoint or from step 0).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import ClassVar, Concatenate, ParamSpec, TypeVar, cast

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.filter import LineFilter, Monochrome, NoColor
from textual.notifications import Notification, Notify, SeverityLevel
from textual.reactive import var
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Footer, Input, Tab, Tabs

from microgpt.breakpoints import Condition, parse
from microgpt.checkpoint import CheckpointError, read_checkpoint
from microgpt.config import Config
from microgpt.history import History, resumed_history
from microgpt.model import matrix_shapes
from microgpt.report import PhaseReport, ProbeReport, StepReport
from microgpt.seen import TrainingDocs
from microgpt.trainer import ENGINES
from microgpt_tui.commands import MicroGPTCommands
from microgpt_tui.engine_process import TrainerLike, fresh_trainer
from microgpt_tui.messages import (
    BranchesChanged,
    BreakpointHit,
    BreakpointsChanged,
    Computing,
    EngineDied,
    Halted,
    Notice,
    PastPhaseShown,
    PastShown,
    PhaseShown,
    ProbeShown,
    Progress,
    Refused,
    Sample,
    SamplesDrawn,
    Saved,
    SaveFailed,
    Snapshot,
)
from microgpt_tui.palette import ColorMode
from microgpt_tui.protocol import step_in_progress
from microgpt_tui.runner import Runner
from microgpt_tui.shown import shown_snapshot
from microgpt_tui.themes import TERMINAL_THEME
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.breakpoints_screen import BreakpointsScreen
from microgpt_tui.widgets.choice_screen import Choice, ChoiceScreen
from microgpt_tui.widgets.grad_norms import GradNorms
from microgpt_tui.widgets.graph_pane import GraphPane
from microgpt_tui.widgets.help_screen import HelpScreen, help_text, text_width
from microgpt_tui.widgets.input_screen import InputScreen
from microgpt_tui.widgets.inside import Inside
from microgpt_tui.widgets.key_footer import KeyFooter
from microgpt_tui.widgets.loss_chart import Ghost, LossChart
from microgpt_tui.widgets.model_line import ModelLine
from microgpt_tui.widgets.pane import Pane
from microgpt_tui.widgets.probe_input import ProbeInput
from microgpt_tui.widgets.sampler import MAX_SAMPLES, TEMPERATURE_TENTHS, Sampler
from microgpt_tui.widgets.status_bar import StatusBar

W = TypeVar("W", bound=Widget)
P = ParamSpec("P")


def while_running(handler: Callable[Concatenate[MicroGPTApp, P], None]) -> Callable[Concatenate[MicroGPTApp, P], None]:
    """For what comes from outside the screen's lifetime (the engine's messages, the app's own timers): do nothing
    once the app has stopped running. They can arrive while the app is closing, when the panes and the status line
    they would update are being taken down (a query then raises NoMatches)."""

    @functools.wraps(handler)
    def guarded(app: MicroGPTApp, /, *args: P.args, **kwargs: P.kwargs) -> None:
        if app.is_running:
            handler(app, *args, **kwargs)

    return guarded


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
SCRUB_ACTIONS = frozenset({"scrub", "scrub_to"})  # keys that move the shown step; not while typing or in a dialog
NO_COLOR_FILTERS: tuple[LineFilter, ...] = (NoColor(),)  # every cell in the terminal's default colours


class MicroGPTApp(App[None]):
    """Trains microgpt step by step and shows the loss, attention, graph, gradients and samples."""

    CSS_PATH = "app.tcss"
    TITLE = "microgpt-tui"
    COMMANDS = App.COMMANDS | {MicroGPTCommands}
    ESCAPE_TO_MINIMIZE = False  # escape ends a probe first (action_escape), then restores a maximised pane
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, StatusBar"  # a maximised pane keeps the status line

    BINDINGS: ClassVar[list[BindingType]] = [  # in the help's order; the footer shows those with show=True
        Binding("space", "toggle_run", "Run/pause", tooltip="Start training, or pause after the current step"),
        Binding("n", "step", "Step", tooltip="Finish the step in progress, or take one whole step, pausing first "
                "if running (presses add up)"),
        Binding("full_stop", "phase", "Phase", show=False,
                tooltip="One phase of the step: the document, one position forward, the loss, a piece of the "
                        "backward pass, the update (pausing first if running; presses add up; in history: of the "
                        "past step shown, replayed)"),
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
        Binding("r", "restart", "Restart", show=False,
                tooltip="Restart the run from step 0 with the same seed and settings, in the graph mode chosen last "
                        "(asks before losing work)"),
        Binding("question_mark", "help", "Help", tooltip="Every key, and what each pane shows"),
        Binding("q", "quit", "Quit", tooltip="Quit microgpt-tui"),
        Binding("z", "maximize", "Maximise", tooltip="Maximise the focused pane, or restore it (also escape)"),
        # Time travel: priority bindings, so that they scrub whichever pane (or the tabs) has the focus; a text
        # input or a dialog keeps its keys (check_action).
        Binding("left", "scrub(-1)", "Back", show=False, priority=True,
                tooltip="While paused: show the step before (history; shift+left: 10 back, pageup: 100)"),
        Binding("right", "scrub(1)", "Forward", show=False, priority=True,
                tooltip="While paused: show the step after (shift+right: 10 on, pagedown: 100)"),
        Binding("shift+left", "scrub(-10)", "Back 10", show=False, priority=True, tooltip="Show the step 10 back"),
        Binding("shift+right", "scrub(10)", "Forward 10", show=False, priority=True, tooltip="Show the step 10 on"),
        Binding("pageup", "scrub(-100)", "Back 100", show=False, priority=True, tooltip="Show the step 100 back"),
        Binding("pagedown", "scrub(100)", "Forward 100", show=False, priority=True, tooltip="Show the step 100 on"),
        Binding("home", "scrub_to('first')", "First step", show=False, priority=True,
                tooltip="Show step 1 (the first step the history holds)"),
        Binding("end", "scrub_to('live')", "Live step", show=False, priority=True,
                tooltip="Back to the live step (leave the history)"),
        Binding("b", "branch", "Branch", show=False,
                tooltip="In history: train again from the shown step (the later steps become a ghost curve)"),
        Binding("k", "breakpoints", "Breakpoints", show=False,
                tooltip="The breakpoint list: conditions that pause training (add, toggle, remove)"),
        *[Binding(key, f"show_pane('{pane}')", f"Pane {key}", show=False,
                  tooltip=f"Focus the {PANE_TITLES[pane]} pane (in a small terminal: show it)")
          for pane, key in PANES],
    ]

    # Actions without a key, offered by name in the command palette: (name, what it does, action).
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("Run to step…", "train, then pause after the step you give", "run_to"),
        ("Save as…", "save a checkpoint to a path you choose (later ctrl+s saves go there too)", "save_as"),
        ("Extend the schedule…", "make the run longer and train on (the loss chart marks the step)", "extend"),
        ("Go to step…", "show any past step exactly (history), while paused", "go_to"),
        ("Set learning rate…", "the base learning rate from the next step on (the decay continues)", "set_lr"),
    )

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
    live: Snapshot | None = None  # the engine's latest snapshot (`snapshot` is what the panes show of it)
    current_pane: var[str] = var("loss")
    wide: var[bool] = var(True)
    history_step: var[int | None] = var[int | None](None)  # the past step shown (None: the live one)
    ghosts: var[tuple[Ghost, ...]] = var[tuple[Ghost, ...]](())  # compared runs, then branches' lost steps
    sample_branches: var[tuple[tuple[int, int], ...]] = var[tuple[tuple[int, int], ...]](())  # (step a branch
    # went back to, the newest sample's id then), in order
    breakpoints: var[tuple[tuple[str, bool], ...]] = var[tuple[tuple[str, bool], ...]](())  # (condition, on)

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
        history: History | None = None,
        breaks: Sequence[Condition] = (),
        compare: Sequence[Ghost] = (),
    ) -> None:
        super().__init__(ansi_color=color_mode in ("16", "none"))  # the terminal's own colours, not RGB
        self.trainer_config = trainer.config
        self.dataset = trainer.dataset
        self.matrix_names = tuple(name for name, _, _ in matrix_shapes(trainer.config, trainer.dataset.vocab_size))
        self.save_path = save_path
        self.start_paused = paused
        self.run_target = until  # train and pause after this step (--until, Run to step…) until it is reached
        self.start_speed = speed  # steps-per-second cap to start with (--speed)
        self.saved_step = trainer.step_count  # the step saved last (or resumed from): quitting before it is safe
        self.redraws_per_second = fps
        self.sample_delay = sample_delay  # seconds per letter of a sample's reveal (the sampler pane paces it)
        self.engine_death = ""  # why the engine process died; "" while it lives
        self.runner = Runner(trainer, self.post_message, fps=fps, history=history,
                             breaks=[(condition, True) for condition in breaks])  # --break: all on
        self.past: StepReport | None = None  # the shown past step's report, once the engine has replayed it
        self._past_series: tuple[tuple[tuple[str, tuple[float, ...]], ...], tuple[int, ...]] = ((), ())  # its
        # recent gradient norms and graph sizes
        self._live_phase: PhaseReport | None = None  # the live step's phase, kept while a past step is shown
        self.first_step = 1  # the first step the history can show
        self._before_first = ""  # why the steps before it cannot be shown
        self._branches_known = 0  # the branches' ghosts the engine has told of
        self.training_docs = TrainingDocs(getattr(trainer, "docs", self.dataset.docs))  # in training order
        self.compare_ghosts = tuple(compare)  # --compare runs
        self.set_reactive(MicroGPTApp.ghosts, self.compare_ghosts)
        self.set_reactive(MicroGPTApp.color_mode, color_mode)
        if color_mode in ("16", "none"):
            self.register_theme(TERMINAL_THEME)
            self.theme = TERMINAL_THEME.name  # the terminal's own colours and background, not approximations of RGB
        self.no_color = color_mode == "none"  # Textual's `:nocolor` styles: emphasis by reverse, bold, underline
        self._wants_running = not paused  # what the user asked for last (snapshots may lag behind the commands)
        self._wants_engine = trainer.engine
        self._sample_seen_at: int | None = None  # the step on screen when the newest sample arrived
        self._shown_at = -math.inf  # when the shown snapshot last changed
        self._show_due = False  # a change of the shown snapshot is waiting for its turn
        self._found: dict[type[Widget], list[Widget]] = {}  # the dashboard's widgets by kind (see `mounted`)
        self._notification_kinds: dict[str, str] = {}  # identity of a notification on its way -> its kind
        self._notification_shown: dict[str, Notification] = {}  # kind -> the latest notification of that kind

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters for the colour mode we chose (not for NO_COLOR alone): no colour at all in `none`."""
        if self.color_mode == "none":
            return NO_COLOR_FILTERS
        return [f for f in super().get_line_filters() if not isinstance(f, Monochrome | NoColor)]

    # -- layout ---------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status line, tabs (small terminals only), the six panes (in grid order), the probe's input, footer."""
        yield StatusBar(self.dataset.name, id="status").data_bind(MicroGPTApp.snapshot)
        yield ModelLine(self.trainer_config, self.dataset, id="model")
        yield Tabs(*[Tab(f"{key} {PANE_TITLES[pane]}", id=f"tab-{pane}") for pane, key in PANES], id="tabs")
        with Container(id="panes"):
            yield LossChart(self.dataset.vocab_size, id="loss").data_bind(
                MicroGPTApp.snapshot, MicroGPTApp.color_mode, MicroGPTApp.ghosts, cursor=MicroGPTApp.history_step)
            yield AttentionMap(self.trainer_config.block_size, id="attention").data_bind(
                MicroGPTApp.snapshot, MicroGPTApp.samples, MicroGPTApp.showing_sample, MicroGPTApp.sample_revealed,
                MicroGPTApp.attn_layer, MicroGPTApp.attn_head, MicroGPTApp.color_mode)
            total_params = sum(rows * cols for _, rows, cols in matrix_shapes(self.trainer_config,
                                                                               self.dataset.vocab_size))
            yield GraphPane(total_params, id="graph").data_bind(MicroGPTApp.snapshot)
            yield GradNorms(self.trainer_config.n_layer, id="grad").data_bind(MicroGPTApp.snapshot,
                                                                               MicroGPTApp.attn_layer)
            yield Inside(self.dataset.uchars, id="inside").data_bind(
                MicroGPTApp.phase, MicroGPTApp.probe, MicroGPTApp.attn_layer, MicroGPTApp.attn_head,
                MicroGPTApp.history_step)
            yield Sampler(self.dataset, delay=self.sample_delay, docs=self.training_docs, id="sampler").data_bind(
                MicroGPTApp.samples, MicroGPTApp.temperature, MicroGPTApp.snapshot,
                branches=MicroGPTApp.sample_branches)
        yield ProbeInput(self.dataset.uchars, self.dataset.name, id="probe-input")
        yield KeyFooter()

    def on_mount(self) -> None:
        """Lay out for the terminal's size, let the panes take turns redrawing, and focus the first pane."""
        training_panes = [pane for pane, _ in PANES if pane not in ("sampler", "inside")]
        for turn, pane in enumerate(training_panes):  # spread over the first half of the redraw interval
            self.query_one(f"#{pane}", Pane).stagger = turn / len(training_panes) / 2 / self.redraws_per_second
        self._fit(self.size.width, self.size.height)
        self.watch_current_pane(self.current_pane)
        self.query_one(f"#{self.current_pane}", Pane).focus()
        if not self.start_paused:  # from the first frame: not `paused` until the engine says it runs
            self._wants_running = True
            self.query_one(StatusBar).pending = "starting…"

    def on_ready(self) -> None:
        """Once the first frame is on screen: listen to the engine, and train unless asked to start paused."""
        self.runner.start()
        if self.start_speed is not None:
            self.runner.set_speed(self.start_speed)
        if not self.start_paused:
            self._run()

    def _run(self) -> None:
        """Train: up to the step asked for (--until, Run to step…) while it is still ahead, else on and on. A pause
        on the way does not forget it: space runs on to it."""
        live = self.live
        target = self.run_target
        if target is not None and (live is None or live.step < target):
            self.runner.run_until(target)
        else:
            self.run_target = None
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
        self.query_one(StatusBar).probe = "" if probe is None else probe.word
        self.showing_sample = False
        self._show()

    def watch_phase(self) -> None:
        """A phase of the step in progress is shown (or no longer is): the panes follow."""
        self.showing_sample = False
        self._show()

    def _show(self) -> None:
        """Make the one snapshot every training pane draws: the live one, a phase's or a probe's.

        While training runs, the panes take turns redrawing over the first half of the redraw interval; the shown
        snapshot changes at most once an interval, so that every pane draws the same one (the same step).
        """
        live = self.live
        if live is None:
            return
        now = time.monotonic()
        wait = self._shown_at + 1.0 / self.redraws_per_second - now
        if live.running and self.phase is None and self.probe is None and wait > 0:
            if not self._show_due:
                self._show_due = True
                self.set_timer(wait, self._show_late)
            return
        self._shown_at = now
        history = self.history_step is not None
        snapshot = shown_snapshot(live, self.phase, self.probe, self.matrix_names, self.past if history else None,
                                  history)
        if history and self.past is not None:  # the sparklines end at the shown step too
            grads, nodes = self._past_series
            snapshot = replace(snapshot, grad_history=grads, node_history=nodes)
        self.snapshot = snapshot
        self._say_history()

    @while_running
    def _show_late(self) -> None:
        self._show_due = False
        self._show()

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

    @while_running
    def on_progress(self, message: Progress) -> None:
        """Hand the latest snapshot to every pane."""
        snapshot = message.snapshot
        status = self.query_one(StatusBar)
        if snapshot.commands >= self.runner.sent:  # it has seen all our commands: its state is the truth
            self._wants_running = snapshot.running
            self._wants_engine = snapshot.engine
            status.pending = ""
        if self.snapshot is not None and self.snapshot.running != snapshot.running:
            self._shown_at = -math.inf  # running or paused: on the status line at once, not at the next redraw
        self.live = snapshot
        if self.run_target is not None and snapshot.step >= self.run_target:  # reached: space runs on and on
            self.run_target = None
        if self.history_step is not None and live_position(snapshot) <= self.history_step:  # a branch or restart
            self.leave_history()  # went back
        if snapshot.running or snapshot.phase is None:  # between steps, or training on: no phase to show ...
            if self.history_step is None:
                self.phase = live_phase_after(self.phase, snapshot)
            else:
                self._live_phase = live_phase_after(self._live_phase, snapshot)
        self._show()
        for line in self.mounted(ModelLine):  # (none while the app is closing)
            line.engine = snapshot.engine
        for chart in self.mounted(LossChart):
            chart.marks = snapshot.marks
        if self.showing_sample and snapshot.step != self._sample_seen_at:  # a step after the sample
            self.showing_sample = False
        if snapshot.running and status.notice:
            status.notice = ""

    @while_running
    def on_samples_drawn(self, message: SamplesDrawn) -> None:
        """New samples join the list (the sampler reveals them); attention shows the newest until the next step."""
        kept = (*self.samples, *message.samples)[-MAX_SAMPLES:]
        cut = kept[0].draw if kept and kept[0].draw != kept[0].sample_id else None  # a batch whose first fell off
        self.samples = tuple(itertools.dropwhile(lambda s: s.draw == cut, kept))
        self._sample_seen_at = self.snapshot.step if self.snapshot is not None else 0
        self.sample_revealed = None
        shown_step = self.history_step if self.history_step is not None else self._sample_seen_at
        self.showing_sample = bool(message.samples) and message.samples[-1].step == shown_step  # (not if the
        # shown step has moved on since `g`)

    def on_sampler_revealed(self, message: Sampler.Revealed) -> None:
        """The attention pane follows the sampler's letter-by-letter reveal."""
        if self.samples and message.sample_id == self.samples[-1].sample_id:
            self.sample_revealed = message.count

    @while_running
    def on_computing(self, message: Computing) -> None:
        """A step has begun that may take a while: the status line counts the seconds."""
        self.query_one(StatusBar).start_computing(message.step, message.elapsed)

    @while_running
    def on_engine_died(self, message: EngineDied) -> None:
        """The engine process is gone: keep the panes, say why, and offer a new engine or to quit."""
        self.engine_death = message.reason
        self._wants_running = False
        status = self.query_one(StatusBar)
        status.death = message.reason
        status.pending = ""
        self.notify(f"{message.reason}. The panes keep its last state; r restarts it.",
                    title="the engine stopped", severity="error", timeout=30)
        self.offer_restart()

    def offer_restart(self) -> None:
        """Ask how to go on after the engine's death: from the last checkpoint, from step 0, or quit."""
        choices = []
        checkpoint, why_not = self.restart_checkpoint()
        if checkpoint is not None:
            choices.append(Choice(("c",), f"restart from the checkpoint {checkpoint}", "checkpoint"))
        choices += [Choice(("0", "r"), "restart from step 0 (same seed and settings)", "zero"),
                    Choice(("q",), "quit", "quit")]
        body = self.engine_death + (f"\nno restart from a checkpoint:\n{why_not}" if why_not else "")
        self.push_screen(ChoiceScreen("the engine stopped", body, choices,
                                      other="look at the panes (r restarts later)", alarm=True),
                         self._after_death_choice)

    def _after_death_choice(self, choice: str | None) -> None:
        if choice == "checkpoint":
            self.restart_engine(from_checkpoint=True)
        elif choice == "zero":
            self.restart_engine(from_checkpoint=False)
        elif choice == "quit":
            self.exit()

    def restart_checkpoint(self) -> tuple[str | None, str]:
        """(the checkpoint a new engine can start from, "") when the file saves go to holds this run (the same
        dataset and configuration, by the checkpoint's own checks); else (None, why not, in words)."""
        path = self.save_path
        if not os.path.isfile(path):
            return None, f"nothing saved at {path} yet (ctrl+s saves)"
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as error:
            return None, str(error)
        ident = checkpoint.dataset
        try:
            checkpoint.check_dataset(self.dataset)
        except CheckpointError:
            return None, f"it holds a run of another dataset ({ident.name!r}, {ident.num_docs:,} docs)"
        try:
            checkpoint.check_config(self.trainer_config)
        except CheckpointError:
            theirs = [f"{f.name} {getattr(checkpoint.config, f.name)}" for f in dataclasses.fields(Config)
                      if getattr(checkpoint.config, f.name) != getattr(self.trainer_config, f.name)]
            return None, f"it holds a run of another configuration ({', '.join(theirs)})"
        return path, ""

    def restart_engine(self, *, from_checkpoint: bool) -> None:
        """Start a new engine process (after a death): from the last checkpoint, or from step 0."""
        trainer: TrainerLike
        history = None
        if from_checkpoint:
            path, why_not = self.restart_checkpoint()
            try:
                if path is None:
                    raise CheckpointError(why_not)
                checkpoint = read_checkpoint(path)
                trainer = checkpoint.restore()
                history = resumed_history(checkpoint.history, trainer)  # damaged: a new one, said in a notice
                if trainer.config != self.trainer_config or trainer.dataset.docs != self.dataset.docs:
                    raise CheckpointError(f"{path} holds another run (another dataset or configuration)")
            except CheckpointError as error:
                self.notify(str(error), title="no restart from the checkpoint", severity="error", timeout=10)
                return
        else:
            trainer = fresh_trainer(self.dataset, self.trainer_config, self._wants_engine)  # the mode chosen last
        self.runner.restart(trainer, history, [(parse(text), enabled) for text, enabled in self.breakpoints])
        self.saved_step = trainer.step_count
        self.engine_death = ""
        self._wants_running = False
        status = self.query_one(StatusBar)
        status.death = status.notice = ""
        where = f"step {trainer.step_count}" + (f" of {self.save_path}" if from_checkpoint else "")
        self.notify(f"a new engine starts from {where}, paused: space runs it", title="engine restarted",
                    timeout=6)

    @while_running
    def on_saved(self, message: Saved) -> None:
        """Say where the checkpoint went (and, in the middle of a step, that it holds the state before it)."""
        self.saved_step = message.step
        self.query_one(StatusBar).saved = f"saved step {message.step}"
        during = (f" (step {message.step + 1} was in progress: the checkpoint holds the state before it)"
                  if message.mid_step else "")
        self.say("save", f"checkpoint of step {message.step} saved to {message.path}{during}", timeout=6)

    @while_running
    def on_save_failed(self, message: SaveFailed) -> None:
        """Say why the save failed (the previous checkpoint is intact)."""
        self.query_one(StatusBar).saved = "save failed"
        self.say("save", f"{message.reason} (the previous checkpoint, if any, is intact)",
                 title="checkpoint not saved", severity="error", timeout=10)

    @while_running
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

    def engine_alive(self) -> bool:
        """True while the engine process lives; after its death, offer a new one instead (and say False)."""
        if not self.engine_death:
            return True
        self.offer_restart()
        return False

    def unsaved_steps(self) -> int:
        """Steps trained since the last save (or since the run was resumed); 0 when nothing would be lost."""
        if self.snapshot is None or self.engine_death:
            return 0
        return 0 if self.snapshot.step == self.saved_step else self.snapshot.step

    def ask_first(self, what: str, keys: tuple[str, ...], then: str, action: Callable[[], object]) -> None:
        """Do `action` at once, or, when steps since the last save would be lost, after a yes."""
        if not self.unsaved_steps():
            action()
            return
        last = f"the last save is of step {self.saved_step}" if self.saved_step else "nothing is saved yet"
        body = f"step {self.snapshot.step if self.snapshot else 0} is not saved ({last}; ctrl+s saves)."

        def answered(choice: str | None) -> None:
            if choice == "yes":
                action()

        self.push_screen(ChoiceScreen(what, body, [Choice(keys, then, "yes")], id=f"ask-{keys[0]}"), answered)

    def action_restart(self) -> None:
        """Restart the run from step 0, asking first when unsaved steps would be lost (after a death: a new
        engine)."""
        if self.engine_death:
            self.offer_restart()
            return
        self.ask_first("restart from step 0?", ("y", "r"), "restart from step 0 (same seed and settings)",
                       self._restart_run)

    def _restart_run(self) -> None:
        self.runner.restart_run()
        self.saved_step = 0
        self._wants_running = False
        self.notify(f"the run starts again from step 0 (same seed and settings, {self._wants_engine} mode), paused",
                    timeout=4)

    def action_run_to(self) -> None:
        """Ask for a step, then train and pause after it (from the live step: a past step shown is left first)."""
        if not self.engine_alive() or self.snapshot is None:
            return
        step, steps = self.snapshot.step, self.snapshot.steps

        def check(text: str) -> str | None:
            if not text.isdigit() or not step < int(text) <= steps:
                return f"a step after {step}, at most {steps} (the schedule's length)"
            return None

        def answered(text: str | None) -> None:
            if text:
                self.leave_history()  # training is watched live, as after space and n
                self._wants_running = True
                self.query_one(StatusBar).pending = "starting…"
                self.run_target = int(text)
                self._run()

        self.push_screen(InputScreen("run to step…", f"Train and pause after step (now at step {step}):",
                                     value=str(min(steps, step + 100)), check=check), answered)

    def action_save_as(self) -> None:
        """Ask for a path, then save there (later saves go there too)."""
        if not self.engine_alive():
            return

        def check(text: str) -> str | None:
            return None if text else "a file name, e.g. run.json"

        def answered(path: str | None) -> None:
            if path:
                self.save_path = path
                self.action_save()

        self.push_screen(InputScreen("save as…", "Save a checkpoint to (later ctrl+s saves go there too):",
                                     value=self.save_path, check=check), answered)

    def action_toggle_run(self) -> None:
        """Run if paused, pause if running (from the live step: a past step shown is left first)."""
        if not self.engine_alive():
            return
        self.leave_history()
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
            self._run()

    def action_step(self) -> None:
        """Pause if running, then one more step (presses add up)."""
        if not self.engine_alive():
            return
        self.leave_history()
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

    def action_sample(self, count: int = 1) -> None:
        """Draw `count` new names at the current temperature (`g`: one, `G`: ten)."""
        if not self.engine_alive():
            return
        if self.history_step is not None:  # from the shown past step's weights
            self.runner.sample_at(self.temperature / 10, count, self.history_step)
            return
        self.runner.sample(self.temperature / 10, count)

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
        if not self.engine_alive():
            return
        self._wants_engine = ENGINES[(ENGINES.index(self._wants_engine) + 1) % len(ENGINES)]
        self.runner.set_engine(self._wants_engine)
        live = self.live
        if live is not None and live.finished and live.phase is None:  # no next step: the engine rebuilds the last
            self.say("mode", f"graph mode: {self._wants_engine}: step {live.step}'s graph recomputed in "
                             f"{self._wants_engine} mode (the run has finished)", timeout=3)
        else:
            self.say("mode", f"graph mode: {self._wants_engine} (from the next step)", timeout=2)

    def action_save(self) -> None:
        """Save a checkpoint to the --save path."""
        if not self.engine_alive():
            return
        self.query_one(StatusBar).saved = "saving…"
        self.runner.save(self.save_path)

    def action_probe(self) -> None:
        """Open the probe's input: type a word, enter probes it (in history, at the shown step's weights)."""
        self.query_one(ProbeInput).open(self.history_step)

    def on_probe_input_probe_requested(self, message: ProbeInput.ProbeRequested) -> None:
        """A word to probe: the engine computes its forward pass (in history, at the shown step's weights, like
        `g`); its `ProbeReport` is shown as `probe`."""
        if not self.engine_alive():
            return
        if self.history_step is not None:
            self.runner.probe_at(message.word, self.history_step)
        else:
            self.runner.probe(message.word)

    @while_running
    def on_probe_shown(self, message: ProbeShown) -> None:
        """A probe's forward pass: the panes show it, marked `probe · not trained on`, until escape (or until
        another step is shown); an answer for a step no longer shown is dropped."""
        step = message.report.step
        if self.history_step is not None and step != self.history_step:
            return
        if self.history_step is None and self.live is not None and step < self.live.step:
            return  # asked in history, which was left since
        self.probe = message.report

    @while_running
    def on_phase_shown(self, message: PhaseShown) -> None:
        """The numbers of the unit the step in progress stopped at: the panes show the step so far."""
        if self.history_step is not None:  # a past step is shown: the live phase waits for its return
            self._live_phase = message.report
            return
        self.phase = message.report

    @while_running
    def on_refused(self, message: Refused) -> None:
        """The engine could not do what was asked: say why."""
        if message.what == "history":  # no past step is on its way
            self.query_one(StatusBar).replaying = None
        self.refuse(message.what, message.reason)

    def refuse(self, what: str, reason: str) -> None:
        """Say that `what` (e.g. "learning rate") was not done, and why (the engine's refusals, and the app's own)."""
        self.say(what, reason, title=f"{what}: not done", severity="warning", timeout=6)

    @while_running
    def on_notice(self, message: Notice) -> None:
        """Something to read once (what extending the schedule changed)."""
        self.say("notice", message.text, title=message.title, timeout=12)

    def action_phase(self) -> None:
        """One more unit of the step in progress (pausing first if running; presses add up)."""
        if not self.engine_alive():
            return
        self.probe = None
        if self.history_step is not None:  # the next phase of the past step shown, replayed
            self.runner.past_phase(self.history_step)
            return
        self._wants_running = False
        self.runner.next_phase()

    def action_extend(self) -> None:
        """Ask for a new length of the schedule, then train on with it."""
        if not self.engine_alive() or self.live is None:
            return
        step, steps = self.live.step, self.live.steps

        def check(text: str) -> str | None:
            if not text.isdigit() or int(text) <= step:
                return f"more than {step} steps (the run is at step {step})"
            return None

        def answered(text: str | None) -> None:
            if text:
                self.runner.extend(int(text))

        self.push_screen(InputScreen("extend the schedule…", f"New length of the schedule (now {steps} steps; "
                                     f"the run is at step {step}):", value=str(max(steps, step) * 2), check=check),
                         answered)

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

    @while_running
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
        """Leave, asking first when unsaved steps would be lost (q, ctrl+q and the palette all come here)."""
        if self.screen.id == "ask-q":  # asked already: the same key again means yes
            self.quit_now()
            return
        self.ask_first("quit?", ("q", "y", "ctrl+q"), "quit without saving", self.quit_now)

    def quit_now(self) -> None:
        """Stop the engine and leave."""
        self.runner.stop()
        self.exit()

    def on_unmount(self) -> None:
        """Never leave the engine process behind."""
        self.runner.stop()

    # -- time travel: history, branches, breakpoints (issue 9) ----------------------------------------------------

    def _say_history(self) -> None:
        """The status line names the past step shown (and its phase), or nothing while the live one is."""
        live = self.live
        if self.history_step is None or live is None:
            label = ""
        else:
            label = f"history · step {self.history_step} (live: {live_position(live)})"
            if self.phase is not None:
                label += f" · {self.phase.phase.label}"
        for status in self.mounted(StatusBar):
            status.history = label

    def mounted(self, kind: type[W]) -> list[W]:
        """The dashboard's widgets of a kind that are still mounted, looked up once (a query walks the whole DOM
        and matches CSS on every node: several times per `.` press and per snapshot)."""
        found = self._found.get(kind)
        if not found:
            found = self._found[kind] = list(self.query(kind))
        return [cast(W, widget) for widget in found if widget.is_attached]

    def watch_history_step(self) -> None:
        """The status line says which step is shown; a sample's attention gives way to that step's."""
        self.showing_sample = False
        self._show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The scrubbing keys are the app's on the dashboard, not while a text input or a dialog has them; the
        palette opens over the dashboard only, never over a question still waiting for its answer."""
        if action in SCRUB_ACTIONS and (len(self.screen_stack) > 1 or isinstance(self.focused, Input)):
            return False
        if action == "command_palette" and isinstance(self.screen, ModalScreen):
            return False
        return True

    def action_scrub(self, delta: int) -> None:
        """Move the shown step by `delta` (while paused)."""
        live = self.live
        if live is None or not self.engine_alive():
            return
        if self._wants_running:
            self.say("history", "pause first (space): past steps are shown while paused", timeout=3)
            return
        self.go_to_step((self.history_step if self.history_step is not None else live_position(live)) + delta)

    def action_scrub_to(self, where: str) -> None:
        """Show the first step the history holds (`first`), or the live step again (`live`)."""
        if where == "live":
            self.leave_history()
        elif self.live is not None:
            self.action_scrub(1 - (self.history_step or live_position(self.live)))  # (step 1, or the first held)

    def go_to_step(self, step: int) -> None:
        """Show step `step` (clamped to the history); the live step (the one in progress, if any) leaves the
        history."""
        live = self.live
        if live is None:
            return
        if step < self.first_step:
            self._say_no_history()
        step = max(self.first_step, min(live_position(live), step))
        if step >= live_position(live):
            self.leave_history()
            return
        if step == self.history_step:
            return
        self.probe = None  # a probe is of the step shown (its weights)
        if self.history_step is None:  # entering the history: the live phase (if any) waits for our return
            self._live_phase = self.phase
        self.phase = None  # `phase` is the past step's, while in history
        self.history_step = step
        self.runner.seek(step)
        self.query_one(StatusBar).replaying = time.monotonic()  # (a far jump can take seconds: it says so)

    def _say_no_history(self) -> None:
        """Say why the steps before the history's first are not shown, when it starts after step 1 (the run was
        resumed from a checkpoint saved without a history); before step 1 there is simply no step."""
        if self.first_step > 1 and self.live is not None:
            first = min(self.first_step, live_position(self.live))
            self.say("history", f"no history before step {first}: {self._before_first}", timeout=5)

    def leave_history(self) -> None:
        """Show the live step again."""
        if self.history_step is not None:
            self.history_step = None
            self.past = None
            self.query_one(StatusBar).replaying = None
            self.phase, self._live_phase = self._live_phase, None
            self.probe = None  # a probe is of the step shown (its weights)
            self._show()

    @while_running
    def on_past_shown(self, message: PastShown) -> None:
        """The past step asked for, replayed: every pane shows it (a stale answer to an earlier key is dropped)."""
        if message.report.step == self.history_step:
            self.past = message.report
            self._past_series = (message.grad_history, message.node_history)
            self.query_one(StatusBar).replaying = None
            self._show()

    @while_running
    def on_past_phase_shown(self, message: PastPhaseShown) -> None:
        """A phase of the shown past step."""
        if message.report.phase.step == self.history_step:
            self.phase = message.report  # the panes and the Inside pane show the past step's phase

    def action_go_to(self) -> None:
        """Ask for a step, then show it (pausing first)."""
        live = self.live
        if not self.engine_alive() or live is None:
            return
        if live.step < self.first_step:
            if self.first_step > 1:
                self._say_no_history()
            else:
                self.say("history", "no step to show yet: n takes one", timeout=3)
            return
        first, last = self.first_step, live_position(live)
        in_progress = " (in progress)" if last > live.step else ""

        def check(text: str) -> str | None:
            if not text.isdigit() or not first <= int(text) <= last:
                return f"a step from {first} to {last}"
            return None

        def answered(text: str | None) -> None:
            if text:
                if self._wants_running:
                    self._wants_running = False
                    self.runner.pause()
                self.go_to_step(int(text))

        self.push_screen(InputScreen("go to step…",
                                     f"Show step ({first}-{last}; {last} is the live step{in_progress}):",
                                     value=str(self.history_step or last), check=check), answered)

    def action_branch(self) -> None:
        """Train again from the shown past step: the run goes back to it; the later steps become a ghost."""
        if not self.engine_alive():
            return
        step = self.history_step
        if step is None:
            self.say("branch", "b trains again from a past step: pause, go back with left (or home), then b",
                     timeout=5)
            return
        self._wants_running = False
        self.runner.branch(step)
        self.leave_history()
        self.query_one(StatusBar).notice = ""  # a breakpoint's pause is behind us
        self.say("branch", f"back to step {step}: the steps after it are a ghost on the loss chart; space trains "
                           "again (with nothing changed, the same steps)", timeout=6)

    @while_running
    def on_branches_changed(self, message: BranchesChanged) -> None:
        """Draw each branch's lost steps as a ghost, after the compared runs."""
        self.first_step = message.first_step
        self._before_first = message.before_first or "the history starts there"
        known = self._branches_known if len(message.ghosts) >= self._branches_known else 0  # (fewer: a new run)
        newest = self.samples[-1].sample_id if self.samples else 0
        self.sample_branches += tuple((g.start, newest) for g in message.ghosts[known:])
        self._branches_known = len(message.ghosts)
        self.ghosts = self.compare_ghosts + tuple(Ghost.of_branch(g.start, g.losses) for g in message.ghosts)

    def action_set_lr(self) -> None:
        """Ask for a base learning rate (offering the one in force); it holds from the next step on."""
        live = self.live
        if not self.engine_alive() or live is None:
            return
        if live.phase is not None and not live.running:  # `.` began a step: the engine would refuse the answer
            self.refuse("learning rate", step_in_progress(live.phase.step))
            return

        def check(text: str) -> str | None:
            try:
                lr = float(text)
            except ValueError:
                lr = math.nan
            return None if math.isfinite(lr) and lr > 0 else "a positive number, e.g. 0.01"

        def answered(text: str | None) -> None:
            if text:
                self.runner.set_lr(float(text))

        when = "the next step" if live.running else f"step {live.step + 1}"  # running: the step after this one
        self.push_screen(InputScreen("set learning rate…", f"Base learning rate from {when} "
                                     f"on (now {live.next_lr:.4g} at that step; the decay continues):",
                                     value=repr(live.base_lr), check=check), answered)  # exact: enter keeps it

    def action_breakpoints(self) -> None:
        """Open the breakpoint list."""
        if self.engine_alive():
            self.push_screen(BreakpointsScreen(self.breakpoints))

    def watch_breakpoints(self, entries: tuple[tuple[str, bool], ...]) -> None:
        """An open breakpoint list follows the engine's."""
        for screen in self.screen_stack:
            if isinstance(screen, BreakpointsScreen):
                screen.entries = entries

    @while_running
    def on_breakpoints_changed(self, message: BreakpointsChanged) -> None:
        """The engine's breakpoint list, as it now stands."""
        self.breakpoints = message.entries

    def on_breakpoints_screen_add(self, message: BreakpointsScreen.Add) -> None:
        """Watch one more condition."""
        self.runner.add_break(message.text)

    def on_breakpoints_screen_toggle(self, message: BreakpointsScreen.Toggle) -> None:
        """Turn a breakpoint off or on."""
        self.runner.toggle_break(message.index)

    def on_breakpoints_screen_remove(self, message: BreakpointsScreen.Remove) -> None:
        """Remove a breakpoint."""
        self.runner.remove_break(message.index)

    @while_running
    def on_breakpoint_hit(self, message: BreakpointHit) -> None:
        """Training paused at a breakpoint: the live step is shown, and the status line says which one fired."""
        self._wants_running = False
        self.leave_history()
        self.query_one(StatusBar).notice = message.text
        self.say("halted", message.text, title="breakpoint: training paused (space runs on)", timeout=10)


def live_position(live: Snapshot) -> int:
    """The step the live run is at: the one in progress (after `.`), else the last one finished (every step before
    it, the last finished one included, is a past step the history can show)."""
    return live.step + 1 if live.phase is not None else live.step


def live_phase_after(phase: PhaseReport | None, snapshot: Snapshot) -> PhaseReport | None:
    """The live phase to show once the step in progress has ended: none, except the update a `.` has just done.

    The update is the last unit of a step: when it is done the step is done, but it is shown (Adam's moves, the
    update ratios, the Inside pane's update detail) until the next key moves on: `.` to the next step's document,
    `n` or `space` to training.
    """
    if phase is None or snapshot.running:
        return None
    just_done = phase.phase.kind == "update" and phase.phase.step == snapshot.step
    return phase if just_done else None


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
