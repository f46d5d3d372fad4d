"""Fixtures of the budget tests (tests/portal/test_budget_*.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

# A Thursday in December: the month's window began 16 days ago, its reset is 2027-01-01.
NOW = datetime(2026, 12, 17, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """``timezone.now()`` answers ``clock.now`` (NOW until a test moves it): windows and
    resets are then exact dates."""

    class Clock:
        now = NOW

    fixed = Clock()
    monkeypatch.setattr("django.utils.timezone.now", lambda: fixed.now)
    return fixed


@pytest.fixture
def budgets_unset(settings):
    """No MLHUB_BUDGET_* default, whatever the environment says: the month, no stops."""
    settings.BUDGET_DEFAULTS = {"cpu_hours": None, "gpu_hours": None, "memory_gib_hours": None}
    settings.BUDGET_PERIOD = "month"
    settings.BUDGET_STOP_AT_BUDGET = False
