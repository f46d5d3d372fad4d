"""The periodic sync: each answer of the hub → the row's new state, and what it leaves alone.

The hub is our own adapter with its HTTP scripted (``ScriptedHub``, a ``HubClient``
subclass): its paging and status handling are the real ones.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import AuditEntry
from portal.hub.client import HubError
from portal.workspaces import services, sync
from portal.workspaces.models import SyncPass, Workspace
from tests.portal.scripted_hub import ScriptedHub

State = Workspace.State
FAILED = {"progress": 100, "failed": True, "message": "Spawn failed: image not found"}
READY = {"ready": True, "pending": None}


@pytest.fixture
def use_hub(hub_double):
    def install(**script) -> ScriptedHub:
        return hub_double(ScriptedHub(**script))

    return install


def synced(workspace) -> Workspace:
    sync.sync_pass()
    return Workspace.objects.get(pk=workspace.pk)


@pytest.mark.parametrize(
    ("before", "server", "after"),
    [
        (State.STARTING, READY, State.RUNNING),
        (State.STOPPED, {"ready": False, "pending": "spawn"}, State.STARTING),
        (State.ERROR, READY, State.RUNNING),
        (State.RUNNING, {"ready": False, "pending": "stop"}, State.STOPPING),
        (State.STOPPING, None, State.STOPPED),
        (State.ERROR, None, State.ERROR),
        (State.STOPPED, None, State.STOPPED),
        (State.RUNNING, READY, State.RUNNING),
    ],
)
def test_each_hub_answer_gives_the_row_its_state(
    alice, workspace_of, use_hub, before, server, after
):
    workspace = workspace_of(alice, state=before)
    use_hub(active={"alice": {"thesis": server}} if server else {})
    assert synced(workspace).state == after


def test_a_running_server_the_hub_no_longer_has_is_stopped_with_the_reason(
    alice, workspace_of, use_hub
):
    workspace = workspace_of(alice, state=State.RUNNING)
    use_hub(active={})  # the hub or the engine was restarted
    after = synced(workspace)
    assert (after.state, after.message) == (State.STOPPED, sync.GONE)


def test_a_start_that_ended_is_recorded_with_the_hubs_message(alice, workspace_of, use_hub):
    workspace = workspace_of(alice, state=State.STARTING)
    use_hub(active={}, progress=[FAILED])
    after = synced(workspace)
    assert (after.state, after.message) == (State.ERROR, "image not found")  # the report's text


def test_a_start_the_hub_forgot_is_stopped(alice, workspace_of, use_hub):
    workspace = workspace_of(alice, state=State.STARTING)
    use_hub(active={}, progress=[HubError(404, "Not Found")])
    assert synced(workspace).state == State.STOPPED


def test_a_start_nobody_can_tell_about_any_more_is_stopped_not_left_starting(
    alice, workspace_of, use_hub
):
    workspace = workspace_of(alice, state=State.STARTING)
    use_hub(active={}, progress=[HubError(400, "alice:thesis is not starting")])
    after = synced(workspace)
    assert (after.state, after.message) == (State.STOPPED, "The start did not finish")


def test_a_failing_spawn_being_cleaned_up_stays_starting(alice, workspace_of, use_hub):
    # The hub stops a failed spawn before its failure is on record: not "stopping" yet.
    workspace = workspace_of(alice, state=State.STARTING)
    use_hub(
        active={"alice": {"thesis": {"ready": False, "pending": "stop"}}},
        progress=[HubError(400, "alice:thesis is not starting")],
    )
    assert synced(workspace).state == State.STARTING


def test_a_row_written_after_the_hub_was_read_is_left_alone(alice, workspace_of, use_hub):
    workspace = workspace_of(alice, state=State.STOPPED)
    hub = use_hub(active={})
    real_pages = hub._users_page

    def a_start_lands_meanwhile(params):
        # The portal starts it while the sync reads the hub: the pass's view is older.
        Workspace.objects.filter(pk=workspace.pk).update(
            state=State.STARTING, synced_at=timezone.now() + timedelta(milliseconds=1)
        )
        return real_pages(params)

    hub._users_page = a_start_lands_meanwhile
    assert synced(workspace).state == State.STARTING


def test_it_reads_every_page_of_active_users_and_counts_its_calls(
    django_user_model, workspace_of, use_hub
):
    owners = [django_user_model.objects.create_user(f"u{i:03d}") for i in range(450)]
    for owner in owners:
        workspace_of(owner, state=State.STOPPED)
    hub = use_hub(active={owner.username: {"thesis": READY} for owner in owners})
    result = sync.sync_pass()
    assert (result.checked, result.corrected, result.hub_calls) == (450, 450, 3)
    assert Workspace.objects.filter(state=State.RUNNING).count() == 450
    assert hub.paths == [("GET", "/users")] * 3


def test_servers_the_portal_does_not_know_are_counted_and_nothing_is_created(
    alice, workspace_of, use_hub
):
    workspace_of(alice, state=State.RUNNING)
    use_hub(active={"alice": {"thesis": READY, "stray": READY}, "ghost": {"": READY}})
    result = sync.sync_pass()
    assert result.unknown_servers == 2
    assert Workspace.objects.count() == 1
    assert SyncPass.objects.get().unknown_servers == 2


def started(seconds_ago: float) -> dict:
    """A ready server model as the hub gives it, started ``seconds_ago``."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    return {**READY, "started": at.isoformat().replace("+00:00", "Z")}


