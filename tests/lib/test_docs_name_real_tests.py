"""Docs name only what exists: every `tests/….py` and `tests/….py::name`, and every file or
folder of this repository (`portal/…`, `spawners/…`, `deploy/…`, `bench/…`, …), in README.md
and docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
# A path of this repository: a top-level folder of it, then a name (not part of a longer path,
# as /usr/local/lib/mlhub/…, nor after a "~").
PATH = re.compile(
    r"(?<![\w/.~-])((?:portal|spawners|hubconfig|lib|bench|deploy|tests|docs|templates|\.ci)"
    r"/[\w./@-]*\w)"
)
# Named on purpose though not in a checkout: what a run writes, and another repository's file.
NOT_IN_A_CHECKOUT = {
    "bench/results",  # every benchmark run writes its samples here (.gitignore)
    "docs/source/administrator/optimization.md",  # zero-to-jupyterhub-k8s's, cited by name
}


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def cited_tests() -> set[tuple[str, str | None]]:
    found = set()
    for page in pages():
        found |= set(CITED.findall(page.read_text(encoding="utf-8")))
    return {(path, name or None) for path, name in found}


def named_paths() -> set[str]:
    return {
        path
        for page in pages()
        for path in PATH.findall(page.read_text(encoding="utf-8"))
        if "*" not in path
    }


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


def test_every_file_and_folder_the_docs_name_exists():
    missing = sorted(
        path for path in named_paths() - NOT_IN_A_CHECKOUT if not (ROOT / path).exists()
    )
    assert missing == []


def test_the_docs_name_files_at_all():
    assert len(named_paths()) > 100  # the pattern still matches how docs name files


def test_the_readme_names_every_benchmark():
    runnable = {
        f"bench.{source.stem}"
        for source in (ROOT / "bench").glob("*.py")
        if f"python -m bench.{source.stem}" in source.read_text(encoding="utf-8")
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(runnable) >= 6
    assert sorted(name for name in runnable if f"`{name}`" not in readme) == []
