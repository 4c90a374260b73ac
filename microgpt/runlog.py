"""The JSON log of a run (`microgpt train --log-json`): one JSON object per line.

The first line says which run it is, every later line one step (and, after the last step, the samples):

    {"run": {"dataset": {...}, "config": {...}, "engine": "fused", "schedule": [[1, 0.01, 1000]]}}
    {"step": 1, "steps": 1000, "loss": 3.36..., "lr": 0.01, "doc": "yuheng", ...}
    {"samples": ["kamon", ...], "temperature": 0.5}

Lines are appended whole, one write each, flushed. A resumed run appends to the log: it first drops a torn last
line (a crash in the middle of a write) and the lines of steps after the one it resumes from (steps that were
taken but never saved), then carries on. A log that belongs to another run is refused.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from microgpt import __version__
from microgpt.atomic_file import LineFile, LineFileError
from microgpt.checkpoint import DatasetIdentity
from microgpt.report import StepReport
from microgpt.trainer import Trainer

WHAT = "JSON log"


def run_header(trainer: Trainer) -> dict[str, Any]:
    """The first line: the dataset, the configuration (seed included), the graph mode and the schedule."""
    ident = DatasetIdentity.of(trainer.dataset)
    return {"run": {
        "microgpt": __version__,
        "dataset": {f.name: getattr(ident, f.name) for f in fields(DatasetIdentity)},
        "config": trainer.config.to_dict(),
        "engine": trainer.engine,
        "schedule": trainer.schedule.to_json(),
    }}


def step_record(report: StepReport, seconds: float) -> dict[str, Any]:
    """One step's line: its numbers at full precision."""
    return {
        "step": report.step,
        "steps": report.steps,
        "loss": report.loss,
        "lr": report.lr,
        "doc": report.doc,
        "engine": report.engine,
        "graph_nodes": report.graph.nodes,
        "graph_edges": report.graph.edges,
        "grad_norms": {m.name: m.grad_norm for m in report.matrices},
        "position_losses": list(report.position_losses),
        "seconds": seconds,
    }


class RunLog:
    """An open JSON log, written a whole line at a time."""

    def __init__(self, file: LineFile) -> None:
        self.file = file

    @classmethod
    def open(cls, path: str | Path, trainer: Trainer, append: bool) -> RunLog:
        """Start a log for `trainer`'s run, or (append) continue it from the trainer's step (LineFileError).

        A file to append to is checked before anything in it changes: a file that is not this run's log is
        refused untouched.
        """
        path = Path(path)
        keep = None
        if append and path.is_file() and path.stat().st_size:
            keep = lines_to_keep(path, trainer)
        file = LineFile.open(path, WHAT, append)
        try:
            if keep is not None and keep < len(file.lines()):
                file.keep_lines(keep)
            log = cls(file)
            if file.fresh:
                log.write(run_header(trainer))
        except LineFileError:
            file.close()
            raise
        return log

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one line."""
        self.file.write_line(json.dumps(record, ensure_ascii=False))

    def step(self, report: StepReport, seconds: float) -> None:
        """Append a step's line."""
        self.write(step_record(report, seconds))

    def samples(self, texts: list[str], temperature: float) -> None:
        """Append the samples drawn after the last step."""
        self.write({"samples": texts, "temperature": temperature})

    def close(self) -> None:
        """Close the file."""
        self.file.close()


def lines_to_keep(path: Path, trainer: Trainer) -> int:
    """How many whole lines of the log at `path` to keep to continue `trainer`'s run from its step.

    Raises LineFileError if the file is not a microgpt JSON log or is another run's. A torn last line is not
    counted (LineFile drops it).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LineFileError(f"cannot read the {WHAT} {path} to append to it ({error}); choose another path for "
                            "--log-json") from None
    lines = text.split("\n")[:-1]  # whole lines only: the piece after the last newline is torn
    records = []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested too deep for the parser
            record = None
        if not isinstance(record, dict) or not ({"run", "step", "samples"} & set(record)):
            raise LineFileError(f"{path} is not a microgpt JSON log (line {i + 1} is not one of its records); "
                                "choose another path for --log-json")
        records.append(record)
    header = records[0].get("run") if records else None
    if isinstance(header, dict) and header.get("config") != trainer.config.to_dict():
        raise LineFileError(f"{path} is the log of another run (another configuration); choose another path for "
                            "--log-json")
    keep = len(records)
    for i in range(len(records) - 1, -1, -1):  # from the end: steps after the trainer's, and samples after them
        step = records[i].get("step")
        if isinstance(step, int) and step > trainer.step_count:
            keep = i
        elif "step" in records[i] or "run" in records[i]:
            break
    return keep
