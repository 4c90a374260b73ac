"""The `microgpt-tui` command line: everything wrong is one line on stderr and exit status 2, before any UI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--steps", "--seed", "--engine", "--n-layer", "--n-embd", "--n-head", "--block-size",
                 "--lr", "--resume", "--save", "--paused", "--fps", "--color"):
        assert flag in text, flag


def test_defaults():
    args = build_parser().parse_args([])
    assert args.save == "microgpt-checkpoint.json" and not args.paused and args.fps == 3.0 and args.color == "auto"


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
