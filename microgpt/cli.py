"""The `microgpt` command: train as the reference does and print what it prints; pause, resume and sample.

    microgpt train [--dataset NAME|PATH] [--steps N] [--until K] [--save PATH] [--resume PATH] ...
    microgpt sample --resume PATH [--samples K] [--temperature T]

The training flags, the way a trainer (and a resumed run's saved history) is built from them and where a run is
saved are defined here once and used by `microgpt-tui` too (`add_training_flags`, `build_trainer`, `save_path`).
A resumed run keeps the history its checkpoint holds (the app's records, snapshots and branches), records each step
it trains in it and saves it back. `--resume X --steps N` makes a run longer (or shorter, never before its current
step): the schedule records the change, so resuming reproduces it, and the change is said once on stderr. A resumed
run saves back to the file it came from unless --save says otherwise.

`train` prints the reference's lines (`num docs`, `vocab size`, `num params`, one `step ... | loss ...` per
step, then the samples), each step line ended by a carriage return on a terminal, as the reference updates it in
place, and by a newline otherwise. Any unusable input is one line on stderr and exit status 2; Ctrl-C stops
after the current step, saves to --save if given, and exits with status 130.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from typing import IO, Any, NoReturn, overload

from microgpt import __version__
from microgpt.atomic_file import AtomicWriteError, check_writable
from microgpt.breakpoints import FORMS, BreakpointError, Condition, Watch, never_fires, parse
from microgpt.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from microgpt.config import Config, ConfigError
from microgpt.data import SHIPPED, DataError, load_dataset
from microgpt.history import History, resumed_history
from microgpt.report import SampleToken
from microgpt.runlog import RunLog
from microgpt.sampling import generate
from microgpt.schedule import ScheduleError
from microgpt.trainer import ENGINES, Trainer, TrainingDiverged

PROG = "microgpt"
INFERENCE_HEADER = "--- inference (new, hallucinated names) ---"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_CHECKPOINT = "microgpt-checkpoint.json"  # where the app saves when neither --save nor --resume names a file

# command-line flag -> Config field, for the flags that set the run's configuration
CONFIG_FLAGS = {"n_layer": "--n-layer", "n_embd": "--n-embd", "n_head": "--n-head", "block_size": "--block-size",
                "lr": "--lr", "steps": "--steps", "seed": "--seed"}


class UsageError(Exception):
    """Input the command cannot use; the message is the one line printed after `microgpt: error:`."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line, without the usage block, and exits with status 2.

    Both commands (`microgpt` and its subcommands, `microgpt-tui`) use it, so a bad flag reads the same in each:
    `microgpt: error: argument --steps: must be at least 1, got -1 (see microgpt train --help)`.
    """

    def error(self, message: str) -> NoReturn:
        """Print `<command>: error: <message> (see <prog> --help)` and exit 2."""
        command = self.prog.split(" ")[0]  # a subcommand's prog is "microgpt train": every error line starts alike
        print(f"{command}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# --- argument types: the parser prints `<command>: error: argument --x: <message>` ---

def positive_int(text: str) -> int:
    """A whole number > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def whole(text: str) -> int:
    """Any whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def condition(text: str) -> Condition:
    """A breakpoint condition (see microgpt.breakpoints)."""
    try:
        return parse(text)
    except BreakpointError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The `microgpt` parser with its `train` and `sample` subcommands."""
    parser = Parser(
        prog=PROG, description="Train Karpathy's microgpt in pure Python, bit for bit, and sample from it.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)  # subparsers: Parser too

    train = sub.add_parser(
        "train", help="train a model and print its losses and samples, as the reference does",
        description="Train one document per step and print the reference's output. "
                    "Flags left out take the reference's defaults, or the checkpoint's values with --resume.")
    add_training_flags(train)
    add_sampling_flags(train)
    train.add_argument("--save", metavar="PATH",
                       help="save a checkpoint when the run stops (at the end, at --until or on Ctrl-C); "
                            "default: the --resume file, else nothing is saved")
    train.add_argument("--log-json", metavar="PATH",
                       help="write the run's settings, then one JSON object per step (and the samples) to this "
                            "file; a resumed run appends")

    sample = sub.add_parser(
        "sample", help="print samples from a checkpoint's weights",
        description="Print samples from a checkpoint, with its weights and its sampling generator's state "
                    "(the same samples `train` would print next).")
    sample.add_argument("--resume", metavar="PATH", required=True, help="the checkpoint to sample from")
    add_sampling_flags(sample)
    return parser


def add_training_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The flags that choose a run (dataset, sizes, schedule, seed, graph mode), --resume, --until and --break.

    Shared by `microgpt train` and `microgpt-tui`: `build_trainer` reads them.
    """
    d = Config()
    parser.add_argument("--dataset", metavar="NAME|PATH",
                        help=f"a shipped dataset ({', '.join(SHIPPED)}) or a text file, one document per line "
                             "(default: names)")
    parser.add_argument("--steps", type=positive_int, metavar="N",
                        help=f"length of the schedule; the learning rate decays to 0 over it (default: {d.steps}); "
                             "with --resume, the run continues as an N-step run from its next step")
    parser.add_argument("--until", type=positive_int, metavar="K",
                        help="pause after step K of the schedule (`microgpt train` stops there; with --save, "
                             "--resume continues)")
    parser.add_argument("--break", dest="breaks", type=condition, action="append", default=[], metavar="CONDITION",
                        help="pause after the step where CONDITION becomes true (`microgpt train` stops there, like "
                             f"--until); repeatable; quote it: --break 'loss<2.0'. CONDITION is one of {FORMS}")
    parser.add_argument("--seed", type=whole, metavar="S",
                        help=f"seed of the shuffle, the initial weights and sampling (default: {d.seed})")
    parser.add_argument("--engine", choices=ENGINES,
                        help="graph mode: fused (fast) or atomic (the reference's scalar graph); same numbers "
                             "(default: fused)")
    parser.add_argument("--n-layer", type=positive_int, metavar="L",
                        help=f"transformer blocks (default: {d.n_layer})")
    parser.add_argument("--n-embd", type=positive_int, metavar="E",
                        help=f"embedding width, divisible by --n-head (default: {d.n_embd})")
    parser.add_argument("--n-head", type=positive_int, metavar="H",
                        help=f"attention heads per block (default: {d.n_head})")
    parser.add_argument("--block-size", type=positive_int, metavar="B",
                        help=f"longest context; documents are cut to B predictions (default: {d.block_size})")
    parser.add_argument("--lr", type=positive_float, metavar="X",
                        help=f"Adam's learning rate at step 1 (default: {d.lr})")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue the run saved in this checkpoint, bit for bit")


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    """--samples and --temperature."""
    parser.add_argument("--samples", type=count, default=20, metavar="K",
                        help="number of samples to print (default: 20)")
    parser.add_argument("--temperature", type=positive_float, default=0.5, metavar="T",
                        help="sampling temperature: lower is safer, higher is wilder (default: 0.5)")


# --- the command ---

def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, 2 for unusable input, 130 when interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version or a usage error the parser has already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        if args.command == "sample":
            return run_sample(args, sys.stdout)
        return run_train(args, sys.stdout)
    except (UsageError, CheckpointError, DataError, ConfigError, ScheduleError, AtomicWriteError) as error:
        return fail(str(error))
    except KeyboardInterrupt:
        sys.stdout.flush()
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `microgpt train | head`: stop quietly
        silence_stdout()
        return 1


def fail(message: str) -> int:
    """Print one error line and return the usage exit status."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def requested_config(args: argparse.Namespace, base: Config, resuming: bool = False) -> Config:
    """`base` with the fields given on the command line replaced (validated: ConfigError otherwise).

    When resuming, --steps does not change the config: it changes the run's schedule (see build_trainer).
    """
    given = {name: getattr(args, name) for name in CONFIG_FLAGS
             if getattr(args, name) is not None and not (resuming and name == "steps")}
    return replace(base, **given).validate()


def build_trainer(args: argparse.Namespace, note: Callable[[str], None]) -> tuple[Trainer, History | None]:
    """A fresh trainer, or the one in --resume checked against every flag given, its schedule changed by --steps;
    and the history a resumed run's checkpoint holds, to extend step by step and save with it (None: a new run, or
    a checkpoint saved without one: training costs nothing more). The checkpoint is read once.

    `note` receives the sentence that says how --steps changed a resumed run's schedule, a note on each --break
    that cannot fire, and the sentence that says a saved history was damaged (a new one starts at the resumed
    step). --until and --break are checked too (UsageError), so both commands refuse the same values.
    """
    change = None
    saved = None  # the checkpoint's history, as found
    if args.resume is None:
        dataset = load_dataset(args.dataset or "names")
        trainer = Trainer(dataset, requested_config(args, Config()), args.engine or "fused")
    else:
        ckpt = read_checkpoint(args.resume)
        config = requested_config(args, ckpt.config, resuming=True)
        differing = [f"{CONFIG_FLAGS[f.name]} {getattr(config, f.name)!r} (the checkpoint has "
                     f"{getattr(ckpt.config, f.name)!r})"
                     for f in fields(Config) if getattr(config, f.name) != getattr(ckpt.config, f.name)]
        if differing:
            raise UsageError(f"{args.resume} was trained with other settings: asked for {'; '.join(differing)}; "
                             "leave these flags out to continue with the checkpoint's values")
        dataset = load_dataset(args.dataset) if args.dataset else ckpt.load_dataset()
        trainer = ckpt.restore(dataset, config)
        saved = ckpt.history
        if args.engine:
            trainer.engine = args.engine
        change = change_steps(trainer, args.steps, args.resume)
    check_until(trainer, args.until, args.resume)
    remarks = check_breaks(trainer, args.breaks)
    for remark in ([change] if change is not None else []) + remarks:
        note(remark)  # once the command line is known to be good
    history = resumed_history(saved, trainer)
    if history is not None and history.lost:
        note(history.lost)
    return trainer, history


def check_breaks(trainer: Trainer, breaks: list[Condition]) -> list[str]:
    """Refuse a --break given twice (UsageError); the notes on those that cannot fire in this run."""
    for i, condition in enumerate(breaks):
        if any(earlier.key == condition.key for earlier in breaks[:i]):
            raise UsageError(f"--break {condition.text} is given twice; give each condition once")
    notes = (never_fires(condition, trainer.step_count, trainer.steps) for condition in breaks)
    return [f"note: {text}" for text in notes if text]


def change_steps(trainer: Trainer, steps: int | None, resumed_from: str) -> str | None:
    """Make a resumed run `steps` long from its next step (UsageError if it cannot be); the sentence saying so."""
    if steps is None or steps == trainer.steps:
        return None
    k = trainer.step_count
    if steps <= k:
        raise UsageError(f"--steps {steps} is not after step {k}, where {resumed_from} stopped; give more than "
                         f"{k} steps to continue the run")
    verb = "extends" if steps > trainer.steps else "shortens"
    trainer.extend(steps)
    return f"--steps {steps} {verb} the run from step {k + 1}: {trainer.schedule.describe()}"


def check_until(trainer: Trainer, until: int | None, resumed_from: str | None) -> None:
    """Refuse an --until past the end of the schedule or not after the step a run resumes from."""
    if until is None:
        return
    steps, k = trainer.steps, trainer.step_count
    if until > steps:
        raise UsageError(f"--until {until} is past the end of the schedule (--steps {steps}); "
                         f"give a step from {k + 1} to {steps}")
    if until <= k:
        raise UsageError(f"--until {until} is not after step {k}, where {resumed_from} stopped; "
                         f"give a step from {k + 1} to {steps}")


@overload
def save_path(args: argparse.Namespace, default: str) -> str: ...
@overload
def save_path(args: argparse.Namespace, default: None = None) -> str | None: ...
def save_path(args: argparse.Namespace, default: str | None = None) -> str | None:
    """Where a run saves: --save if given, else the file it was resumed from, else `default`."""
    save: str | None = args.save
    resume: str | None = args.resume
    return save if save is not None else resume if resume is not None else default


def say(message: str) -> None:
    """One line on stderr, after whatever stdout holds."""
    sys.stdout.flush()
    print(f"{PROG}: {message}", file=sys.stderr)


def run_train(args: argparse.Namespace, out: IO[str]) -> int:
    """`microgpt train`."""
    save = save_path(args)
    for path, what in ((save, "checkpoint"), (args.log_json, "JSON log")):
        if path is None:
            continue
        try:
            check_writable(path, what)  # before the dataset and the training: a typo fails at once
        except AtomicWriteError as error:
            if path is save and args.save is None:  # the default: back to the --resume file
                raise UsageError(f"{error} (a resumed run saves back to the file it came from; give --save PATH "
                                 "to save elsewhere)") from None
            raise
    trainer, history = build_trainer(args, say)  # a resumed run's history: the app's time travel, kept and extended
    steps = trainer.steps
    until = steps if args.until is None else args.until
    log = None if args.log_json is None else RunLog.open(args.log_json, trainer, append=args.resume is not None)
    if log is not None and log.file.dropped_torn:
        say(f"dropped the torn last line of {args.log_json} (a write cut short) before appending")
    restore_gc = tune_gc()
    try:
        out.write(f"num docs: {len(trainer.dataset.docs)}\nvocab size: {trainer.dataset.vocab_size}\n"
                  f"num params: {trainer.num_params}\n")
        watch = Watch(trainer, args.breaks, history) if args.breaks else None
        try:
            interrupted = train_until(trainer, until, out, log, watch, history)
        except TrainingDiverged as error:
            out.write("\n" if out.isatty() else "")
            if save is not None:
                save_checkpoint(trainer, save, history)  # the last good step
            raise UsageError(f"{error}; try a smaller --lr") from None
        if save is not None:
            save_checkpoint(trainer, save, history)
        hits = watch.hits if watch is not None else []
        if interrupted or hits or not trainer.done:
            saved = (f"saved step {trainer.step_count} to {save}; continue with: {PROG} train --resume {save}"
                     if save else "not saved (add --save PATH to keep a run)" if interrupted
                     else "not saved (add --save PATH to continue later)")
            stopped = "interrupted" if interrupted else "paused"
            why = "; ".join(map(str, hits)) if hits else f"{stopped} after step {trainer.step_count} of {steps}"
            say(f"{why}; {saved}")
            if interrupted:
                return EXIT_INTERRUPTED
        if trainer.done and args.samples and not hits:
            out.write(INFERENCE_HEADER + "\n")
            texts = print_samples(lambda: trainer.sample(args.temperature), args.samples, out)
            if log is not None:
                log.samples(texts, args.temperature)
        if trainer.done and save is not None and not hits:
            say(f"saved step {trainer.step_count} to {save}")  # after the reference's output, not inside it
        out.flush()
        return 0
    finally:
        restore_gc()
        if log is not None:
            log.close()


def train_until(trainer: Trainer, until: int, out: IO[str], log: RunLog | None, watch: Watch | None = None,
                history: History | None = None) -> bool:
    """Train up to step `until` or a breakpoint of `watch`, printing each step (and recording it in `history`);
    True when Ctrl-C stopped it early.

    The first Ctrl-C lets the current step finish (so the trainer is whole and can be saved); a second one
    interrupts at once.
    """
    tty = out.isatty()
    end = "\r" if tty else "\n"
    stop = threading.Event()
    steps = trainer.steps
    last_flush = time.monotonic()
    stepped = False
    with ctrl_c_sets(stop):
        while trainer.step_count < until and not stop.is_set():
            t0 = time.perf_counter()
            report = trainer.step()
            seconds = time.perf_counter() - t0
            stepped = True
            if history is not None:
                history.record(report)
            out.write(f"step {report.step:4d} / {steps:4d} | loss {report.loss:.4f}{end}")
            if log is not None:
                log.step(report, seconds)
            if watch is not None and watch.check(report):
                break
            if tty and time.monotonic() - last_flush > 0.05:
                out.flush()
                last_flush = time.monotonic()
    if tty and stepped:
        out.write("\n")  # end the line updated in place (the reference's "\n--- inference")
    return stop.is_set() and trainer.step_count < until and not (watch and watch.hits)


class ctrl_c_sets:
    """Context manager: while inside, the first SIGINT sets an event and the second raises KeyboardInterrupt."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.previous: Any = None

    def handle(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __enter__(self) -> ctrl_c_sets:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def print_samples(draw: Callable[[], Iterator[SampleToken]], k: int, out: IO[str]) -> list[str]:
    """Draw k samples one after another and print them as the reference does; returns their texts."""
    texts = []
    for i in range(1, k + 1):
        text = ""
        for token in draw():
            text = token.text
        out.write(f"sample {i:2d}: {text}\n")
        texts.append(text)
    return texts


def run_sample(args: argparse.Namespace, out: IO[str]) -> int:
    """`microgpt sample`: a header line, then samples from a checkpoint's weights and sampling generator.

    The checkpoint is unchanged.
    """
    ckpt = read_checkpoint(args.resume)
    params, vocabulary = ckpt.weights(), ckpt.vocabulary()
    rng = random.Random()
    rng.setstate(ckpt.state.sample_rng)
    out.write(f"--- samples of {args.resume}: step {ckpt.step} of {ckpt.schedule.steps}, dataset "
              f"{ckpt.dataset.name}, temperature {args.temperature} ---\n")
    print_samples(lambda: generate(params, ckpt.config, vocabulary, rng, args.temperature), args.samples, out)
    out.flush()
    return 0


def tune_gc() -> Callable[[], None]:
    """Quiet the cyclic garbage collector for a run; returns the function that restores it.

    The engine's graphs are acyclic, so reference counting frees each step's graph; the collector would only
    rescan the long-lived objects (the dataset, the weights) again and again. Freeze those and collect rarely.
    """
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)

    def restore() -> None:
        gc.set_threshold(*threshold)
        gc.unfreeze()

    return restore
