"""Usage over a range of days, right at any moment: the stored roll-ups (intervals closed
before the last pass's mark) plus the intervals they do not hold yet (open ones, counted up
to now, and those closed since the mark), which are few and split by day here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection
from django.db.models import DateField, Max, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from lib.usernames import hub_form
from portal.accounts.models import User
from portal.errors import ServiceError, require_admin
from portal.usage.models import RollupPass, UsageDay, UsageInterval, UsageMonth
from portal.usage.rollup import GIB, HOUR, day_bounds
from portal.usage.sql import by_code_point

GRANULARITIES = ("day", "week", "month")
# The longest range a read may ask for: ten years of days.
MOST_DAYS = 3660
# Float sums of seconds carry noise in the last digits; six decimals of an hour is 3.6 ms.
DECIMALS = 6
Kind = UsageDay.Kind


@dataclass(frozen=True)
class Subject:
    kind: str
    key: str


@dataclass
class Period:
    start: date
    cpu_hours: float = 0.0
    memory_gib_hours: float = 0.0
    gpu_hours: float = 0.0
    runs: int = 0
    # Measured (the sampler's): CPU-hours used, the core-hours reserved over the same sampled
    # time, and the highest memory peak of the runs in the period (None: nothing measured).
    cpu_used_hours: float = 0.0
    cpu_measured_hours: float = 0.0
    memory_peak_bytes: int | None = None

    @property
    def efficiency(self) -> float | None:
        """CPU used ÷ CPU reserved, over the time that was measured; None when none was (a
        run not sampled yet, a cluster without metrics) rather than a misleading 0."""
        if self.cpu_measured_hours <= 0:
            return None
        return round(self.cpu_used_hours / self.cpu_measured_hours, 4)

    def add_stored(self, found: dict) -> None:
        """Add one group of the roll-ups' totals (``_TOTALS``)."""
        for field in SUMMED:
            setattr(self, field, getattr(self, field) + (found[field] or 0))
        self.runs += found["runs"]
        self.peak_seen(found["memory_peak_bytes"])

    def peak_seen(self, peak: int | None) -> None:
        if peak is not None:
            self.memory_peak_bytes = max(self.memory_peak_bytes or 0, peak)

    def rounded(self) -> None:
        for field in SUMMED:
            setattr(self, field, round(getattr(self, field), DECIMALS))


# The hour quantities a period sums (runs are counted, peaks are the highest).
SUMMED = ("cpu_hours", "memory_gib_hours", "gpu_hours", "cpu_used_hours", "cpu_measured_hours")


def usage_subject(
    *, by: User, user: str | None = None, group: str | None = None, template: str | None = None
) -> Subject:
    """Whose usage ``by`` asks for: their own by default; anyone's, a group's or a
    template's for admins only (403 for others, before any look-up, so it tells nothing of
    who exists). A person is found by their current name, else taken as named (a deleted
    person's usage is kept under their name)."""
    asked = {
        name: value
        for name, value in [("user", user), ("group", group), ("template", template)]
        if value
    }
    if len(asked) > 1:
        raise ServiceError(f"Ask for one of user, group or template, not {' and '.join(asked)}.")
    if not asked or (user and hub_form(user) == by.hub_name):
        return Subject(Kind.PERSON, by.username)
    if user:
        require_admin(by, "see someone else's usage")
        person = User.objects.named(user).first()
        return Subject(Kind.PERSON, person.username if person else user)
    require_admin(by, f"see a {'group' if group else 'template'}'s usage")
    return Subject(Kind.GROUP, group) if group else Subject(Kind.TEMPLATE, template)


