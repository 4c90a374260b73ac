"""Time travel in the app, measured: a scrub key to the repaint of the past step, a branch, next to a plain step.

    python benchmarks/time_travel_speed.py [--steps 1000] [--jumps 120] [--seed 1] [--terminal]

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

With `--terminal` the jumps and plain steps are measured on a real terminal instead: the installed `microgpt-tui`
in tmux at 100x32 (as benchmarks/app_speed.py drives it), from the key sent through a tmux control client to the
moment the Attention pane's title naming the asked-for step reaches the terminal (that title changes only
when the replayed report is drawn).
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def terminal(args: argparse.Namespace) -> int:
    """The jumps and plain steps on a real terminal (tmux), timed from the key to the pane's new title."""
    import subprocess
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from app_speed import Tap, tmux  # the terminal tap shared with the app benchmark

    session = "microgpt-tt-bench"
    rng = random.Random(args.seed)
    trained = args.steps - args.jumps // 6 - 1
    work = Path(tempfile.mkdtemp(prefix="microgpt-tt-bench-"))
    fifo = work / "screen.fifo"
    os.mkfifo(fifo)
    app = Path(sys.executable).with_name("microgpt-tui")
    command = ["env", "-u", "COLORTERM", "TERM=xterm-256color", str(app), "--steps", str(args.steps), "--until",
               str(trained), "--save", str(work / "ckpt.json")]
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "32", "sleep 1; exec " + " ".join(command))
    tmux("pipe-pane", "-t", session, "-o", f"cat > {fifo}")
    tap = Tap(fifo)
    control = subprocess.Popen(["tmux", "-C", "attach", "-t", session], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def press(key: str) -> float:
        assert control.stdin is not None
        sent = time.perf_counter()
        control.stdin.write(f"send-keys -t {session} {key}\n".encode())
        control.stdin.flush()
        return sent

    def title(step: int) -> bytes:
        return f"Attention \u00b7 step {step} \u00b7".encode()

    names = {"left": "Left", "right": "Right", "shift+left": "S-Left", "shift+right": "S-Right",
             "pageup": "PPage", "pagedown": "NPage", "home": "Home"}
    try:
        t0 = time.perf_counter()
        if tap.wait_for(title(trained), t0 - 60, timeout=600) is None:
            print("the app did not reach its --until step", file=sys.stderr)
            return 1
        print(f"trained {trained} steps of a {args.steps}-step run in tmux in {time.perf_counter() - t0:.1f} s")
        time.sleep(2.0)  # paused there (--until)
        jumps: list[float] = []
        steps: list[float] = []
        live, shown = trained, trained
        for i in range(args.jumps):
            kind = rng.choice([*KEYS, "home"])
            target = 1 if kind == "home" else max(1, min(live, shown + KEYS[kind]))
            if target >= live or target == shown:
                continue
            sent = press(names[kind])
            seen = tap.wait_for(title(target), sent, timeout=5.0)
            jumps.append(float("inf") if seen is None else seen - sent)
            shown = target
            time.sleep(0.1 + 0.05 * (i % 3))
            if i % 6 == 5:  # a plain step, side by side
                press("End")
                time.sleep(0.3)
                sent = press("n")
                seen = tap.wait_for(title(live + 1), sent, timeout=5.0)
                steps.append(float("inf") if seen is None else seen - sent)
                live = shown = live + 1
                time.sleep(0.2)
    finally:
        if control.stdin is not None:
            control.stdin.close()
        control.wait()
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    print(f"terminal jump (key to the pane's new title)     {summary(jumps)}   target p95 <= "
          f"{1000 * JUMP_TARGET:.0f} ms")
    print(f"terminal plain step (n to the pane's new title) {summary(steps)}")
    print(f"jump p95 / plain step p95: {pct(jumps, 0.95) / pct(steps, 0.95):.2f}")
    return 0 if pct(jumps, 0.95) <= JUMP_TARGET else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--jumps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--terminal", action="store_true", help="measure in tmux on a real terminal")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} before the run"
          + ("  (other work is running: the figures will be pessimistic)" if load > 1.0 else ""))
    return terminal(args) if args.terminal else asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
