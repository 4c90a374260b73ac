"""The engine stands alone: importing every module of `microgpt` loads neither Textual nor Rich, nor anything
outside the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent

# Run in a fresh interpreter: this pytest process has long since imported textual for the UI tests.
PROBE = """
import importlib, json, pkgutil, sys
before = set(sys.modules)
import microgpt
imported = ["microgpt"]
for info in pkgutil.walk_packages(microgpt.__path__, "microgpt."):
    if info.name.rpartition(".")[2] != "__main__":  # __main__ runs the command line
        importlib.import_module(info.name)
        imported.append(info.name)
loaded = sorted(set(sys.modules) - before)
print(json.dumps({"imported": imported, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, list[str]]:
    """The engine modules imported and every module that importing them loaded."""
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return out


def test_every_engine_module_imports_without_textual_or_rich(probe: dict[str, list[str]]) -> None:
    out = probe
    assert "microgpt.data" in out["imported"] and "microgpt.report" in out["imported"]
    ui = [name for name in out["loaded"] if name.startswith(("textual", "rich"))]
    assert ui == [], f"the engine imported UI modules: {ui}"


def test_engine_uses_the_standard_library_only(probe: dict[str, list[str]]) -> None:
    tops = {name.partition(".")[0] for name in probe["loaded"]}
    foreign = sorted(tops - set(sys.stdlib_module_names) - {"microgpt"})
    assert foreign == [], f"the engine imported modules outside the standard library: {foreign}"


ENGINE_PROCESS_PROBE = """
import json, sys
before = set(sys.modules)
import microgpt_tui.engine_process, microgpt_tui.protocol
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_engine_process_loop_imports_no_textual_or_rich() -> None:
    """The app's engine process (its loop and the protocol it speaks) stays free of the UI, like the engine."""
    result = subprocess.run([sys.executable, "-c", ENGINE_PROCESS_PROBE], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    assert "microgpt_tui.engine_process" in loaded and "microgpt.trainer" in loaded
    ui = [name for name in loaded if name.startswith(("textual", "rich"))]
    assert ui == [], f"the engine process imported UI modules: {ui}"
    tops = {name.partition(".")[0] for name in loaded if name != "__mp_main__"}  # multiprocessing's alias of main
    foreign = sorted(tops - set(sys.stdlib_module_names) - {"microgpt", "microgpt_tui"})
    assert foreign == [], f"the engine process imported modules outside the standard library: {foreign}"
