"""The budget in effect: a person's own, else their groups' most generous (field by field, by
hours per day of each period), else MLHUB_BUDGET_*, else none; and the settings' edges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group

from lib import budgets, env
from lib.budgets import Period, parse_period
from portal.budgets.limits import limits_of, limits_of_everyone
from portal.budgets.models import Budget

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("budgets_unset")]


def _shown(limits):
    return {
        field: None if limit is None else (limit.hours, limit.period.text, limit.source)
        for field, limit in limits.items()
    }


def test_without_any_budget_there_is_no_limit(alice):
    assert set(limits_of(alice).values()) == {None}


def test_the_person_then_the_groups_most_generous_then_the_default(alice, settings):
    settings.BUDGET_DEFAULTS = {**settings.BUDGET_DEFAULTS, "memory_gib_hours": 500.0}
    small, big = Group.objects.create(name="small"), Group.objects.create(name="big")
    Budget.objects.create(group=small, cpu_hours=100, gpu_hours=10)
    # 40 h a week is more a day than 100 h a month: big is the more generous for CPU.
    Budget.objects.create(group=big, cpu_hours=40, period="7d")
    alice.groups.add(small, big)
    Budget.objects.create(user=alice, gpu_hours=2)
    assert _shown(limits_of(alice)) == {
        "cpu_hours": (40.0, "7d", "group big"),
        "gpu_hours": (2.0, "month", "own"),
        "memory_gib_hours": (500.0, "month", "default"),
    }


def test_a_budget_without_period_or_stop_takes_the_settings(alice, settings):
    settings.BUDGET_PERIOD, settings.BUDGET_STOP_AT_BUDGET = "30d", True
    Budget.objects.create(user=alice, cpu_hours=10)
    Budget.objects.create(user=None, group=Group.objects.create(name="g"), gpu_hours=1)
    limit = limits_of(alice)["cpu_hours"]
    assert (limit.period, limit.stop_at_budget) == (Period(30), True)


def test_everyones_limits_agree_with_each_persons(alice, bob, carol, django_assert_num_queries):
    group = Group.objects.create(name="lab")
    Budget.objects.create(group=group, cpu_hours=50, stop_at_budget=True)
    Budget.objects.create(user=bob, cpu_hours=5)
    alice.groups.add(group)
    with django_assert_num_queries(3):
        everyone = limits_of_everyone([alice.pk, bob.pk, carol.pk])
    for person in (alice, bob, carol):
        assert everyone[person.pk] == limits_of(person)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-1", "hours cannot be negative"),
        ("nan", "hours must be a finite number (not NaN or infinity)"),
        ("inf", "hours must be a finite number (not NaN or infinity)"),
        (
            "1e-7",
            "hours under 0.01 (36 s) are a slip: use 0 for none at all, or leave it "
            "empty for no limit",
        ),
        ("1e300", "hours over 1e+09 are a slip: leave it empty for no limit"),
        ("lots", "hours must be a number"),
    ],
)
def test_a_bad_hours_setting_stops_the_start(monkeypatch, raw, message):
    monkeypatch.setenv("MLHUB_BUDGET_CPU_HOURS", raw)
    with pytest.raises(env.ConfigError) as error:
        budgets.budget_defaults_setting()
    assert str(error.value) == f"MLHUB_BUDGET_CPU_HOURS={raw!r}: {message}"


def test_zero_and_empty_hours_settings_mean_none_and_no_limit(monkeypatch):
    monkeypatch.setenv("MLHUB_BUDGET_GPU_HOURS", "0")
    monkeypatch.setenv("MLHUB_BUDGET_CPU_HOURS", "")
    assert budgets.budget_defaults_setting() == {
        "cpu_hours": None,
        "gpu_hours": 0.0,
        "memory_gib_hours": None,
    }


@pytest.mark.parametrize("raw", ["0d", "-3d", "1.5d", "367d", "week", "30", ""])
def test_a_bad_period_setting_stops_the_start(monkeypatch, raw):
    monkeypatch.setenv("MLHUB_BUDGET_PERIOD", raw)
    with pytest.raises(env.ConfigError) as error:
        budgets.budget_period_setting()
    assert str(error.value).startswith(f"MLHUB_BUDGET_PERIOD={raw!r}: ")


def test_periods_read_and_the_default_is_the_month(monkeypatch):
    monkeypatch.delenv("MLHUB_BUDGET_PERIOD", raising=False)
    assert budgets.budget_period_setting() == "month"
    assert parse_period(" 30D ") == Period(30)


NOW = datetime(2026, 12, 17, 10, 0, tzinfo=UTC)


def test_a_month_is_the_calendar_month_and_resets_on_the_first():
    month = parse_period("month")
    assert month.window(NOW) == (datetime(2026, 12, 1).date(), NOW.date())
    assert month.resets_at(NOW, [], 100) == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_rolling_window_comes_free_as_its_oldest_days_leave():
    window = parse_period("3d")
    assert window.window(NOW) == (datetime(2026, 12, 15).date(), NOW.date())
    # 5 + 5 + 1 over a budget of 6: after one day 6 remain (not under), after two 1.
    assert window.resets_at(NOW, [5.0, 5.0, 1.0], 6.0) == datetime(2026, 12, 19, tzinfo=UTC)
    # All of it today: free once today has left, three days on.
    assert window.resets_at(NOW, [0.0, 0.0, 9.0], 6.0) == datetime(2026, 12, 20, tzinfo=UTC)


def test_warnings_are_sent_once_per_month_or_per_block_of_a_rolling_window():
    assert parse_period("month").stretch(NOW) == datetime(2026, 12, 1).date()
    week = parse_period("7d")
    # Blocks of 7 days from 1970-01-01: one began on 2026-12-17.
    assert week.stretch(NOW) == week.stretch(datetime(2026, 12, 23, 23, tzinfo=UTC))
    assert week.stretch(datetime(2026, 12, 16, tzinfo=UTC)) == datetime(2026, 12, 10).date()