def period_of(day: date, granularity: str) -> date:
    """The first day of the period ``day`` lies in: itself, its week's Monday, its month's 1st."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def range_check(since: date, until: date, *, most_days: int = MOST_DAYS) -> None:
    """A 400 that says why, unless since to until (both included) is a range of at most
    ``most_days`` days."""
    if until < since:
        raise ServiceError(f"until ({until}) is before since ({since}).")
    if (until - since).days >= most_days:
        raise ServiceError(f"Ask for at most {most_days} days at a time.")


def usage_periods(
    *, subject: Subject, since: date, until: date, granularity: str, now: datetime | None = None
) -> list[Period]:
    """Every period from ``since`` to ``until`` (UTC days, both included; the first and last
    period may be partial), with zeros where nothing ran."""
    if granularity not in GRANULARITIES:
        raise ServiceError(
            f"Unknown granularity {granularity!r}; use one of: {', '.join(GRANULARITIES)}."
        )
    range_check(since, until)
    now = now or timezone.now()
    periods: dict[date, Period] = {}
    for n in range((until - since).days + 1):
        start = period_of(since + timedelta(days=n), granularity)
        periods.setdefault(start, Period(start))
    for _ in range(3):
        mark = _mark()
        stored = list(_stored(subject, since, until, granularity))
        pending = _pending(subject, since, until, mark)
        if _mark() == mark:
            break  # no pass in between: the two reads agree on what the roll-ups hold
    for found in stored:
        periods[found["period"]].add_stored(found)
    first, last = day_bounds(since)[0], day_bounds(until)[1]
    for interval in pending:
        _add(periods, interval, granularity, first, last, now)
    return list(_rounded(periods).values())


def _mark() -> datetime | None:
    return RollupPass.objects.filter(pk=1).values_list("mark", flat=True).first()


def _stored(subject: Subject, since: date, until: date, granularity: str):
    """The roll-ups' sums per period, summed by the database."""
    return (
        UsageDay.objects.filter(kind=subject.kind, key=subject.key, day__gte=since, day__lte=until)
        .values(period=Trunc("day", granularity, output_field=DateField()))
        .annotate(**_TOTALS)
        .order_by()
    )


# Each roll-up's quantities, summed (the peak: the highest) by the database over a group's rows.
_TOTALS = {
    **{name: Sum(name) for name in (*SUMMED, "runs")},
    "memory_peak_bytes": Max("memory_peak_bytes"),
}


def usage_by_person(*, since: date, until: date, now: datetime | None = None) -> dict[str, Period]:
    """Everyone's use from ``since`` to ``until``, by username (``usage_by``)."""
    return usage_by(kind=Kind.PERSON, since=since, until=until, now=now)


def usage_by(
    *, kind: str, since: date, until: date, now: datetime | None = None
) -> dict[str, Period]:
    """Every person's, group's or template's (``kind``) use from ``since`` to ``until`` (UTC
    days, both included), by name, in a few queries whatever their number (the budget pass
    reads 2,000 people at once, the admins' page every group): the roll-ups summed by the
    database, plus the intervals they do not hold yet. Those who used nothing are left out."""
    now = now or timezone.now()
    for _ in range(3):
        mark = _mark()
        stored = _stored_by_key(kind, since, until)
        pending = _pending_of_all(kind, since, until, mark)
        if _mark() == mark:
            break
    return _totals(kind, stored, pending, since, until, now)


def usage_top(
    *, kind: str, since: date, until: date, count: int, now: datetime | None = None
) -> tuple[list[tuple[str, Period]], int]:
    """The ``count`` people, groups or templates (``kind``) who reserved the most CPU-hours
    from ``since`` to ``until`` (most first, equal ones by name), and how many used any.

    ``usage_by`` with everyone's figures, ranked here, costs a ``Period`` for each of 10,000
    people to show 20 (bench.usage: 220 ms of CPU for a year). The database ranks the stored
    roll-ups instead, and only candidates get figures: the first ``count`` plus one for each
    subject with runs not rolled up yet, by stored CPU-hours, and those subjects. Anyone
    else has no pending use and stored no more than each of those candidates, so they
    cannot be in the top ``count``.
    """
    now = now or timezone.now()
    for _ in range(3):
        mark = _mark()
        pending = _pending_of_all(kind, since, until, mark)
        pending_keys = {key for interval in pending for key in _keys(interval, kind)}
        leaders, stored_count = _ranked_stored(kind, since, until, count + len(pending_keys))
        stored = _stored_by_key(kind, since, until, keys={*leaders, *pending_keys})
        if _mark() == mark:
            break
    top = ranked(_totals(kind, stored, pending, since, until, now))[:count]
    return top, stored_count + len(pending_keys - {found["key"] for found in stored})


def ranked(found: dict[str, Period]) -> list[tuple[str, Period]]:
    """The most CPU-hours first (the pages chart CPU: every run reserves it, not every run a
    GPU); equal ones by name, the same order every time."""
    return sorted(found.items(), key=lambda item: (-item[1].cpu_hours, item[0]))


def _totals(kind: str, stored: list[dict], pending: list, since: date, until: date, now):
    """Each subject's use: its stored sums plus its pending intervals' parts in the range."""
    totals: dict[str, Period] = {}
    for found in stored:
        totals.setdefault(found["key"], Period(since)).add_stored(found)
    first, last = day_bounds(since)[0], day_bounds(until)[1]
    for interval in pending:
        slices = list(_split(interval, first, last, now))
        for key in _keys(interval, kind):
            total = totals.setdefault(key, Period(since))
            total.runs += first <= interval.started_at < last
            for _day, moment, upto in slices:
                _add_part(total, interval, moment, upto)
    return _rounded(totals)


