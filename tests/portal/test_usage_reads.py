"""Reads combine the stored roll-ups with the runs they do not hold yet (open ones, up to
now; those closed since the last pass): the same answer before, between and after passes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from portal.errors import ServiceError
from portal.usage.models import UsageInterval
from portal.usage.reads import Period, Subject, usage_periods
from portal.usage.rollup import rollup_pass
from tests.portal.usage_runs import run

pytestmark = pytest.mark.django_db
NOV_27 = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = timedelta(hours=1)
ALICE = Subject("person", "alice")


def read(since=date(2026, 11, 26), until=date(2026, 11, 28), granularity="day", **extra):
    return usage_periods(
        subject=extra.pop("subject", ALICE),
        since=since,
        until=until,
        granularity=granularity,
        now=extra.pop("now", NOV_27 + 12 * HOUR),
    )


def closed_an_hour_ago(interval: UsageInterval) -> None:
    UsageInterval.objects.filter(pk=interval.pk).update(closed_at=timezone.now() - HOUR)


def test_an_open_run_counts_up_to_now():
    run(NOV_27 + 9 * HOUR, None, cpu=2, gpus=1)  # three hours by noon
    assert read() == [
        Period(date(2026, 11, 26)),
        Period(date(2026, 11, 27), cpu_hours=6.0, memory_gib_hours=3.0, gpu_hours=3.0, runs=1),
        Period(date(2026, 11, 28)),
    ]


def test_the_answer_is_the_same_before_between_and_after_passes():
    closed_an_hour_ago(run(NOV_27 - 2 * HOUR, NOV_27 + HOUR))  # rolled by the first pass
    rollup_pass()
    run(NOV_27 + 2 * HOUR, NOV_27 + 3 * HOUR, cpu=4)  # closed after it
    run(NOV_27 + 10 * HOUR, None)  # running
    expected = [
        Period(date(2026, 11, 26), cpu_hours=2.0, memory_gib_hours=2.0, runs=1),
        Period(date(2026, 11, 27), cpu_hours=7.0, memory_gib_hours=4.0, runs=2),
        Period(date(2026, 11, 28)),
    ]
    assert read() == expected
    rollup_pass()
    assert read() == expected
    rollup_pass(since=date(2026, 11, 1))
    assert read() == expected


def test_weeks_start_on_monday_and_months_on_the_first():
    run(NOV_27, NOV_27 + HOUR)  # a Friday
    run(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 2, tzinfo=UTC))  # Tuesday
    rollup_pass()
    since, until = date(2026, 11, 20), date(2026, 12, 2)
    assert [(p.start, p.cpu_hours, p.runs) for p in read(since, until, "week")] == [
        (date(2026, 11, 16), 0.0, 0),
        (date(2026, 11, 23), 1.0, 1),
        (date(2026, 11, 30), 2.0, 1),
    ]
    assert [(p.start, p.cpu_hours, p.runs) for p in read(since, until, "month")] == [
        (date(2026, 11, 1), 1.0, 1),
        (date(2026, 12, 1), 2.0, 1),
    ]


def test_only_the_part_within_the_range_counts():
    # 22:00 on the 26th to 02:00 on the 27th, read for the 27th alone: two hours, no run
    # started in the range. The same before and after it is rolled up.
    run(NOV_27 - 2 * HOUR, NOV_27 + 2 * HOUR)
    expected = [Period(date(2026, 11, 27), cpu_hours=2.0, memory_gib_hours=2.0, runs=0)]
    assert read(date(2026, 11, 27), date(2026, 11, 27)) == expected
    rollup_pass()
    assert read(date(2026, 11, 27), date(2026, 11, 27)) == expected


def test_groups_and_templates_read_their_own_runs():
    run(NOV_27, NOV_27 + HOUR, groups=("physics",))
    run(NOV_27, NOV_27 + 2 * HOUR, owner="bob", template="gpu", groups=("physics",))
    physics = Subject("group", "physics")
    gpu = Subject("template", "gpu")
    day = date(2026, 11, 27)
    for _ in range(2):  # before and after the pass
        assert [p.cpu_hours for p in read(day, day, subject=physics)] == [3.0]
        assert [p.cpu_hours for p in read(day, day, subject=gpu)] == [2.0]
        rollup_pass()


@pytest.mark.parametrize(
    ("since", "until", "granularity", "message"),
    [
        (
            date(2026, 11, 28),
            date(2026, 11, 27),
            "day",
            "until (2026-11-27) is before since (2026-11-28).",
        ),
        (
            date(2026, 11, 27),
            date(2026, 11, 28),
            "year",
            "Unknown granularity 'year'; use one of: day, week, month.",
        ),
        (date(2000, 1, 1), date(2026, 1, 1), "month", "Ask for at most 3660 days at a time."),
    ],
)
def test_a_range_that_cannot_be_read_is_refused(since, until, granularity, message):
    with pytest.raises(ServiceError) as refused:
        read(since, until, granularity)
    assert (refused.value.status, refused.value.message) == (400, message)


def test_measured_use_is_spread_over_the_sampled_time_before_and_after_a_pass():
    # 22:00 to 02:00 with two cores, last sampled at 01:00 having used 3 CPU-hours: one core
    # busy over the three sampled hours, two of them on the 26th.
    interval = run(NOV_27 - 2 * HOUR, NOV_27 + 2 * HOUR, cpu=2)
    UsageInterval.objects.filter(pk=interval.pk).update(
        cpu_used_seconds=3 * 3600.0, memory_peak=5 * 2**20, sampled_at=NOV_27 + HOUR
    )
    measured = {"memory_gib_hours": 2.0, "runs": 0, "memory_peak_bytes": 5 * 2**20}
    expected = [
        Period(
            date(2026, 11, 26),
            cpu_hours=4.0,
            cpu_used_hours=2.0,
            cpu_measured_hours=4.0,
            **{**measured, "runs": 1},
        ),
        Period(
            date(2026, 11, 27),
            cpu_hours=4.0,
            cpu_used_hours=1.0,
            cpu_measured_hours=2.0,
            **measured,
        ),
        Period(date(2026, 11, 28)),
    ]
    assert read() == expected
    assert [p.efficiency for p in expected] == [0.5, 0.5, None]
    closed_an_hour_ago(interval)
    rollup_pass()
    assert read() == expected


def test_a_run_never_sampled_has_no_efficiency():
    run(NOV_27, NOV_27 + HOUR)
    (_, day, _) = read()
    assert (day.cpu_hours, day.cpu_used_hours, day.efficiency, day.memory_peak_bytes) == (
        1.0,
        0.0,
        None,
        None,
    )
