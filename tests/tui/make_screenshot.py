"""Write docs/screenshot.svg: the app at 100x32 after 300 steps, one atomic step, and a sample.

    python tests/tui/make_screenshot.py [PATH]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import Trainer
from microgpt_tui.app import MicroGPTApp

REPO = Path(__file__).resolve().parents[2]


async def shoot(path: Path) -> None:
    """Train, switch modes for one step, sample, and save the screen as SVG."""
    app = MicroGPTApp(Trainer(load_dataset("names"), Config()), paused=True, color_mode="256", sample_delay=0.0)

    async def until(condition: object, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < deadline, "timed out"
            await pilot.pause(0.05)

    async with app.run_test(size=(100, 32)) as pilot:
        await until(lambda: app.snapshot is not None)
        app.runner.step(299)
        await until(lambda: app.snapshot.step == 299)
        await pilot.press("m", "n")
        await until(lambda: app.snapshot.step == 300)
        await pilot.press("m", "h", "h", "g")
        await until(lambda: len(app.samples) >= 1)
        await pilot.pause(0.3)
        path.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=path.name, path=str(path.parent))
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshot.svg"))
