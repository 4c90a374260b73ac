"""Checkpoints: a whole training run in one JSON file, to pause and later continue bit for bit.

A checkpoint holds the trainer's state (`microgpt.state`: the weights, Adam's moments, the step count, the loss
of every step so far, both random generators' states and the learning-rate schedule with every change made to
it), the config, the dataset's identity (name, where it was loaded from, the sha256 of its bytes, its number of
documents) and vocabulary, and the graph mode. Floats are written with `repr` (Python's json does), so every
weight comes back to the last bit.

    save_checkpoint(trainer, "run.json")       # atomic: the old file stays whole until the new one is complete
    trainer = load_checkpoint("run.json")      # reloads the dataset, checks it is the same, rebuilds the trainer

Anything wrong with reading (a missing, truncated or foreign file, a different dataset or config) raises
`CheckpointError`; a file that cannot be written raises `microgpt.atomic_file.AtomicWriteError`. Both messages
are one line saying what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from microgpt import data
from microgpt.atomic_file import write_atomically
from microgpt.config import Config, ConfigError
from microgpt.data import DataError, Dataset
from microgpt.model import Matrix, Params, matrix_shapes
from microgpt.schedule import Schedule, ScheduleError
from microgpt.state import Matrices, RandomState, TrainerState
from microgpt.trainer import ENGINES, Trainer

FORMAT = "microgpt-checkpoint"
VERSION = 2  # 2 added "schedule"; version 1 files (a plain schedule) are still read
READABLE_VERSIONS = (1, 2)
HINT = "give a file written by `microgpt train --save` or the app"  # what to do about a file that is no checkpoint


class HistoryLike(Protocol):
    """What a checkpoint needs of a run's history (microgpt.history.History) to save it."""

    def to_json(self) -> dict[str, Any]: ...


class CheckpointError(ValueError):
    """A checkpoint that cannot be written, read or resumed; str() is one line: what is wrong and what to do."""


@dataclass(frozen=True)
class DatasetIdentity:
    """Which documents a run was trained on, and where to find them again."""

    name: str  # the dataset's name: a shipped name ("names") or the file name
    spec: str  # what load_dataset() takes to load it again: the shipped name or the file's path ("" in memory)
    path: str  # the resolved path the file was read from ("" for documents made in memory)
    sha256: str  # sha256 of the file's bytes ("" for documents made in memory)
    docs_sha256: str  # sha256 of the documents joined by newlines: identifies documents made in memory too
    num_docs: int

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetIdentity:
        """The identity of a loaded dataset."""
        return cls(dataset.name, dataset_spec(dataset), dataset.path, dataset.sha256, docs_digest(dataset.docs),
                   len(dataset.docs))


def dataset_spec(dataset: Dataset) -> str:
    """How to load a dataset again: its shipped name when it is the shipped file, else its path."""
    if dataset.name in data.SHIPPED and dataset.path:
        with contextlib.suppress(DataError, OSError):
            if Path(dataset.path) == data.shipped_path(dataset.name).resolve():
                return dataset.name
    return dataset.path


def docs_digest(docs: Iterable[str]) -> str:
    """sha256 of the documents joined by newlines."""
    return hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()


