"""The parallel unit tier's scheduler (tests/conftest.py) leans on one private member of
pytest-xdist, ``LoadScopeScheduling._split_scope`` (as xdist's own loadfile and loadgroup
schedulers do): this fails when an upgrade moves it, before the tier starts mixing Docker tests
across workers."""

from __future__ import annotations

import inspect
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

from tests.conftest import ONE_WORKER


def test_xdist_still_splits_scopes_with_the_method_our_scheduler_overrides():
    split = LoadScopeScheduling._split_scope
    assert list(inspect.signature(split).parameters) == ["self", "nodeid"]


def test_the_paths_kept_on_one_worker_still_exist():
    root = Path(__file__).resolve().parents[2]
    assert [path for path in ONE_WORKER if not (root / path).exists()] == []
