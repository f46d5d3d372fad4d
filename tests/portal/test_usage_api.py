"""``/api/v1/usage/``: one's own usage by default, anyone's (and groups', templates') for
admins only; filters, granularity, pages, and bad input as a 400 that says what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from portal.accounts.models import NOT_APPROVED
from portal.usage.models import SamplePass, UsageInterval
from portal.usage.sampler import NO_ENGINE
from tests.portal.usage_runs import run

USAGE = "/api/v1/usage/"
NOV_27 = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = timedelta(hours=1)
ONE_DAY = {"since": "2026-11-27", "until": "2026-11-27"}


def row(period="2026-11-27", cpu=0.0, memory=0.0, gpu=0.0, runs=0, **measured) -> dict:
    return {
        "period": period,
        "cpu_hours": cpu,
        "memory_gib_hours": memory,
        "gpu_hours": gpu,
        "runs": runs,
        "cpu_used_hours": 0.0,
        "efficiency": None,
        "memory_peak_bytes": None,
        # The tests' portal runs local-process workspaces: nothing to measure them with.
        "measured_use_unavailable": NO_ENGINE,
        **measured,
    }


@pytest.fixture
def runs(alice, bob):
    run(NOV_27, NOV_27 + HOUR, owner="alice", groups=("physics",))
    run(NOV_27, NOV_27 + 2 * HOUR, owner="bob", template="gpu", gpus=1, groups=("physics",))


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_person_sees_their_own_usage(api, alice, runs):
    api.force_authenticate(alice)
    assert rows(api.get(USAGE, ONE_DAY)) == [row(cpu=1.0, memory=1.0, runs=1)]
    assert rows(api.get(USAGE, {**ONE_DAY, "user": "ALICE"})) == [row(cpu=1.0, memory=1.0, runs=1)]


@pytest.mark.parametrize(
    ("asked", "doing"),
    [
        ({"user": "bob"}, "see someone else's usage"),
        ({"user": "nobody-here"}, "see someone else's usage"),  # says nothing of who exists
        ({"group": "physics"}, "see a group's usage"),
        ({"template": "gpu"}, "see a template's usage"),
    ],
)
def test_a_person_asking_for_other_usage_is_refused(api, alice, runs, asked, doing):
    api.force_authenticate(alice)
    response = api.get(USAGE, {**ONE_DAY, **asked})
    assert (response.status_code, response.json()) == (
        403,
        {"detail": f"Only administrators may {doing}.", "code": "admin_only"},
    )


def test_an_admin_sees_anyones_a_groups_and_a_templates_usage(api, carol, runs):
    api.force_authenticate(carol)
    assert rows(api.get(USAGE, ONE_DAY)) == [row()]  # their own: none
    assert rows(api.get(USAGE, {**ONE_DAY, "user": "bob"})) == [
        row(cpu=2.0, memory=2.0, gpu=2.0, runs=1)
    ]
    assert rows(api.get(USAGE, {**ONE_DAY, "group": "physics"})) == [
        row(cpu=3.0, memory=3.0, gpu=2.0, runs=2)
    ]
    assert rows(api.get(USAGE, {**ONE_DAY, "template": "gpu"})) == [
        row(cpu=2.0, memory=2.0, gpu=2.0, runs=1)
    ]


def test_a_deleted_persons_usage_is_found_by_their_name(api, carol, alice, runs):
    alice.delete()
    api.force_authenticate(carol)
    assert rows(api.get(USAGE, {**ONE_DAY, "user": "alice"})) == [row(cpu=1.0, memory=1.0, runs=1)]


def test_nobody_signed_in_is_401(api, runs):
    response = api.get(USAGE)
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    )


def test_someone_waiting_for_approval_is_403(api, mallory):
    api.force_authenticate(mallory)
    response = api.get(USAGE)
    assert (response.status_code, response.json()) == (
        403,
        {"detail": NOT_APPROVED, "code": "access_refused"},
    )


def test_the_default_is_the_last_30_days_by_day(api, alice):
    api.force_authenticate(alice)
    body = api.get(USAGE).json()
    today = timezone.now().date()
    assert body["count"] == 30
    assert [r["period"] for r in body["results"]][::29] == [
        str(today - timedelta(days=29)),
        str(today),
    ]


def test_periods_are_paginated(api, alice, runs):
    api.force_authenticate(alice)
    asked = {"since": "2026-11-01", "until": "2026-11-30", "page_size": 10, "page": 3}
    body = api.get(USAGE, asked).json()
    assert body["count"] == 30
    assert body["next"] is None
    assert [r["period"] for r in body["results"]][6:8] == ["2026-11-27", "2026-11-28"]
    assert body["results"][6] == row(cpu=1.0, memory=1.0, runs=1)


def test_granularity_folds_days_into_weeks_and_months(api, alice, runs):
    api.force_authenticate(alice)
    asked = {"since": "2026-11-20", "until": "2026-12-02"}
    weeks = rows(api.get(USAGE, {**asked, "granularity": "week"}))
    assert weeks == [
        row("2026-11-16"),
        row("2026-11-23", cpu=1.0, memory=1.0, runs=1),
        row("2026-11-30"),
    ]
    months = rows(api.get(USAGE, {**asked, "granularity": "month"}))
    assert months == [row("2026-11-01", cpu=1.0, memory=1.0, runs=1), row("2026-12-01")]


def test_rows_show_cpu_used_efficiency_and_peak_where_measured(api, alice, settings):
    settings.EXECUTION_MODE = "local"
    # Two cores reserved for an hour, sampled at its end: 1.5 core-hours used of 2.
    measured = run(NOV_27, NOV_27 + HOUR, cpu=2.0)
    UsageInterval.objects.filter(pk=measured.pk).update(
        cpu_used_seconds=5400.0, memory_peak=3 * 2**30, sampled_at=NOV_27 + HOUR
    )
    SamplePass.objects.create(pk=1, finished_at=NOV_27 + HOUR)
    api.force_authenticate(alice)
    assert rows(api.get(USAGE, ONE_DAY)) == [
        row(
            cpu=2.0,
            memory=1.0,
            runs=1,
            cpu_used_hours=1.5,
            efficiency=0.75,
            memory_peak_bytes=3 * 2**30,
            measured_use_unavailable=None,
        )
    ]


def test_rows_say_when_the_cluster_serves_no_metrics(api, alice, settings, runs):
    settings.EXECUTION_MODE = "k8s"
    SamplePass.objects.create(
        pk=1, finished_at=NOV_27, unavailable="the cluster serves no metrics API"
    )
    api.force_authenticate(alice)
    assert rows(api.get(USAGE, ONE_DAY)) == [
        row(
            cpu=1.0,
            memory=1.0,
            runs=1,
            measured_use_unavailable="the cluster serves no metrics API",
        )
    ]


@pytest.mark.parametrize(
    ("asked", "detail"),
    [
        (
            {"since": "2026-11-28", "until": "2026-11-27"},
            "until (2026-11-27) is before since (2026-11-28).",
        ),
        ({"granularity": "hour"}, "Unknown granularity 'hour'; use one of: day, week, month."),
        ({"since": "27/11/2026"}, "since must be a date, e.g. 2026-11-27."),
        ({"until": "2026-02-30"}, "until must be a date, e.g. 2026-11-27."),
        ({"until": "9999-12-31"}, "until must be before 9999-12-31."),
        ({"since": "2000-01-01", "until": "2026-01-01"}, "Ask for at most 3660 days at a time."),
        (
            {"user": "bob", "group": "physics"},
            "Ask for one of user, group or template, not user and group.",
        ),
    ],
)
def test_bad_input_is_a_400_that_says_why(api, carol, asked, detail):
    api.force_authenticate(carol)
    response = api.get(USAGE, asked)
    assert (response.status_code, response.json()) == (400, {"detail": detail, "code": "invalid"})
