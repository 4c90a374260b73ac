"""The `microgpt-tui` command line: everything wrong is one line on stderr and exit status 2, before any UI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from microgpt import cli
from microgpt.checkpoint import save_checkpoint
from microgpt_tui.__main__ import build_parser, color_mode, main


@pytest.fixture(autouse=True)
def environment():
    """color_mode() writes os.environ (for Textual to read): put it back as it was after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run_main(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.mark.parametrize("argv, words", [
    (["--dataset", "/no/such/file.txt"], "no such file"),
    (["--n-embd", "15"], "divisible"),
    (["--n-layer", "0"], "--n-layer"),
    (["--steps", "ten"], "--steps"),
    (["--lr", "nan"], "--lr"),
    (["--fps", "0"], "--fps"),
    (["--fps", "-3"], "--fps"),
    (["--color", "rainbow"], "--color"),
    (["--engine", "quantum"], "--engine"),
    (["--resume", "/no/such/checkpoint.json"], "checkpoint.json"),
    (["--frobnicate"], "unrecognized"),
    (["--until", "0"], "--until"),
    (["--until", "soon"], "--until"),
    (["--steps", "5", "--until", "6"], "--until 6 is past the end of the schedule"),
    (["--speed", "0"], "--speed"),
    (["--speed", "-1"], "--speed"),
    (["--speed", "fast"], "--speed"),
    (["--speed", "inf"], "--speed"),
    (["--save", "/no/such/folder/run.json"], "does not exist"),
    (["--break", "lose<2"], "cannot use 'lose<2' as a breakpoint; give one of loss<X"),
    (["--break", "every=0"], "--break"),
    (["--compare", "/no/such/run.json"], "no run to compare at /no/such/run.json"),
])
def test_bad_input_is_one_line_and_status_2(argv, words, capsys):
    code, out, err = run_main(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("microgpt-tui: error: ") and words in err, err


def test_a_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "microgpt-checkpoint", "version": 1, "trunc')
    code, _, err = run_main(["--resume", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and str(path) in err


def test_resume_refuses_other_settings(trainer, tmp_path, capsys):
    path = tmp_path / "run.json"
    save_checkpoint(trainer, path)
    code, _, err = run_main(["--resume", str(path), "--n-embd", "32"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--n-embd" in err


def test_resume_checks_until_and_steps_like_microgpt_train(trainer, tmp_path, capsys):
    path = tmp_path / "run.json"
    trainer.step()
    trainer.step()
    save_checkpoint(trainer, path)
    code, _, err = run_main(["--resume", str(path), "--until", "2"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--until 2 is not after step 2" in err
    code, _, err = run_main(["--resume", str(path), "--steps", "2"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--steps 2 is not after step 2" in err


class FakeApp:
    """Stands in for MicroGPTApp: records what main() passes to it and does not run."""

    made: list[FakeApp] = []

    def __init__(self, trainer, **kwargs):
        self.trainer, self.kwargs = trainer, kwargs
        FakeApp.made.append(self)

    def run(self):
        pass


@pytest.fixture
def fake_app(monkeypatch):
    import microgpt_tui.app

    FakeApp.made.clear()
    monkeypatch.setattr(microgpt_tui.app, "MicroGPTApp", FakeApp)
    return FakeApp.made


def test_until_speed_and_save_reach_the_app(fake_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--until", "7", "--speed", "2.5", "--steps", "20"]) == 0
    app = fake_app[-1]
    assert app.kwargs["until"] == 7 and app.kwargs["speed"] == 2.5
    assert app.kwargs["save_path"] == cli.DEFAULT_CHECKPOINT and app.trainer.steps == 20
    assert main([]) == 0
    assert fake_app[-1].kwargs["until"] is None and fake_app[-1].kwargs["speed"] is None


def test_the_save_rule(fake_app, trainer, tmp_path, monkeypatch, capsys):
    """--save if given, else the file the run was resumed from, else microgpt-checkpoint.json."""
    monkeypatch.chdir(tmp_path)
    resumed = tmp_path / "run.json"
    save_checkpoint(trainer, resumed)
    assert main(["--resume", str(resumed)]) == 0
    assert fake_app[-1].kwargs["save_path"] == str(resumed)
    assert main(["--resume", str(resumed), "--save", "other.json"]) == 0
    assert fake_app[-1].kwargs["save_path"] == "other.json"
    assert main(["--save", "mine.json"]) == 0
    assert fake_app[-1].kwargs["save_path"] == "mine.json"
    assert main([]) == 0
    assert fake_app[-1].kwargs["save_path"] == "microgpt-checkpoint.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # checking a path writes nothing


def test_resume_with_more_steps_says_what_changed(fake_app, trainer, tmp_path, capsys):
    path = tmp_path / "run.json"
    for _ in range(3):
        trainer.step()
    save_checkpoint(trainer, path)
    steps = trainer.steps
    assert main(["--resume", str(path), "--steps", str(2 * steps)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"microgpt-tui: --steps {2 * steps} extends the run from step 4: ")
    assert fake_app[-1].trainer.steps == 2 * steps and fake_app[-1].trainer.step_count == 3


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--steps", "--seed", "--engine", "--n-layer", "--n-embd", "--n-head", "--block-size",
                 "--lr", "--resume", "--save", "--paused", "--fps", "--color", "--until", "--speed", "--break",
                 "--compare"):
        assert flag in text, flag


def test_defaults():
    args = build_parser().parse_args([])
    assert args.save is None and not args.paused and args.fps == 3.0 and args.color == "auto"
    assert args.until is None and args.speed is None


def test_training_flags_are_microgpt_trains():
    """The same flags with the same help: both commands get them from one function."""
    import argparse

    ours = {a.dest: a.help for a in build_parser()._actions}
    train = argparse.ArgumentParser()
    cli.add_training_flags(train)
    for action in train._actions:
        if action.dest != "help":
            assert ours[action.dest] == action.help, action.dest


@pytest.mark.parametrize("choice, system", [("truecolor", "truecolor"), ("256", "256"), ("16", "standard"),
                                            ("none", "standard")])
def test_color_choice_sets_textuals_color_system(monkeypatch, choice, system):
    monkeypatch.delenv("TEXTUAL_COLOR_SYSTEM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert color_mode(choice) == choice
    assert os.environ["TEXTUAL_COLOR_SYSTEM"] == system and "NO_COLOR" not in os.environ


def test_the_color_flag_beats_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert color_mode("256") == "256"
    assert os.environ["TEXTUAL_COLOR_SYSTEM"] == "256"


def test_importing_the_command_imports_no_textual():
    """Textual reads TEXTUAL_COLOR_SYSTEM once, on import: the command must set it before anything imports Textual."""
    code = "import sys, microgpt_tui.__main__; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_auto_color_follows_the_environment(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert color_mode("auto") == "256"
    monkeypatch.setenv("COLORTERM", "truecolor")
    assert color_mode("auto") == "truecolor"
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set (no-color.org)
    assert color_mode("auto") == "truecolor"
    monkeypatch.setenv("NO_COLOR", "1")
    assert color_mode("auto") == "none"
    assert os.environ["TEXTUAL_COLOR_SYSTEM"] == "standard"


def test_errors_come_before_textual_is_imported():
    code = ("import sys\nfrom microgpt_tui.__main__ import main\n"
            "try:\n    main(['--n-embd', '15'])\nexcept SystemExit as e:\n"
            "    assert e.code == 2\n    assert 'textual' not in sys.modules, 'textual was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_breakpoints_a_compared_run_and_a_saved_history_reach_the_app(fake_app, trainer, tmp_path, monkeypatch):
    from microgpt.checkpoint import save_checkpoint
    from microgpt.history import History

    monkeypatch.chdir(tmp_path)
    history = History(trainer)
    for _ in range(5):
        history.record(trainer.step())
    save_checkpoint(trainer, tmp_path / "run.json", history)
    assert main(["--resume", "run.json", "--break", "loss<2.0", "--break", "spike", "--compare", "run.json"]) == 0
    app = fake_app[-1]
    assert [c.text for c in app.kwargs["breaks"]] == ["loss<2.0", "spike"]
    assert [g.label for g in app.kwargs["compare"]] == ["run.json: same settings"]
    assert app.kwargs["history"].start == 0 and app.kwargs["history"].end == 5
