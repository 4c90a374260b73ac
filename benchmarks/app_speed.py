"""The app's speed figures, measured side by side in one run: throughput, key, help and `.` latency, terminal bytes.

    python benchmarks/app_speed.py [--windows 4] [--seconds 5] [--presses 60] [--engine fused]

Drives the installed `microgpt-tui` in tmux at 100x32 with TERM=xterm-256color and no COLORTERM (what an SSH
session usually gets). tmux's pipe-pane copies everything the app writes to the terminal into a FIFO that this
script reads with timestamps, which gives:

1. throughput: the app trains for a few seconds, the status line says from which step to which (and when); the app
   is paused, and a headless engine (same configuration, same interpreter tuning as `microgpt train`, the same
   seed, so the very same documents) times exactly those steps; the app resumes; and so on, alternating, so that
   a machine that speeds up or slows down affects both sides alike (target: at least 85% of headless);
2. key latency: `+`/`-` sent through a tmux control client while training, until the new `temperature 0.xx`
   reaches the terminal; p50 and p95 over the presses (target: p95 at most 50 ms);
3. bytes written to the terminal per second while training at full speed (target: at most 30 KB/s);
4. help latency: `?` sent while training, until the help's first line reaches the terminal, then `escape` closes
   it; p50 and p95 over the presses (target: p95 at most 100 ms);
5. phase latency: `.` sent while paused (fused, default size), until the status line names the next phase
   (`step 1 · forward 3/7 “mignon”`), which the panes repaint with; p50 and p95 (target: p95 at most 50 ms).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIZE = (100, 32)  # the default terminal size (--size); the Sampling pane's title must show `temperature 0.xx`
STEPS = 100_000  # a schedule long enough never to finish during the measurement
SESSION = f"microgpt-bench-{os.getpid()}"  # unique: other runs may measure at the same time
STEP_RE = re.compile(rb"step +(\d+) / " + str(STEPS).encode())
TARGETS = {"throughput": 0.85, "latency_p95": 0.050, "bytes_per_second": 30_000, "help_p95": 0.100,
           "phase_p95": 0.050}
# the status line while a step is taken phase by phase: `step    1 / 100000 · forward 3/7 “mignon”`
PHASE_RE = re.compile(rb"step +(\d+) / \d+ \xc2\xb7 (document|forward \d+/\d+|loss|backward \d+/\d+|update)")

# The headless engine, stepped on request: "K" trains up to step K and prints the seconds the new steps took.
HEADLESS = f"""
import sys, time
from microgpt import cli
from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import Trainer
trainer = Trainer(load_dataset("names"), Config(steps={STEPS}), engine=sys.argv[1])
cli.tune_gc()
for line in sys.stdin:
    target = int(line)
    start = time.perf_counter()
    while trainer.step_count < target:
        trainer.step()
    print(time.perf_counter() - start, flush=True)
"""


class Headless:
    """A headless engine in a child process that trains up to a step on request and says how long it took."""

    def __init__(self, engine: str) -> None:
        self._process = subprocess.Popen([sys.executable, "-c", HEADLESS, engine], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)

    def train_to(self, step: int) -> float:
        """Seconds spent training from where it was up to `step`."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{step}\n")
        self._process.stdin.flush()
        return float(self._process.stdout.readline())

    def close(self) -> None:
        """End the child."""
        self._process.kill()
        self._process.wait()


class Tap:
    """Reads what the app writes to its terminal (tmux pipe-pane into a FIFO), timestamping every chunk."""

    def __init__(self, fifo: Path) -> None:
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Condition()  # waiters sleep until a chunk arrives (no polling beside the app)
        self._fifo = fifo
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self._fifo, "rb", buffering=0) as pipe:
            while True:
                data = pipe.read(65536)
                if not data:
                    return
                now = time.perf_counter()
                with self.lock:
                    self.chunks.append((now, data))
                    self.lock.notify_all()

    def wait_for_new(self, regex: re.Pattern[bytes], t0: float, timeout: float,
                     last: tuple[bytes, ...] | None) -> tuple[float, tuple[bytes, ...]] | None:
        """The time and groups of the first match of `regex` after t0 whose groups differ from `last`."""
        deadline = time.perf_counter() + timeout
        seen = 0
        while (left := deadline - time.perf_counter()) > 0:
            with self.lock:
                if seen == len(self.chunks):
                    self.lock.wait(left)
                fresh = self.chunks[seen:]
                seen = len(self.chunks)
            for t, data in fresh:
                if t < t0:
                    continue
                for match in regex.finditer(data):
                    if match.groups() != last:
                        return t, match.groups()
        return None

    def between(self, t0: float, t1: float) -> list[tuple[float, bytes]]:
        """Chunks read from t0 to t1."""
        with self.lock:
            return [(t, d) for t, d in self.chunks if t0 <= t <= t1]

    def wait_for(self, pattern: bytes, t0: float, timeout: float) -> float | None:
        """The time the first chunk after t0 containing `pattern` arrived (None after `timeout`)."""
        deadline = time.perf_counter() + timeout
        seen = 0
        tail = b""
        while (left := deadline - time.perf_counter()) > 0:
            with self.lock:
                if seen == len(self.chunks):
                    self.lock.wait(left)
                fresh = self.chunks[seen:]
                seen = len(self.chunks)
            for t, data in fresh:
                if t < t0:
                    continue
                if pattern in tail + data:
                    return t
                tail = data[-len(pattern):]
        return None


