"""The engine process's loop vs bare steps, side by side: what training inside the app costs on the engine's side.

    python benchmarks/loop_speed.py [--steps 1200] [--chunk 40] [--engine fused]

In the app, the engine process trains through `EngineLoop` (microgpt_tui/engine_process.py): a step advanced
unit by unit with looks at the app's requests in between, every step recorded in the history and checked against
the breakpoints, and the state published to the app a few times a second. This runs that loop in this process
(the records it posts are pickled, as the pipe would, then dropped) next to a bare `Trainer.step()` loop on a
second trainer of the same configuration, so both train the very same documents: `--chunk` steps of the loop,
then the same steps bare, and so on. Both sides are timed in CPU time of this process (`time.process_time`), which
other programs on the machine blur less than wall time. Target: the loop within 5% of the bare steps (a ratio
bare / loop of at least 0.95). It also checks that both reached the same losses, bit for bit.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time

from microgpt import cli
from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import Trainer
from microgpt_tui import protocol as p
from microgpt_tui.engine_process import EngineLoop

TARGET = 0.95  # bare time / loop time, at least


def measure(steps: int, chunk: int, engine: str) -> tuple[float, float, int]:
    """(bare seconds, loop seconds, records posted) over `steps` steps taken both ways, `chunk` at a time."""
    dataset = load_dataset("names")
    bare = Trainer(dataset, Config(steps=100_000), engine)
    looped = Trainer(dataset, Config(steps=100_000), engine)
    clock = time.process_time
    spent = {"bare": 0.0, "loop": 0.0}
    began = [clock()]
    posted = [0]

    def post(record: p.Record) -> None:
        pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)  # what sending it down the pipe costs
        posted[0] += 1

    def receive(timeout: float | None) -> p.Request | None:
        if timeout is not None:
            return None  # training: no request waiting
        spent["loop"] += clock() - began[0]  # idle: the loop has taken its chunk
        if looped.step_count >= steps:
            return p.Stop()
        start = clock()
        for _ in range(chunk):
            bare.step()
        spent["bare"] += clock() - start
        began[0] = clock()
        return p.RunUntil(looped.step_count + chunk)

    EngineLoop(looped, post, receive).run()
    if bare.losses != looped.losses:
        raise SystemExit("the loop and the bare steps reached different losses")
    return spent["bare"], spent["loop"], posted[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--chunk", type=int, default=40)
    parser.add_argument("--engine", choices=("fused", "atomic"), default="fused")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run")
    restore = cli.tune_gc()  # as the engine process is tuned
    try:
        bare, loop, posted = measure(args.steps, args.chunk, args.engine)
    finally:
        restore()
    ratio = bare / loop
    print(f"{args.steps} {args.engine} steps, {args.chunk} at a time: bare {1000 * bare / args.steps:.2f} ms/step, "
          f"engine loop {1000 * loop / args.steps:.2f} ms/step ({posted} records posted)")
    print(f"bare / loop: {ratio:.3f}   (target >= {TARGET})  {'OK' if ratio >= TARGET else 'MISSED'}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
