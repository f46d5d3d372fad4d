"""Skip-or-fail for tests that need a real outside part (hub, Docker engine, browser).

Locally a missing part skips the test with the reason; under CI (CI=true) it fails the test,
so a CI run can never go green by silently skipping what it was meant to exercise.
"""

from __future__ import annotations

import importlib
import os

import pytest


def in_ci() -> bool:
    """Running under CI (CI=true): a missing part fails."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, reason: str) -> None:
    if available:
        return
    if in_ci():
        pytest.fail(f"CI=true and a required part is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def require_module(name: str, reason: str) -> None:
    """At the top of a test module that needs an optional package: skip the module without it
    (fail it under CI)."""
    try:
        importlib.import_module(name)
    except ImportError:
        if in_ci():
            pytest.fail(f"CI=true and a required part is missing: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