def tmux(*args: str) -> str:
    """Run a tmux command; its output."""
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def steps_seen(chunks: list[tuple[float, bytes]]) -> list[tuple[float, int]]:
    """Every (time, step) the status line showed in these chunks."""
    return [(t, int(k)) for t, data in chunks for k in STEP_RE.findall(data)]


def main() -> int:
    """Run the measurement and print the four figures with their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=4, help="training windows, each followed by headless")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each training window")
    parser.add_argument("--presses", type=int, default=60, help="key presses for the latency figure")
    parser.add_argument("--help-presses", type=int, default=12, help="openings of the help for its latency")
    parser.add_argument("--dots", type=int, default=40, help="`.` presses (one phase each) for their latency")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="terminal size, COLSxROWS (default: 100x32)")
    parser.add_argument("--engine", default="fused", choices=("fused", "atomic"))
    parser.add_argument("--fps", type=float, default=None, help="pass --fps to the app (default: the app's)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed: apt-get install tmux", file=sys.stderr)
        return 2
    app = Path(sys.executable).with_name("microgpt-tui")
    if not app.exists():
        print(f"{app} is missing: pip install -e . first", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} before the run"
          + ("  (other work is running: the figures will be pessimistic)" if load > 1.0 else ""))

    work = Path(tempfile.mkdtemp(prefix="microgpt-bench-"))
    fifo = work / "screen.fifo"
    os.mkfifo(fifo)
    command = ["env", "-u", "COLORTERM", "TERM=xterm-256color", str(app), "--steps", str(STEPS),
               "--engine", args.engine, "--save", str(work / "ckpt.json")]
    if args.fps is not None:
        command += ["--fps", str(args.fps)]
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    size = tuple(int(n) for n in args.size.split("x"))
    tmux("new-session", "-d", "-s", SESSION, "-x", str(size[0]), "-y", str(size[1]),
         "sleep 1; exec " + " ".join(command))
    tmux("pipe-pane", "-t", SESSION, "-o", f"cat > {fifo}")
    tap = Tap(fifo)
    control = subprocess.Popen(["tmux", "-C", "attach", "-t", SESSION], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    headless = Headless(args.engine)

    def press(key: str) -> float:
        """Send one key (a character, or a tmux key name such as Space) through the control client."""
        assert control.stdin is not None
        sent = time.perf_counter()
        literal = "" if key[0].isupper() else "-l "
        control.stdin.write(f"send-keys -t {SESSION} {literal}{key}\n".encode())
        control.stdin.flush()
        return sent

    try:
        if tap.wait_for(b"running", time.perf_counter() - 60, timeout=30) is None:
            print("the app did not start training within 30 s", file=sys.stderr)
            return 1
        time.sleep(2.0)  # warm up: past the first steps and the first frames

        # 1 and 3: alternate the app training and the headless engine timing the same steps
        app_steps = app_seconds = headless_seconds = 0.0
        byte_count, byte_seconds = 0, 0.0
        first_step = last_step = 0
        for _ in range(args.windows):
            t0 = time.perf_counter()
            time.sleep(args.seconds)
            t1 = time.perf_counter()
            seen = steps_seen(tap.between(t0, t1))
            byte_count += sum(len(d) for _, d in tap.between(t0, t1))
            byte_seconds += t1 - t0
            paused_at = press("Space")
            if tap.wait_for(b"paused", paused_at, timeout=10) is None:
                print("the app did not pause", file=sys.stderr)
                return 1
            if len(seen) < 2 or seen[-1][1] <= seen[0][1]:
                print("could not read the step counter from the screen", file=sys.stderr)
                return 1
            (ta, ka), (tb, kb) = seen[0], seen[-1]
            first_step = first_step or ka
            last_step = kb
            headless.train_to(ka)  # catch up without timing
            headless_seconds += headless.train_to(kb)
            app_steps += kb - ka
            app_seconds += tb - ta
            resumed_at = press("Space")
            tap.wait_for(b"running", resumed_at, timeout=10)
            time.sleep(0.5)

        # 2: latency of `+` / `-` while training
        latencies = []
        tenths = 5
        for i in range(args.presses):
            key, tenths = ("+", tenths + 1) if i % 2 == 0 else ("-", tenths - 1)
            pattern = f"temperature {tenths / 10:.2f}".encode()
            sent = press(key)
            shown = tap.wait_for(pattern, sent, timeout=2.0)
            latencies.append(float("inf") if shown is None else shown - sent)
            time.sleep(0.15 + 0.1 * (i % 3))  # presses at irregular moments of the frame cycle

        # 4: latency of `?` (the help) while training; escape closes it (and does nothing else if it is closed)
        help_latencies = []
        for i in range(args.help_presses):
            sent = press("?")
            shown = tap.wait_for(b"microgpt-tui help", sent, timeout=3.0)
            help_latencies.append(float("inf") if shown is None else shown - sent)
            time.sleep(0.3)
            press("Escape")
            time.sleep(0.4 + 0.1 * (i % 3))

        # 5: latency of `.` (one phase of the step, paused): until the status line names the new phase
        paused_at = press("Space")
        tap.wait_for(b"paused", paused_at, timeout=10)
        time.sleep(0.5)
        phase_latencies = []
        last: tuple[bytes, ...] | None = None
        for i in range(args.dots):
            sent = press(".")
            seen = tap.wait_for_new(PHASE_RE, sent, 2.0, last)
            if seen is None:
                phase_latencies.append(float("inf"))
            else:
                phase_latencies.append(seen[0] - sent)
                last = seen[1]
            time.sleep(0.15 + 0.1 * (i % 3))
        tmux("send-keys", "-t", SESSION, "q")
        time.sleep(0.3)
        tmux("send-keys", "-t", SESSION, "q")  # steps since the last save: the app asks first
    finally:
        control.terminate()
        headless.close()
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    app_rate = app_steps / app_seconds
    headless_rate = app_steps / headless_seconds
    ratio = app_rate / headless_rate
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    rate = byte_count / byte_seconds
    phase_latencies.sort()
    phase_p50 = statistics.median(phase_latencies)
    phase_p95 = phase_latencies[min(len(phase_latencies) - 1, round(0.95 * (len(phase_latencies) - 1)))]
    help_latencies.sort()
    help_p50 = statistics.median(help_latencies)
    help_p95 = help_latencies[min(len(help_latencies) - 1, round(0.95 * (len(help_latencies) - 1)))]

    print(f"microgpt-tui at {args.size}, TERM=xterm-256color, no COLORTERM, {args.engine} engine, "
          f"{args.windows} windows over steps {first_step}..{last_step}")
    print(f"throughput    {app_rate:7.1f} steps/s in the app vs {headless_rate:.1f} headless on the same steps: "
          f"{ratio:6.1%}   (target >= {TARGETS['throughput']:.0%})  {verdict(ratio >= TARGETS['throughput'])}")
    print(f"key latency   p50 {p50 * 1000:5.1f} ms, p95 {p95 * 1000:5.1f} ms over {len(latencies)} presses"
          f" (slowest {', '.join(f'{x * 1000:.0f}' for x in latencies[-3:])} ms)"
          f"   (target p95 <= {TARGETS['latency_p95'] * 1000:.0f} ms)  {verdict(p95 <= TARGETS['latency_p95'])}")
    print(f"terminal      {rate / 1000:7.1f} KB/s written while training"
          f"   (target <= {TARGETS['bytes_per_second'] / 1000:.0f} KB/s)  "
          f"{verdict(rate <= TARGETS['bytes_per_second'])}")
    print(f"help          p50 {help_p50 * 1000:5.1f} ms, p95 {help_p95 * 1000:5.1f} ms"
          f" over {len(help_latencies)} openings"
          f"   (target p95 <= {TARGETS['help_p95'] * 1000:.0f} ms)  {verdict(help_p95 <= TARGETS['help_p95'])}")
    print(f"phase (.)     p50 {phase_p50 * 1000:5.1f} ms, p95 {phase_p95 * 1000:5.1f} ms over {len(phase_latencies)}"
          f" presses, paused   (target p95 <= {TARGETS['phase_p95'] * 1000:.0f} ms)  "
          f"{verdict(phase_p95 <= TARGETS['phase_p95'])}")
    ok = (ratio >= TARGETS["throughput"] and p95 <= TARGETS["latency_p95"] and rate <= TARGETS["bytes_per_second"]
          and help_p95 <= TARGETS["help_p95"] and phase_p95 <= TARGETS["phase_p95"])
    return 0 if ok else 1


def verdict(ok: bool) -> str:
    """OK or MISSED."""
    return "OK" if ok else "MISSED"


if __name__ == "__main__":
    raise SystemExit(main())
