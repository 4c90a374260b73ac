"""Fixtures shared by every test folder: the reference's data file and the tmux end-to-end switch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_NAMES = REPO.parent / "shared" / "datasets" / "names.txt"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests marked `tmux` where there is no tmux to drive a real terminal."""
    if item.get_closest_marker("tmux") and shutil.which("tmux") is None:
        pytest.skip("tmux is not on PATH: install it (e.g. apt-get install tmux) to run the end-to-end tests")


@pytest.fixture(scope="session")
def reference_names() -> Path:
    """makemore's names.txt, the reference's training set, kept beside the repository (never inside it)."""
    if not REFERENCE_NAMES.is_file():
        pytest.skip(f"makemore's names.txt is not at {REFERENCE_NAMES}: put a copy there to run this test")
    return REFERENCE_NAMES


@pytest.fixture(scope="session")
def tmux() -> str:
    """The tmux executable; the test is skipped where tmux is not installed."""
    path = shutil.which("tmux")
    if path is None:
        pytest.skip("tmux is not on PATH: install it (e.g. apt-get install tmux) to run the end-to-end tests")
    return path
