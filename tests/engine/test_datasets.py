"""The shipped datasets are exactly the files datasets/SOURCES.md describes (line count and sha256)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parent.parent.parent / "datasets"
# a row of the table in SOURCES.md: | `names.txt` | 5163 | `<sha256>` |
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([\d,]+)\s*\|\s*`([0-9a-f]{64})`\s*\|\s*$")


def recorded() -> dict[str, tuple[int, str]]:
    """file name -> (line count, sha256) as SOURCES.md records them."""
    rows = {}
    for line in (DATASETS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            name, lines, sha256 = match.groups()
            rows[name] = (int(lines.replace(",", "")), sha256)
    return rows


def test_sources_md_records_every_shipped_file() -> None:
    shipped = sorted(path.name for path in DATASETS.glob("*.txt"))
    assert shipped, "no datasets/*.txt found"
    assert sorted(recorded()) == shipped


@pytest.mark.parametrize("name", sorted(recorded()))
def test_file_matches_sources_md(name: str) -> None:
    lines, sha256 = recorded()[name]
    data = (DATASETS / name).read_bytes()
    assert data.count(b"\n") == lines
    assert data.endswith(b"\n") and b"\r" not in data
    assert hashlib.sha256(data).hexdigest() == sha256


@pytest.mark.parametrize("name", sorted(recorded()))
def test_file_is_sorted_unique_lower_case(name: str) -> None:
    names = (DATASETS / name).read_text(encoding="utf-8").splitlines()
    assert names == sorted(set(names))
    assert all(n.isascii() and n.isalpha() and n.islower() for n in names)
