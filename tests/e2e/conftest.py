"""The end-to-end tests' terminal: the installed `microgpt-tui` in tmux, its screen as text or as escape codes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def installed_command() -> str:
    """The `microgpt-tui` console script of this interpreter's environment (or the one on PATH)."""
    beside = Path(sys.executable).with_name("microgpt-tui")
    found = str(beside) if beside.exists() else shutil.which("microgpt-tui")
    if found is None:
        pytest.skip("microgpt-tui is not installed: pip install -e . first")
    return found


@pytest.fixture
def command() -> str:
    """The path of the installed `microgpt-tui` (the test is skipped when it is not installed)."""
    return installed_command()


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

    def ansi(self) -> str:
        """The visible screen with its colour and style escapes, as tmux holds it (`capture-pane -e`)."""
        return subprocess.run(["tmux", "capture-pane", "-e", "-p", "-t", self.name], capture_output=True, text=True,
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
