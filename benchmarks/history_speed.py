"""The history's memory and speed, measured side by side in one run: bytes per record and per state, the whole
history at 100,000 steps, the cost of recording a step, the latency of a jump (a past step's full report
recomputed) next to a plain step, and the size of a checkpoint that carries the history.

1. A real run of the default model (1,000 steps, the shipped `names` dataset; every 50th step in atomic mode, so
   that jumps to an atomic step are measured too) is trained with a History recording every step. Each step and
   each `record` call is timed.
2. Jumps in that run: `History.replay(k)` for random steps k, timed, next to the plain fused and atomic steps of
   the same run.
3. 100,000 steps, simulated without training: a History of a 100,000-step schedule is fed 100,000 reports copied
   from the real run's (renumbered, so every record has a real report's size), capturing the trainer's state at
   each state step as the policy says (the states hold the initial weights: a state's size and a replay's cost do
   not depend on the values). Its memory is read twice: the arrays' own bytes (History.memory) and the growth of
   the process's resident memory while building it (VmRSS; with --trace, tracemalloc's count of every allocation
   instead, much slower). Jumps to random steps then replay real fused steps from the nearest state, as a jump in
   a real 100,000-step run would.

The machine's load changes every time in milliseconds; the ratios to a plain step, measured in the same run, do
not. The 150 ms target is for the default run, which is all fused: it is checked on the fused jumps.
4. Checkpoints: the 1,000-step run saved with and without its history, and the 100,000-step history's JSON.

    python benchmarks/history_speed.py [--steps 1000] [--jumps 200] [--long 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from microgpt.checkpoint import save_checkpoint
from microgpt.cli import tune_gc
from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.history import History, State
from microgpt.report import StepReport
from microgpt.trainer import Trainer

BUDGET_MB = 200.0  # the whole history of a 100,000-step default run
JUMP_P95_MS = 150.0  # a jump to any step of a 1,000-step default run
MB = 2**20


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def ms(values: list[float]) -> str:
    """p50 / p95 in milliseconds."""
    return f"p50 {1000 * pct(values, 50):8.2f} ms   p95 {1000 * pct(values, 95):8.2f} ms   (n={len(values)})"


def rss() -> int:
    """The process's resident memory in bytes (Linux), 0 where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def kinds(memory: dict[str, int]) -> str:
    """A memory breakdown in MB."""
    return ", ".join(f"{k} {v / MB:.1f}" for k, v in memory.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="length of the real run (default 1000)")
    parser.add_argument("--jumps", type=int, default=200, help="timed jumps in the real run (default 200)")
    parser.add_argument("--long", type=int, default=100_000, help="length of the simulated run (default 100000)")
    parser.add_argument("--long-jumps", type=int, default=30, help="timed jumps in the simulated run (default 30)")
    parser.add_argument("--trace", action="store_true", help="measure the long history with tracemalloc (slow)")
    args = parser.parse_args()
    rng = random.Random(1)
    names = load_dataset("names")
    tune_gc()  # as `microgpt train` and the engine process do: the graphs are acyclic, the collector only rescans

    # 1. a real run, recorded
    trainer = Trainer(names, Config(steps=args.steps))
    history = History(trainer)
    reports: list[StepReport] = []
    step_s: dict[str, list[float]] = {"fused": [], "atomic": []}
    record_s: list[float] = []
    for k in range(1, args.steps + 1):
        trainer.engine = "atomic" if k % 50 == 0 else "fused"
        t0 = time.perf_counter()
        report = trainer.step()
        t1 = time.perf_counter()
        history.record(report)
        t2 = time.perf_counter()
        step_s[report.engine].append(t1 - t0)
        record_s.append(t2 - t1)
        reports.append(report)
    memory = history.memory()
    per_record = memory["records"] / args.steps
    per_state = State.of(trainer).nbytes

    # 2. jumps in the real run, each next to a plain step of a second run (the same load for both)
    side = Trainer(names, Config(steps=args.steps))
    beside: list[float] = []
    jumps: dict[str, list[float]] = {"fused": [], "atomic": []}
    exact = 0
    targets = [rng.randint(1, args.steps) for _ in range(args.jumps)] + list(range(50, args.steps + 1, 50))
    for k in targets:
        t0 = time.perf_counter()
        side.step()
        beside.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = history.replay(k)
        jumps[report.engine].append(time.perf_counter() - t0)
        exact += repr(report) == repr(reports[k - 1])
    scrub: list[float] = []
    k = rng.randint(100, args.steps - 100)
    for _ in range(40):  # left and right by one from a jump, as the arrow keys do
        k += rng.choice((-1, 1))
        t0 = time.perf_counter()
        history.replay(k)
        scrub.append(time.perf_counter() - t0)

    # 4a. checkpoints of the real run
    with tempfile.TemporaryDirectory() as tmp:
        plain, full = Path(tmp) / "plain.json", Path(tmp) / "full.json"
        save_checkpoint(trainer, plain)
        t0 = time.perf_counter()
        save_checkpoint(trainer, full, history)
        save_s = time.perf_counter() - t0
        plain_size, full_size = plain.stat().st_size, full.stat().st_size

    # 3. a long run, simulated: real reports' contents, renumbered
    long_trainer = Trainer(names, Config(steps=args.long))
    if args.trace:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if args.trace else rss()
    t0 = time.perf_counter()
    long_history = History(long_trainer)
    for k in range(1, args.long + 1):
        long_trainer.step_count = k
        long_history.record(replace(reports[(k - 1) % len(reports)], step=k, steps=args.long))
    build_s = time.perf_counter() - t0
    grown = (tracemalloc.get_traced_memory()[0] if args.trace else rss()) - before
    tracemalloc.stop()
    long_memory = long_history.memory()
    long_jumps: list[float] = []
    for _ in range(args.long_jumps):
        k = rng.randint(1, args.long)
        t0 = time.perf_counter()
        long_history.replay(k)
        long_jumps.append(time.perf_counter() - t0)
    long_scrub: list[float] = []
    for _ in range(20):
        k += rng.choice((-1, 1))
        t0 = time.perf_counter()
        long_history.replay(k)
        long_scrub.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    long_json = json.dumps(long_history.to_json())
    long_json_s = time.perf_counter() - t0

    # report
    total_long = sum(long_memory.values())
    plain = statistics.median(beside)
    final_states = min(args.long // long_history.interval + 1, len(long_history.states))
    print(f"history benchmark · Python {sys.version.split()[0]} · default model ({trainer.num_params} params), "
          f"shipped names")
    print(f"\n-- records and states ({args.steps}-step run, every 50th step atomic)")
    print(f"bytes per step record        {per_record:10.0f}")
    print(f"bytes per state              {per_state:10d}   (weights + Adam m + v, as doubles)")
    print(f"states kept                  {len(history.states):10d}   (a state every {history.interval} steps)")
    print(f"whole history                {history.nbytes() / MB:10.1f} MB   ({kinds(memory)})")
    print(f"\n-- {args.long:,} steps (simulated records, real policy; see the docstring)")
    print(f"states kept                  {len(long_history.states):10d}   "
          f"(a state every {long_history.interval} steps)")
    print(f"history (arrays)             {total_long / MB:10.1f} MB   ({kinds(long_memory)})")
    print(f"history ({'tracemalloc' if args.trace else 'RSS growth'})  {grown / MB:13.1f} MB   "
          f"budget {BUDGET_MB:.0f} MB: {'holds' if max(grown, total_long) / MB < BUDGET_MB else 'EXCEEDED'}")
    print(f"extrapolated from the run    {(args.long * per_record + final_states * per_state) / MB:10.1f} MB   "
          f"({args.long:,} x {per_record:.0f} B + {final_states} states)")
    print(f"building it                  {build_s:10.1f} s")
    print("\n-- speed, side by side (ms; x = times the median plain fused step taken between the jumps)")
    print(f"plain fused step (training)  {ms(step_s['fused'])}")
    print(f"plain fused step (beside)    {ms(beside)}")
    print(f"plain atomic step            {ms(step_s['atomic'])}   {statistics.median(step_s['atomic']) / plain:5.1f}x")
    print(f"record a step                {ms(record_s)}   "
          f"(overhead {statistics.mean(record_s) / statistics.mean(step_s['fused']):.1%} of a fused step)")
    for label, values in ((f"jump, {args.steps} steps, fused", jumps["fused"]),
                          (f"jump, {args.steps} steps, atomic", jumps["atomic"]),
                          (f"scrub by one, {args.steps} steps", scrub),
                          (f"jump, {args.long:,} steps", long_jumps),
                          (f"scrub by one, {args.long:,}", long_scrub)):
        print(f"{label:28s} {ms(values)}   {statistics.median(values) / plain:5.1f}x")
    p95 = 1000 * pct(jumps["fused"], 95)
    print(f"target: a jump in the default ({args.steps}-step, fused) run p95 {p95:.0f} ms <= {JUMP_P95_MS:.0f} ms: "
          f"{'holds' if p95 <= JUMP_P95_MS else 'MISSED'} (load average {os.getloadavg()[0]:.1f})")
    print(f"replays equal to the original report (repr, timings included): {exact} of {len(targets)}")
    print("\n-- checkpoints")
    print(f"without history              {plain_size / 1024:10.0f} KB")
    print(f"with history                 {full_size / 1024:10.0f} KB   (saved in {1000 * save_s:.0f} ms)")
    print(f"{args.long:,}-step history JSON {len(long_json) / MB:9.1f} MB   (written in {1000 * long_json_s:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
