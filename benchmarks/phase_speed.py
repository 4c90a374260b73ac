"""A whole step vs the same step advanced unit by unit, polling for commands between units, side by side.

    python benchmarks/phase_speed.py [--engine fused] [--poll pipe] [--steps 200] [--dataset names]

The engine process trains by advancing a `StepInProgress` one unit at a time (document, each forward position,
the loss, each backward piece, the update) and looks at its commands between units, so that a pause lands
between phases. This measures what that costs against a bare `Trainer.step()` loop: two trainers with the same
configuration (so the very same documents), one stepped whole, the other unit by unit with a poll after every
unit. `--poll pipe` calls `Connection.poll()` on an idle pipe (a system call, some microseconds); `--poll event`
checks a `threading.Event` that a reader thread would set (tens of nanoseconds); `--poll none` only advances.

Each step is timed on both sides one right after the other (the same document), the side going first
alternating: the ratio is the median over those pairs, which a busy machine blurs least (the ratio of the total
times is printed too). Target: the unit-by-unit loop within 5% of the bare loop. It also checks that both
trainers reached the same losses, bit for bit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import Pipe

from microgpt import cli
from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import ENGINES, Trainer

TARGET = 1.05  # the unit-by-unit loop takes at most this many times the bare loop's time per step


def whole_step(trainer: Trainer, poll: Callable[[], bool]) -> tuple[float, int]:
    """Seconds one whole step takes."""
    t0 = time.perf_counter()
    trainer.step()
    return time.perf_counter() - t0, 1


def unit_by_unit(trainer: Trainer, poll: Callable[[], bool]) -> tuple[float, int]:
    """Seconds one step takes advanced one unit at a time, polling between units; and its units."""
    t0 = time.perf_counter()
    step = trainer.begin_step()
    units = 0
    while not step.finished:
        step.advance()
        units += 1
        if poll():  # the engine loop would read a request here (nothing ever comes)
            raise RuntimeError("a poll found a command on an idle channel")
    return time.perf_counter() - t0, units


def poller(kind: str) -> Callable[[], bool]:
    """A check for commands on a channel where none come."""
    if kind == "pipe":
        commands, sender = Pipe(duplex=False)
        poller.keep = sender  # type: ignore[attr-defined]  # the sending end stays open: an idle pipe
        return commands.poll
    if kind == "event":
        return threading.Event().is_set
    return lambda: False


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=ENGINES, default="fused", help="graph mode (default: fused)")
    parser.add_argument("--poll", choices=("pipe", "event", "none"), default="pipe",
                        help="how the loop looks for commands between units (default: pipe)")
    parser.add_argument("--steps", type=int, default=200, help="steps per side (default: 200)")
    parser.add_argument("--dataset", default="names", help="dataset path or shipped name (default: names)")
    args = parser.parse_args(argv)
    config = Config(steps=args.steps)
    dataset = load_dataset(args.dataset)
    whole, phased = Trainer(dataset, config, args.engine), Trainer(dataset, config, args.engine)
    poll = poller(args.poll)
    cli.tune_gc()  # as `microgpt train` and the engine process run
    times: dict[str, list[float]] = {"whole": [], "phased": []}
    units = 0
    for k in range(args.steps):  # step k on both sides, one right after the other, the first side alternating
        sides = [("whole", whole, whole_step), ("phased", phased, unit_by_unit)]
        for side, trainer, run in sides if k % 2 == 0 else sides[::-1]:
            seconds, n = run(trainer, poll)
            times[side].append(seconds)
            units += n if side == "phased" else 0
    if whole.losses != phased.losses:
        print("the two loops reached different losses: the unit-by-unit step is not the whole step", file=sys.stderr)
        return 1
    ratios = [b / a for a, b in zip(times["whole"], times["phased"])]
    ratio = statistics.median(ratios)
    total = sum(times["phased"]) / sum(times["whole"])
    label = f"begin_step() + advance() + {args.poll} poll"
    print(f"{args.engine} engine, {args.poll} poll, {args.steps} steps per side, interleaved step by step; "
          f"{units / args.steps:.1f} units per step")
    print(f"{'loop':<36} {'median s/step':>14} {'mean s/step':>12}")
    for name, side in (("trainer.step()", "whole"), (label, "phased")):
        print(f"{name:<36} {statistics.median(times[side]):>14.5f} {statistics.fmean(times[side]):>12.5f}")
    print(f"ratio unit by unit / whole: median of the {args.steps} same-document pairs {ratio:.3f}, "
          f"total time {total:.3f}; target <= {TARGET:.2f}: {'ok' if ratio <= TARGET else 'MISSED'}")
    print("losses identical bit for bit: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
