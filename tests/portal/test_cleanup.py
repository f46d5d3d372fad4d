"""Cleanup's rules with our own adapters scripted (a DockerBackend subclass, ScriptedHub):
only this hub's, never a person's, never young, nothing when a part does not answer; the
schedule, the command and the API (admins only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from portal.audit.models import AuditEntry
from portal.cleanup import service, tasks
from portal.cleanup.models import CleanupRun
from portal.workspaces import services as workspace_services
from portal.workspaces import tasks as workspace_tasks
from portal.workspaces.models import Workspace
from spawners.cleanup.backend import EngineUnavailable, Resource
from spawners.cleanup.docker_backend import DockerBackend
from tests.portal.scripted_hub import ScriptedHub

pytestmark = pytest.mark.django_db
OLD = datetime(2026, 1, 1, tzinfo=UTC)


class ScriptedEngine(DockerBackend):
    """The real backend with the engine replaced by a list (same methods, same signatures)."""

    def __init__(self, resources=(), down=False):
        super().__init__("mlhub", client=None)
        self.listed = list(resources)
        self.removed: list[str] = []
        self.down = down

    def resources(self) -> list[Resource]:
        if self.down:
            raise EngineUnavailable("the Docker engine did not answer: connection refused")
        return [r for r in self.listed if r.id not in self.removed]

    def remove(self, resource: Resource) -> None:
        self.removed.append(resource.id)


def made(kind, user, *, server="thesis", created=OLD, expires=0) -> Resource:
    name = f"mlhub-{user}-{server}" if kind != "network" else f"mlhub-{user}"
    return Resource(kind, f"{kind}-{user}-{server}", "mlhub", name, user, server, created, expires)


@pytest.fixture
def hub(hub_double):
    return hub_double(ScriptedHub())


def test_a_gone_persons_resources_are_removed_and_a_live_persons_kept(alice, hub, workspace_of):
    workspace_of(alice, "thesis", state="running")
    engine = ScriptedEngine(
        [
            made("container", "alice"),
            made("volume", "alice"),
            made("network", "alice", server=""),
            made("container", "gone"),
            made("volume", "gone"),
            made("network", "gone"),
        ]
    )
    report = service.cleanup_users(backend=engine)
    assert sorted(engine.removed) == [
        "container-gone-thesis",
        "network-gone-thesis",
        "volume-gone-thesis",
    ]
    assert report.summary == "users: 3 found, 3 removed, 0 kept, 0 failed"
    assert {line.reason for line in report.lines} == {"gone is not a person of this portal"}
    assert AuditEntry.objects.filter(
        action="cleanup.container", target="mlhub-gone-thesis"
    ).exists()


def test_what_outlived_a_living_persons_workspace_goes_and_nothing_else(alice, hub, workspace_of):
    # Found by bench/soak.py: a delete whose volume the engine could not remove (restarting)
    # left it with no row; a hub that died while starting left a container running on with
    # the workspace stopped; a container the hub noticed ended while it was down stayed.
    workspace_of(alice, "thesis", state="stopped")  # its volume is its data: kept
    workspace_of(alice, "notes", state="stopped")  # the portal is behind: the hub runs it
    workspace_of(alice, "draft", state="starting")
    hub.active = {"alice": {"notes": {}}}
    engine = ScriptedEngine(
        [
            made("volume", "alice", server="thesis"),
            made("container", "alice", server="thesis"),
            made("container", "alice", server="notes"),
            made("container", "alice", server="draft"),
            made("volume", "alice", server="deleted"),
            made("container", "alice", server="deleted"),
            made("network", "alice", server=""),
        ]
    )
    report = service.cleanup_users(backend=engine)
    assert {line.name: line.reason for line in report.lines} == {
        "mlhub-alice-thesis": "alice/thesis is stopped and the hub does not run it",
        "mlhub-alice-deleted": "no workspace alice/deleted in the portal",
    }  # her network is kept: she has workspaces
    assert sorted(engine.removed) == [
        "container-alice-deleted",
        "container-alice-thesis",
        "volume-alice-deleted",
    ]


def test_with_the_hub_down_only_what_has_no_workspace_goes(alice, hub, workspace_of):
    workspace_of(alice, "thesis", state="stopped")
    hub.down = True
    engine = ScriptedEngine(
        [made("container", "alice", server="thesis"), made("volume", "alice", server="gone")]
    )
    report = service.cleanup_users(backend=engine)
    assert engine.removed == ["volume-alice-gone"]
    assert "JupyterHub did not answer: JupyterHub is not reachable: ConnectionError" in (
        report.errors
    )


def test_a_young_resource_is_kept_for_the_grace_period(alice, hub, settings):
    settings.CLEANUP_GRACE_SECONDS = 600
    young = made("container", "gone", created=datetime.now(UTC) - timedelta(seconds=60))
    engine = ScriptedEngine([young])
    report = service.cleanup_users(backend=engine)
    assert engine.removed == []
    assert report.lines[0].outcome == "kept"
    assert report.lines[0].reason == "younger than the grace period (a start may be in flight)"


def test_a_dry_run_removes_nothing_and_lists_the_same(alice, hub):
    resources = [made("container", "gone"), made("volume", "gone")]
    hub.users = {"alice", "stranger"}
    dry = service.cleanup_users(backend=ScriptedEngine(resources), dry_run=True)
    engine = ScriptedEngine(resources)
    real = service.cleanup_users(backend=engine)
    assert [(x.kind, x.name) for x in dry.lines] == [(x.kind, x.name) for x in real.lines]
    assert {x.outcome for x in dry.lines} == {"would remove"}
    assert hub.deleted_users == ["stranger"]


def test_hub_users_are_read_in_pages_and_only_strangers_removed(db, hub, django_user_model):
    people = [f"p{number:03}" for number in range(250)]
    django_user_model.objects.bulk_create([django_user_model(username=n) for n in people])
    hub.users = {*people, "stranger"}
    report = service.cleanup_users(backend=ScriptedEngine())
    assert hub.deleted_users == ["stranger"]
    assert report.summary == "users: 1 found, 1 removed, 0 kept, 0 failed"


def test_the_hub_down_removes_no_hub_user_and_says_so(alice, hub, workspace_of):
    workspace_of(alice, "thesis", state="stopped")  # the hub may run it: kept
    hub.down = True
    engine = ScriptedEngine([made("container", "alice")])
    report = service.cleanup_users(backend=engine)
    assert report.errors == [
        "JupyterHub did not answer: JupyterHub is not reachable: ConnectionError"
    ]
    assert engine.removed == [] and hub.deleted_users == []


def test_the_engine_down_removes_nothing_and_says_so(alice, hub):
    report = service.cleanup_users(backend=ScriptedEngine(down=True))
    assert report.errors == ["the Docker engine did not answer: connection refused"]
    assert report.lines == []


def test_expired_workspaces_are_deleted_through_the_hub(alice, hub, workspace_of):
    past = workspace_of(alice, "old", expires_at=timezone.now() - timedelta(hours=1))
    workspace_of(alice, "young", expires_at=timezone.now() + timedelta(days=1))
    workspace_of(alice, "forever")
    report = service.cleanup_expired(backend=ScriptedEngine())
    assert [(x.kind, x.name, x.outcome) for x in report.lines] == [
        ("workspace", "alice/old", "removed")
    ]
    past.refresh_from_db()
    assert past.deleting_since is not None
    assert hub.paths == [("GET", "/")]  # the hub answers; the removal is the delete's task
    assert Workspace.objects.filter(deleting_since=None).count() == 2
    assert workspace_tasks.finish_deletes([past.pk]) == "1 deleted"
    assert ("DELETE", "/users/alice/servers/old") in hub.paths
    assert not Workspace.objects.filter(pk=past.pk).exists()


def test_expired_workspaces_are_removed_by_one_task_as_a_bulk_delete(
    alice, bob, hub, workspace_of, monkeypatch
):
    queued = []
    monkeypatch.setattr(workspace_services, "async_task", lambda *args, **kw: queued.append(args))
    gone = timezone.now() - timedelta(hours=1)
    first = workspace_of(alice, "old", expires_at=gone)
    second = workspace_of(bob, "older", expires_at=gone)
    service.cleanup_expired(backend=ScriptedEngine())
    ((task, ids),) = queued
    assert (task, sorted(ids)) == ("portal.workspaces.tasks.finish_deletes", [first.pk, second.pk])


def test_expired_leftovers_go_by_label_but_not_an_extended_workspace(alice, hub, workspace_of):
    workspace_of(alice, "extended", expires_at=timezone.now() + timedelta(days=3))
    labelled_past = int((timezone.now() - timedelta(days=1)).timestamp())
    engine = ScriptedEngine(
        [
            made("container", "alice", server="extended", expires=labelled_past),
            made("container", "alice", server="orphan", expires=labelled_past),
            made("volume", "alice", server="never", expires=0),
        ]
    )
    service.cleanup_expired(backend=engine)
    assert engine.removed == ["container-alice-orphan"]


def test_the_hub_down_deletes_no_expired_workspace(alice, hub, workspace_of):
    hub.down = True
    past = workspace_of(alice, "old", expires_at=timezone.now() - timedelta(hours=1))
    report = service.cleanup_expired(backend=ScriptedEngine())
    past.refresh_from_db()
    assert past.deleting_since is None
    assert report.errors == [
        "JupyterHub did not answer: JupyterHub is not reachable: ConnectionError"
    ]


def test_the_schedule_follows_the_setting(settings):
    settings.CLEANUP_INTERVAL_SECONDS = 1800
    assert tasks.cleanup_schedule_ensure() == "every 30 min"
    schedule = Schedule.objects.get(name="cleanup")
    assert (schedule.func, schedule.minutes) == ("portal.cleanup.tasks.run_scheduled", 30)
    settings.CLEANUP_INTERVAL_SECONDS = -1
    assert tasks.cleanup_schedule_ensure() == "off"
    assert not Schedule.objects.filter(name="cleanup").exists()


def test_the_schedules_task_runs_both_jobs(alice, hub, monkeypatch, settings):
    settings.EXECUTION_MODE = "process"  # no engine: only the hub's side
    hub.users = {"alice", "stranger"}
    summary = tasks.run_scheduled()
    assert summary == (
        "users: 1 found, 1 removed, 0 kept, 0 failed; expired: 0 found, 0 removed, 0 kept, 0 failed"
    )
    assert list(CleanupRun.objects.values_list("job", flat=True)) == ["expired", "users"]


def test_the_command_prints_a_table_and_removes_nothing_in_a_dry_run(alice, hub, capsys, settings):
    settings.EXECUTION_MODE = "process"
    hub.users = {"alice", "stranger"}
    call_command("cleanup", "users", "--dry-run")
    out = capsys.readouterr().out
    assert "hub user  stranger  stranger  would remove" in out
    assert "users: 1 found, 1 would remove, 0 kept, 0 failed" in out
    assert hub.deleted_users == []
    assert CleanupRun.objects.get().dry_run is True


def test_the_api_queues_a_run_for_admins(api, carol, alice, hub, settings, monkeypatch):
    from django_q.conf import Conf

    settings.EXECUTION_MODE = "process"
    monkeypatch.setattr(Conf, "SYNC", True)  # the queued task runs at once, here
    hub.users = {"alice", "carol", "stranger"}
    api.force_authenticate(carol)
    response = api.post("/api/v1/cleanup/users/?dry_run=1")
    assert response.status_code == 202
    run = api.get(response.json()["url"]).json()
    assert (run["job"], run["dry_run"], run["done"], run["asked_by"]) == (
        "users",
        True,
        True,
        "carol",
    )
    assert run["report"]["lines"][0]["name"] == "stranger"
    assert hub.deleted_users == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cleanup/users/",
        "/api/v1/cleanup/expired/",
        "/services/cleanup-service/users",
        "/services/cleanup-service/expired",
    ],
)
def test_people_who_are_not_admins_cannot_run_cleanup(api, alice, path):
    from portal.api.services import api_token_create

    _, key = api_token_create(user=alice, by=alice, name="x")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api.post(path)
    assert response.status_code == 403
    assert response.json() == {"detail": "Only administrators may do this.", "code": "admin_only"}
    assert api.get("/api/v1/cleanup/runs/").status_code == 403
    assert not CleanupRun.objects.exists()


def test_the_originals_path_takes_a_token_but_never_a_browser_session(
    client, api, carol, hub, settings
):
    from portal.api.services import api_token_create

    settings.EXECUTION_MODE = "process"
    client.force_login(carol)
    assert client.get("/services/cleanup-service/users").status_code == 401
    _, key = api_token_create(user=carol, by=carol, name="script")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api.get("/services/cleanup-service/users")
    assert response.status_code == 202
    assert CleanupRun.objects.get().job == "users"


def test_admins_set_an_expiry_directly_and_people_cannot(api, carol, alice, bob, workspace_of):
    workspace = workspace_of(alice)
    url = f"/api/v1/workspaces/{workspace.pk}/"
    api.force_authenticate(bob)
    assert api.patch(url, {"expires_at": "2020-01-01T00:00:00Z"}, format="json").status_code == 404
    api.force_authenticate(alice)
    refused = api.patch(url, {"expires_at": "2020-01-01T00:00:00Z"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "Only administrators may set an expiry directly; use extend.",
        "code": "admin_only",
    }
    api.force_authenticate(carol)
    response = api.patch(url, {"expires_at": "2020-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 200
    assert (response.json()["expires_at"], response.json()["expires_in_seconds"]) == (
        "2020-01-01T00:00:00Z",
        0,
    )


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-27T05:20:00Z", datetime(2026, 11, 27, 5, 20, tzinfo=UTC)),
        (
            "2026-11-27T06:20:00.123456789+01:00",
            datetime(2026, 11, 27, 5, 20, 0, 123456, tzinfo=UTC),
        ),
        ("2026-11-27 05:20:00.5 +0000 UTC", datetime(2026, 11, 27, 5, 20, 0, 500000, tzinfo=UTC)),
    ],
    ids=["volume", "offset", "network"],
)
def test_the_engines_times_are_read_in_every_form(text, moment):
    from spawners.cleanup.docker_backend import _when

    assert _when(text) == moment


def test_an_unreadable_time_counts_as_young(alice, hub):
    from spawners.cleanup.docker_backend import _when

    assert _when("yesterday") > datetime.now(UTC) - timedelta(seconds=5)


def test_the_network_of_a_person_without_workspaces_goes(alice, bob, hub, workspace_of):
    # A delete of someone's last workspace while the engine restarted left their network;
    # Docker's networks are few (docker-engine.sh's pool: 512 of /24), so it must not wait
    # for them to go.
    workspace_of(bob, "draft", state="stopped")
    engine = ScriptedEngine(
        [made("network", "alice", server=""), made("network", "bob", server="")]
    )
    report = service.cleanup_users(backend=engine)
    assert [(line.name, line.reason) for line in report.lines] == [
        ("mlhub-alice", "alice has no workspace in the portal")
    ]
    assert engine.removed == ["network-alice-"]