@dataclass
class Checkpoint:
    """A checkpoint read from disk and checked field by field; `restore()` turns it back into a Trainer."""

    path: str  # where it was read from (for messages)
    config: Config
    dataset: DatasetIdentity
    uchars: tuple[str, ...]  # the vocabulary: token ids 0..V-1
    engine: str
    state: TrainerState  # everything the next step depends on
    history: Any = None  # the run's saved history as found (None: none), read by microgpt.history.resumed_history

    @property
    def step(self) -> int:
        """Steps taken so far."""
        return self.state.step

    @property
    def schedule(self) -> Schedule:
        """The learning-rate schedule, with its changes."""
        return self.state.schedule

    def load_dataset(self) -> Dataset:
        """Load the dataset the run was trained on from where it was found (a shipped name or a path)."""
        ident = self.dataset
        if not ident.spec:
            raise CheckpointError(f"{self.path} was trained on documents made in memory ({ident.name!r}), "
                                  "not read from a file; pass the same documents as the dataset")
        try:
            return data.load_dataset(ident.spec)
        except DataError as error:
            raise CheckpointError(f"cannot load dataset {ident.name!r} that {self.path} was trained on: {error} "
                                  "(if the file moved, give its new path as the dataset)") from None

    def check_dataset(self, dataset: Dataset) -> None:
        """Refuse a dataset whose content is not the one the run was trained on."""
        ident = self.dataset
        if ident.sha256 and dataset.sha256:
            same = ident.sha256 == dataset.sha256
            recorded, now = ident.sha256, dataset.sha256
        else:
            recorded, now = ident.docs_sha256, docs_digest(dataset.docs)
            same = recorded == now
        if not same or dataset.uchars != self.uchars or len(dataset.docs) != ident.num_docs:
            where = dataset.path or "in memory"
            raise CheckpointError(
                f"dataset {dataset.name!r} ({where}) differs from the one {self.path} was trained on "
                f"({ident.name!r}, {ident.num_docs} docs, sha256 {recorded[:12]}): its content is different "
                f"({len(dataset.docs)} docs, sha256 {now[:12]}); resume with the same file")

    def check_config(self, config: Config) -> None:
        """Refuse a config that differs from the recorded one, naming every differing field and both values."""
        diffs = [f"checkpoint has {f.name}={getattr(self.config, f.name)!r}, asked for {f.name}="
                 f"{getattr(config, f.name)!r}"
                 for f in fields(Config) if getattr(self.config, f.name) != getattr(config, f.name)]
        if diffs:
            raise CheckpointError(f"{self.path} was trained with a different configuration: {'; '.join(diffs)}; "
                                  "ask for the checkpoint's values or start a new run")

    def vocabulary(self) -> Dataset:
        """A dataset with the checkpoint's vocabulary and no documents: enough to sample and decode."""
        ident = self.dataset
        return Dataset(ident.name, ident.path, (), ident.sha256, self.uchars)

    def weights(self) -> Params:
        """A fresh copy of the weights, gradients at 0."""
        data = self.state.params.unpack()
        return Params(data, {name: [[0.0] * len(m[0]) for _ in m] for name, m in data.items()})

    def restore(self, dataset: Dataset | None = None, config: Config | None = None) -> Trainer:
        """A Trainer exactly where the saved one stopped.

        `dataset` defaults to loading it again from where it was found; `config`, when given, must equal the
        recorded one. The trainer is built normally (which redoes the shuffle and the initialisation), then
        restored to the saved state.
        """
        if config is not None:
            self.check_config(config)
        if dataset is None:
            dataset = self.load_dataset()
        self.check_dataset(dataset)
        trainer = Trainer(dataset, self.config, self.engine)
        trainer.restore(self.state)
        return trainer


# --- saving ---

def checkpoint_dict(trainer: Trainer, history: HistoryLike | None = None) -> dict[str, Any]:
    """Everything a checkpoint holds, as JSON-able values (with the run's history when given)."""
    ident = DatasetIdentity.of(trainer.dataset)
    state = trainer.state()
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": trainer.config.to_dict(),
        "dataset": {f.name: getattr(ident, f.name) for f in fields(DatasetIdentity)},
        "uchars": list(trainer.dataset.uchars),
        "engine": trainer.engine,
        "step": state.step,
        "steps": state.schedule.steps,
        "schedule": state.schedule.to_json(),
        "rng": _state_to_json(state.rng),
        "sample_rng": _state_to_json(state.sample_rng),
        "losses": list(state.losses),
        "params": state.params.unpack(),
        "adam_m": state.adam_m.unpack(),
        "adam_v": state.adam_v.unpack(),
    } | ({} if history is None else {"history": history.to_json()})


def save_checkpoint(trainer: Trainer, path: str | Path, history: HistoryLike | None = None) -> None:
    """Write the trainer's whole state (and history) to `path`, atomically: a failure leaves any old file."""
    text = _dumps(checkpoint_dict(trainer, history))
    write_atomically(Path(path), text.encode("utf-8"), "checkpoint")


