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
