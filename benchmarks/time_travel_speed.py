"""Time travel in the app, measured: a scrub key to the repaint of the past step, a branch, next to a plain step.

    python benchmarks/time_travel_speed.py [--steps 1000] [--jumps 120] [--seed 1]

Runs the real app (the engine in its own process, as `microgpt-tui` runs it) under Textual's headless driver at
100x32 on a default run (`--steps` long, trained to its end first). Each measurement is from the key press to the
moment every pane shows the asked-for step and the app is idle again, i.e. the frame is composed (the headless
driver writes no terminal, so the terminal's own time is not in it). Measured, interleaved:

1. jumps: random scrub keys while paused (left, right, shift+left/right, pageup/pagedown, home) and random
   "Go to step…" jumps, in a run trained to just before its end; p50 and p95 (target: p95 at most 150 ms);
2. a plain step for comparison: `n` from the live step to its repaint, between the jumps (after leaving the
   history with `end`); so the jump and step figures come from the same minutes of the same machine;
3. a branch at step 40 (`b`): the key to the screen showing step 40 live with the ghost of the later steps
   (target: within a second).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable

from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import Trainer
from microgpt_tui.app import MicroGPTApp
from microgpt_tui.widgets.loss_chart import LossChart

JUMP_TARGET = 0.150  # seconds, p95
BRANCH_TARGET = 1.0  # seconds
KEYS = {"left": -1, "right": 1, "shift+left": -10, "shift+right": 10, "pageup": -100, "pagedown": 100}


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(values: list[float]) -> str:
    """`p50 … ms   p95 … ms   (n=…)`."""
    median, p95 = 1000 * statistics.median(values), 1000 * pct(values, 0.95)
    return f"p50 {median:6.1f} ms   p95 {p95:6.1f} ms   (n={len(values)})"


async def until(pilot: object, condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(0.001)  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


def shown_step(app: MicroGPTApp) -> int | None:
    report = app.snapshot.report if app.snapshot is not None else None
    return report.step if report is not None else None


async def measure(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    trainer = Trainer(load_dataset("names"), Config(steps=args.steps))
    trained = args.steps - args.jumps // 6 - 1  # leave the plain steps room in the schedule
    app = MicroGPTApp(trainer, paused=False, until=trained, sample_delay=0.0)
    async with app.run_test(size=(100, 32)) as pilot:
        t0 = time.perf_counter()
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == trained
                    and not app.snapshot.running)
        print(f"trained {trained} steps of a {args.steps}-step run in the app in {time.perf_counter() - t0:.1f} s")
        jumps: list[float] = []
        by_kind: dict[str, list[float]] = {}
        steps: list[float] = []
        live = trained
        for i in range(args.jumps):
            base = app.history_step if app.history_step is not None else live
            kind = rng.choice([*KEYS, "home", "go to"])
            if kind == "go to":
                target = rng.randint(1, live - 1)
            elif kind == "home":
                target = 1
            else:
                target = max(1, min(live, base + KEYS[kind]))
            if target >= live or target == app.history_step:
                continue  # not a jump (the live step, or the same step again)
            start = time.perf_counter()
            if kind == "go to":
                app.go_to_step(target)
            else:
                await pilot.press(kind)
            await until(pilot, lambda t=target: shown_step(app) == t and app.query_one(LossChart).cursor == t)
            took = time.perf_counter() - start
            jumps.append(took)
            by_kind.setdefault(kind, []).append(took)
            if i % 6 == 5:  # a plain step, side by side: leave the history, one step, back to the past
                await pilot.press("end")
                await until(pilot, lambda: app.history_step is None)
                start = time.perf_counter()
                await pilot.press("n")
                await until(pilot, lambda n=live + 1: shown_step(app) == n and app.snapshot is not None
                            and app.snapshot.step == n)
                steps.append(time.perf_counter() - start)
                live += 1
        app.go_to_step(40)
        await until(pilot, lambda: shown_step(app) == 40)
        start = time.perf_counter()
        await pilot.press("b")
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.step == 40 and app.history_step is None
                    and shown_step(app) == 40 and bool(app.query_one(LossChart).ghosts))
        branch = time.perf_counter() - start
        ghost = app.query_one(LossChart).ghosts[-1]
    print(f"jump (scrub key or Go to step, to the repaint)  {summary(jumps)}   target p95 <= "
          f"{1000 * JUMP_TARGET:.0f} ms")
    for kind, values in sorted(by_kind.items()):
        print(f"  {kind:<12} {summary(values)}")
    print(f"plain step (n, to the repaint)                  {summary(steps)}")
    print(f"jump p95 / plain step p95: {pct(jumps, 0.95) / pct(steps, 0.95):.2f}")
    print(f"branch at step 40 of {live} (b, to the repaint with a ghost of {len(ghost.losses)} steps): "
          f"{1000 * branch:.0f} ms   target <= {1000 * BRANCH_TARGET:.0f} ms")
    ok = pct(jumps, 0.95) <= JUMP_TARGET and branch <= BRANCH_TARGET
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--jumps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    return asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
