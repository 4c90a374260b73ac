"""Breakpoints: each form fires on the step a logged run says it becomes true, in Python and in `microgpt train`."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from microgpt import cli
from microgpt.breakpoints import FORMS, BreakpointError, Watch, memorization_sample, never_fires, parse
from microgpt.checkpoint import read_checkpoint
from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.history import History
from microgpt.seen import NEW, TRAINED, UNTRAINED, TrainingDocs
from microgpt.smoothing import debiased_ema
from microgpt.trainer import Trainer

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
FLAGS = ["--n-embd", "8", "--n-head", "2", "--block-size", "8", "--lr", "0.03", "--steps", "300", "--samples", "0"]
CONFIG = Config(n_embd=8, n_head=2, block_size=8, lr=0.03, steps=300)  # the same run: it has a gradient spike


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "tiny.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def log(tiny: str, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    """The uninterrupted run's --log-json records, one per step."""
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    assert cli.main(["train", "--dataset", tiny, *FLAGS, "--log-json", str(path)]) == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if "step" in r]


def first_becoming_true(truth: list[bool], after: int = 0) -> int | None:
    """The first step > after whose truth is True while the step before was False (step 0 counts as False)."""
    return next(iter(firings(truth, after)), None)


def firings(truth: list[bool], after: int = 0) -> list[int]:
    """Every step > after whose truth is True while the step before was False (step 0 counts as False)."""
    return [k for k in range(after + 1, len(truth) + 1) if truth[k - 1] and not (k > 1 and truth[k - 2])]