def _dumps(obj: dict[str, Any]) -> str:
    """JSON with one top-level field per line and one matrix row per line: readable and exact (floats by repr)."""
    lines = []
    for key, value in obj.items():
        if key in ("params", "adam_m", "adam_v"):
            matrices = ",\n".join(
                f"  {json.dumps(name)}: [\n" + ",\n".join(f"   {json.dumps(row)}" for row in matrix) + "\n  ]"
                for name, matrix in value.items())
            lines.append(f" {json.dumps(key)}: {{\n{matrices}\n }}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# --- loading ---

def load_checkpoint(path: str | Path, dataset: Dataset | None = None, config: Config | None = None) -> Trainer:
    """The Trainer saved at `path`, ready to take its next step (see `Checkpoint.restore`)."""
    return read_checkpoint(path).restore(dataset, config)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint file, without loading its dataset."""
    return parse_checkpoint(read_file(path, "checkpoint", HINT), str(path))


def read_file(path: str | Path, what: str, hint: str) -> bytes:
    """The bytes of a file the user named as `what` ("checkpoint", "run to compare"); CheckpointError, one line ending
    with `hint`, when it cannot be read."""
    where = str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no {what} at {where}: no such file; {hint}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{where} is a directory, not a {what}; {hint}") from None
    except PermissionError:
        raise CheckpointError(f"cannot read {what} {where}: permission denied; check its permissions") from None
    except OSError as error:
        raise CheckpointError(f"cannot read {what} {where}: {error.strerror or error}; {hint}") from None


def parse_checkpoint(raw: bytes, where: str) -> Checkpoint:
    """Decode and check the bytes of a checkpoint file (`where` names it in messages)."""
    if not raw.strip():
        raise CheckpointError(f"{where} is empty, not a checkpoint (was the save interrupted?); {HINT}")
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError:
        raise CheckpointError(f"{where} is not a microgpt checkpoint (it is not text); {HINT}") from None
    except json.JSONDecodeError as error:
        if not raw.lstrip().startswith(b"{"):
            raise CheckpointError(f"{where} is not a microgpt checkpoint (not JSON); {HINT}") from None
        state = "corrupt" if raw.rstrip().endswith(b"}") else "truncated"  # a whole checkpoint ends with }
        raise CheckpointError(f"{where} is {state}: not valid JSON ({error.msg}: line {error.lineno} "
                              f"column {error.colno}); use another checkpoint or save again") from None
    except (ValueError, RecursionError):
        raise CheckpointError(f"{where} is not a microgpt checkpoint (not valid JSON); {HINT}") from None
    return checkpoint_of(obj, where)


def checkpoint_of(obj: Any, where: str) -> Checkpoint:
    """A checkpoint from its decoded JSON, checked: the format tag, the version, then every field."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a microgpt checkpoint (no \"format\": \"{FORMAT}\" tag); {HINT}")
    version = obj.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise CheckpointError(f"{where} has checkpoint format version {version!r}; this microgpt reads version "
                              f"{VERSION}: use the microgpt that wrote it")
    try:
        return _parse(where, obj, version)
    except _Bad as error:
        raise CheckpointError(f"{where} is damaged: {error}; use another checkpoint or save again") from None


class _Bad(Exception):
    """A field of a checkpoint that is missing or malformed (message: which and why)."""


