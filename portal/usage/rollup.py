"""Daily roll-ups: each UTC day's use per person, group and template, from closed intervals.

A pass recomputes whole days, never adds to them, so running it twice (or the command beside
the schedule) gives the same rows. The days it recomputes are those touched by intervals
closed since the last pass (``closed_at``, the portal's clock: an interval closed today may
end days ago, at the hub's time). Every stored day then holds exactly the intervals closed
before the pass's ``mark``; reads add the open ones and those closed since (``reads.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Min,
    Q,
    Sum,
)
from django.db.models import Value as V
from django.db.models.functions import Greatest, Least, NullIf
from django.utils import timezone

from portal.one_at_a_time import one_at_a_time
from portal.usage.models import RollupPass, UsageDay, UsageGroup, UsageInterval, UsageMonth
from portal.usage.sql import SecondsBetween

GIB = 1024**3
HOUR = 3600.0
# A close written just before a pass's mark may commit just after the pass read: the next
# pass looks this far back again (recomputing a day twice is harmless).
SLACK = timedelta(minutes=10)
# Each kind of roll-up: the field of an interval that names its subject, from the table the
# aggregation starts at (a group's runs are read through its rows in UsageGroup).
KINDS = {
    UsageDay.Kind.PERSON: (UsageInterval, "", "owner_name"),
    UsageDay.Kind.TEMPLATE: (UsageInterval, "", "template_name"),
    UsageDay.Kind.GROUP: (UsageGroup, "interval__", "name"),
}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_touched(start: datetime, end: datetime) -> list[date]:
    """The UTC days a run from ``start`` to ``end`` lies in (a run of no length: its day)."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC)
    days = [first]
    while day_bounds(days[-1])[1] < last:
        days.append(days[-1] + timedelta(days=1))
    return days


def rollup_pass(*, since: date | None = None) -> RollupPass:
    """Recompute the days touched by intervals closed since the last pass (all of them at
    the first pass), and every day from ``since`` to today when given."""
    with one_at_a_time("usage roll-up"):
        mark = timezone.now()
        last = RollupPass.objects.filter(pk=1).first()
        closed = UsageInterval.objects.filter(closed_at__lt=mark)
        days: set[date] = set()
        if last is None:
            first = closed.aggregate(first=Min("started_at"))["first"]
            since = min(filter(None, [since, first and first.astimezone(UTC).date()]), default=None)
        else:
            recent = closed.filter(closed_at__gte=last.mark - SLACK)
            for start, end in recent.values_list("started_at", "ended_at").iterator():
                days.update(days_touched(start, end))
        if since:
            days.update(since + timedelta(days=n) for n in range((mark.date() - since).days + 1))
        with transaction.atomic():
            longest = longest_run(since=min(days), mark=mark) if days else timedelta(0)
            for day in sorted(days):
                day_recompute(day, mark=mark, longest=longest)
            for month in sorted({day.replace(day=1) for day in days}):
                month_recompute(month, days=UsageDay, months=UsageMonth)
            done, _ = RollupPass.objects.update_or_create(
                pk=1, defaults={"mark": mark, "finished_at": timezone.now(), "days": len(days)}
            )
        return done


def longest_run(*, since: date, mark: datetime) -> timedelta:
    """The longest of the runs closed before ``mark`` that end on ``since`` or later: no run
    that overlaps a day from ``since`` on started longer than this before the day. One query,
    over the runs that end in those days (all of them at a first pass)."""
    seconds = (
        UsageInterval.objects.filter(closed_at__lt=mark, ended_at__gte=day_bounds(since)[0])
        .aggregate(longest=Max(SecondsBetween(F("ended_at"), F("started_at"))))
        .get("longest")
    )
    # A minute more than the longest: julianday's seconds on SQLite are rounded.
    return timedelta(seconds=(seconds or 0.0) + 60)


def day_recompute(day: date, *, mark: datetime, longest: timedelta | None = None) -> int:
    """Replace the day's rows with the use of the intervals closed before ``mark``; how many
    rows. One aggregate query per kind: the database sums, whatever the number of runs.
    ``longest`` (``longest_run``, found for this day when not given) bounds the starts to
    read."""
    UsageDay.objects.filter(day=day).delete()
    if longest is None:
        longest = longest_run(since=day, mark=mark)
    rows = [
        UsageDay(day=day, kind=kind, key=found.pop("key"), **_in_hours(found))
        for kind in KINDS
        for found in _aggregate(kind, day, mark, longest)
    ]
    UsageDay.objects.bulk_create(rows)
    return len(rows)