def expected_firings(log: list[dict[str, object]]) -> dict[str, list[int]]:
    """For each form, the steps it fires at, computed from the log alone."""
    losses = [float(r["loss"]) for r in log]  # type: ignore[arg-type]
    low = sorted(losses)[len(losses) // 3]  # a loss reached after a while
    high = sorted(losses[100:])[-3]  # a loss that rises again late in the run
    w, avg, smooth = 0.95, 0.0, []
    for i, loss in enumerate(losses):
        avg = avg * w + (1 - w) * loss
        smooth.append(avg / (1 - w ** (i + 1)))
    smooth_level = smooth[150]
    totals = [math.hypot(*r["grad_norms"].values()) for r in log]  # type: ignore[attr-defined]
    spike = [k > 50 and totals[k - 1] > 3 * statistics.median(totals[k - 51:k - 1]) for k in range(1, len(log) + 1)]
    cases = {
        f"loss<{low!r}": firings([x < low for x in losses]),
        f"loss>{high!r}": firings([x > high for x in losses]),
        f"smooth<{smooth_level!r}": firings([x < smooth_level for x in smooth]),
        f"smooth>{smooth_level!r}": firings([x > smooth_level for x in smooth]),
        "step=37": [37],
        "every=25": list(range(25, 301, 25)),
        "spike": firings(spike),
    }
    assert all(cases.values()), cases
    assert cases["spike"][0] > 51  # the run has a spike, and not at the first possible step
    assert max(cases[f"loss>{high!r}"]) > 100  # rises again late
    assert len(cases[f"loss<{low!r}"]) > 1  # becomes true more than once
    return cases


def expected_steps(log: list[dict[str, object]]) -> dict[str, int]:
    """For each form, the step it first fires at."""
    return {c: steps[0] for c, steps in expected_firings(log).items()}


def test_parse_accepts_each_form_and_refuses_others_in_one_line() -> None:
    assert parse("loss<2.0") == parse(" loss < 2.0 ") and parse("loss<2.0").text == "loss<2.0"
    assert (parse("smooth>1e-1").kind, parse("smooth>1e-1").op, parse("smooth>1e-1").value) == ("smooth", ">", 0.1)
    assert parse("every=10").moment and parse("step=3").moment and not parse("spike").moment
    assert parse("memorized").value == 50 and parse("memorized=7").value == 7
    for bad in ("", "loss", "loss<", "loss=2", "lss<2", "step=0", "every=-3", "step=2.5", "loss<nan", "spike=3",
                "memorized=0", "loss<inf"):
        with pytest.raises(BreakpointError) as info:
            parse(bad)
        assert FORMS in str(info.value) and "\n" not in str(info.value)


def test_each_form_fires_where_the_logged_run_says(tiny: str, log: list[dict[str, object]]) -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    expected = expected_firings(log)
    watch = Watch(trainer, [parse(c) for c in expected])
    fired: dict[str, list[int]] = {c: [] for c in expected}
    for _ in range(300):
        report = trainer.step()
        assert report.loss == log[report.step - 1]["loss"]  # the same run as the log
        for hit in watch.check(report):
            fired[hit.condition.text].append(hit.step)
    assert fired == expected


def test_hit_says_which_condition_and_what_value(log: list[dict[str, object]]) -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    watch = Watch(trainer, [parse("loss < 9"), parse("step=2"), parse("smooth>0")])
    hits = watch.check(trainer.step())
    assert [str(h) for h in hits] == [f"breakpoint loss<9: step 1, loss {log[0]['loss']:.4f}",
                                      f"breakpoint smooth>0: step 1, smoothed loss {log[0]['loss']:.4f}"]
    assert hits[0].value == log[0]["loss"]
    assert [str(h) for h in watch.check(trainer.step())] == ["breakpoint step=2: step 2"]  # no longer becoming true


def test_memorized_fires_when_a_sample_is_a_trained_document() -> None:
    docs = Dataset.from_docs(NAMES)
    trainer = Trainer(docs, CONFIG)
    watch = Watch(trainer, [parse("memorized=5")])
    order = TrainingDocs(trainer.docs)
    hit = None
    while hit is None:
        report = trainer.step()
        k = report.step
        hits = watch.check(report)
        if k % 5 == 0:  # the check's own sample, drawn again: the run's weights and generators are untouched
            again = memorization_sample(trainer, k)
            trained = again in trainer.docs[:k]
            assert bool(hits) == trained
            if trained:
                hit = hits[0]
                assert str(hit) == f"breakpoint memorized=5: step {k}, sample \u201c{again}\u201d seen at step " \
                                   f"{trainer.docs.index(again) + 1}"  # quoted as every pane quotes a name
                assert hit.sample[-1].text == again and hit.sample[-1].is_end  # the sample itself, with its odds
                assert [t.position for t in hit.sample] == list(range(len(hit.sample)))
        else:
            assert not hits
        assert k < 200
    assert order.lookup(again, hit.step).kind == TRAINED


def test_seen_tells_trained_untrained_and_new() -> None:
    docs = TrainingDocs(["bob", "ann", "bob", "eve"])
    assert str(docs.lookup("ann", 5)) == "seen at step 2" and docs.lookup("bob", 5).step == 1
    assert docs.lookup("eve", 3).kind == UNTRAINED and str(docs.lookup("eve", 3)).startswith("in the data, not")
    assert docs.lookup("zed", 3).kind == NEW and not docs.lookup("zed", 3).in_data and str(docs.lookup("zed", 3))
    assert docs.new_count(["bob", "zed", "eve", "amy"]) == 2


def test_rewind_forgets_later_truths_and_a_branch_fires_again(log: list[dict[str, object]]) -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    history = History(trainer)
    watch = Watch(trainer, [parse("loss<9"), parse("every=3")], history)
    hits = []
    for _ in range(5):
        report = trainer.step()
        history.record(report)
        hits += watch.check(report)
    assert [h.step for h in hits] == [1, 3]
    history.rewind(trainer, 0)
    watch.rewind(0)
    report = trainer.step()
    assert [str(h) for h in watch.check(report)] == [f"breakpoint loss<9: step 1, loss {log[0]['loss']:.4f}"]
    watch.entries[0].enabled = False
    watch.check(trainer.step())
    assert [h.step for h in watch.check(trainer.step())] == [3]


def test_a_condition_already_true_when_watched_waits_until_it_becomes_true_again(log: list[dict[str, object]]) -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    for _ in range(10):
        trainer.step()
    watch = Watch(trainer, [parse("loss<9")])  # true at step 10 already: running on does not stop
    assert not any(watch.check(trainer.step()) for _ in range(20))


# --- microgpt train --break ---

def test_train_break_stops_on_the_step_of_each_form(capsys: pytest.CaptureFixture[str], tiny: str,
                                                     log: list[dict[str, object]], tmp_path: Path) -> None:
    for condition, step in expected_steps(log).items():
        save = tmp_path / "run.json"
        code = cli.main(["train", "--dataset", tiny, *FLAGS, "--samples", "20", "--break", condition,
                         "--save", str(save)])
        out, err = capsys.readouterr()
        steps = [line for line in out.splitlines() if line.startswith("step ")]
        assert code == 0, err
        assert steps[-1].startswith(f"step {step:4d} / ") and len(steps) == step, condition
        assert not [line for line in out.splitlines() if line.startswith("sample ")]
        assert len(err.splitlines()) == 1 and err.startswith(f"microgpt: breakpoint {condition}: step {step}")
        assert f"saved step {step} to {save}" in err
        assert read_checkpoint(save).step == step


def test_train_break_resumed_runs_on_to_the_next_time(capsys: pytest.CaptureFixture[str], tiny: str,
                                                      log: list[dict[str, object]], tmp_path: Path) -> None:
    losses = [r["loss"] for r in log]
    low = sorted(losses)[len(losses) // 3]  # type: ignore[type-var]
    truth = [x < low for x in losses]  # type: ignore[operator]
    first = first_becoming_true(truth)
    second = first_becoming_true(truth, after=first or 0)
    assert first and second and second > first + 1
    save = str(tmp_path / "run.json")
    assert cli.main(["train", "--dataset", tiny, *FLAGS, "--break", f"loss<{low!r}", "--break", "step=2",
                     "--save", save]) == 0
    assert "breakpoint step=2: step 2" in capsys.readouterr().err
    cli.main(["train", "--resume", save, "--break", f"loss<{low!r}", "--save", save])
    assert f"breakpoint loss<{low!r}: step {first}" in capsys.readouterr().err
    cli.main(["train", "--resume", save, "--break", f"loss<{low!r}", "--save", save])
    out, err = capsys.readouterr()
    assert f"breakpoint loss<{low!r}: step {second}" in err and out.splitlines()[-1].startswith(f"step {second:4d}")


def test_train_break_refuses_a_bad_condition(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    code = cli.main(["train", "--dataset", tiny, "--break", "loss<<2"])
    out, err = capsys.readouterr()
    assert code == 2 and not out and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("microgpt: error: argument --break: cannot use 'loss<<2'")
    assert FORMS in err


def test_a_breakpoint_that_cannot_fire_is_named_and_one_that_can_is_not() -> None:
    assert never_fires(parse("step=5000"), 0, 20) == ("breakpoint step=5000 is after the last step (20): "
                                                       "it will not fire")
    assert never_fires(parse("step=100"), 350, 1000) == ("breakpoint step=100 is already past (the run is at step "
                                                          "350): it will not fire")
    assert never_fires(parse("step=350"), 350, 1000).startswith("breakpoint step=350 is already past")
    assert never_fires(parse("every=7"), 14, 20) == ("breakpoint every=7 first falls on step 21, after the last "
                                                      "step (20): it will not fire")
    for text, step, last in (("step=20", 0, 20), ("step=351", 350, 1000), ("every=7", 13, 20), ("loss<2", 350, 20),
                             ("spike", 20, 20), ("memorized", 0, 20)):
        assert never_fires(parse(text), step, last) == "", text


def test_a_watch_refuses_a_condition_it_already_has() -> None:
    watch = Watch(Trainer(Dataset.from_docs(NAMES), CONFIG), [parse("loss<2"), parse("memorized")])
    with pytest.raises(BreakpointError, match=r"^loss<2.0 is already in the list \(as loss<2\)$"):
        watch.add(parse("loss < 2.0"))
    with pytest.raises(BreakpointError, match="^memorized=50 is already in the list"):
        watch.add(parse("memorized=50"))
    watch.add(parse("loss>2"))
    assert [c.text for c, _ in watch.listed()] == ["loss<2", "memorized", "loss>2"]


def test_train_notes_a_breakpoint_that_cannot_fire_and_runs_as_usual(capsys: pytest.CaptureFixture[str], tiny: str,
                                                                     tmp_path: Path) -> None:
    small = ["--n-embd", "8", "--n-head", "2", "--block-size", "8", "--samples", "0"]
    code = cli.main(["train", "--dataset", tiny, *small, "--steps", "5", "--break", "step=5000"])
    out, err = capsys.readouterr()
    assert code == 0 and len([line for line in out.splitlines() if line.startswith("step ")]) == 5
    assert err == "microgpt: note: breakpoint step=5000 is after the last step (5): it will not fire\n"
    save = str(tmp_path / "run.json")
    assert cli.main(["train", "--dataset", tiny, *small, "--steps", "5", "--until", "3", "--save", save]) == 0
    capsys.readouterr()
    code = cli.main(["train", "--resume", save, "--break", "step=2", "--break", "step=4"])
    out, err = capsys.readouterr()
    assert code == 0 and err.splitlines() == [
        "microgpt: note: breakpoint step=2 is already past (the run is at step 3): it will not fire",
        f"microgpt: breakpoint step=4: step 4; saved step 4 to {save}; continue with: microgpt train --resume {save}"]


def test_train_refuses_a_breakpoint_given_twice(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    code = cli.main(["train", "--dataset", tiny, "--break", "step=2", "--break", "step = 2"])
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err == "microgpt: error: --break step=2 is given twice; give each condition once\n"


def test_a_watch_started_late_from_a_history_fires_like_one_that_saw_every_step() -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    history = History(trainer)
    always = Watch(trainer, [parse("spike"), parse("smooth<0.9")])
    early: list[str] = []
    for _ in range(60):
        report = trainer.step()
        history.record(report)
        early += map(str, always.check(report))
    late = Watch(trainer, [parse("spike"), parse("smooth<0.9")], history)
    assert list(late.totals) == list(always.totals) and list(late.averages) == list(always.averages)
    hits_always, hits_late = [], []
    for _ in range(240):
        report = trainer.step()
        hits_always += map(str, always.check(report))
        hits_late += map(str, late.check(report))
    assert hits_late == hits_always and any("spike" in h for h in hits_late)


def test_train_break_memorized_stops_where_a_sample_is_first_a_trained_name(capsys: pytest.CaptureFixture[str],
                                                                            tiny: str) -> None:
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    while True:  # the first check whose sample is a name trained on, found without a Watch
        trainer.step()
        k = trainer.step_count
        if k % 5 == 0 and (text := memorization_sample(trainer, k)) in trainer.docs[:k]:
            break
    code = cli.main(["train", "--dataset", tiny, *FLAGS, "--break", "memorized=5"])
    out, err = capsys.readouterr()
    assert code == 0 and out.splitlines()[-1].startswith(f"step {k:4d} / ")
    assert err.startswith(f"microgpt: breakpoint memorized=5: step {k}, sample \u201c{text}\u201d seen at step "
                          f"{trainer.docs.index(text) + 1};")


def test_the_smoothed_loss_breakpoints_compare_is_the_one_the_chart_draws_also_past_a_non_finite_loss() -> None:
    """One rule (microgpt.smoothing): the watch's smoothed loss equals `debiased_ema` over the same losses, a loss
    that is not finite included (the chart draws it as itself; the average goes on without it)."""
    trainer = Trainer(Dataset.from_docs(NAMES), CONFIG)
    for _ in range(5):
        trainer.step()
    trainer.losses[2] = math.inf  # as a diverged step leaves it
    watch = Watch(trainer, [parse("smooth<0.9")])
    for _ in range(5):
        watch.check(trainer.step())
    assert [watch.smooth(k) for k in range(1, 11)] == list(debiased_ema(trainer.losses))
    assert watch.smooth(3) == math.inf and math.isfinite(watch.smooth(4))