def _parse(where: str, obj: dict[str, Any], version: int) -> Checkpoint:
    """Check every field of a decoded checkpoint and build the Checkpoint."""
    raw_config = _get(obj, "config", dict)
    names = {f.name for f in fields(Config)}
    missing = names - set(raw_config)
    if missing:
        raise _Bad(f"config lacks {', '.join(sorted(missing))}")
    try:
        config = Config.from_dict(raw_config)
    except (ConfigError, TypeError) as error:
        raise _Bad(f"config: {error}") from None

    raw_ds = _get(obj, "dataset", dict)
    ident = DatasetIdentity(
        name=_get(raw_ds, "name", str, "dataset."),
        spec=_get(raw_ds, "spec", str, "dataset."),
        path=_get(raw_ds, "path", str, "dataset."),
        sha256=_get(raw_ds, "sha256", str, "dataset."),
        docs_sha256=_get(raw_ds, "docs_sha256", str, "dataset."),
        num_docs=_get(raw_ds, "num_docs", int, "dataset."),
    )
    if ident.num_docs < 1:
        raise _Bad(f"dataset.num_docs is {ident.num_docs}")

    uchars = _get(obj, "uchars", list)
    if not all(isinstance(c, str) and len(c) == 1 for c in uchars) or uchars != sorted(set(uchars)):
        raise _Bad("uchars is not a sorted list of distinct characters")

    engine = _get(obj, "engine", str)
    if engine not in ENGINES:
        raise _Bad(f"engine is {engine!r}, not one of {', '.join(ENGINES)}")

    if version == 1:
        schedule = Schedule.plain(config.lr, config.steps)
    else:
        try:
            schedule = Schedule.from_json(_get(obj, "schedule", list))
        except ScheduleError as error:
            raise _Bad(str(error)) from None
        if schedule.segments[0] != Schedule.plain(config.lr, config.steps).segments[0]:
            raise _Bad("the schedule does not start with the config's learning rate and steps")
    step = _get(obj, "step", int)
    steps = _get(obj, "steps", int)
    if steps != schedule.steps:
        raise _Bad(f"steps is {steps} but the schedule has {schedule.steps}")
    if not 0 <= step <= steps:
        raise _Bad(f"step is {step}, outside 0..{steps}")
    losses = _numbers(_get(obj, "losses", list), "losses")
    if len(losses) != step:
        raise _Bad(f"losses has {len(losses)} values for {step} steps")

    shapes = matrix_shapes(config, len(uchars) + 1)
    state = TrainerState(
        step=step,
        params=Matrices.pack(_matrices(_get(obj, "params", dict), shapes, "params")),
        adam_m=Matrices.pack(_matrices(_get(obj, "adam_m", dict), shapes, "adam_m")),
        adam_v=Matrices.pack(_matrices(_get(obj, "adam_v", dict), shapes, "adam_v")),
        rng=_state_from_json(_get(obj, "rng", list), "rng"),
        sample_rng=_state_from_json(_get(obj, "sample_rng", list), "sample_rng"),
        losses=tuple(losses),
        schedule=schedule,
    )
    history = obj.get("history")  # checked when the run is restored: a damaged one is said then, not refused
    return Checkpoint(path=where, config=config, dataset=ident, uchars=tuple(uchars), engine=engine, state=state,
                      history=history)


def _get(obj: dict[str, Any], key: str, kind: type, prefix: str = "") -> Any:
    """obj[key], which must exist and be of `kind` (a bool is not an int)."""
    if key not in obj:
        raise _Bad(f"field {prefix}{key} is missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"field {prefix}{key} should be {_KINDS.get(kind, kind.__name__)}, not "
                   f"{_KINDS.get(type(value), type(value).__name__)}")
    return value


_KINDS = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number",
          bool: "true/false", type(None): "null"}


def _numbers(values: Sequence[Any], where: str) -> list[float]:
    """A list of numbers as floats."""
    out = []
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise _Bad(f"{where}[{i}] is not a number")
        out.append(float(x))
    return out


def _matrices(obj: dict[str, Any], shapes: list[tuple[str, int, int]], where: str) -> dict[str, Matrix]:
    """The matrices of one field, each checked against its (rows, cols), in the reference's order."""
    expected = [name for name, _, _ in shapes]
    if list(obj) != expected:
        missing = [n for n in expected if n not in obj]
        extra = [n for n in obj if n not in expected]
        what = (f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(extra)}" if extra
                else "lists its matrices out of order")
        raise _Bad(f"{where} {what}")
    out = {}
    for name, rows, cols in shapes:
        m = obj[name]
        if not isinstance(m, list) or len(m) != rows or not all(isinstance(r, list) and len(r) == cols for r in m):
            raise _Bad(f"{where}.{name} should be a {rows}x{cols} matrix")
        out[name] = [_numbers(r, f"{where}.{name}[{i}]") for i, r in enumerate(m)]
    return out


def _state_to_json(state: tuple[Any, ...]) -> list[Any]:
    """random.Random.getstate() as JSON: (version, (625 ints), gauss_next) -> [version, [ints], gauss_next]."""
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def _state_from_json(value: list[Any], where: str) -> RandomState:
    """The inverse of _state_to_json, checked by handing it to a scratch generator."""
    if len(value) != 3 or not isinstance(value[1], list):
        raise _Bad(f"{where} is not a random generator state")
    version, internal, gauss_next = value
    if isinstance(gauss_next, bool) or not (gauss_next is None or isinstance(gauss_next, (int, float))):
        raise _Bad(f"{where} is not a random generator state")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in internal):
        raise _Bad(f"{where} is not a random generator state")
    state: RandomState = (version, tuple(internal), None if gauss_next is None else float(gauss_next))
    try:
        random.Random().setstate(state)
    except (ValueError, TypeError, OverflowError):
        raise _Bad(f"{where} is not a random generator state") from None
    return state
