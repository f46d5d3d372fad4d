"""Docs name only tests that exist: every `tests/….py` and `tests/….py::name` in docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def cited_tests() -> set[tuple[str, str | None]]:
    found = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found |= set(CITED.findall(page.read_text(encoding="utf-8")))
    return {(path, name or None) for path, name in found}


def test_every_test_the_docs_name_exists():
    missing = []
    for path, name in sorted(cited_tests(), key=str):
        source = ROOT / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"^(async )?def {name}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_docs_cite_tests_at_all():
    assert len(cited_tests()) > 50  # the pattern still matches how docs cite
