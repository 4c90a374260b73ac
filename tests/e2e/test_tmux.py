"""The installed `microgpt-tui` in a real terminal (tmux): it starts, trains, pauses, steps, samples, saves, quits.

Skipped, saying why, where tmux is not installed. The terminal is xterm-256color without COLORTERM, as over SSH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


def installed_command() -> str:
    """The `microgpt-tui` console script of this interpreter's environment (or the one on PATH)."""
    beside = Path(sys.executable).with_name("microgpt-tui")
    found = str(beside) if beside.exists() else shutil.which("microgpt-tui")
    if found is None:
        pytest.skip("microgpt-tui is not installed: pip install -e . first")
    return found


class Terminal:
    """One tmux session running a command; read the screen, press keys, wait for text."""

    def __init__(self, command: list[str], size: tuple[int, int], cwd: Path, env: dict[str, str]) -> None:
        self.name = f"microgpt-e2e-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # tmux may create the window at its default size and resize it a moment later: start after that
        shell = f"sleep 0.5; cd {cwd} && env -u COLORTERM {exports} {' '.join(command)}; echo EXIT=$?; sleep 30"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]),
                        shell], check=True)

    def screen(self) -> str:
        """The visible screen as plain text."""
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True,
                              check=True).stdout

    def press(self, *keys: str) -> None:
        """Send tmux key names (space, Enter, C-s, ...) or literal characters."""
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the screen matches `pattern` (a regex); fail with the screen after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            match = re.search(pattern, screen)
            if match:
                return match
            if time.monotonic() > deadline:
                size = subprocess.run(["tmux", "display", "-p", "-t", self.name, "#{window_width}x#{window_height}"],
                                      capture_output=True, text=True).stdout.strip()
                raise AssertionError(f"the {size} screen never matched {pattern!r}; it was:\n{screen}")
            time.sleep(0.05)

    def step(self) -> int:
        """The step number on the status line."""
        return int(self.wait_for(r"step +(\d+) /").group(1))

    def close(self) -> None:
        """End the session."""
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminal(tmux, tmp_path):
    """Start the installed app in tmux: `term = terminal(args, size=(100, 32), env={})`."""
    started = []

    def start(args: list[str], size: tuple[int, int] = (100, 32), env: dict[str, str] | None = None) -> Terminal:
        term = Terminal([installed_command(), *args], size, tmp_path, {"TERM": "xterm-256color", **(env or {})})
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


def test_starts_trains_pauses_steps_samples_saves_and_quits(terminal, tmp_path):
    term = terminal(["--paused", "--steps", "300"])
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

    term.press("g")
    term.wait_for(rf"step {paused_at} · T 0\.40 · “")

    term.press("C-s")
    term.wait_for(rf"saved step {paused_at}")
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
    second.wait_for(r"step 5 +loss \d\.\d{4}")  # the loss pane shows the history up to the step


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
    term.wait_for(r"EXIT=0")


def test_bad_input_is_one_line_and_status_2_before_any_screen(tmux, tmp_path):
    result = subprocess.run([installed_command(), "--n-embd", "15"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "divisible" in result.stderr
