"""Usage intervals from each writer of a workspace's state: an action's answer, the hub's
report, the sync pass (a correction, a lost server) and the delete. Each is dated by the
hub's word, not by when the portal wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.usage.models import UsageInterval
from portal.workspaces import services, sync
from portal.workspaces.models import Workspace
from tests.portal.scripted_hub import Answer, ScriptedHub

State = Workspace.State
End = UsageInterval.End
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
READY = {"ready": True, "pending": None}


def report(state: str, at: datetime, server: str = "thesis"):
    return sync.state_report(user="alice", server=server, state=state, at=at)


def intervals() -> list[tuple]:
    return list(
        UsageInterval.objects.order_by("started_at").values_list(
            "workspace_name", "started_at", "ended_at", "ended_how"
        )
    )


@pytest.fixture
def thesis(alice, workspace_of):
    return workspace_of(alice, state=State.STARTING)


def test_the_hubs_reports_open_and_close_the_run_at_their_own_times(thesis):
    report("running", T0)
    assert intervals() == [("thesis", T0, None, "")]
    report("stopped", T0 + timedelta(hours=2))
    assert intervals() == [("thesis", T0, T0 + timedelta(hours=2), End.STOPPED)]


def test_an_error_report_ends_the_run_as_an_error(thesis):
    report("running", T0)
    report("error", T0 + timedelta(minutes=5))
    assert intervals() == [("thesis", T0, T0 + timedelta(minutes=5), End.ERROR)]


def test_the_interval_keeps_what_was_reserved_and_by_whom(thesis):
    Workspace.objects.filter(pk=thesis.pk).update(cpu=1.5, memory=3 * 2**30, gpus="0,1")
    report("running", T0)
    interval = UsageInterval.objects.get()
    assert (
        interval.workspace_id,
        interval.owner_name,
        interval.template_name,
        interval.cpu,
        interval.memory,
        interval.gpus,
    ) == (thesis.pk, "alice", "default", 1.5, 3 * 2**30, 2)


@pytest.mark.parametrize(("gpus", "counted"), [("", 0), ("0,1", 2), ("count:3", 3), ("all", 4)])
def test_gpus_are_counted_as_the_quotas_count_them(thesis, gpus, counted):
    thesis.template.gpus_max = 4  # "all": the template's most
    thesis.template.save()
    Workspace.objects.filter(pk=thesis.pk).update(gpus=gpus)
    report("running", T0)
    assert UsageInterval.objects.get().gpus == counted


class StopsAtOnce(ScriptedHub):
    """Starts end ready at their first progress event; a stop is done at once (204, not 202)."""

    def __init__(self):
        super().__init__(progress=[{"progress": 100, "ready": True}])

    def _answer(self, method, path, kwargs):
        if method == "DELETE" and path.count("/") == 4:
            return Answer(204, {})
        return super()._answer(method, path, kwargs)


def test_a_followed_start_opens_the_run_and_a_stops_answer_closes_it(
    alice, workspace_of, hub_double
):
    hub_double(StopsAtOnce())
    workspace = services.workspace_start(workspace=workspace_of(alice), by=alice)
    assert intervals() == []  # asked, not yet running: nothing is reserved in use
    workspace = services.workspace_follow_spawn(workspace=workspace, patience=5)
    started = workspace.synced_at
    assert intervals() == [("thesis", started, None, "")]
    services.workspace_stop(workspace=workspace, by=alice)
    stopped = Workspace.objects.get(pk=workspace.pk).synced_at
    assert intervals() == [("thesis", started, stopped, End.STOPPED)]


def test_the_sync_pass_opens_the_run_of_a_server_it_finds_ready(thesis, hub_double):
    hub_double(ScriptedHub(active={"alice": {"thesis": READY}}))
    sync.sync_pass()
    read_at = Workspace.objects.get(pk=thesis.pk).synced_at
    assert intervals() == [("thesis", read_at, None, "")]


def test_a_server_the_hub_lost_ends_its_run_as_lost_at_the_pass(thesis, hub_double):
    report("running", T0)
    hub_double(ScriptedHub(active={}))  # the hub or the engine restarted
    sync.sync_pass()
    read_at = Workspace.objects.get(pk=thesis.pk).synced_at
    assert intervals() == [("thesis", T0, read_at, End.LOST)]


def test_a_stop_the_sync_pass_sees_through_ends_the_run_as_stopped(thesis, hub_double):
    report("running", T0)
    Workspace.objects.filter(pk=thesis.pk).update(state=State.STOPPING)  # a stop was asked
    hub_double(ScriptedHub(active={}))
    sync.sync_pass()
    read_at = Workspace.objects.get(pk=thesis.pk).synced_at
    assert intervals() == [("thesis", T0, read_at, End.STOPPED)]


def test_a_deleted_workspace_ends_its_run_and_the_record_outlives_it(thesis, hub_double):
    report("running", T0)
    hub_double(ScriptedHub())  # removes at once
    services.workspaces_delete(workspaces=[thesis], finish=False)
    assert intervals()[0][2:] == (None, "")  # still running until the hub removed it
    services.workspaces_delete_finish(workspaces=[thesis])
    interval = UsageInterval.objects.get()
    assert (interval.workspace_id, interval.workspace_name, interval.ended_how) == (
        None,
        "thesis",
        End.DELETED,
    )
    assert interval.ended_at > T0


def test_a_deleted_person_keeps_their_usage_under_their_name(alice, thesis):
    report("running", T0)
    report("stopped", T0 + timedelta(hours=1))
    Workspace.objects.all().delete()
    alice.delete()
    interval = UsageInterval.objects.get()
    assert (interval.owner_id, interval.owner_name, interval.ended_how) == (
        None,
        "alice",
        "stopped",
    )


def test_the_groups_are_those_at_the_start(alice, thesis, django_user_model):
    from django.contrib.auth.models import Group

    physics, chemistry = (
        Group.objects.create(name="physics"),
        Group.objects.create(name="chemistry"),
    )
    alice.groups.add(physics)
    report("running", T0)
    alice.groups.set([chemistry])  # moving later does not move the run
    report("stopped", T0 + timedelta(hours=1))
    assert list(UsageInterval.objects.get().groups.values_list("name", flat=True)) == ["physics"]
