"""The fair start queue: beyond MLHUB_START_CONCURRENCY starts in flight, a start waits in
the queue (``starting``, the hub not asked); the dispatcher asks the hub for the next as
starts end, everyone's first before anyone's second; too long a wait is a 503 or, once
waited, a stop with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import AuditEntry
from portal.errors import ServiceError
from portal.quotas.models import Quota
from portal.workspaces import services, start_queue, sync, tasks
from portal.workspaces.models import RecentStart, Workspace
from tests.portal.scripted_hub import ScriptedHub

pytestmark = pytest.mark.django_db
State = Workspace.State


@pytest.fixture(autouse=True)
def _one_at_a_time(settings):
    settings.START_CONCURRENCY = 1
    settings.START_QUEUE_WAIT_SECONDS = 900
    settings.QUOTA_DEFAULTS = dict.fromkeys(["workspaces", "running", "cpu", "memory", "gpus"])


@pytest.fixture
def hub(hub_double) -> ScriptedHub:
    return hub_double(ScriptedHub())


@pytest.fixture
def queued_tasks(monkeypatch) -> list[str]:
    """The tasks the services and the queue hand to the task cluster, by function."""
    found: list[str] = []
    for module in (services, start_queue):
        monkeypatch.setattr(module, "async_task", lambda func, *a, **k: found.append(func))
    return found


def asked(hub: ScriptedHub) -> list[str]:
    """The servers the hub was asked to start, in order."""
    return [
        path.split("/")[-1]
        for method, path in hub.paths
        if method == "POST" and "/servers/" in path
    ]


def started(workspace: Workspace, by) -> Workspace:
    services.workspace_start(workspace=workspace, by=by)
    return Workspace.objects.get(pk=workspace.pk)


def queue_names() -> list[str]:
    rows = Workspace.objects.in_bulk([place.pk for place in start_queue.queue_order()])
    return [rows[place.pk].name for place in start_queue.queue_order()]


def test_a_start_over_the_limit_waits_and_the_hub_is_not_asked(alice, bob, workspace_of, hub):
    first = started(workspace_of(alice, "first"), alice)
    second = started(workspace_of(bob, "second"), bob)
    assert (first.state, first.start_queued_at, first.start_asked_at is not None) == (
        State.STARTING,
        None,
        True,
    )
    assert (second.state, second.start_asked_at, second.progress_message) == (
        State.STARTING,
        None,
        "Waiting in the start queue",
    )
    assert second.start_queued_at is not None
    assert asked(hub) == ["first"]
    entry = AuditEntry.objects.filter(action="workspace.start", target="bob/second").get()
    assert (entry.result, entry.detail) == ("ok", "queued")


def test_with_room_and_nobody_waiting_a_start_asks_the_hub_at_once(
    alice, workspace_of, hub, settings, queued_tasks
):
    settings.START_CONCURRENCY = 2
    one = started(workspace_of(alice, "one"), alice)
    two = started(workspace_of(alice, "two"), alice)
    assert asked(hub) == ["one", "two"]
    assert one.start_queued_at is None and two.start_queued_at is None
    assert queued_tasks == ["portal.workspaces.tasks.follow_spawn"] * 2


def test_a_first_start_makes_the_hub_user_and_a_later_start_is_one_hub_call(
    alice, workspace_of, hub_double, settings
):
    settings.START_CONCURRENCY = 2
    hub = hub_double(ScriptedHub(users_only=True))  # a 404 for a user the hub lacks
    started(workspace_of(alice, "one"), alice)
    assert hub.paths == [
        ("POST", "/users/alice/servers/one"),
        ("POST", "/users/alice"),
        ("POST", "/users/alice/servers/one"),
    ]
    hub.paths.clear()
    started(workspace_of(alice, "two"), alice)
    assert hub.paths == [("POST", "/users/alice/servers/two")]


def test_a_concurrency_of_zero_is_no_queue(alice, workspace_of, hub, settings):
    settings.START_CONCURRENCY = 0
    for name in ("a", "b", "c"):
        started(workspace_of(alice, name), alice)
    assert asked(hub) == ["a", "b", "c"]
    assert not Workspace.objects.start_queued().exists()


def test_everyones_first_before_anyones_second_then_by_time(alice, bob, carol, workspace_of, hub):
    started(workspace_of(alice, "a0"), alice)  # in flight: alice's next is her second
    for owner, name in [(alice, "a1"), (alice, "a2"), (bob, "b1"), (carol, "c1"), (bob, "b2")]:
        started(workspace_of(owner, name), owner)
    assert queue_names() == ["b1", "c1", "a1", "b2", "a2"]


def test_a_workspace_already_running_counts_as_ones_first(
    alice, bob, make_person, workspace_of, hub
):
    dan = make_person("dan")
    started(workspace_of(bob, "busy"), bob)
    workspace_of(alice, "up", state=State.RUNNING)
    started(workspace_of(alice, "a1"), alice)  # alice's second
    started(workspace_of(bob, "b1"), bob)  # bob's second, asked after alice's
    started(workspace_of(dan, "d1"), dan)  # dan's first: before both
    assert queue_names() == ["d1", "a1", "b1"]


def test_the_dispatcher_fills_to_the_limit_and_no_more(alice, bob, workspace_of, hub, settings):
    settings.START_CONCURRENCY = 2
    rows = [started(workspace_of(bob, name), bob) for name in ("b1", "b2", "b3", "b4")]
    assert asked(hub) == ["b1", "b2"]
    assert start_queue.start_queue_advance() == 0  # no room: two in flight
    services._save_state(rows[0], State.RUNNING, "")  # one start ended
    assert start_queue.start_queue_advance() == 1
    assert start_queue.start_queue_advance() == 0
    assert asked(hub) == ["b1", "b2", "b3"]
    assert Workspace.objects.starts_in_flight().count() == 2
    assert queue_names() == ["b4"]


def test_a_second_dispatcher_while_the_first_asks_the_hub_starts_nothing_more(
    bob, workspace_of, hub_double, settings
):
    settings.START_CONCURRENCY = 2
    for name in ("b1", "b2", "b3"):
        workspace_of(bob, name, state=State.STARTING, start_queued_at=timezone.now())
    meanwhile: list[int] = []

    class BusyHub(ScriptedHub):
        def server_start(self, user, server, options):
            if not meanwhile:  # another dispatcher runs while the first waits for the hub
                meanwhile.append(start_queue.start_queue_advance())
            return super().server_start(user, server, options)

    hub = hub_double(BusyHub())
    assert start_queue.start_queue_advance() == 2
    assert meanwhile == [0]
    assert asked(hub) == ["b1", "b2"]


def test_a_queued_start_holds_its_place_in_the_running_quota(alice, bob, workspace_of, hub):
    Quota.objects.create(user=alice, running=1)
    started(workspace_of(bob, "busy"), bob)  # the one start in flight
    started(workspace_of(alice, "one"), alice)  # queued
    with pytest.raises(ServiceError) as refused:
        services.workspace_start(workspace=workspace_of(alice, "two"), by=alice)
    assert refused.value.status == 429
    assert Workspace.objects.get(name="two").state == State.STOPPED
    assert asked(hub) == ["busy"]


def test_the_sync_and_the_hubs_reports_leave_a_queued_start_alone(alice, bob, workspace_of, hub):
    started(workspace_of(bob, "busy"), bob)
    hub.active = {"bob": {"busy": {"ready": False, "pending": "spawn"}}}
    waiting = started(workspace_of(alice, "waiting"), alice)
    sync.sync_pass()  # the hub has no such server, rightly
    _, applied = sync.state_report(
        user="alice", server="waiting", state="stopped", at=timezone.now()
    )  # a late report of an earlier run
    after = Workspace.objects.get(pk=waiting.pk)
    assert applied is False
    assert (after.state, after.start_queued_at) == (State.STARTING, waiting.start_queued_at)


def test_a_start_that_would_wait_too_long_is_a_503_and_changes_nothing(
    api, alice, bob, workspace_of, hub
):
    RecentStart.objects.bulk_create(
        RecentStart(ended_at=timezone.now(), seconds=600) for _ in range(3)
    )
    started(workspace_of(bob, "busy"), bob)
    started(workspace_of(bob, "next"), bob)  # 1st in line: about 600 s
    late = workspace_of(alice, "late")  # would be 1st too (alice's first), bob's second after
    started(late, alice)
    too_late = workspace_of(bob, "too-late")  # 3rd: about 1800 s
    api.force_authenticate(bob)
    response = api.post(f"/api/v1/workspaces/{too_late.pk}/start/")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Too many workspaces are starting: this one would be 3rd in line, about 30 "
        "min, longer than the start queue's limit of 15 min. Nothing was started; try again "
        "in a few minutes.",
        "code": "start_queue_full",
        "queue_position": 3,
        "queue_wait_seconds": 1800,
    }
    assert response["Retry-After"] == "60"
    after = Workspace.objects.get(pk=too_late.pk)
    assert (after.state, after.start_queued_at, after.progress_message) == (State.STOPPED, None, "")
    assert queue_names() == ["late", "next"]
    created = api.post("/api/v1/workspaces/", {"name": "new-one"}, format="json")
    assert created.status_code == 503
    assert not Workspace.objects.filter(name="new-one").exists()
    assert asked(hub) == ["busy"]


def test_a_start_that_waited_too_long_goes_back_to_stopped_with_why(alice, bob, workspace_of, hub):
    started(workspace_of(bob, "busy"), bob)
    waited = started(workspace_of(alice, "waited"), alice)
    Workspace.objects.filter(pk=waited.pk).update(
        start_queued_at=timezone.now() - timedelta(minutes=20)
    )
    assert tasks.start_queue_pass() == "1 waited too long, 0 asked of the hub"
    after = Workspace.objects.get(pk=waited.pk)
    message = "Not started: waited 20 min in the start queue; try again"
    assert (after.state, after.message, after.start_queued_at) == (State.STOPPED, message, None)
    entry = AuditEntry.objects.filter(action="workspace.stop", target="alice/waited").get()
    assert (entry.actor, entry.detail) == (None, message)
    assert asked(hub) == ["busy"]


def test_stopping_a_queued_start_asks_nothing_of_the_hub(alice, bob, workspace_of, hub_double):
    hub = hub_double(ScriptedHub())
    started(workspace_of(bob, "busy"), bob)
    waiting = started(workspace_of(alice, "waiting"), alice)
    hub.down = True  # nothing to ask it
    services.workspace_stop(workspace=waiting, by=alice)
    after = Workspace.objects.get(pk=waiting.pk)
    assert (after.state, after.start_queued_at, after.message) == (State.STOPPED, None, "")
    assert queue_names() == []


def test_deleting_a_queued_start_takes_it_out_of_the_queue(
    alice, bob, workspace_of, hub, queued_tasks
):
    started(workspace_of(bob, "busy"), bob)
    waiting = started(workspace_of(alice, "waiting"), alice)
    services.workspace_delete(workspace=waiting, by=alice)
    after = Workspace.objects.get(pk=waiting.pk)
    assert after.deleting_since is not None and after.start_queued_at is None
    assert queue_names() == []
    Workspace.objects.filter(name="busy").update(state=State.RUNNING)
    assert start_queue.start_queue_advance() == 0
    # Its delete's task still asks the hub: a server of an earlier run may hold its volume.
    assert "portal.workspaces.tasks.finish_deletes" in queued_tasks


def test_a_start_that_ends_makes_a_task_advance_the_queue(
    alice, bob, workspace_of, hub, queued_tasks
):
    busy = started(workspace_of(bob, "busy"), bob)
    services._save_state(busy, State.RUNNING, "")
    assert "portal.workspaces.tasks.start_queue_advance" not in queued_tasks  # nobody waits
    other = started(workspace_of(bob, "other"), bob)
    started(workspace_of(alice, "waiting"), alice)
    sync.state_report(user="bob", server="other", state="error", at=timezone.now())
    assert queued_tasks[-1] == "portal.workspaces.tasks.start_queue_advance"
    assert Workspace.objects.get(pk=other.pk).state == State.ERROR
    assert tasks.start_queue_advance() == "1 asked of the hub"
    assert asked(hub) == ["busy", "other", "waiting"]


def test_a_hub_that_does_not_answer_leaves_the_start_in_its_place(
    alice, bob, workspace_of, hub_double
):
    hub = hub_double(ScriptedHub())
    busy = started(workspace_of(bob, "busy"), bob)
    waiting = started(workspace_of(alice, "waiting"), alice)
    Workspace.objects.filter(pk=busy.pk).update(state=State.RUNNING)
    hub.down = True
    assert start_queue.start_queue_advance() == 0
    after = Workspace.objects.get(pk=waiting.pk)
    assert (after.state, after.start_queued_at) == (State.STARTING, waiting.start_queued_at)
    hub.paths.clear()
    hub.down = False
    assert start_queue.start_queue_advance() == 1
    assert asked(hub) == ["waiting"]


def test_a_queued_start_the_hub_refuses_is_stopped_with_its_message(
    alice, bob, workspace_of, hub_double
):
    class RefusingHub(ScriptedHub):
        def _answer(self, method, path, kwargs):
            if method == "POST" and path.endswith("/servers/waiting"):
                from tests.portal.scripted_hub import Answer

                return Answer(400, {"message": "bad options"})
            return super()._answer(method, path, kwargs)

    hub_double(RefusingHub())
    busy = started(workspace_of(bob, "busy"), bob)
    waiting = started(workspace_of(alice, "waiting"), alice)
    Workspace.objects.filter(pk=busy.pk).update(state=State.RUNNING)
    start_queue.start_queue_advance()
    after = Workspace.objects.get(pk=waiting.pk)
    message = "Not started: JupyterHub refused: scripted 400"
    assert (after.state, after.message, after.start_asked_at) == (State.STOPPED, message, None)
    entry = AuditEntry.objects.get(action="workspace.start", target="alice/waiting", actor=None)
    assert (entry.result, entry.detail) == ("failed", message)


def test_the_bulk_start_and_the_login_start_go_through_the_queue(
    carol, alice, bob, workspace_of, hub
):
    rows = [workspace_of(alice, "one"), workspace_of(bob, "two"), workspace_of(bob, "three")]
    outcomes = services.workspaces_act(action="start", workspaces=rows, by=carol)
    assert outcomes == {"done": 3, "refused": 0, "failed": 0, "not tried": 0}
    home = workspace_of(carol, "home")
    assert tasks.start_default(home.pk) == State.STARTING
    assert asked(hub) == ["one"]
    assert queue_names() == ["two", "home", "three"]


def test_a_finished_start_is_timed_for_the_estimate(alice, workspace_of):
    workspace = workspace_of(
        alice, state=State.STARTING, start_asked_at=timezone.now() - timedelta(seconds=30)
    )
    services._save_state(workspace, State.RUNNING, "")
    (timed,) = RecentStart.objects.all()
    assert 29 < timed.seconds < 40
    assert start_queue.recent_start_seconds() == timed.seconds


def test_the_schedule_runs_each_minute_and_not_without_a_queue(settings):
    from django_q.models import Schedule

    assert tasks.start_queue_schedule_ensure() == ("1 starts at once, the rest wait at most 15 min")
    assert Schedule.objects.get(name=tasks.START_QUEUE_SCHEDULE).minutes == 1
    settings.START_CONCURRENCY = 0
    assert tasks.start_queue_schedule_ensure() == "off"
    assert not Schedule.objects.filter(name=tasks.START_QUEUE_SCHEDULE).exists()
