"""Budgets' hours and periods, without Django: one reading for the environment (at start), the
API and the admin, so a value refused in one is refused in all.

A period is the calendar month (UTC) or a rolling window of N whole UTC days: today and the
N-1 days before it (usage is kept per UTC day, so a window moves at midnight UTC).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lib import env

# The fields of a budget, each a number of hours of what a person's running workspaces reserve.
FIELDS = ("cpu_hours", "gpu_hours", "memory_gib_hours")
LABELS = {"cpu_hours": "CPU", "gpu_hours": "GPU", "memory_gib_hours": "memory"}
UNITS = {"cpu_hours": "core-hours", "gpu_hours": "GPU-hours", "memory_gib_hours": "GiB-hours"}
# Above a million years of a thousand cores: a typo, or infinity spelt as a number.
MOST_HOURS = 1e9
# 0.01 h is 36 s; a positive budget below it is a slip (1e-7 for 1e7): 0 means none at all.
LEAST_HOURS = 0.01
MOST_DAYS = 366
PERIOD_PATTERN = re.compile(r"^(month|[1-9][0-9]{0,2}d)$")
# A month weighs as 30 days when groups' budgets of different periods are compared.
MONTH_DAYS = 30


def parse_hours(value) -> float:
    """A budget in hours: 0 (none at all) or from ``LEAST_HOURS`` to ``MOST_HOURS``."""
    if isinstance(value, bool):
        raise ValueError("hours must be a number")
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise ValueError("hours must be a number") from None
    if not math.isfinite(hours):
        raise ValueError("hours must be a finite number (not NaN or infinity)")
    if hours < 0:
        raise ValueError("hours cannot be negative")
    if 0 < hours < LEAST_HOURS:
        raise ValueError(
            f"hours under {LEAST_HOURS:g} (36 s) are a slip: use 0 for none at all, "
            f"or leave it empty for no limit"
        )
    if hours > MOST_HOURS:
        raise ValueError(f"hours over {MOST_HOURS:.0e} are a slip: leave it empty for no limit")
    return hours


@dataclass(frozen=True)
class Period:
    days: int | None  # None: the calendar month (UTC)

    @property
    def text(self) -> str:
        return "month" if self.days is None else f"{self.days}d"

    @property
    def label(self) -> str:
        if self.days is None:
            return "per calendar month (UTC)"
        return "per day (UTC)" if self.days == 1 else f"per {self.days} days"

    def window(self, now: datetime) -> tuple[date, date]:
        """The UTC days the use counted now lies in: (first, today)."""
        today = now.astimezone(UTC).date()
        if self.days is None:
            return today.replace(day=1), today
        return today - timedelta(days=self.days - 1), today

    def stretch(self, now: datetime) -> date:
        """The first day of the stretch a warning is sent once in: the month, or for a
        rolling window the N-day block (counted from 1970-01-01) that holds today."""
        today = now.astimezone(UTC).date()
        if self.days is None:
            return today.replace(day=1)
        epoch = date(1970, 1, 1)
        return epoch + timedelta(days=(today - epoch).days // self.days * self.days)

    def per_day(self, hours: float) -> float:
        """How generous ``hours`` in this period is, to compare periods."""
        return hours / (self.days or MONTH_DAYS)

    def resets_at(self, now: datetime, daily: list[float], hours: float) -> datetime:
        """When use falls under ``hours`` again if nothing more runs: the next month's first
        midnight; for a rolling window, the first midnight at which the days still in it
        (``daily``: the window's use per day, oldest first) hold less than ``hours``."""
        today = now.astimezone(UTC).date()
        if self.days is None:
            first = today.replace(day=1) + timedelta(days=32)
            return _midnight(first.replace(day=1))
        for leaving in range(1, len(daily) + 1):
            if sum(daily[leaving:]) < hours:
                return _midnight(today + timedelta(days=leaving))
        return _midnight(today + timedelta(days=len(daily)))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def next_midnight(now: datetime) -> datetime:
    """The next 00:00 UTC after ``now``: when a rolling window next moves."""
    return _midnight(now.astimezone(UTC).date() + timedelta(days=1))


def parse_period(text: str) -> Period:
    """``month``, or ``<N>d`` for a rolling window of N days (1 to 366)."""
    value = text.strip().lower() if isinstance(text, str) else text
    if not isinstance(value, str) or not PERIOD_PATTERN.match(value):
        raise ValueError(f"{text!r} is not a period: use month, or a number of days like 30d")
    if value == "month":
        return Period(None)
    days = int(value[:-1])
    if days > MOST_DAYS:
        raise ValueError(f"{text!r} is longer than a year: use at most {MOST_DAYS}d")
    return Period(days)


def budget_period_setting() -> str:
    """``MLHUB_BUDGET_PERIOD`` (default ``month``), checked at start."""
    raw = env.env_str("MLHUB_BUDGET_PERIOD", "month")
    try:
        return parse_period(raw).text
    except ValueError as error:
        raise env.ConfigError(f"MLHUB_BUDGET_PERIOD={raw!r}: {error}") from None


def budget_defaults_setting() -> dict[str, float | None]:
    """``MLHUB_BUDGET_CPU_HOURS`` and its siblings: everyone's budget where neither their own
    nor a group's says otherwise (unset or empty: no limit)."""
    return {
        field: env.env_optional(f"MLHUB_BUDGET_{field.upper()}", parse_hours) for field in FIELDS
    }