# A month's sums of its days' quantities (the peak: the highest).
MONTH_TOTALS = {
    **{
        name: Sum(name)
        for name in (
            "cpu_hours",
            "memory_gib_hours",
            "gpu_hours",
            "runs",
            "seconds",
            "cpu_used_hours",
            "cpu_measured_hours",
        )
    },
    "memory_peak_bytes": Max("memory_peak_bytes"),
}


def month_recompute(month: date, *, days, months) -> int:
    """Replace the rows of ``month`` (its first day) in ``months`` (UsageMonth) with the sums
    of its rows in ``days`` (UsageDay); how many rows. The models are parameters so that the
    migration that made UsageMonth fills it with its own historical models, the same way."""
    after = (month + timedelta(days=32)).replace(day=1)
    months.objects.filter(month=month).delete()
    found = (
        days.objects.filter(day__gte=month, day__lt=after)
        .values("kind", "key")
        .annotate(**MONTH_TOTALS)
        .order_by()
    )
    made = months.objects.bulk_create(
        (months(month=month, **row) for row in found), batch_size=1000
    )
    return len(made)


def _aggregate(kind: str, day: date, mark: datetime, longest: timedelta) -> Iterable[dict]:
    model, via, subject = KINDS[kind]
    first, _ = day_bounds(day)
    start, end = (V(moment, output_field=DateTimeField()) for moment in day_bounds(day))
    seconds = SecondsBetween(
        Least(F(f"{via}ended_at"), end), Greatest(F(f"{via}started_at"), start)
    )

    def per_second(field: str) -> ExpressionWrapper:
        return ExpressionWrapper(F(f"{via}{field}") * seconds, output_field=FloatField())

    # Measured use is known as a total from the start to the last sample: spread evenly over
    # that time, the day's share is its part of it (reads.measured_share, the same rule).
    sampled = SecondsBetween(
        Least(F(f"{via}sampled_at"), F(f"{via}ended_at"), end),
        Greatest(F(f"{via}started_at"), start),
    )
    span = NullIf(SecondsBetween(F(f"{via}sampled_at"), F(f"{via}started_at")), V(0.0))
    measured_in_day = Q(**{f"{via}sampled_at__gt": start}) & Q(
        **{f"{via}sampled_at__gt": F(f"{via}started_at")}
    )

    # Runs that overlap the day (or, of no length, stand at its first instant). None started
    # more than the longest run before the day: that lower bound makes it a short range of
    # usage_started_at. Without it, every run that started before the day's end or ended
    # after its start was read, for each day: a first pass over a year of 1,000,000 runs
    # read most of them 366 times (bench/usage.py).
    in_day = Q(**{f"{via}started_at__lt": end, f"{via}started_at__gte": first - longest}) & (
        Q(**{f"{via}ended_at__gt": start})
        | Q(**{f"{via}started_at": start, f"{via}ended_at": start})
    )
    return (
        model.objects.filter(in_day, **{f"{via}closed_at__lt": mark})
        .values(key=F(subject))
        .annotate(
            # First: an annotation named like a field (cpu) hides the field from those after.
            used=Sum(
                ExpressionWrapper(
                    F(f"{via}cpu_used_seconds") * sampled / span, output_field=FloatField()
                ),
                filter=measured_in_day,
            ),
            measured=Sum(
                ExpressionWrapper(F(f"{via}cpu") * sampled, output_field=FloatField()),
                filter=measured_in_day,
            ),
            peak=Max(f"{via}memory_peak"),
            cpu=Sum(per_second("cpu")),
            memory=Sum(per_second("memory")),
            gpus=Sum(per_second("gpus")),
            seconds=Sum(seconds),
            runs=Count("pk", filter=Q(**{f"{via}started_at__gte": start})),
        )
        .order_by()
    )


def _in_hours(found: dict) -> dict:
    """Core-, GiB- and GPU-seconds (reserved, and CPU measured) as the hours a UsageDay
    keeps."""
    return {
        "cpu_hours": (found["cpu"] or 0.0) / HOUR,
        "memory_gib_hours": (found["memory"] or 0.0) / GIB / HOUR,
        "gpu_hours": (found["gpus"] or 0.0) / HOUR,
        "seconds": found["seconds"] or 0.0,
        "runs": found["runs"],
        "cpu_used_hours": (found["used"] or 0.0) / HOUR,
        "cpu_measured_hours": (found["measured"] or 0.0) / HOUR,
        "memory_peak_bytes": found["peak"],
    }
