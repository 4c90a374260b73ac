"""The installed `microgpt-tui` in a real terminal (tmux): it starts, trains, pauses, steps, samples, saves, quits.

Skipped, saying why, where tmux is not installed. The terminal is xterm-256color without COLORTERM, as over SSH.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


def test_starts_trains_pauses_steps_samples_saves_and_quits(terminal, tmp_path):
    term = terminal(["--paused", "--steps", "300"], size=(120, 40))  # six panes: at 100x32 long titles are cut
    term.wait_for(r"step +0 / 300 · paused")
    for name in ("Loss", "Attention", "Gradient norms", "Graph", "Sampling · temperature 0.50"):
        term.wait_for(re.escape(name))  # all five panes at 100x32
    term.wait_for(r"space Run/pause")
    term.press("n", "n", "n")
    term.wait_for(r"step +3 / 300 · paused")

    term.press("+")
    term.wait_for(r"temperature 0\.60")
    term.press("-", "-")
    term.wait_for(r"temperature 0\.40")

    term.press("space")
    term.wait_for(r"running")
    deadline = time.monotonic() + 30
    while term.step() < 20:
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.1)
    term.press("space")
    term.wait_for(r"paused")
    time.sleep(0.5)
    paused_at = term.step()
    time.sleep(1.0)
    assert term.step() == paused_at
    # a pause lands between two steps: the status line names no phase of a step in progress
    assert not re.search(r"step +\d+ / 300 · (document|forward|loss|backward|update)", term.screen()), term.screen()
    done = paused_at

    term.press("g")
    term.wait_for(rf"step {done} · T 0\.40 · “")

    term.press("C-s")
    term.wait_for(rf"saved step {done}")
    assert (tmp_path / "microgpt-checkpoint.json").is_file()

    term.press("q")
    term.wait_for(r"EXIT=0")


def test_a_saved_run_resumes_with_its_history(terminal, tmp_path):
    first = terminal(["--paused", "--steps", "100", "--save", "run.json"])
    first.wait_for(r"step +0 / 100")
    first.press("n", "n", "n", "n", "n")
    first.wait_for(r"step +5 / 100")
    first.press("C-s")
    first.wait_for(r"saved step 5")
    first.press("q")
    first.wait_for(r"EXIT=0")
    second = terminal(["--paused", "--resume", "run.json"])
    second.wait_for(r"step +5 / 100 · paused")
    second.wait_for(r"Loss · step 5 [\s\S]*loss \d\.\d{4}")  # the loss pane shows the history up to the step


def test_a_small_terminal_gets_tabs_and_the_whole_footer(terminal):
    term = terminal(["--paused"], size=(80, 24))
    term.wait_for(r"1 Loss +2 Attention +3 Gradient norms +4 Graph +5 Sampling")
    footer = term.wait_for(r".*q Quit.*").group(0)
    assert "space Run/pause" in footer and "? Help" in footer
    term.press("5")
    term.wait_for(r"Sampling · temperature 0\.50")
    term.press("?")
    term.wait_for(r"microgpt-tui help")
    term.press("Escape")  # (escape then q at once would read as alt+q)
    term.wait_for(r"^(?![\s\S]*microgpt-tui help)")
    term.press("q")
    term.wait_for(r"EXIT=0")


@pytest.mark.parametrize("how", [["--color", "16"], ["--color", "none"], ["NO_COLOR"]])
def test_starts_with_few_or_no_colours(terminal, how):
    env = {"NO_COLOR": "1"} if how == ["NO_COLOR"] else {}
    term = terminal(["--paused", *([] if env else how)], env=env)
    term.wait_for(r"step +0 / 1000")
    term.press("n", "n")
    term.wait_for(r"step +2 / 1000")
    term.wait_for(r"[░▒▓█]")  # the attention map in shade characters
    term.press("q")
    term.wait_for(r"step 2 is not saved")  # unsaved steps: q asks first, and q again quits
    term.press("q")
    term.wait_for(r"EXIT=0")


def test_bad_input_is_one_line_and_status_2_before_any_screen(tmux, tmp_path, command):
    result = subprocess.run([command, "--n-embd", "15"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "divisible" in result.stderr
