"""Budgets in effect, the use against them, and the check on create and start.

Each field (CPU-, GPU-, memory GiB-hours) comes from the first level that sets it: the
person's own budget, then the most generous of their groups' budgets (the most hours per day
of its period, a month counting 30 days), then the ``MLHUB_BUDGET_*`` setting; unset
everywhere means no limit. A limit keeps the period and ``stop_at_budget`` of the budget it
comes from (empty there: ``MLHUB_BUDGET_PERIOD``, ``MLHUB_BUDGET_STOP_AT_BUDGET``). Use is
what the person's workspaces reserved in the period's window (``portal/usage/reads.py``).

A start is refused when use is at or over a limit of what it reserves: every workspace
reserves CPU and memory, only some GPUs, so a used-up GPU budget leaves CPU-only starts be.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from lib.budgets import FIELDS, LABELS, UNITS, Period, next_midnight, parse_period
from portal.budgets.models import Budget
from portal.errors import ServiceError
from portal.usage.reads import DECIMALS, Kind, Subject, usage_periods


@dataclass(frozen=True)
class Limit:
    field: str
    hours: float
    period: Period
    stop_at_budget: bool
    source: str  # "own", "group <name>" or "default"

    def describe(self) -> str:
        """``the CPU budget of 100 core-hours per calendar month (UTC)``"""
        return f"the {LABELS[self.field]} budget of {_number(self.hours)} {UNITS[self.field]} " + (
            self.period.label
        )


@dataclass(frozen=True)
class Standing:
    """A limit and the use against it now."""

    limit: Limit
    used: float
    since: date
    resets_at: datetime

    @property
    def used_up(self) -> bool:
        return self.used >= self.limit.hours

    def percent(self) -> float:
        return 100.0 if not self.limit.hours else 100.0 * self.used / self.limit.hours

    def when_under(self) -> str:
        """When it resets, in words: exact for a month, "if nothing more runs" for a window."""
        moment = f"{self.resets_at:%Y-%m-%d %H:%M} UTC"
        if self.limit.period.days is None:
            return f"it resets on {moment}"
        return (
            f"it is under the budget again on {moment}, as older use leaves the "
            f"{self.limit.period.days}-day window (later if more runs)"
        )


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


class BudgetExceeded(ServiceError):
    """429: which budget, its limit, the use and when it resets, for people and scripts."""

    def __init__(self, standing: Standing, owner):
        limit = standing.limit
        super().__init__(
            f"Budget used up for {owner}: {LABELS[limit.field]} — {_number(limit.hours)} "
            f"{UNITS[limit.field]} {limit.period.label}, used {_number(standing.used)}; "
            f"{standing.when_under()}.",
            429,
            "budget_exceeded",
        )
        self.extra = {
            "limit": limit.field,
            "budget": limit.hours,
            "used": standing.used,
            "period": limit.period.text,
            "resets_at": standing.resets_at.isoformat().replace("+00:00", "Z"),
        }
        self.retry_after = max(1, math.ceil((standing.resets_at - timezone.now()).total_seconds()))


def _limit(budget: Budget | None, field: str, source: str) -> Limit | None:
    hours = getattr(budget, field, None) if budget else settings.BUDGET_DEFAULTS.get(field)
    if hours is None:
        return None
    period = (budget.period if budget else "") or settings.BUDGET_PERIOD
    stop = budget.stop_at_budget if budget else None
    return Limit(
        field=field,
        hours=hours,
        period=parse_period(period),
        stop_at_budget=settings.BUDGET_STOP_AT_BUDGET if stop is None else stop,
        source=source,
    )


def _resolve(own: Budget | None, groups: Iterable[Budget]) -> dict[str, Limit | None]:
    groups = list(groups)
    found = {}
    for field in FIELDS:
        limit = _limit(own, field, "own")
        if limit is None:
            offered = [_limit(g, field, f"group {g.group.name}") for g in groups]
            offered = [o for o in offered if o is not None]
            # Ties go to the larger budget, then the group's name: the same answer every time.
            limit = max(
                offered,
                key=lambda o: (o.period.per_day(o.hours), o.hours, o.source),
                default=None,
            )
        found[field] = limit or _limit(None, field, "default")
    return found


def limits_of(user) -> dict[str, Limit | None]:
    """Each budget field of ``user`` in effect (None: no limit)."""
    own = Budget.objects.filter(user=user).first()
    groups = Budget.objects.filter(group__user=user).select_related("group")
    return _resolve(own, groups)


def limits_of_everyone(user_ids: Iterable[int]) -> dict[int, dict[str, Limit | None]]:
    """``limits_of`` for many people in three queries, for the budget pass."""
    own = {b.user_id: b for b in Budget.objects.filter(user__isnull=False)}
    of_groups = {
        b.group_id: b for b in Budget.objects.filter(group__isnull=False).select_related("group")
    }
    members: dict[int, list[Budget]] = defaultdict(list)
    memberships = Group.user_set.through.objects.filter(group_id__in=list(of_groups))
    for user_id, group_id in memberships.values_list("user_id", "group_id"):
        members[user_id].append(of_groups[group_id])
    return {pk: _resolve(own.get(pk), members.get(pk, ())) for pk in user_ids}


def standing(limit: Limit, daily: list[float], now: datetime) -> Standing:
    """The standing of ``limit`` given the use of each day of its window (oldest first)."""
    used = round(sum(daily), DECIMALS)
    if used >= limit.hours or limit.period.days is None:
        resets_at = limit.period.resets_at(now, daily, limit.hours)
    else:
        resets_at = next_midnight(now)  # under a rolling budget: the window moves then
    return Standing(limit=limit, used=used, since=limit.period.window(now)[0], resets_at=resets_at)


def standings_of(
    user, *, now: datetime | None = None, limits: dict[str, Limit | None] | None = None
) -> dict[str, Standing | None]:
    """Each budget field of ``user`` with the use in its window (None: no limit); the use is
    read once per period (a few queries each)."""
    now = now or timezone.now()
    limits = limits_of(user) if limits is None else limits
    daily_by_period: dict[Period, list[float]] = {}
    found: dict[str, Standing | None] = {}
    for field, limit in limits.items():
        if limit is None:
            found[field] = None
            continue
        if limit.period not in daily_by_period:
            since, until = limit.period.window(now)
            daily_by_period[limit.period] = usage_periods(
                subject=Subject(Kind.PERSON, user.username),
                since=since,
                until=until,
                granularity="day",
                now=now,
            )
        daily = [getattr(day, field) for day in daily_by_period[limit.period]]
        found[field] = standing(limit, daily, now)
    return found


def budget_check(owner, *, gpus: int) -> None:
    """Raise ``BudgetExceeded`` when ``owner``'s use is at or over a budget of what a start
    reserves (CPU and memory always, GPU-hours when ``gpus``)."""
    limits = limits_of(owner)
    if all(limit is None for limit in limits.values()):
        return
    for field, found in standings_of(owner, limits=limits).items():
        if found is None or (field == "gpu_hours" and not gpus):
            continue
        if found.used_up:
            raise BudgetExceeded(found, owner)


def budget_summary(user) -> list[tuple[str, str]]:
    """Each budget field as (label, "use of limit, where from, when it resets"), for admins'
    pages."""
    rows = []
    for field, found in standings_of(user).items():
        label = f"{LABELS[field]} ({UNITS[field]})"
        if found is None:
            rows.append((label, "no limit"))
            continue
        limit = found.limit
        rows.append(
            (
                label,
                f"{_number(found.used)} of {_number(limit.hours)} {limit.period.label} "
                f"({limit.source}; {found.when_under()})",
            )
        )
    return rows