def whole_months(since: date, until: date) -> tuple[date, date] | None:
    """(first, after): the calendar months that lie wholly from ``since`` to ``until``, from
    the first day of the first to the first day after the last; None when there is none."""
    first = since if since.day == 1 else (since.replace(day=1) + timedelta(days=32)).replace(day=1)
    after = (until + timedelta(days=1)).replace(day=1)
    return (first, after) if first < after else None


def _stored_by_key(kind: str, since: date, until: date, keys: set[str] | None = None) -> list[dict]:
    """The roll-ups' sums per subject (one or more dicts each, to add up; only ``keys``, when
    given), summed by the database."""
    found = []
    for rows in _stored_rows(kind, since, until):
        if keys is not None:
            rows = rows.filter(key__in=keys)
        found += rows.values("key").annotate(**_TOTALS).order_by()
    return found


def _stored_rows(kind: str, since: date, until: date) -> list:
    """The roll-up rows that hold the range: the whole months in it from the months' rows,
    the days around them from the days' rows. A year of 10,000 people is then a fifth of the
    rows to sum (bench.usage)."""
    months = whole_months(since, until)
    if not months:
        return [UsageDay.objects.filter(kind=kind, day__gte=since, day__lte=until)]
    first, after = months
    # The days before the first whole month and after the last: two short index ranges.
    around = Q(day__gte=since, day__lt=first) | Q(day__gte=after, day__lte=until)
    return [
        UsageMonth.objects.filter(kind=kind, month__gte=first, month__lt=after),
        UsageDay.objects.filter(around, kind=kind),
    ]


def _ranked_stored(kind: str, since: date, until: date, limit: int) -> tuple[list[str], int]:
    """The first ``limit`` subjects by their stored CPU-hours in the range (most first, equal
    ones by name as Python orders names: by code point), and how many have any stored use.
    One query: the sources' rows together, summed, ranked and counted by the database."""
    parts = [
        rows.values_list("key", "cpu_hours").order_by() for rows in _stored_rows(kind, since, until)
    ]
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    sql, params = union.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "key", COUNT(*) OVER () FROM ({sql}) AS used GROUP BY "key" '
            f'ORDER BY SUM(cpu_hours) DESC, "key" COLLATE {by_code_point()} LIMIT %s',
            [*params, limit],
        )
        rows = cursor.fetchall()
    return [key for key, _ in rows], rows[0][1] if rows else 0


def usage_days_by(
    *, kind: str, since: date, until: date, now: datetime | None = None
) -> list[tuple[date, str, Period]]:
    """Each day's use of every person, group or template (``kind``) from ``since`` to
    ``until``, as (day, name, use) ordered by day then name, for the CSV export: the stored
    rows as they are (one per subject and day), plus the intervals they do not hold yet.
    Days a subject used nothing are left out."""
    now = now or timezone.now()
    fields = ("day", "key", *SUMMED, "runs", "memory_peak_bytes")
    for _ in range(3):
        mark = _mark()
        stored = list(
            UsageDay.objects.filter(kind=kind, day__gte=since, day__lte=until).values(*fields)
        )
        pending = _pending_of_all(kind, since, until, mark)
        if _mark() == mark:
            break
    days: dict[tuple[date, str], Period] = {}
    for found in stored:
        days.setdefault((found["day"], found["key"]), Period(found["day"])).add_stored(found)
    first, last = day_bounds(since)[0], day_bounds(until)[1]
    for interval in pending:
        slices = list(_split(interval, first, last, now))
        for key in _keys(interval, kind):
            if first <= interval.started_at < last:
                day = interval.started_at.astimezone(UTC).date()
                days.setdefault((day, key), Period(day)).runs += 1
            for day, moment, upto in slices:
                _add_part(days.setdefault((day, key), Period(day)), interval, moment, upto)
    _rounded(days)
    return [(day, key, days[day, key]) for day, key in sorted(days)]


def usage_by_workspace(
    *, subject: Subject, since: date, until: date, now: datetime | None = None
) -> dict[str, Period]:
    """A person's use from ``since`` to ``until`` per workspace (by the name it had), read
    from their intervals: the roll-ups are per person, not per workspace. One person's runs
    in a range are few (hundreds in a year), so this splits them here."""
    if subject.kind != Kind.PERSON:
        raise ServiceError("Use per workspace is a person's only.")
    now = now or timezone.now()
    first, last = day_bounds(since)[0], day_bounds(until)[1]
    found = (
        UsageInterval.objects.filter(owner_name=subject.key, started_at__lt=last)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=first))
        .only("workspace_name", *INTERVAL_FIELDS)
        .order_by()
    )
    totals: dict[str, Period] = {}
    for interval in found:
        total = totals.setdefault(interval.workspace_name, Period(since))
        total.runs += first <= interval.started_at < last
        for _day, moment, upto in _split(interval, first, last, now):
            _add_part(total, interval, moment, upto)
    return _rounded(totals)


