"""Reads of every group, template or person at once (the admins' usage page and the CSV
export) and of one person's workspaces: the same figures whether the roll-ups hold the runs
yet or not, a run counted for each group, a running one up to now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from portal.errors import ServiceError
from portal.usage.models import UsageInterval, UsageMonth
from portal.usage.reads import (
    Period,
    Subject,
    usage_by,
    usage_by_workspace,
    usage_days_by,
    usage_top,
    whole_months,
)
from portal.usage.rollup import rollup_pass
from tests.portal.usage_runs import run

pytestmark = pytest.mark.django_db
NOV_27 = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = timedelta(hours=1)
NOW = NOV_27 + 12 * HOUR
SINCE, UNTIL = date(2026, 11, 26), date(2026, 11, 27)


@pytest.fixture
def runs():
    """Across midnight (1 h each side) in physics and chemistry; then one running since
    10:00 in physics, on the gpu template."""
    crossing = run(NOV_27 - HOUR, NOV_27 + HOUR, groups=("physics", "chemistry"))
    UsageInterval.objects.filter(pk=crossing.pk).update(closed_at=timezone.now() - HOUR)
    run(NOV_27 + 10 * HOUR, None, owner="bob", template="gpu", gpus=1, groups=("physics",))


def both_ways(read):
    """``read()`` before a roll-up pass and after one: asserted equal, then returned."""
    before = read()
    rollup_pass(since=date(2026, 11, 1))
    assert read() == before
    return before


def test_every_group_and_template_in_one_read(runs):
    assert both_ways(lambda: usage_by(kind="group", since=SINCE, until=UNTIL, now=NOW)) == {
        "physics": Period(SINCE, cpu_hours=4.0, memory_gib_hours=4.0, gpu_hours=2.0, runs=2),
        "chemistry": Period(SINCE, cpu_hours=2.0, memory_gib_hours=2.0, runs=1),
    }
    assert usage_by(kind="template", since=UNTIL, until=UNTIL, now=NOW) == {
        "default": Period(UNTIL, cpu_hours=1.0, memory_gib_hours=1.0),  # began the day before
        "gpu": Period(UNTIL, cpu_hours=2.0, memory_gib_hours=2.0, gpu_hours=2.0, runs=1),
    }


def test_each_day_of_every_group_in_order(runs):
    days = both_ways(lambda: usage_days_by(kind="group", since=SINCE, until=UNTIL, now=NOW))
    assert days == [
        (SINCE, "chemistry", Period(SINCE, cpu_hours=1.0, memory_gib_hours=1.0, runs=1)),
        (SINCE, "physics", Period(SINCE, cpu_hours=1.0, memory_gib_hours=1.0, runs=1)),
        (UNTIL, "chemistry", Period(UNTIL, cpu_hours=1.0, memory_gib_hours=1.0)),
        (
            UNTIL,
            "physics",
            Period(UNTIL, cpu_hours=3.0, memory_gib_hours=3.0, gpu_hours=2.0, runs=1),
        ),
    ]


def test_a_persons_use_per_workspace_within_the_range(runs):
    run(NOV_27 + 2 * HOUR, NOV_27 + 3 * HOUR, cpu=4)
    found = usage_by_workspace(
        subject=Subject("person", "alice"), since=UNTIL, until=UNTIL, now=NOW
    )
    # Both runs are of "thesis" (tests/portal/usage_runs.py): the first from midnight only.
    assert found == {"thesis": Period(UNTIL, cpu_hours=5.0, memory_gib_hours=2.0, runs=1)}


def test_use_per_workspace_is_a_persons_only():
    with pytest.raises(ServiceError, match="a person's only"):
        usage_by_workspace(subject=Subject("group", "physics"), since=SINCE, until=UNTIL)


def test_the_whole_months_of_a_range():
    assert whole_months(date(2025, 12, 7), date(2026, 12, 6)) == (
        date(2026, 1, 1),
        date(2026, 12, 1),
    )
    assert whole_months(date(2026, 11, 1), date(2026, 11, 30)) == (
        date(2026, 11, 1),
        date(2026, 12, 1),
    )
    assert whole_months(date(2026, 11, 2), date(2026, 11, 30)) is None
    assert whole_months(date(2026, 11, 5), date(2026, 12, 20)) is None


def test_a_range_of_whole_months_reads_the_months_and_the_days_around_them():
    # 1 h on 31 October, 2 h on 10 November, 1 h either side of the night into December,
    # 3 h on 2 December: a read from 31 October to 2 December sums October's last day,
    # November's month row and December's first two days.
    oct_31, nov_10 = datetime(2026, 10, 31, 8, tzinfo=UTC), datetime(2026, 11, 10, 8, tzinfo=UTC)
    dec_1, dec_2 = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, 8, tzinfo=UTC)
    run(oct_31, oct_31 + HOUR, groups=("physics",))
    run(nov_10, nov_10 + 2 * HOUR, cpu=2, groups=("physics",))
    run(dec_1 - HOUR, dec_1 + HOUR, owner="bob", groups=("physics",))
    run(dec_2, dec_2 + 3 * HOUR, owner="bob")
    run(dec_2 + 24 * HOUR, dec_2 + 25 * HOUR, owner="bob")  # the 3rd: outside the range
    rollup_pass()
    november = UsageMonth.objects.get(kind="person", key="alice", month=date(2026, 11, 1))
    assert (round(november.cpu_hours, 6), november.runs, round(november.seconds)) == (4, 1, 7200)
    since, until = date(2026, 10, 31), date(2026, 12, 2)
    assert usage_by(kind="person", since=since, until=until) == {
        "alice": Period(since, cpu_hours=5.0, memory_gib_hours=3.0, runs=2),
        "bob": Period(since, cpu_hours=5.0, memory_gib_hours=5.0, runs=2),
    }
    assert usage_by(kind="group", since=since, until=until) == {
        "physics": Period(since, cpu_hours=7.0, memory_gib_hours=5.0, runs=3),
    }
    # The same as the days' rows summed one by one (the CSV's read).
    days = usage_days_by(kind="person", since=since, until=until)
    assert round(sum(use.cpu_hours for _, key, use in days if key == "bob"), 6) == 5.0


def ranked_from_everyones(kind: str, since: date, until: date, count: int, now: datetime):
    """``usage_top``'s answer the slow way: everyone's figures (``usage_by``), ranked here."""
    everyone = usage_by(kind=kind, since=since, until=until, now=now)
    ranked = sorted(everyone.items(), key=lambda item: (-item[1].cpu_hours, item[0]))
    return ranked[:count], len(everyone)


def test_the_top_by_the_database_are_the_top_of_everyones_figures():
    """Stored use of many sizes, ties (broken by name, by code point: "Zoë" before "zed"),
    people whose pending runs lift them over stored ones, over whole months and days."""
    nov_2 = datetime(2026, 11, 2, 8, tzinfo=UTC)
    for hours, owner in enumerate(["ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"], 1):
        run(nov_2, nov_2 + hours * HOUR, owner=owner, groups=(f"g{hours % 3}",))
    run(nov_2, nov_2 + 3 * HOUR, owner="zed")  # ties with cat
    run(nov_2, nov_2 + 3 * HOUR, owner="Zoë")
    run(NOV_27, NOV_27 + HOUR, owner="ann", cpu=6)  # ann: 1 + 6 stored
    rollup_pass(since=date(2026, 11, 1))
    # Not rolled up yet: ben's run closed since the pass, and ivy and ben still running.
    run(NOV_27 + 2 * HOUR, NOV_27 + 4 * HOUR, owner="ben", cpu=4, groups=("g9",))
    run(NOV_27 + 9 * HOUR, None, owner="ivy", cpu=3)
    run(NOV_27 + 11 * HOUR, None, owner="cat", cpu=2)
    for since, until in [(SINCE, UNTIL), (date(2026, 10, 20), date(2026, 12, 5))]:
        for kind in ("person", "group"):
            for count in (1, 3, 4, 20):
                expected = ranked_from_everyones(kind, since, until, count, NOW)
                assert usage_top(kind=kind, since=since, until=until, count=count, now=NOW) == (
                    expected
                ), (kind, since, count)
    # Spelled out once: ben 2 + 8 pending, ivy 9 pending, ann 1 + 6, hal 8, ... over the months.
    top, everyone = usage_top(
        kind="person", since=date(2026, 10, 20), until=date(2026, 12, 5), count=4, now=NOW
    )
    assert [(name, use.cpu_hours) for name, use in top] == [
        ("ben", 10.0),
        ("ivy", 9.0),
        ("hal", 8.0),
        ("ann", 7.0),
    ]
    assert everyone == 11


def test_nobody_used_anything():
    assert usage_top(kind="person", since=SINCE, until=UNTIL, count=20, now=NOW) == ([], 0)
