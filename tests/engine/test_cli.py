"""The `microgpt` command: the reference's output, pause and resume, the JSON log, and one clear line per bad input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from microgpt import __version__, cli
from microgpt.checkpoint import docs_digest, load_checkpoint, read_checkpoint, save_checkpoint
from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.history import History
from microgpt.report import StepReport
from microgpt.trainer import Trainer

REPO = Path(__file__).resolve().parent.parent.parent
REFERENCE_LOSSES = Path(__file__).parent / "data" / "reference_losses.txt"
REFERENCE_SAMPLES = ["kamon", "ann", "karai", "jaire", "vialan", "karia", "yeran", "anna", "areli", "kaina",
                     "konna", "keylen", "liole", "alerin", "earan", "lenne", "kana", "lara", "alela", "anton"]
NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"]
SMALL = ["--n-embd", "8", "--n-head", "2", "--block-size", "8"]  # a quick model for the tests


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    """A dataset file of ten names."""
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main(argv) in this process: (exit status, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def step_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("step ")]


def sample_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("sample ")]


# --- the reference's output ---

def test_output_format_without_a_terminal(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    code, out, err = run(capsys, "train", "--dataset", tiny, "--steps", "5")
    assert code == 0 and err == ""
    trainer = Trainer(load_dataset(tiny), Config(steps=5))
    losses = [trainer.step().loss for _ in range(5)]
    samples = []
    for _ in range(20):
        text = ""
        for token in trainer.sample(0.5):
            text = token.text
        samples.append(text)
    expected = (
        ["num docs: 10", f"vocab size: {trainer.dataset.vocab_size}", f"num params: {trainer.num_params}"]
        + [f"step {i:4d} /    5 | loss {loss:.4f}" for i, loss in enumerate(losses, 1)]
        + ["--- inference (new, hallucinated names) ---"]
        + [f"sample {i:2d}: {text}" for i, text in enumerate(samples, 1)]
    )
    assert "\r" not in out
    assert out == "\n".join(expected) + "\n"


class Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_output_on_a_terminal_updates_the_step_line_in_place(monkeypatch: pytest.MonkeyPatch, tiny: str) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert cli.main(["train", "--dataset", tiny, "--steps", "3", "--samples", "2", *SMALL]) == 0
    out = terminal.getvalue()
    header, rest = out.split("num params: ")[1].split("\n", 1)
    steps, inference = rest.split("\n--- inference (new, hallucinated names) ---\n")
    assert steps.count("\r") == 3 and steps.endswith("\r") and "\n" not in steps
    assert [s[:16] for s in steps.split("\r")[:3]] == ["step    1 /    3", "step    2 /    3", "step    3 /    3"]
    assert len(inference.splitlines()) == 2 and inference.endswith("\n")


def test_samples_and_temperature(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    code, out, _ = run(capsys, "train", "--dataset", tiny, "--steps", "2", "--samples", "3", "--temperature", "1.5",
                       *SMALL)
    assert code == 0 and [line[:10] for line in sample_lines(out)] == ["sample  1:", "sample  2:", "sample  3:"]
    code, out, _ = run(capsys, "train", "--dataset", tiny, "--steps", "2", "--samples", "0", *SMALL)
    assert code == 0 and "inference" not in out and not sample_lines(out)


def test_sizes_seed_and_engine_flags(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    argv = ["train", "--dataset", tiny, "--steps", "3", "--samples", "2", "--n-layer", "2", "--n-embd", "8",
            "--n-head", "2", "--block-size", "6", "--lr", "0.02", "--seed", "7"]
    code, fused, _ = run(capsys, *argv)
    assert code == 0
    code, atomic, _ = run(capsys, *argv, "--engine", "atomic")
    assert code == 0 and atomic == fused  # the same numbers in both graph modes
    trainer = Trainer(load_dataset(tiny), Config(n_layer=2, n_embd=8, n_head=2, block_size=6, lr=0.02, seed=7,
                                                 steps=3))
    assert f"num params: {trainer.num_params}" in fused
    assert step_lines(fused)[0] == f"step    1 /    3 | loss {trainer.step().loss:.4f}"


# --- pause, resume, sample ---

def test_until_save_resume_equals_one_straight_run(capsys: pytest.CaptureFixture[str], tiny: str,
                                                   tmp_path: Path) -> None:
    ckpt = str(tmp_path / "run.json")
    code, straight, _ = run(capsys, "train", "--dataset", tiny, "--steps", "9", "--samples", "5", *SMALL)
    assert code == 0
    code, first, err = run(capsys, "train", "--dataset", tiny, "--steps", "9", "--until", "4", "--save", ckpt,
                           "--samples", "5", *SMALL)
    assert code == 0 and not sample_lines(first)
    assert err == (f"microgpt: paused after step 4 of 9; saved step 4 to {ckpt}; "
                   f"continue with: microgpt train --resume {ckpt}\n")
    assert read_checkpoint(ckpt).step == 4
    code, second, _ = run(capsys, "train", "--resume", ckpt, "--until", "7", "--save", ckpt, "--samples", "5")
    assert code == 0 and read_checkpoint(ckpt).step == 7
    code, third, _ = run(capsys, "train", "--resume", ckpt, "--samples", "5", "--engine", "atomic")
    assert code == 0
    assert step_lines(first) + step_lines(second) + step_lines(third) == step_lines(straight)
    assert step_lines(third)[0].startswith("step    8 /    9")
    assert sample_lines(third) == sample_lines(straight)
    assert second.splitlines()[:3] == straight.splitlines()[:3]  # the header again


def test_a_resumed_run_saves_back_to_its_file(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path) -> None:
    ckpt, other = str(tmp_path / "run.json"), str(tmp_path / "other.json")
    assert run(capsys, "train", "--dataset", tiny, "--steps", "6", "--until", "2", "--save", ckpt, *SMALL)[0] == 0
    code, _, err = run(capsys, "train", "--resume", ckpt, "--until", "4")
    assert code == 0 and read_checkpoint(ckpt).step == 4
    assert err == f"microgpt: paused after step 4 of 6; saved step 4 to {ckpt}; " \
                  f"continue with: microgpt train --resume {ckpt}\n"
    before = Path(ckpt).read_bytes()
    code, _, err = run(capsys, "train", "--resume", ckpt, "--save", other, "--samples", "0")
    assert code == 0 and err == f"microgpt: saved step 6 to {other}\n"
    assert Path(ckpt).read_bytes() == before and read_checkpoint(other).step == 6  # --save says otherwise
    code, _, err = run(capsys, "train", "--resume", ckpt, "--samples", "0")
    assert code == 0 and err == f"microgpt: saved step 6 to {ckpt}\n" and read_checkpoint(ckpt).step == 6


def same_step(a: StepReport, b: StepReport) -> bool:
    """Equal to the last bit, timings aside (repr shows every float exactly)."""
    return repr(replace(a, timings=b.timings)) == repr(b)


def test_a_resumed_run_keeps_and_extends_the_history_it_was_given(capsys: pytest.CaptureFixture[str], tiny: str,
                                                                   tmp_path: Path) -> None:
    """An app checkpoint (history, a branch's ghost) finished headless: the history covers every step, exactly."""
    ckpt = str(tmp_path / "run.json")
    trainer = Trainer(load_dataset(tiny), Config(n_embd=8, n_head=2, block_size=8, steps=12))
    history = History(trainer)
    before = history_steps(trainer, history, 10)
    history.rewind(trainer, 6)  # a branch: steps 7-10 become a ghost
    before[6:] = history_steps(trainer, history, 2)
    save_checkpoint(trainer, ckpt, history)
    expected = load_checkpoint(ckpt)  # the same run, trained on here: steps 9-11 of a 16-step schedule
    expected.extend(16)
    after = [expected.step() for _ in range(3)]

    code, out, _ = run(capsys, "train", "--resume", ckpt, "--steps", "16", "--until", "11")
    assert code == 0 and len(step_lines(out)) == 3
    saved = read_checkpoint(ckpt)
    assert saved.step == 11 and saved.history is not None
    kept = History.from_json(saved.history, saved.restore())
    assert (kept.start, kept.end) == (0, 11)
    assert [(g.start, g.losses) for g in kept.ghosts] == [(g.start, g.losses) for g in history.ghosts]
    for step in (11, 9, 10, 3, 8):
        assert same_step(kept.replay(step), (before + after)[step - 1]), f"step {step}"


def history_steps(trainer: Trainer, history: History, steps: int) -> list[StepReport]:
    """Take `steps` steps, each recorded in `history`."""
    reports = []
    for _ in range(steps):
        reports.append(trainer.step())
        history.record(reports[-1])
    return reports


def test_a_damaged_history_is_said_in_one_plain_line_and_a_new_one_kept(capsys: pytest.CaptureFixture[str],
                                                                         tiny: str, tmp_path: Path) -> None:
    ckpt = tmp_path / "run.json"
    trainer = Trainer(load_dataset(tiny), Config(n_embd=8, n_head=2, block_size=8, steps=12))
    history = History(trainer)
    history_steps(trainer, history, 5)
    save_checkpoint(trainer, ckpt, history)
    obj = json.loads(ckpt.read_text())
    obj["history"]["ghosts"] = "nope"
    ckpt.write_text(json.dumps(obj))
    code, _, err = run(capsys, "train", "--resume", str(ckpt), "--until", "7")
    assert code == 0 and err.splitlines()[0] == ("microgpt: the saved history is damaged, so the steps up to 5 "
                                                 "cannot be shown; training carries on from step 5")
    saved = read_checkpoint(ckpt)
    kept = History.from_json(saved.history, saved.restore())
    assert (kept.start, kept.end) == (5, 7)


def test_a_checkpoint_without_history_stays_without(capsys: pytest.CaptureFixture[str], tiny: str,
                                                    tmp_path: Path) -> None:
    ckpt = str(tmp_path / "run.json")
    assert run(capsys, "train", "--dataset", tiny, "--steps", "6", "--until", "2", "--save", ckpt, *SMALL)[0] == 0
    assert run(capsys, "train", "--resume", ckpt, "--until", "4")[0] == 0
    assert read_checkpoint(ckpt).step == 4 and read_checkpoint(ckpt).history is None


@pytest.mark.slow
def test_resuming_from_a_read_only_folder_says_to_give_save(capsys: pytest.CaptureFixture[str], tiny: str,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    ckpt = str(folder / "run.json")
    assert run(capsys, "train", "--dataset", tiny, "--steps", "4", "--until", "2", "--save", ckpt, *SMALL)[0] == 0
    real_open = os.open

    def read_only_folder(path: str, *args: object) -> int:
        if str(path).startswith(str(folder)):  # what a read-only folder does, even where tests run as root
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only_folder)
    code, out, err = run(capsys, "train", "--resume", ckpt)
    assert code == 2 and out == "" and err.count("\n") == 1 and "give --save PATH to save elsewhere" in err
    assert "permission denied" in err
    assert run(capsys, "train", "--resume", ckpt, "--save", str(tmp_path / "run.json"))[0] == 0


def test_the_readme_checkpoint_workflow_as_written(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """README: `train --until 250 --save run.json`, `train --resume run.json`, `sample --resume run.json`."""
    monkeypatch.chdir(tmp_path)
    commands = [line.split()[1:] for line in README_WORKFLOW]
    code, first, err = run(capsys, *commands[0])
    assert code == 0 and len(step_lines(first)) == 250 and "saved step 250 to run.json" in err
    code, second, err = run(capsys, *commands[1])
    assert code == 0 and step_lines(second)[0].startswith("step  251 / 1000") and len(step_lines(second)) == 750
    assert err == "microgpt: saved step 1000 to run.json\n"
    code, sampled, err = run(capsys, *commands[2])
    assert code == 0 and err == ""
    assert sampled.splitlines()[0] == "--- samples of run.json: step 1000 of 1000, dataset names, temperature 0.8 ---"
    trainer = Trainer(load_dataset("names"), Config())
    for _ in range(1000):
        trainer.step()
    expected = []
    for _ in range(10):
        text = ""
        for token in trainer.sample(0.8):
            text = token.text
        expected.append(text)
    assert [line.split(": ", 1)[1] for line in sample_lines(sampled)] == expected  # the step-1000 model
    assert sample_lines(sampled) == [f"sample {i:2d}: {t}" for i, t in enumerate(expected, 1)]


def readme_workflow() -> list[str]:
    """The README's three checkpoint commands, as written there."""
    lines = (REPO / "README.md").read_text().splitlines()
    wanted = ("microgpt train --until 250 --save run.json", "microgpt train --resume run.json",
              "microgpt sample --resume run.json")
    found = [line.split("#")[0].strip() for line in lines if line.startswith(wanted)]
    assert [line.startswith(w) for line, w in zip(found, wanted)] == [True] * 3, found
    return found[:3]


README_WORKFLOW = readme_workflow()


def test_resume_with_more_steps_equals_the_uninterrupted_extended_run(capsys: pytest.CaptureFixture[str],
                                                                       tiny: str, tmp_path: Path) -> None:
    """10 steps planned, paused at 4, extended to 20, paused at 12, finished: the same as one extended run."""
    ckpt = str(tmp_path / "run.json")
    code, first, _ = run(capsys, "train", "--dataset", tiny, "--steps", "10", "--until", "4", "--save", ckpt, *SMALL)
    assert code == 0
    code, second, err = run(capsys, "train", "--resume", ckpt, "--steps", "20", "--until", "12")
    assert code == 0
    notes = err.splitlines()
    assert notes[0] == (
        "microgpt: --steps 20 extends the run from step 5: steps 1-4 used a 10-step schedule and steps 5-20 a "
        "20-step one; the learning rate jumps from 7.0e-03 to 8.0e-03 at step 5; this run matches neither a 10- nor "
        "a 20-step run")
    assert notes[1].startswith("microgpt: paused after step 12 of 20; saved step 12 to") and len(notes) == 2
    code, third, err = run(capsys, "train", "--resume", ckpt, "--samples", "5")
    assert code == 0 and err == f"microgpt: saved step 20 to {ckpt}\n"  # said once: resuming again says nothing

    trainer = Trainer(load_dataset(tiny), Config(n_embd=8, n_head=2, block_size=8, steps=10))
    losses = [trainer.step().loss for _ in range(4)]
    trainer.extend(20)
    losses += [trainer.step().loss for _ in range(16)]
    expected = [f"step {i:4d} / {10 if i <= 4 else 20:4d} | loss {x:.4f}" for i, x in enumerate(losses, 1)]
    assert step_lines(first) + step_lines(second) + step_lines(third) == expected
    saved = trainer.state()  # the checkpoint is written before the samples are drawn
    samples = []
    for _ in range(5):
        text = ""
        for token in trainer.sample(0.5):
            text = token.text
        samples.append(text)
    assert [line.split(": ", 1)[1] for line in sample_lines(third)] == samples
    resumed = read_checkpoint(ckpt)
    assert resumed.state == saved  # weights, moments, generators, losses, schedule: every bit
    assert resumed.schedule.to_json() == [[1, 0.01, 10], [5, 0.01, 20]]


def test_a_finished_run_continues_with_more_steps(capsys: pytest.CaptureFixture[str], tiny: str,
                                                  tmp_path: Path) -> None:
    ckpt = str(tmp_path / "run.json")
    assert run(capsys, "train", "--dataset", tiny, "--steps", "3", "--save", ckpt, "--samples", "0", *SMALL)[0] == 0
    code, out, err = run(capsys, "train", "--resume", ckpt, "--steps", "5", "--samples", "0")
    assert code == 0 and [line[:16] for line in step_lines(out)] == ["step    4 /    5", "step    5 /    5"]
    assert "--steps 5 extends the run from step 4" in err and read_checkpoint(ckpt).step == 5


def test_log_of_a_resumed_run_drops_a_torn_line_and_unsaved_steps(capsys: pytest.CaptureFixture[str], tiny: str,
                                                                  tmp_path: Path) -> None:
    log, ckpt = tmp_path / "log.jsonl", str(tmp_path / "run.json")
    assert run(capsys, "train", "--dataset", tiny, "--steps", "6", "--until", "2", "--save", ckpt,
               "--log-json", str(log), *SMALL)[0] == 0
    assert run(capsys, "train", "--dataset", tiny, "--steps", "6", "--until", "4", "--log-json", str(log), *SMALL,
               "--resume", ckpt, "--save", str(tmp_path / "later.json"))[0] == 0
    text = log.read_text()
    log.write_text(text + '{"step": 5, "steps": 6, "lo')  # steps 3-4 were never saved to run.json; 5 was torn
    code, _, err = run(capsys, "train", "--resume", ckpt, "--log-json", str(log), "--samples", "2")
    assert code == 0
    assert err.splitlines()[0] == f"microgpt: dropped the torn last line of {log} (a write cut short) before appending"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r.get("step") for r in records] == [None, 1, 2, 3, 4, 5, 6, None] and "run" in records[0]
    straight = tmp_path / "straight.jsonl"
    assert run(capsys, "train", "--dataset", tiny, "--steps", "6", "--samples", "2", "--log-json", str(straight),
               *SMALL)[0] == 0
    again = [json.loads(line) for line in straight.read_text().splitlines()]
    assert [r.get("loss") for r in records] == [r.get("loss") for r in again]


def test_sample_from_a_checkpoint(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path) -> None:
    ckpt = str(tmp_path / "run.json")
    code, out, _ = run(capsys, "train", "--dataset", tiny, "--steps", "4", "--save", ckpt, "--samples", "6", *SMALL)
    assert code == 0
    before = Path(ckpt).read_bytes()
    code, sampled, err = run(capsys, "sample", "--resume", ckpt, "--samples", "6")
    assert code == 0 and err == ""
    assert sampled.splitlines()[0] == f"--- samples of {ckpt}: step 4 of 4, dataset tiny.txt, temperature 0.5 ---"
    assert sampled.splitlines()[1:] == sample_lines(out)  # saved before sampling: the same draws
    assert run(capsys, "sample", "--resume", ckpt, "--samples", "6")[1] == sampled  # the checkpoint is unchanged
    assert Path(ckpt).read_bytes() == before
    code, hot, _ = run(capsys, "sample", "--resume", ckpt, "--samples", "6", "--temperature", "2")
    assert code == 0 and len(sample_lines(hot)) == 6 and hot.splitlines()[0].endswith("temperature 2.0 ---")
    # a finished run resumed prints its samples again, with no steps
    code, again, _ = run(capsys, "train", "--resume", ckpt, "--samples", "6")
    assert code == 0 and not step_lines(again) and sample_lines(again) == sample_lines(out)


def test_sample_needs_no_dataset_file(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path) -> None:
    ckpt = str(tmp_path / "run.json")
    assert run(capsys, "train", "--dataset", tiny, "--steps", "2", "--until", "1", "--save", ckpt, *SMALL)[0] == 0
    Path(tiny).unlink()
    code, out, _ = run(capsys, "sample", "--resume", ckpt, "--samples", "2")
    assert code == 0 and len(sample_lines(out)) == 2
    code, _, err = run(capsys, "train", "--resume", ckpt)
    assert code == 2 and "cannot load dataset 'tiny.txt'" in err


def test_log_json(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    code, out, _ = run(capsys, "train", "--dataset", tiny, "--steps", "4", "--samples", "3", "--log-json", str(log),
                       *SMALL)
    assert code == 0
    header, *records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 5
    trainer = Trainer(load_dataset(tiny), Config(n_embd=8, n_head=2, block_size=8, steps=4))
    assert header == {"run": {"microgpt": __version__, "dataset": {
        "name": "tiny.txt", "spec": tiny, "path": tiny, "sha256": trainer.dataset.sha256,
        "docs_sha256": docs_digest(NAMES), "num_docs": 10}, "config": trainer.config.to_dict(), "engine": "fused",
        "schedule": [[1, 0.01, 4]]}}
    for step, record in enumerate(records[:4], 1):
        report = trainer.step()
        assert record["step"] == step and record["steps"] == 4
        assert record["loss"] == report.loss and record["lr"] == report.lr  # full precision
        assert record["doc"] == report.doc and record["engine"] == "fused"
        assert record["graph_nodes"] == report.graph.nodes and record["graph_edges"] == report.graph.edges
        assert record["grad_norms"] == {m.name: m.grad_norm for m in report.matrices}
        assert list(record["grad_norms"])[3] == "layer0.attn_wq"
        assert record["position_losses"] == list(report.position_losses)
        assert record["seconds"] > 0
    assert records[4] == {"samples": [line.split(": ", 1)[1] for line in sample_lines(out)], "temperature": 0.5}


def test_log_json_appends_when_resuming(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path) -> None:
    log, ckpt = str(tmp_path / "log.jsonl"), str(tmp_path / "run.json")
    base = ["--log-json", log, "--samples", "1"]
    assert run(capsys, "train", "--dataset", tiny, "--steps", "5", "--until", "2", "--save", ckpt, *base,
               *SMALL)[0] == 0
    assert run(capsys, "train", "--resume", ckpt, *base)[0] == 0
    records = [json.loads(line) for line in Path(log).read_text().splitlines()]
    assert [r.get("step") for r in records] == [None, 1, 2, 3, 4, 5, None]
    assert "run" in records[0] and "samples" in records[-1]
    assert run(capsys, "train", "--dataset", tiny, "--steps", "2", *base, *SMALL)[0] == 0  # a new run starts afresh
    assert len(Path(log).read_text().splitlines()) == 4


def test_ctrl_c_saves_and_exits_130(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = str(tmp_path / "run.json")
    step = Trainer.step

    def step_then_ctrl_c(self: Trainer) -> StepReport:
        report = step(self)
        if self.step_count == 3:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while step 3 was running
        return report

    monkeypatch.setattr(Trainer, "step", step_then_ctrl_c)
    code, out, err = run(capsys, "train", "--dataset", tiny, "--steps", "8", "--save", ckpt, *SMALL)
    monkeypatch.undo()
    assert code == 130 and len(step_lines(out)) == 3 and not sample_lines(out)
    assert err.strip() == f"microgpt: interrupted after step 3 of 8; saved step 3 to {ckpt}; continue with: " \
                          f"microgpt train --resume {ckpt}"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back
    code, rest, _ = run(capsys, "train", "--resume", ckpt)
    code, straight, _ = run(capsys, "train", "--dataset", tiny, "--steps", "8", *SMALL)
    assert step_lines(out) + step_lines(rest) == step_lines(straight)
    assert sample_lines(rest) == sample_lines(straight)


def test_second_ctrl_c_stops_at_once_without_saving(capsys: pytest.CaptureFixture[str], tiny: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    step = Trainer.step

    def step_with_two_ctrl_c(self: Trainer) -> StepReport:
        report = step(self)
        if self.step_count == 2:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # "stop now": the step may be half done, so nothing is saved
        return report

    monkeypatch.setattr(Trainer, "step", step_with_two_ctrl_c)
    code, out, err = run(capsys, "train", "--dataset", tiny, "--steps", "8", "--save", str(tmp_path / "run.json"),
                         *SMALL)
    assert code == 130 and err == "microgpt: interrupted\n" and "Traceback" not in err
    assert not (tmp_path / "run.json").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_until_without_save_says_nothing_was_kept(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    code, out, err = run(capsys, "train", "--dataset", tiny, "--steps", "8", "--until", "2", *SMALL)
    assert code == 0 and len(step_lines(out)) == 2 and not sample_lines(out)
    assert err == "microgpt: paused after step 2 of 8; not saved (add --save PATH to continue later)\n"


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    for flag in ("--dataset", "--steps", "--until", "--seed", "--engine", "--n-layer", "--n-embd", "--n-head",
                 "--block-size", "--lr", "--samples", "--temperature", "--save", "--resume", "--log-json"):
        assert flag in out
    code, out, _ = run(capsys, "sample", "--help")
    assert code == 0 and all(flag in out for flag in ("--resume", "--samples", "--temperature"))
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "train" in out and "sample" in out


# --- bad input: exit 2, one line, no traceback ---

BAD_INPUTS = {  # what is wrong -> the command line; {tmp} is a folder of bad files (see make_bad_files)
    "missing dataset": ["train", "--dataset", "{tmp}/nope.txt"],
    "unknown shipped name": ["train", "--dataset", "pokemon"],
    "empty dataset": ["train", "--dataset", "{tmp}/empty.txt"],
    "blank dataset": ["train", "--dataset", "{tmp}/blank.txt"],
    "binary dataset": ["train", "--dataset", "{tmp}/binary.txt"],
    "non-UTF-8 dataset": ["train", "--dataset", "{tmp}/latin1.txt"],
    "dataset is a directory": ["train", "--dataset", "{tmp}"],
    "zero steps": ["train", "--dataset", "{tiny}", "--steps", "0"],
    "negative steps": ["train", "--dataset", "{tiny}", "--steps", "-3"],
    "steps not a number": ["train", "--dataset", "{tiny}", "--steps", "ten"],
    "until zero": ["train", "--dataset", "{tiny}", "--steps", "5", "--until", "0"],
    "until past steps": ["train", "--dataset", "{tiny}", "--steps", "5", "--until", "6"],
    "until not after resumed step": ["train", "--resume", "{tmp}/good.json", "--until", "2"],
    "zero temperature": ["train", "--dataset", "{tiny}", "--temperature", "0"],
    "negative temperature": ["train", "--dataset", "{tiny}", "--temperature", "-1"],
    "temperature not a number": ["train", "--dataset", "{tiny}", "--temperature", "warm"],
    "temperature nan": ["train", "--dataset", "{tiny}", "--temperature", "nan"],
    "temperature inf": ["sample", "--resume", "{tmp}/good.json", "--temperature", "inf"],
    "negative samples": ["train", "--dataset", "{tiny}", "--samples", "-1"],
    "n_embd not divisible by n_head": ["train", "--dataset", "{tiny}", "--n-embd", "10", "--n-head", "4"],
    "zero layers": ["train", "--dataset", "{tiny}", "--n-layer", "0"],
    "zero lr": ["train", "--dataset", "{tiny}", "--lr", "0"],
    "unknown engine": ["train", "--dataset", "{tiny}", "--engine", "gpu"],
    "unknown flag": ["train", "--dataset", "{tiny}", "--batch-size", "4"],
    "no command": [],
    "unknown command": ["fly"],
    "sample without checkpoint": ["sample"],
    "missing checkpoint": ["train", "--resume", "{tmp}/nope.json"],
    "checkpoint is a directory": ["sample", "--resume", "{tmp}"],
    "empty checkpoint": ["sample", "--resume", "{tmp}/empty.txt"],
    "checkpoint not JSON": ["train", "--resume", "{tmp}/garbage.json"],
    "truncated checkpoint": ["train", "--resume", "{tmp}/truncated.json"],
    "foreign JSON": ["sample", "--resume", "{tmp}/foreign.json"],
    "wrong matrix shape": ["train", "--resume", "{tmp}/shape.json"],
    "checkpoint of another size": ["train", "--resume", "{tmp}/good.json", "--n-embd", "16"],
    "checkpoint of another seed": ["train", "--resume", "{tmp}/good.json", "--seed", "1"],
    "steps not after the resumed step": ["train", "--resume", "{tmp}/good.json", "--steps", "2"],
    "steps far below the resumed step": ["train", "--resume", "{tmp}/good.json", "--steps", "1"],
    "until past an extended schedule": ["train", "--resume", "{tmp}/good.json", "--steps", "12", "--until", "13"],
    "resume a checkpoint with a damaged schedule": ["train", "--resume", "{tmp}/schedule.json"],
    "checkpoint of another dataset": ["train", "--resume", "{tmp}/good.json", "--dataset", "{tmp}/other.txt"],
    "save into a missing folder": ["train", "--dataset", "{tiny}", "--save", "{tmp}/nope/run.json"],
    "save onto a directory": ["train", "--dataset", "{tiny}", "--save", "{tmp}"],
    "save under a file": ["train", "--dataset", "{tiny}", "--save", "{tmp}/file/run.json"],
    "log into a missing folder": ["train", "--dataset", "{tiny}", "--log-json", "{tmp}/nope/log.jsonl"],
    "log onto a directory": ["train", "--dataset", "{tiny}", "--log-json", "{tmp}"],
    "log that is not a log": ["train", "--resume", "{tmp}/good.json", "--log-json", "{tmp}/notes.txt"],
    "log of another run": ["train", "--resume", "{tmp}/good.json", "--log-json", "{tmp}/other.jsonl"],
    "log with a torn line in the middle": ["train", "--resume", "{tmp}/good.json", "--log-json", "{tmp}/torn.jsonl"],
    "log that is not text": ["train", "--resume", "{tmp}/good.json", "--log-json", "{tmp}/binary.txt"],
    "log with a line nested too deep": ["train", "--resume", "{tmp}/good.json", "--log-json", "{tmp}/deep.jsonl"],
    "bad breakpoint": ["train", "--dataset", "{tiny}", "--break", "loss<"],
    "breakpoint step 0": ["train", "--dataset", "{tiny}", "--break", "step=0"],
    "samples not a number": ["sample", "--resume", "{tmp}/good.json", "--samples", "many"],
    "bad flag before the command": ["--frobnicate", "train"],
}


@pytest.fixture
def bad(tmp_path: Path, tiny: str) -> dict[str, list[str]]:
    """BAD_INPUTS with their files made: unusable datasets and checkpoints, and a good checkpoint at step 2."""
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n\n")
    (tmp_path / "binary.txt").write_bytes(b"emma\x00\x01\x02\n")
    (tmp_path / "latin1.txt").write_bytes("zo\u00eb\n".encode("latin-1"))
    (tmp_path / "garbage.json").write_text("this is not a checkpoint")
    (tmp_path / "truncated.json").write_text('{"format": "microgpt-checkpoint", "version": 1, "config": {"n_')
    (tmp_path / "foreign.json").write_text('{"weights": [1, 2, 3]}')
    trainer = Trainer(load_dataset(tiny), Config(n_embd=8, n_head=2, block_size=8, steps=10))
    trainer.step()
    trainer.step()
    save_checkpoint(trainer, tmp_path / "good.json")
    obj = json.loads((tmp_path / "good.json").read_text())
    obj["params"]["wte"] = obj["params"]["wte"][:-1]
    (tmp_path / "shape.json").write_text(json.dumps(obj))
    obj = json.loads((tmp_path / "good.json").read_text())
    obj["schedule"] = [[1, 0.01, 10], [5, 0.01, 20]]  # disagrees with "steps": 10
    (tmp_path / "schedule.json").write_text(json.dumps(obj))
    (tmp_path / "notes.txt").write_text("my notes\nthat must not be touched")  # no final newline
    (tmp_path / "other.jsonl").write_text(json.dumps({"run": {"config": Config().to_dict()}}) + "\n")
    (tmp_path / "torn.jsonl").write_text('{"run": {}}\n{"step": 1, "lo\n{"step": 2}\n')
    (tmp_path / "deep.jsonl").write_text('{"run": {}}\n' + "[" * 100_000 + "\n")  # too deep for json
    (tmp_path / "other.txt").write_text("bob\nalice\n")
    (tmp_path / "file").write_text("x")
    return {case: [arg.format(tmp=tmp_path, tiny=tiny) for arg in argv] for case, argv in BAD_INPUTS.items()}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          bad: dict[str, list[str]], case: str) -> None:
    argv = bad[case]
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err and "step " not in out
    assert err.count("\n") == 1 and err.startswith("microgpt: error: "), err  # no usage block, flags or not
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing written


def test_a_bad_flag_value_is_one_line_naming_the_flag_and_the_help(capsys: pytest.CaptureFixture[str],
                                                                   tiny: str) -> None:
    code, out, err = run(capsys, "train", "--dataset", tiny, "--steps", "-1")
    assert (code, out) == (2, "")
    assert err == "microgpt: error: argument --steps: must be at least 1, got -1 (see microgpt train --help)\n"
    code, out, err = run(capsys, "train", "--break", "foo")
    assert code == 2 and err.count("\n") == 1 and "cannot use 'foo' as a breakpoint" in err
    assert err.endswith("(see microgpt train --help)\n")
    code, out, err = run(capsys, "sample")
    assert code == 2 and err.count("\n") == 1 and err.endswith("(see microgpt sample --help)\n")


def test_both_commands_share_one_parser() -> None:
    from microgpt_tui.__main__ import build_parser

    assert isinstance(cli.build_parser(), cli.Parser) and isinstance(build_parser(), cli.Parser)


def test_refusals_name_what_differs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    bad: dict[str, list[str]]) -> None:
    cases = bad
    good = str(tmp_path / "good.json")
    _, _, err = run(capsys, *cases["checkpoint of another size"])
    assert "--n-embd 16 (the checkpoint has 8)" in err
    _, _, err = run(capsys, "train", "--resume", good, "--seed", "3", "--n-layer", "2")
    assert "--seed 3 (the checkpoint has 42)" in err and "--n-layer 2 (the checkpoint has 1)" in err
    _, _, err = run(capsys, *cases["steps not after the resumed step"])
    assert "--steps 2 is not after step 2, where" in err and "give more than 2 steps" in err
    _, _, err = run(capsys, *cases["log that is not a log"])
    assert "notes.txt is not a microgpt JSON log (line 1" in err
    _, _, err = run(capsys, *cases["log of another run"])
    assert "is the log of another run" in err
    _, _, err = run(capsys, *cases["log with a line nested too deep"])
    assert "deep.jsonl is not a microgpt JSON log (line 2" in err
    _, _, err = run(capsys, *cases["checkpoint of another dataset"])
    assert "'other.txt'" in err and "differs" in err
    _, _, err = run(capsys, *cases["until not after resumed step"])
    assert "--until 2 is not after step 2" in err
    _, _, err = run(capsys, *cases["wrong matrix shape"])
    assert "params.wte should be a 16x8 matrix" in err


def test_a_corrupt_checkpoint_is_not_overwritten(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 bad: dict[str, list[str]]) -> None:
    truncated = tmp_path / "truncated.json"
    before = truncated.read_bytes()
    code, _, _ = run(capsys, "train", "--resume", str(truncated), "--save", str(truncated))
    assert code == 2 and truncated.read_bytes() == before


# --- through a real process ---

def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_python_m_microgpt(tiny: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--dataset", tiny, "--steps", "3", "--samples", "4", *SMALL]
    result = subprocess.run([sys.executable, "-m", "microgpt", *argv], capture_output=True, text=True,
                            env=subprocess_env(), timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == run(capsys, *argv)[1]


def test_python_m_microgpt_bad_input(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "microgpt", "train", "--dataset", str(tmp_path / "nope.txt")],
                            capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("microgpt: error: no such file")


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_in_a_real_process(tiny: str, tmp_path: Path) -> None:
    ckpt = tmp_path / "run.json"
    proc = subprocess.Popen([sys.executable, "-m", "microgpt", "train", "--dataset", tiny, "--steps", "100000",
                             "--engine", "atomic", "--save", str(ckpt)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(5)]  # the header and two steps
        assert lines[4].startswith("step    2 / 100000")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted after step" in err and f"to {ckpt}" in err
    steps = [line for line in lines + out.splitlines() if line.startswith("step ")]
    assert read_checkpoint(ckpt).step == len(steps)


# --- against the reference ---

@pytest.mark.slow
@pytest.mark.fidelity
def test_full_run_prints_the_reference_output(capsys: pytest.CaptureFixture[str], reference_names: Path) -> None:
    code, out, err = run(capsys, "train", "--dataset", str(reference_names))
    assert code == 0 and err == ""
    losses = REFERENCE_LOSSES.read_text().split()
    expected = (
        ["num docs: 32033", "vocab size: 27", "num params: 4192"]
        + [f"step {i:4d} / 1000 | loss {float(loss):.4f}" for i, loss in enumerate(losses, 1)]
        + ["--- inference (new, hallucinated names) ---"]
        + [f"sample {i:2d}: {name}" for i, name in enumerate(REFERENCE_SAMPLES, 1)]
    )
    assert out.splitlines() == expected