def _rounded(periods: dict) -> dict:
    for period in periods.values():
        period.rounded()
    return periods


def _keys(interval, kind: str) -> list[str]:
    """The names ``interval`` is counted under for ``kind`` (a run counts for each group)."""
    if kind == Kind.PERSON:
        return [interval.owner_name]
    if kind == Kind.TEMPLATE:
        return [interval.template_name]
    return [group.name for group in interval.groups.all()]


def _pending_of_all(kind: str, since: date, until: date, mark: datetime | None) -> list:
    return _pending(None, since, until, mark, fields=("template_name",), groups=kind == Kind.GROUP)


def _pending(
    subject: Subject | None,
    since: date,
    until: date,
    mark: datetime | None,
    *,
    fields: tuple[str, ...] = (),
    groups: bool = False,
) -> list:
    """The subject's (None: everyone's) intervals in the range that the roll-ups do not hold:
    the open ones and those closed since the mark (all of them before a first pass). Two
    queries, one per index (usage_ended_at, usage_closed_at), each reading those few runs:
    one query with an OR had SQLite read every run that started before the range's end."""
    start, end = day_bounds(since)[0], day_bounds(until)[1]
    if mark is None:
        parts = [Q(ended_at__isnull=True) | Q(ended_at__gte=start)]
    else:
        parts = [Q(ended_at__isnull=True), Q(closed_at__gte=mark, ended_at__gte=start)]
    found = []
    for part in parts:
        query = UsageInterval.objects.filter(part, started_at__lt=end)
        if subject is None:
            pass
        elif subject.kind == Kind.PERSON:
            query = query.filter(owner_name=subject.key)
        elif subject.kind == Kind.TEMPLATE:
            query = query.filter(template_name=subject.key)
        else:
            query = query.filter(groups__name=subject.key)
        query = query.only(*fields, *INTERVAL_FIELDS).order_by()
        found += query.prefetch_related("groups") if groups else query
    return found


# What a read needs of an interval: whose, when, what it reserved and what was measured.
INTERVAL_FIELDS = (
    "owner_name",
    "started_at",
    "ended_at",
    "cpu",
    "memory",
    "gpus",
    "cpu_used_seconds",
    "memory_peak",
    "sampled_at",
)


def _add(periods, interval, granularity: str, first: datetime, last: datetime, now: datetime):
    """One interval's use within [first, last), day by day (an open one up to now)."""
    if first <= interval.started_at < last:
        periods[period_of(interval.started_at.astimezone(UTC).date(), granularity)].runs += 1
    for day, moment, upto in _split(interval, first, last, now):
        _add_part(periods[period_of(day, granularity)], interval, moment, upto)


def _split(interval, first: datetime, last: datetime, now: datetime):
    """(UTC day, from, to) of ``interval``'s run within [first, last), one per day (an open
    one up to now)."""
    ended = interval.ended_at or max(now, interval.started_at)
    moment = max(interval.started_at, first)
    while moment < min(ended, last):
        day = moment.astimezone(UTC).date()
        upto = min(ended, last, day_bounds(day)[1])
        yield day, moment, upto
        moment = upto


def _add_part(period: Period, interval, since: datetime, until: datetime) -> None:
    """The interval's use from ``since`` to ``until``: reserved for that time, and measured
    for the part of it that was sampled (the roll-up's rule, rollup._aggregate)."""
    seconds = max((until - since).total_seconds(), 0.0)
    period.cpu_hours += interval.cpu * seconds / HOUR
    period.memory_gib_hours += interval.memory * seconds / GIB / HOUR
    period.gpu_hours += interval.gpus * seconds / HOUR
    period.peak_seen(interval.memory_peak)
    sampled_at = interval.sampled_at
    if sampled_at is None or sampled_at <= interval.started_at or sampled_at <= since:
        return
    # Measured use is a total from the start to the last sample: spread evenly over it.
    sampled = (min(until, sampled_at) - since).total_seconds()
    span = (sampled_at - interval.started_at).total_seconds()
    period.cpu_used_hours += (interval.cpu_used_seconds or 0.0) * sampled / span / HOUR
    period.cpu_measured_hours += interval.cpu * sampled / HOUR