def test_a_server_started_behind_the_portals_back_is_stopped_and_audited(
    alice, workspace_of, use_hub
):
    workspace_of(alice, state=State.RUNNING)
    old = sync.UNKNOWN_SERVER_GRACE.total_seconds() + 60
    hub = use_hub(active={"alice": {"thesis": started(old), "sneaky": started(old)}})
    result = sync.sync_pass()
    assert ("DELETE", "/users/alice/servers/sneaky") in hub.paths
    assert ("DELETE", "/users/alice/servers/thesis") not in hub.paths
    assert (result.unknown_servers, result.unknown_stopped) == (1, 1)
    entry = AuditEntry.objects.get(action="workspace.unknown-stopped")
    assert (entry.actor, entry.target, entry.source) == (None, "alice/sneaky", "scheduler")
    assert entry.detail == sync.UNKNOWN_STOPPED
    assert Workspace.objects.count() == 1  # nothing created for it


def test_an_unknown_server_younger_than_the_grace_is_left_running(alice, use_hub):
    young = sync.UNKNOWN_SERVER_GRACE.total_seconds() - 30
    hub = use_hub(active={"alice": {"sneaky": started(young)}})
    result = sync.sync_pass()
    assert [call for call in hub.paths if call[0] == "DELETE"] == []
    assert (result.unknown_servers, result.unknown_stopped) == (1, 0)
    assert not AuditEntry.objects.exists()


def test_a_workspace_being_deleted_is_left_to_its_delete_while_the_hub_still_runs_it(
    alice, workspace_of, use_hub
):
    # Marked by the request; the delete's task has not sent the hub's DELETE yet.
    workspace = workspace_of(
        alice,
        state=State.STOPPING,
        message=services.DELETING,
        deleting_since=timezone.now() - timedelta(seconds=5),
    )
    use_hub(active={"alice": {"thesis": READY}})
    result = sync.sync_pass()
    after = Workspace.objects.get(pk=workspace.pk)
    assert (after.state, after.message) == (State.STOPPING, services.DELETING)
    assert (result.corrected, result.unknown_servers) == (0, 0)


def test_a_hub_that_cannot_be_read_changes_nothing(alice, workspace_of, use_hub):
    workspace = workspace_of(alice, state=State.RUNNING)
    use_hub(down=True)
    with pytest.raises(HubError):
        sync.sync_pass()
    assert Workspace.objects.get(pk=workspace.pk).state == State.RUNNING
    assert not SyncPass.objects.exists()


def test_a_pass_vouches_for_every_row_it_checked(api, alice, workspace_of, use_hub):
    workspace_of(alice, state=State.STOPPED)
    api.force_authenticate(alice)
    (before,) = api.get("/api/v1/workspaces/").json()["results"]
    assert (before["synced_at"], before["stale"]) == (None, True)
    use_hub(active={})
    sync.sync_pass()
    (after,) = api.get("/api/v1/workspaces/").json()["results"]
    assert after["stale"] is False
    assert after["synced_at"] is not None


def test_a_state_not_confirmed_for_two_intervals_is_stale(api, alice, workspace_of, settings):
    settings.WORKSPACE_SYNC_SECONDS = 60
    now = timezone.now()
    workspace_of(alice, "fresh", synced_at=now - timedelta(seconds=119))
    workspace_of(alice, "old", synced_at=now - timedelta(seconds=121))
    api.force_authenticate(alice)
    rows = api.get("/api/v1/workspaces/").json()["results"]
    assert {row["name"]: row["stale"] for row in rows} == {"fresh": False, "old": True}


def test_the_page_says_when_states_may_be_out_of_date(client, alice, workspace_of):
    workspace_of(alice, synced_at=timezone.now() - timedelta(hours=1))
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "These states were last confirmed by JupyterHub 1\xa0hour ago" in page


def test_deletes_left_behind_are_resumed(alice, workspace_of, use_hub, monkeypatch):
    asked = []
    monkeypatch.setattr(sync, "async_task", lambda *args, **kwargs: asked.append(args))
    long_ago = timezone.now() - timedelta(hours=1)
    stuck = workspace_of(alice, "stuck", state=State.STOPPING, deleting_since=long_ago)
    workspace_of(alice, "recent", state=State.STOPPING, deleting_since=timezone.now())
    use_hub(active={})
    sync.sync_pass()
    assert asked == [("portal.workspaces.tasks.finish_deletes", [stuck.pk])]


def test_the_follower_waits_out_the_cleanup_and_records_the_failure(alice, workspace_of, use_hub):
    workspace = workspace_of(alice, state=State.STARTING)
    not_starting = HubError(400, "alice:thesis is not starting...")
    hub = use_hub(progress=[not_starting, not_starting, FAILED])
    services.workspace_follow_spawn(workspace=workspace, patience=10)
    workspace.refresh_from_db()
    assert (workspace.state, workspace.message) == (State.ERROR, "image not found")
    assert [path for _, path in hub.paths] == ["/users/alice/servers/thesis/progress"] * 3


def test_the_follower_leaves_the_state_when_the_hub_never_tells(alice, workspace_of, use_hub):
    workspace = workspace_of(alice, state=State.STARTING)
    use_hub(progress=[HubError(400, "alice:thesis is not starting...")])
    services.workspace_follow_spawn(workspace=workspace, patience=0)
    workspace.refresh_from_db()
    assert workspace.state == State.STARTING


def test_a_person_with_a_non_ascii_name_is_found_by_their_hub_name(
    django_user_model, workspace_of, use_hub
):
    # The hub says "jürgen"; SQLite's LOWER("JÜRGEN") is "jÜrgen": hub_name decides.
    jurgen = django_user_model.objects.create_user(username="JÜRGEN", approval="approved")
    workspace = workspace_of(jurgen, state=State.STOPPED)
    hub = use_hub(active={"jürgen": {"thesis": started(3600)}})
    assert synced(workspace).state == State.RUNNING
    assert not AuditEntry.objects.filter(action="workspace.unknown-stopped").exists()
    assert [path for method, path in hub.paths if method == "DELETE"] == []
