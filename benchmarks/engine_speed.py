"""Time Karpathy's reference script and `microgpt train` side by side, as a user runs them.

Each engine runs as its own process on the same dataset: the reference script (not shipped: pass its path),
`python -m microgpt train --engine fused` and `--engine atomic` from this checkout. Runs alternate
reference / fused / atomic over several rounds, so that a change in the machine's load touches all three. A
run's speed is read off its progress lines (`step k / N | loss ...`, ended by \\r or \\n) as they stream in:
every line is timestamped on arrival, and the seconds between consecutive steps inside a fixed window (after
start-up) are the step times. Once the window is done the run is stopped, after its peak RSS (VmHWM) has been
read; with --full every run goes to the end, and its whole wall time and peak RSS are reported as well.

    python benchmarks/engine_speed.py --reference /path/to/microgpt.py
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "names.txt"
ENGINES = ("reference", "fused", "atomic")
TARGET_RATIO = {"fused": 20.0, "atomic": 3.0}  # at least this many times faster per step than the reference
TARGET_RSS_MB = {"fused": 40.0}  # at most this peak RSS
STEP_LINE = re.compile(rb"step\s+(\d+)\s*/\s*(\d+)")
HEADER_LINE = b"num params:"  # the last line before step 1, in both programs


class BenchmarkError(Exception):
    """Something that stops the benchmark; str() is one line for people."""


@dataclass
class Run:
    """One run of one engine: the seconds each timed step took, its peak RSS and (full runs) its wall time."""

    engine: str
    step_seconds: list[float]
    peak_rss_mb: float
    wall_seconds: float | None = None


@dataclass
class Summary:
    """All the runs of one engine."""

    engine: str
    runs: list[Run] = field(default_factory=list)

    @property
    def step_seconds(self) -> list[float]:
        """Every timed step of every run."""
        return [s for run in self.runs for s in run.step_seconds]

    @property
    def median(self) -> float:
        """Median seconds per step."""
        return statistics.median(self.step_seconds)

    @property
    def mean(self) -> float:
        """Mean seconds per step (the window's total time over its steps)."""
        return statistics.fmean(self.step_seconds)

    @property
    def peak_rss_mb(self) -> float:
        """The highest peak RSS of any run."""
        return max(run.peak_rss_mb for run in self.runs)

    @property
    def wall_seconds(self) -> float | None:
        """Median wall time of a whole run (full runs only)."""
        walls = [run.wall_seconds for run in self.runs if run.wall_seconds is not None]
        return statistics.median(walls) if walls else None


# --- running one engine ---

def command(engine: str, reference: Path, dataset: Path) -> list[str]:
    """The command line of one engine, unbuffered so that every progress line arrives as it is printed."""
    if engine == "reference":
        return [sys.executable, "-u", str(reference)]
    return [sys.executable, "-u", "-m", "microgpt", "train", "--engine", engine, "--dataset", str(dataset)]


def environment() -> dict[str, str]:
    """The environment for a run: this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process, in MB (0 when it cannot be read)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def read_progress(fd: int, stamps: dict[int, float], stop_after: int | None) -> bool:
    """Timestamp progress lines into `stamps` as they arrive; True at end of output, False after `stop_after`."""
    pending = b""
    while chunk := os.read(fd, 65536):
        now = time.perf_counter()
        *lines, pending = re.split(rb"[\r\n]", pending + chunk)
        for line in lines:
            if line.startswith(HEADER_LINE):
                stamps[0] = now
            elif match := STEP_LINE.match(line):
                stamps[int(match.group(1))] = now
        if stop_after is not None and stop_after in stamps:
            return False
    return True


def run_engine(engine: str, reference: Path, dataset: Path, workdir: Path, first: int, last: int,
               full: bool) -> Run:
    """Run one engine, timestamp its progress lines, and time steps first..last (all of them with full)."""
    stamps: dict[int, float] = {}  # step -> arrival time of its line; 0 is the header line before step 1
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(command(engine, reference, dataset), cwd=workdir, env=environment(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        ended = False  # the run closed its output: it finished (or died) by itself
        rss = 0.0
        try:
            ended = read_progress(proc.stdout.fileno(), stamps, stop_after=None if full else last)
            if not ended:
                rss = peak_rss_mb(proc.pid)
        finally:
            if not ended:
                proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            proc.stdout.close()
        wall = time.perf_counter() - start
        rss = rss or usage.ru_maxrss / 1024  # kB on Linux
        missing = [k for k in range(first - 1, last + 1) if k not in stamps]
        if missing:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-1:] or ["no error output"]
            raise BenchmarkError(f"the {engine} run stopped before step {missing[0] or 1} "
                                 f"(exit status {proc.returncode}): {tail[0]}")
        if full and proc.returncode != 0:
            raise BenchmarkError(f"the {engine} run failed with exit status {proc.returncode}")
    seconds = [stamps[k] - stamps[k - 1] for k in range(first, last + 1)]
    return Run(engine, seconds, rss, wall if full else None)


# --- the report ---

def describe_machine() -> str:
    """One line: system, CPUs, Python, load average now."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"load average {load}")


def verdict(engine: str, ratio: float, rss: float) -> str:
    """The targets of one engine and whether they are met."""
    checks = []
    if engine in TARGET_RATIO:
        target = TARGET_RATIO[engine]
        checks.append(f">= {target:g}x: {'met' if ratio >= target else 'MISSED'}")
    if engine in TARGET_RSS_MB:
        target = TARGET_RSS_MB[engine]
        checks.append(f"<= {target:g} MB: {'met' if rss <= target else 'MISSED'}")
    return "; ".join(checks)


def report(summaries: dict[str, Summary], full: bool) -> str:
    """The table: per engine, median and mean s/step, ratio to the reference, peak RSS, targets."""
    ref = summaries["reference"]
    header = f"{'engine':<10} {'median s/step':>14} {'mean s/step':>12} {'vs reference':>13} {'peak RSS':>10}"
    if full:
        header += f" {'wall':>9}"
    lines = [header + "   targets", "-" * (len(header) + 30)]
    for engine, s in summaries.items():
        ratio = ref.median / s.median
        row = (f"{engine:<10} {s.median:>14.4f} {s.mean:>12.4f} {ratio:>12.1f}x {s.peak_rss_mb:>7.1f} MB")
        if full:
            wall = s.wall_seconds
            row += f" {wall:>8.1f}s" if wall is not None else f" {'':>9}"
        lines.append(row + "   " + verdict(engine, ratio, s.peak_rss_mb))
    lines.append("")
    lines.append("per round, median s/step and the ratio to that round's reference run:")
    for engine, s in summaries.items():
        rounds = "  ".join(f"{statistics.median(r.step_seconds):.4f}" + ("" if engine == "reference" else
                           f" ({statistics.median(ref_run.step_seconds) / statistics.median(r.step_seconds):.1f}x)")
                           for r, ref_run in zip(s.runs, ref.runs))
        lines.append(f"  {engine:<10} {rounds}")
    lines.append("vs reference: the reference's median step time over the engine's, all rounds pooled; "
                 "the mean is the window's total time over its steps.")
    return "\n".join(lines)


# --- the command ---

def parse_window(text: str) -> tuple[int, int]:
    """'11-110' -> (11, 110)."""
    match = re.fullmatch(r"\s*(\d+)\s*[-:.]+\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST with 1 <= FIRST <= LAST, e.g. 11-110; got {text!r}")
    return int(match.group(1)), int(match.group(2))


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Time the reference script and `microgpt train --engine fused/atomic` side by side.")
    parser.add_argument("--reference", type=Path, default=os.environ.get("MICROGPT_REFERENCE"),
                        help="path to Karpathy's microgpt.py (not shipped); default: $MICROGPT_REFERENCE")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET,
                        help=f"the names file all three train on (default: {DEFAULT_DATASET})")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of reference/fused/atomic (default: 3)")
    parser.add_argument("--steps-window", type=parse_window, default=(11, 110), metavar="FIRST-LAST",
                        help="the steps timed; start-up comes before FIRST (default: 11-110)")
    parser.add_argument("--full", action="store_true",
                        help="run all 1000 steps and the samples: time every step, the wall time and the peak RSS")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (2 for unusable arguments or a failed run)."""
    args = build_parser().parse_args(argv)
    try:
        if args.reference is None:
            raise BenchmarkError("no reference script: pass --reference PATH to Karpathy's microgpt.py "
                                 "or set MICROGPT_REFERENCE (it is not shipped with this repository)")
        reference = args.reference.resolve()
        if not reference.is_file():
            raise BenchmarkError(f"the reference script {args.reference} does not exist; "
                                 "pass --reference PATH to Karpathy's microgpt.py")
        dataset = args.dataset.resolve()
        if not dataset.is_file():
            raise BenchmarkError(f"the dataset {args.dataset} does not exist; pass --dataset PATH to a names file")
        if args.rounds < 1:
            raise BenchmarkError(f"--rounds must be at least 1, got {args.rounds}")
        first, last = (1, 1000) if args.full else args.steps_window
        if last > 1000:
            raise BenchmarkError(f"the window ends at step {last}, after the schedule's 1000 steps")
        with tempfile.TemporaryDirectory(prefix="microgpt-bench-") as tmp:
            workdir = Path(tmp)
            (workdir / "data").mkdir()
            shutil.copyfile(dataset, workdir / "data" / "input.txt")  # where the reference reads its documents
            print(f"engine speed: {dataset.name}, steps {first}..{last} of 1000, {args.rounds} round(s) of "
                  f"{' / '.join(ENGINES)}{', whole runs' if args.full else ''}")
            print(f"machine at start: {describe_machine()}")
            summaries = {engine: Summary(engine) for engine in ENGINES}
            for round_ in range(1, args.rounds + 1):
                for engine in ENGINES:
                    run = run_engine(engine, reference, dataset, workdir, first, last, args.full)
                    summaries[engine].runs.append(run)
                    print(f"  round {round_} {engine:<9} median {statistics.median(run.step_seconds):.4f} s/step, "
                          f"mean {statistics.fmean(run.step_seconds):.4f}, peak RSS {run.peak_rss_mb:.1f} MB",
                          flush=True)
        print(f"machine at end:   {describe_machine()}")
        print()
        print(report(summaries, args.full))
    except BenchmarkError as error:
        print(f"engine_speed: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
