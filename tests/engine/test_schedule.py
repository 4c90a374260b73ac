"""The learning-rate schedule: the reference's decay bit for bit, extensions and new rates, said in words."""

from __future__ import annotations

from dataclasses import replace

import pytest

from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.schedule import Schedule, ScheduleError, Segment
from microgpt.trainer import Trainer

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
SMALL = Config(n_embd=8, n_head=2, block_size=8)


def test_an_unchanged_schedule_is_the_reference_formula() -> None:
    for lr, steps in ((0.01, 1000), (0.003, 7), (1.0, 100_000)):
        schedule = Schedule.plain(lr, steps)
        assert [schedule.lr_at(s).hex() for s in range(1, steps + 1, max(1, steps // 97))] == \
            [(lr * (1 - (s - 1) / steps)).hex() for s in range(1, steps + 1, max(1, steps // 97))]
    assert not Schedule.plain(0.01, 1000).changed
    assert Schedule.plain(0.01, 1000).describe() == "a plain 1000-step schedule from learning rate 1.0e-02"


def test_extend_continues_as_the_longer_run() -> None:
    schedule = Schedule.plain(0.01, 1000).extend(2000, at=1001)
    assert schedule.steps == 2000 and schedule.changed
    assert schedule.lr_at(1000) == 0.01 * (1 - 999 / 1000)
    assert schedule.lr_at(1001) == 0.01 * (1 - 1000 / 2000) and schedule.lr_at(2000) == 0.01 * (1 - 1999 / 2000)
    assert schedule.describe() == (
        "steps 1-1000 used a 1000-step schedule and steps 1001-2000 a 2000-step one; the learning rate jumps from "
        "1.0e-05 to 5.0e-03 at step 1001; this run matches neither a 1000- nor a 2000-step run")
    assert schedule.first_difference() == 2  # a plain 2000-step run has another rate from step 2


def test_set_lr_continues_the_decay() -> None:
    schedule = Schedule.plain(0.01, 1000).set_lr(0.1, at=201)
    assert schedule.steps == 1000 and schedule.lr_at(200) == 0.01 * (1 - 199 / 1000)
    assert schedule.lr_at(201) == 0.1 * (1 - 200 / 1000)
    assert schedule.first_difference() == 201
    assert schedule.status() == "differs from the reference from step 201"
    assert Schedule.plain(0.01, 1000).status() is None
    assert schedule.describe().endswith("; the learning rate jumps from 8.0e-03 to 8.0e-02 at step 201; "
                                        "this run differs from a plain 1000-step run from step 201")


def test_a_change_before_the_first_step_makes_a_plain_run() -> None:
    schedule = Schedule.plain(0.01, 1000).extend(2000, at=1)
    assert schedule.segments[0] == Segment(1, 0.01, 1000)  # the config's, recorded
    assert schedule.lr_at(1) == 0.01 and schedule.lr_at(2) == 0.01 * (1 - 1 / 2000)
    assert schedule.first_difference() is None
    assert schedule.describe().endswith("this run matches a plain 2000-step run")


def test_changes_at_one_step_replace_each_other_and_undo() -> None:
    plain = Schedule.plain(0.01, 1000)
    assert plain.extend(1000, at=5) is plain
    assert plain.extend(3000, at=501).extend(2000, at=501) == plain.extend(2000, at=501)
    assert plain.extend(3000, at=501).extend(1000, at=501) == plain
    assert plain.extend(3000, at=1).extend(1000, at=1) == plain
    with pytest.raises(ScheduleError, match="give more than 1000"):
        plain.extend(1000, at=1001).extend(999, at=1001)
    with pytest.raises(ScheduleError):
        plain.extend(2000, at=501).extend(3000, at=400)
    with pytest.raises(ScheduleError):
        plain.set_lr(0.0, at=3)


def test_articles_before_numbers() -> None:
    text = Schedule.plain(0.01, 1000).extend(800, at=501).describe()
    assert "an 800-step one" in text and "neither a 1000- nor an 800-step run" in text
    assert "an 11000-step one" in Schedule.plain(0.01, 100).extend(11000, at=50).describe()


def test_json_round_trip_and_refusals() -> None:
    schedule = Schedule.plain(0.01, 1000).extend(2000, at=1001).set_lr(1 / 3, at=1500)
    assert Schedule.from_json(schedule.to_json()) == schedule
    early = Schedule.plain(0.01, 1000).extend(2000, at=1)
    assert Schedule.from_json(early.to_json()) == early
    for bad in ([], [[2, 0.01, 10]], [[1, 0.01, 10], [1, 0.01, 20], [1, 0.01, 30]], [[1, -1, 10]], [[1, 0.01]],
                [[1, 0.01, True]], "x"):
        with pytest.raises(ScheduleError):
            Schedule.from_json(bad)


def test_a_trainer_extended_midway_equals_one_with_the_schedule_from_the_start() -> None:
    """Extending at step 3 changes only the rates from step 4: steps 1-3 are those of the shorter run."""
    ds = Dataset.from_docs(NAMES)
    short = Trainer(ds, replace(SMALL, steps=6))
    reports = [short.step() for _ in range(3)]
    short.extend(10)
    reports += [short.step() for _ in range(7)]
    assert short.done and short.step_count == 10
    assert [r.lr for r in reports] == [0.01 * (1 - (s - 1) / 6) for s in (1, 2, 3)] + \
        [0.01 * (1 - (s - 1) / 10) for s in range(4, 11)]
    assert all(r.steps == 10 for r in reports[3:])


def test_the_status_names_the_first_step_that_differs_from_the_configured_run() -> None:
    extended = Schedule.plain(5e-3, 20).extend(40, at=21)  # the tester's run: 20 steps, then "Extend the schedule…" 40
    assert extended.first_change() == 21
    assert extended.status() == "differs from the reference from step 21"
    assert extended.first_difference() == 2  # a plain 40-step run is another matter (the describe() sentence)
    assert Schedule.plain(0.01, 1000).extend(2000, at=1001).status() == "differs from the reference from step 1001"
    assert Schedule.plain(0.01, 1000).extend(500, at=101).status() == "differs from the reference from step 101"
    assert Schedule.plain(0.01, 1000).extend(2000, at=1).status() is None  # changed before step 1: as configured
    assert Schedule.plain(0.01, 20).extend(40, at=21).set_lr(0.1, at=30).status() == \
        "differs from the reference from step 21"
