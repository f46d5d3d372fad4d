"""The daily roll-ups: UTC days, split at midnight, per person, group and template; a pass
recomputes the days it touches, so passes again change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from portal.usage.models import RollupPass, UsageDay, UsageInterval
from portal.usage.rollup import days_touched, rollup_pass
from tests.portal.usage_runs import GIB, run

pytestmark = pytest.mark.django_db
NOV_27 = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = timedelta(hours=1)


def stored() -> list[tuple]:
    return [
        (day, kind, key, round(cpu, 6), round(memory, 6), round(gpu, 6), runs, round(seconds, 3))
        for day, kind, key, cpu, memory, gpu, runs, seconds in UsageDay.objects.order_by(
            "kind", "key", "day"
        ).values_list(
            "day", "kind", "key", "cpu_hours", "memory_gib_hours", "gpu_hours", "runs", "seconds"
        )
    ]


def test_a_run_across_midnight_is_split_between_the_two_days():
    # 22:00 to 02:00 with 2 cores, 4 GiB and a GPU: two hours on each day.
    run(NOV_27 - 2 * HOUR, NOV_27 + 2 * HOUR, cpu=2, memory=4 * GIB, gpus=1, groups=("physics",))
    rollup_pass()
    nov_26, nov_27 = date(2026, 11, 26), date(2026, 11, 27)
    assert stored() == [
        (nov_26, "group", "physics", 4.0, 8.0, 2.0, 1, 7200.0),
        (nov_27, "group", "physics", 4.0, 8.0, 2.0, 0, 7200.0),
        (nov_26, "person", "alice", 4.0, 8.0, 2.0, 1, 7200.0),
        (nov_27, "person", "alice", 4.0, 8.0, 2.0, 0, 7200.0),
        (nov_26, "template", "default", 4.0, 8.0, 2.0, 1, 7200.0),
        (nov_27, "template", "default", 4.0, 8.0, 2.0, 0, 7200.0),
    ]


def test_each_subject_sums_its_own_runs():
    run(NOV_27, NOV_27 + HOUR, owner="alice", groups=("physics", "staff"))
    run(NOV_27 + HOUR, NOV_27 + 3 * HOUR, owner="bob", template="gpu", groups=("physics",))
    rollup_pass()
    rows = {(kind, key): (cpu, runs) for _, kind, key, cpu, _, _, runs, _ in stored()}
    assert rows == {
        ("group", "physics"): (3.0, 2),
        ("group", "staff"): (1.0, 1),
        ("person", "alice"): (1.0, 1),
        ("person", "bob"): (2.0, 1),
        ("template", "default"): (1.0, 1),
        ("template", "gpu"): (2.0, 1),
    }


def test_a_run_of_no_length_counts_as_a_run_of_its_day():
    run(NOV_27, NOV_27)  # closed at its start: a stop dated before it
    run(NOV_27 - HOUR, NOV_27, owner="bob")  # ends at midnight: nothing on the 27th
    rollup_pass()
    assert [(day, kind, key, runs, seconds) for day, kind, key, *_, runs, seconds in stored()] == [
        (date(2026, 11, 27), "person", "alice", 1, 0.0),
        (date(2026, 11, 26), "person", "bob", 1, 3600.0),
        (date(2026, 11, 26), "template", "default", 1, 3600.0),
        (date(2026, 11, 27), "template", "default", 1, 0.0),
    ]


def test_a_second_pass_changes_nothing():
    run(NOV_27 - 2 * HOUR, NOV_27 + 2 * HOUR)
    run(NOV_27 + 5 * HOUR, NOV_27 + 6 * HOUR, owner="bob")
    rollup_pass()
    first = stored()
    rollup_pass()
    rollup_pass(since=date(2026, 11, 1))
    assert stored() == first


def test_open_runs_are_not_stored():
    run(NOV_27, None)
    rollup_pass()
    assert stored() == []


def test_a_run_closed_late_recomputes_the_days_it_ended_on_long_ago():
    rollup_pass()
    # The hub says it stopped on the 27th; the portal learns it only now (it was down).
    run(NOV_27, NOV_27 + HOUR)
    rollup_pass()
    assert [(day, kind, cpu) for day, kind, _, cpu, *_ in stored()] == [
        (date(2026, 11, 27), "person", 1.0),
        (date(2026, 11, 27), "template", 1.0),
    ]


def test_a_run_of_many_days_counts_on_each_beside_short_ones():
    # The starts a day reads are bounded by the longest run: this one, 40 days long.
    long = run(NOV_27 - 40 * 24 * HOUR, NOV_27, groups=("physics",))
    run(NOV_27 - 20 * 24 * HOUR, NOV_27 - 20 * 24 * HOUR + HOUR, owner="bob")
    rollup_pass()
    twentieth = date(2026, 11, 7)
    assert [
        (kind, key, cpu, runs)
        for day, kind, key, cpu, _, _, runs, _ in stored()
        if day == twentieth
    ] == [
        ("group", "physics", 24.0, 0),
        ("person", "alice", 24.0, 0),
        ("person", "bob", 1.0, 1),
        ("template", "default", 25.0, 1),
    ]
    # Each of alice's 40 days, three kinds, and bob's person row (his template's is hers).
    assert len(stored()) == 3 * 40 + 1
    # A later pass that recomputes only the last days (a short run closed since) still finds
    # the long run's part of them.
    UsageInterval.objects.filter(pk=long.pk).update(closed_at=timezone.now() - 24 * HOUR)
    run(NOV_27 - 2 * HOUR, NOV_27 - HOUR, owner="bob")
    before = stored()
    rollup_pass()
    assert ("person", "alice", 24.0) in [
        (k, key, cpu) for d, k, key, cpu, *_ in stored() if d == date(2026, 11, 26)
    ]
    assert len(stored()) == len(before) + 1  # bob's new day


def test_the_pass_marks_what_it_holds():
    before = timezone.now()
    done = rollup_pass()
    assert RollupPass.objects.get() == done
    assert before <= done.mark <= done.finished_at


def test_the_days_of_a_run():
    assert days_touched(NOV_27 - HOUR, NOV_27) == [date(2026, 11, 26)]  # ends at midnight
    assert days_touched(NOV_27, NOV_27) == [date(2026, 11, 27)]  # no length: its day
    assert days_touched(NOV_27 - HOUR, NOV_27 + 25 * HOUR) == [
        date(2026, 11, 26),
        date(2026, 11, 27),
        date(2026, 11, 28),
    ]


def test_the_command_recomputes_days_since_a_date():
    closed = run(NOV_27, NOV_27 + HOUR)
    UsageInterval.objects.filter(pk=closed.pk).update(closed_at=timezone.now() - HOUR)
    rollup_pass()
    UsageDay.objects.all().delete()  # lost, say, to a restore of an older backup
    rollup_pass()
    assert stored() == []  # nothing closed since the last pass
    out = StringIO()
    call_command("usage_rollup", "--since", "2026-11-27", stdout=out)
    assert [(day, kind, cpu) for day, kind, _, cpu, *_ in stored()] == [
        (date(2026, 11, 27), "person", 1.0),
        (date(2026, 11, 27), "template", 1.0),
    ]
    days = (timezone.now().date() - date(2026, 11, 27)).days + 1
    assert out.getvalue().startswith(f"Days recomputed: {days}; runs closed before ")


def test_the_command_refuses_a_date_that_is_not_one():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since must be a date such as 2026-11-01"):
        call_command("usage_rollup", "--since", "2026-02-30")


def test_the_pass_runs_every_15_minutes_from_setup():
    from django_q.models import Schedule

    from portal.usage.tasks import SCHEDULE, rollup_task

    out = StringIO()
    call_command("mlhub_setup", stdout=out)
    assert "Usage roll-up: every 15 min\n" in out.getvalue()
    schedule = Schedule.objects.get(name=SCHEDULE)
    assert (schedule.func, schedule.minutes) == ("portal.usage.tasks.rollup_task", 15)
    assert rollup_task() == "days recomputed: 0"  # the first: nothing recorded yet
    run(NOV_27, NOV_27 + HOUR)
    assert rollup_task() == "days recomputed: 1"
