"""Reports that come late, twice or out of order, two writers at once, and closed
intervals that nothing may change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from portal.usage import services as usage
from portal.usage.models import ClosedIntervalError, UsageInterval
from portal.workspaces.models import Workspace

State = Workspace.State
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def thesis(alice, workspace_of):
    return workspace_of(alice, state=State.STARTING)


def written(workspace, state, at, **extra):
    workspace.state = state
    usage.state_written(workspace=workspace, at=at, **extra)


def spans():
    return list(
        UsageInterval.objects.order_by("started_at").values_list(
            "started_at", "ended_at", "ended_how"
        )
    )


def test_a_close_dated_before_the_start_ends_it_at_its_start(thesis):
    written(thesis, State.RUNNING, T0)
    written(thesis, State.STOPPED, T0 - HOUR)
    assert spans() == [(T0, T0, "stopped")]


def test_a_second_running_while_open_changes_nothing(thesis):
    written(thesis, State.RUNNING, T0)
    written(thesis, State.RUNNING, T0 + HOUR)
    assert spans() == [(T0, None, "")]


def test_a_stop_with_nothing_open_creates_nothing(thesis):
    written(thesis, State.STOPPED, T0)
    written(thesis, State.ERROR, T0)
    assert spans() == []


def test_starting_and_stopping_leave_the_run_as_it_is(thesis):
    written(thesis, State.STARTING, T0 - HOUR)
    assert spans() == []
    written(thesis, State.RUNNING, T0)
    written(thesis, State.STOPPING, T0 + HOUR)
    assert spans() == [(T0, None, "")]


def test_a_late_running_does_not_begin_before_the_last_run_ended(thesis):
    written(thesis, State.RUNNING, T0)
    written(thesis, State.STOPPED, T0 + HOUR)
    written(thesis, State.RUNNING, T0 + HOUR / 2)  # dated inside the run just closed
    assert spans() == [(T0, T0 + HOUR, "stopped"), (T0 + HOUR, None, "")]


def test_the_database_refuses_a_second_open_interval(thesis):
    written(thesis, State.RUNNING, T0)
    first = UsageInterval.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageInterval.objects.create(
            workspace=thesis,
            workspace_name="thesis",
            owner_name="alice",
            template_name="default",
            cpu=1,
            memory=1,
            gpus=0,
            started_at=T0 + HOUR,
        )
    assert list(UsageInterval.objects.values_list("pk", flat=True)) == [first.pk]


def test_two_writers_opening_at_once_leave_one_interval(thesis, monkeypatch):
    groups_of = usage.groups_of

    def another_writer_opens_meanwhile(owner_id):
        # Between this writer's "none open" and its insert, the other writer's lands.
        monkeypatch.setattr(usage, "groups_of", groups_of)
        usage.interval_open(workspace=thesis, at=T0 - HOUR)
        return groups_of(owner_id)

    monkeypatch.setattr(usage, "groups_of", another_writer_opens_meanwhile)
    written(thesis, State.RUNNING, T0)
    assert spans() == [(T0 - HOUR, None, "")]


def test_a_closed_interval_cannot_be_changed(thesis):
    written(thesis, State.RUNNING, T0)
    written(thesis, State.STOPPED, T0 + HOUR)
    interval = UsageInterval.objects.get()
    interval.ended_at = T0 + 2 * HOUR
    with pytest.raises(ClosedIntervalError):
        interval.save()
    assert spans() == [(T0, T0 + HOUR, "stopped")]


def test_a_closed_interval_is_not_closed_again(thesis):
    written(thesis, State.RUNNING, T0)
    written(thesis, State.STOPPED, T0 + HOUR)
    written(thesis, State.STOPPED, T0 + 2 * HOUR, lost=True)
    assert spans() == [(T0, T0 + HOUR, "stopped")]
