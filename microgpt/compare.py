"""Runs side by side: a saved run's losses, from a checkpoint or a `microgpt train --log-json` file, and a legend.

    saved = read_run("run.json")                     # or "steps.jsonl"; CompareError (one line) for a bad file
    saved.losses                                      # the loss of each of its steps, step 1 first
    legend(saved, trainer.config, trainer.dataset.name, trainer.schedule)   # "run.json: lr 0.1, seed 3"

The legend names what differs from the current run: the learning rate (and a schedule that was changed), the
sizes, the seed, the schedule's length, the dataset; "same settings" when nothing does. A log written before logs
had a header line says only its file name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from microgpt.checkpoint import CheckpointError, checkpoint_of, read_file
from microgpt.config import Config, ConfigError
from microgpt.schedule import Schedule, ScheduleError

HINT = "give a checkpoint or a file written by `microgpt train --log-json`"
NAMES = {"lr": "lr", "n_layer": "layers", "n_embd": "width", "n_head": "heads", "block_size": "block",
         "steps": "steps", "seed": "seed", "init_std": "init std", "beta1": "beta1", "beta2": "beta2", "eps": "eps"}


class CompareError(ValueError):
    """A file that holds no run to compare with; str() is one line."""


@dataclass(frozen=True)
class SavedRun:
    """The losses of a saved run and, when the file says, its settings."""

    path: str
    dataset: str | None  # the dataset's name
    config: Config | None
    schedule: Schedule | None
    losses: tuple[float, ...]  # step 1 first

    @property
    def name(self) -> str:
        """The file's name, as the legend says it."""
        return Path(self.path).name


def read_run(path: str | Path) -> SavedRun:
    """The run saved in a checkpoint or a JSON log (CompareError saying what is wrong)."""
    where = str(path)
    try:
        raw = read_file(path, "run to compare", HINT)
    except CheckpointError as error:
        raise CompareError(str(error)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CompareError(f"{where} is not a saved run (it is not text); {HINT}") from None
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):  # not one JSON value: a log's lines, or no run
        whole = None
    if isinstance(whole, dict) and "format" in whole:
        try:
            ckpt = checkpoint_of(whole, where)
        except CheckpointError as error:
            raise CompareError(str(error)) from None
        return SavedRun(where, ckpt.dataset.name, ckpt.config, ckpt.schedule, ckpt.state.losses)
    return _read_log(where, text)


def _read_log(where: str, text: str) -> SavedRun:
    """A JSON log: an optional {"run": ...} header line, then one {"step": k, "loss": x, ...} line per step."""
    lines = [line for line in text.splitlines() if line.strip()]
    records: list[Any] = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):
            if i == len(lines) - 1 and records:
                break  # a torn last line: a write cut short
            raise CompareError(f"{where} is not a saved run: line {i + 1} is not JSON; {HINT}") from None
    header = records[0].get("run") if records and isinstance(records[0], dict) else None
    losses: list[float] = []
    rates: list[tuple[Any, Any]] = []  # each step's (schedule length, learning rate), as its line says
    for record in records:
        if not isinstance(record, dict) or "step" not in record:
            continue
        step, loss = record.get("step"), record.get("loss")
        if not isinstance(step, int) or not isinstance(loss, (int, float)) or not 1 <= step <= len(losses) + 1:
            raise CompareError(f"{where} has a step line out of order or without a loss (step {step!r}); {HINT}")
        del losses[step - 1:]  # a resumed run may take a step again
        del rates[step - 1:]
        losses.append(float(loss))
        rates.append((record.get("steps"), record.get("lr")))
    if not losses:
        raise CompareError(f"{where} holds no step with a loss; {HINT}")
    dataset = config = schedule = None
    if isinstance(header, dict):
        try:
            config = Config.from_dict(header["config"])
            schedule = Schedule.from_json(header["schedule"]) if "schedule" in header else None
            dataset = str(header["dataset"]["name"])
        except (KeyError, TypeError, ConfigError, ScheduleError) as error:
            raise CompareError(f"{where} has a damaged header line ({error}); {HINT}") from None
        schedule = _schedule_of(schedule or Schedule.plain(config.lr, config.steps), rates)
    return SavedRun(where, dataset, config, schedule, tuple(losses))


def _schedule_of(start: Schedule, rates: list[tuple[Any, Any]]) -> Schedule:
    """The schedule a log's steps followed: `start` (its header's), changed where a step line's schedule length
    or rate says it was (an extension on resume, a rate set in the app), so that its legend names the changes as
    the run's checkpoint would. A rate is matched within rounding: the line keeps the rate, not its base."""
    schedule = start
    for k, (steps, lr) in enumerate(rates, 1):
        if not isinstance(steps, int) or not isinstance(lr, (int, float)) or steps < k:
            continue  # a line of an older log, or a damaged one: no schedule in it
        try:
            if steps != schedule.steps:
                schedule = schedule.extend(steps, k)
            if not math.isclose(schedule.lr_at(k), lr, rel_tol=1e-9, abs_tol=1e-15):
                schedule = schedule.set_lr(lr / (1 - (k - 1) / steps), k)
        except (ScheduleError, ZeroDivisionError):
            continue
    return schedule


def legend(saved: SavedRun, config: Config, dataset: str, schedule: Schedule | None = None) -> str:
    """The saved run's name and what differs from a run of `config` on `dataset`, e.g. "run.json: lr 0.1"."""
    if saved.config is None:
        return saved.name
    differs = []
    for f in fields(Config):
        theirs, ours = getattr(saved.config, f.name), getattr(config, f.name)
        if f.name == "steps" and schedule is not None and saved.schedule is not None:
            theirs, ours = saved.schedule.steps, schedule.steps
        if theirs != ours:
            differs.append(f"{NAMES.get(f.name, f.name)} {theirs:g}")
    if saved.schedule is not None and saved.schedule.changed:
        step = saved.schedule.first_change()  # where it parted from the run as configured, as its status line said
        if step is not None:
            differs.append(f"lr changed from step {step}")
    if saved.dataset is not None and saved.dataset != dataset:
        differs.append(f"dataset {saved.dataset}")
    return f"{saved.name}: {', '.join(differs) if differs else 'same settings'}"
