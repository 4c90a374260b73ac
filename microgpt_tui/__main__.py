"""`microgpt-tui`: check the command line, build (or resume) the trainer, tune the interpreter, run the app.

Everything that can be wrong with the input (a flag, the dataset, the configuration, the checkpoint) is found
here, before the screen changes, and reported as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from microgpt import cli
from microgpt.atomic_file import AtomicWriteError, check_writable
from microgpt.checkpoint import CheckpointError
from microgpt.compare import CompareError, legend, read_run
from microgpt.config import ConfigError
from microgpt.data import DataError
from microgpt.history import History
from microgpt.schedule import ScheduleError
from microgpt.trainer import Trainer

if TYPE_CHECKING:
    from microgpt_tui.widgets.loss_chart import Ghost
from microgpt_tui.palette import COLOR_MODES, RICH_COLOR_SYSTEMS, ColorMode, detect_color_mode

PROG = "microgpt-tui"
SWITCH_INTERVAL = 0.002  # seconds a thread may hold the GIL while another waits: keys get the UI thread quickly
TEXTUAL_FPS = 240  # Textual's repaint ceiling (see main)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The command line: the training flags of `microgpt train` (defined there), then the app's own."""
    parser = cli.Parser(
        prog=PROG,
        description="Train Karpathy's microgpt step by step in pure Python and watch it learn. Keys: space "
                    "run/pause, n step, +/- temperature, g sample, m fused/atomic, ctrl+s save, ? help, q quit.",
    )
    train = parser.add_argument_group("training (as `microgpt train`; flags left out take the reference's "
                                      "defaults, or the checkpoint's values with --resume)")
    cli.add_training_flags(train)
    app = parser.add_argument_group("the app")
    app.add_argument("--save", metavar="PATH",
                     help="where ctrl+s saves a checkpoint (default: the --resume file, else "
                          f"{cli.DEFAULT_CHECKPOINT})")
    app.add_argument("--paused", action="store_true", help="start paused (default: training starts at once)")
    app.add_argument("--speed", type=cli.positive_float, metavar="S",
                     help="start with at most S training steps per second ([ and ] change it; default: unlimited)")
    app.add_argument("--fps", type=cli.positive_float, default=3.0, metavar="F",
                     help="redraws per second of the training panes while training (default: 3); "
                          "key presses always redraw at once")
    app.add_argument("--compare", action="append", default=[], metavar="FILE",
                     help="draw a saved run's loss (a checkpoint, or a `microgpt train --log-json` file) as a ghost "
                          "curve, its legend naming what differs (repeatable)")
    app.add_argument("--color", choices=("auto", *COLOR_MODES), default="auto",
                     help="colours: auto (from NO_COLOR, COLORTERM and TERM), truecolor, 256, 16 or none")
    return parser


def make_trainer(args: argparse.Namespace) -> tuple[Trainer, History | None]:
    """A fresh trainer, or the checkpoint's (checked against every flag given) with the history it holds, so that a
    resumed run can scrub back, as `microgpt train` builds them."""
    try:
        return cli.build_trainer(args, note)
    except (cli.UsageError, CheckpointError, DataError, ConfigError, ScheduleError) as error:
        fail(str(error))


def note(message: str) -> None:
    """One line on stderr (before the screen changes), e.g. how --steps changed a resumed run's schedule."""
    print(f"{PROG}: {message}", file=sys.stderr)


def compared_runs(args: argparse.Namespace, trainer: Trainer) -> list[Ghost]:
    """The --compare runs as ghost curves, each named by what differs from this run."""
    from microgpt_tui.widgets.loss_chart import Ghost  # after color_mode(): Textual reads its settings on import

    ghosts = []
    for path in args.compare:
        try:
            saved = read_run(path)
        except CompareError as error:
            fail(str(error))
        ghosts.append(Ghost(legend(saved, trainer.config, trainer.dataset.name, trainer.schedule), saved.losses))
    return ghosts


def save_path(args: argparse.Namespace) -> str:
    """Where ctrl+s saves: --save, else the --resume file, else the default checkpoint; checked writable now."""
    path = cli.save_path(args, cli.DEFAULT_CHECKPOINT)
    if args.save is not None:  # a path the user typed: a typo fails before the screen changes
        try:
            check_writable(path, "checkpoint")
        except AtomicWriteError as error:
            fail(str(error))
    return path


def color_mode(choice: str) -> ColorMode:
    """The colour mode to use: the flag, or with `auto` what NO_COLOR, COLORTERM and TERM say.

    Textual reads its colour system from the environment when it is first imported, so this runs first (and
    nothing imported before it may import Textual). The flag beats NO_COLOR; `none` itself is the app's doing
    (a filter that leaves only the terminal's default colours), not NO_COLOR's.
    """
    mode: ColorMode = detect_color_mode() if choice == "auto" else choice  # type: ignore[assignment]
    os.environ["TEXTUAL_COLOR_SYSTEM"] = RICH_COLOR_SYSTEMS[mode]
    return mode


def main(argv: list[str] | None = None) -> int:
    """Run the app; bad input gives one line on stderr and exit status 2 before the screen changes."""
    args = build_parser().parse_args(argv)
    trainer, history = make_trainer(args)
    save = save_path(args)
    mode = color_mode(args.color)
    compare = compared_runs(args, trainer)
    # Textual repaints at most TEXTUAL_FPS times a second (60 by default). The training panes cap their own
    # redraws (--fps) and take turns; a higher ceiling only means a key press never waits for the next 1/60 s.
    os.environ.setdefault("TEXTUAL_FPS", str(TEXTUAL_FPS))
    from microgpt_tui.app import MicroGPTApp  # after color_mode(): Textual reads its settings on import

    app = MicroGPTApp(trainer, paused=args.paused, fps=args.fps, save_path=save, color_mode=mode, until=args.until,
                      speed=args.speed, history=history, breaks=args.breaks, compare=compare)
    sys.setswitchinterval(SWITCH_INTERVAL)
    restore_gc = cli.tune_gc()  # the step graphs are acyclic: freeze the model, collect rarely
    try:
        app.run()
    finally:
        restore_gc()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
