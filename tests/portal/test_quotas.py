"""Quotas: a person's own, else their groups' most generous, else MLHUB_QUOTA_*, else none.
Going over one on create or start is a 429 naming the limit, the limit and the use, and
nothing is created or started."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from portal.quotas.limits import limits_of
from portal.quotas.models import Quota
from portal.workspaces import services
from portal.workspaces.models import Workspace, WorkspaceTemplate
from tests.portal.scripted_hub import ScriptedHub

pytestmark = pytest.mark.django_db
State = Workspace.State
GIB = 1024**3


@pytest.fixture(autouse=True)
def _no_default_quota(settings):
    settings.QUOTA_DEFAULTS = dict.fromkeys(["workspaces", "running", "cpu", "memory", "gpus"])


def test_without_any_quota_everything_is_unlimited(alice):
    assert set(limits_of(alice).values()) == {None}


def test_the_person_then_the_groups_then_the_default(alice, settings):
    settings.QUOTA_DEFAULTS = {**settings.QUOTA_DEFAULTS, "running": 1, "workspaces": 3}
    small, big = Group.objects.create(name="small"), Group.objects.create(name="big")
    Quota.objects.create(group=small, running=2, cpu=4)
    Quota.objects.create(group=big, running=5)
    alice.groups.add(small, big)
    Quota.objects.create(user=alice, cpu=1.5)
    limits = limits_of(alice)
    assert limits == {"workspaces": 3, "running": 5, "cpu": 1.5, "memory": None, "gpus": None}


def test_one_workspace_too_many_is_a_429_and_creates_nothing(api, alice, workspace_of):
    Quota.objects.create(user=alice, workspaces=1)
    workspace_of(alice)
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "second"}, format="json")
    assert response.status_code == 429
    assert response.json() == {
        "detail": "Quota exceeded for alice: workspaces — limit 1, in use 1.",
        "limit": "workspaces",
        "quota": 1,
        "used": 1,
        "code": "quota_exceeded",
    }
    assert Workspace.objects.count() == 1


def test_starting_over_the_running_limit_is_a_429_and_starts_nothing(api, alice, workspace_of):
    Quota.objects.create(user=alice, running=1)
    workspace_of(alice, "one", state=State.RUNNING)
    second = workspace_of(alice, "two")
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{second.pk}/start/")
    assert response.status_code == 429
    assert response.json()["detail"] == (
        "Quota exceeded for alice: running workspaces — limit 1, in use 1."
    )
    second.refresh_from_db()
    assert second.state == State.STOPPED


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        ({"cpu": 1.5}, "CPU cores — limit 1.5, in use 1"),
        ({"memory": 3 * GIB}, "memory — limit 3G, in use 2G"),
        ({"gpus": 1}, "GPUs — limit 1, in use 1"),
    ],
)
def test_resources_of_running_workspaces_count(alice, workspace_of, quota, message):
    Quota.objects.create(user=alice, **quota)
    workspace_of(alice, "one", state=State.RUNNING, cpu=1, memory=2 * GIB, gpus="0")
    second = workspace_of(alice, "two", cpu=1, memory=2 * GIB, gpus="1")
    with pytest.raises(services.ServiceError) as refused:
        services.workspace_start(workspace=second, by=alice)
    assert refused.value.status == 429
    assert message in refused.value.message


def test_stopped_and_deleted_workspaces_do_not_hold_resources(alice, workspace_of):
    from django.utils import timezone

    Quota.objects.create(user=alice, running=1, workspaces=2)
    workspace_of(alice, "stopped")
    workspace_of(alice, "going", state=State.STOPPING, deleting_since=timezone.now())
    second = workspace_of(alice, "two")
    # Within the quota: the start reaches the hub, which is down in unit tests.
    with pytest.raises(services.HubError):
        services.workspace_start(workspace=second, by=alice)


def test_a_lowered_quota_never_blocks_stopping(alice, workspace_of):
    Quota.objects.create(user=alice, running=0, workspaces=0)
    running = workspace_of(alice, state=State.RUNNING)
    with pytest.raises(services.HubError):  # past the quota check, at the (down) hub
        services.workspace_stop(workspace=running, by=alice)


def test_admins_see_use_against_the_quota(api, carol, alice, workspace_of):
    Quota.objects.create(user=alice, running=2, memory=8 * GIB)
    workspace_of(alice, state=State.RUNNING, memory=2 * GIB)
    api.force_authenticate(carol)
    body = api.get(f"/api/v1/users/{alice.pk}/quota/").json()
    assert body["limits"] == {
        "workspaces": None,
        "running": 2,
        "cpu": None,
        "memory": 8 * GIB,
        "gpus": None,
    }
    assert body["used"] == {"workspaces": 1, "running": 1, "cpu": 1.0, "memory": 2 * GIB, "gpus": 0}
    assert body["own"]["running"] == 2
    api.force_authenticate(alice)
    assert api.get(f"/api/v1/users/{alice.pk}/quota/").status_code == 403


def test_the_admin_site_shows_use_and_edits_the_quota(client, carol, alice, workspace_of):
    workspace_of(alice, state=State.RUNNING)
    client.force_login(carol)
    listing = client.get("/admin/accounts/user/").content.decode()
    assert "running" in listing
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert "running workspaces: 1 of unlimited" in page


def test_a_bad_quota_setting_stops_the_start(monkeypatch):
    from lib import env

    monkeypatch.setenv("MLHUB_QUOTA_MEMORY", "lots")
    with pytest.raises(env.ConfigError) as error:
        from lib.resources import parse_memory

        env.env_optional("MLHUB_QUOTA_MEMORY", parse_memory)
    assert str(error.value) == (
        "MLHUB_QUOTA_MEMORY='lots': memory 'lots' is not a size (like '512M' or '2G')"
    )


def test_admins_set_a_persons_quota_in_the_api_and_it_is_audited(api, carol, alice):
    from portal.audit.models import AuditEntry

    api.force_authenticate(carol)
    response = api.put(f"/api/v1/users/{alice.pk}/quota/", {"running": 3}, format="json")
    assert response.status_code == 200
    assert response.json()["own"] == {
        "workspaces": None,
        "running": 3,
        "cpu": None,
        "memory": None,
        "gpus": None,
    }
    assert limits_of(alice)["running"] == 3
    entry = AuditEntry.objects.get(action="quota.save")
    assert (entry.target, entry.source, entry.actor_name) == ("alice", "api", "carol")
    bad = api.put(f"/api/v1/users/{alice.pk}/quota/", {"running": -1}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {"running": ["Ensure this value is greater than or equal to 0."]}
    assert limits_of(alice)["running"] == 3


def test_the_admin_sites_quota_inline_saves_through_the_service(client, carol, alice):
    from portal.audit.models import AuditEntry

    client.force_login(carol)
    url = "/admin/auth/group/add/"
    form = {
        "name": "course",
        "quota-TOTAL_FORMS": 1,
        "quota-INITIAL_FORMS": 0,
        "quota-0-running": 2,
        "quota-0-memory": 4 * GIB,
        "budget-TOTAL_FORMS": 0,
        "budget-INITIAL_FORMS": 0,
    }
    assert client.post(url, form).status_code == 302
    alice.groups.add(Group.objects.get(name="course"))
    assert limits_of(alice)["running"] == 2
    entry = AuditEntry.objects.get(action="quota.save")
    assert (entry.target, entry.source) == ("group course", "admin")


# Committed rows, so that the two threads' own connections see them; every app available
# lets the flush afterwards truncate with CASCADE (knox's unused table refers to users).
AT_ONCE = pytest.mark.django_db(
    transaction=True, available_apps=[app.name for app in apps.get_app_configs()]
)


def both_at_once(monkeypatch, action, arguments) -> list[str]:
    """Run ``action`` on both ``arguments`` in two threads whose quota checks wait for each
    other: without a lock both pass before either has written. What each did: "done" or
    the refusal's message."""
    import threading

    from django.db import connection

    from portal.quotas.limits import QuotaExceeded

    if connection.vendor != "postgresql":
        pytest.skip("a row lock is PostgreSQL's; SQLite serializes whole transactions")
    both_checking = threading.Barrier(2, timeout=2)
    real_check = services.quota_check

    def slow_check(owner, **kwargs):
        real_check(owner, **kwargs)
        try:  # with the lock, the second gets here only after the first wrote: no meeting
            both_checking.wait()
        except threading.BrokenBarrierError:
            pass

    monkeypatch.setattr(services, "quota_check", slow_check)
    outcomes: list[str] = []

    def run(argument) -> None:
        try:
            action(argument)
            outcomes.append("done")
        except QuotaExceeded as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@AT_ONCE
def test_two_creates_at_once_cannot_both_pass_the_workspace_quota(alice, monkeypatch, hub_double):
    # The data migration's default template: an earlier transactional test's flush on this
    # worker (tests/portal/test_backups.py) empties every table.
    WorkspaceTemplate.objects.update_or_create(name="default", defaults={"is_default": True})
    Quota.objects.create(user=alice, workspaces=1)
    hub_double(ScriptedHub)

    outcomes = both_at_once(
        monkeypatch, lambda name: services.workspace_create(by=alice, name=name), ["one", "two"]
    )

    assert outcomes == ["Quota exceeded for alice: workspaces — limit 1, in use 1.", "done"]
    assert Workspace.objects.filter(owner=alice).count() == 1


class WatchingHub(ScriptedHub):
    """The scripted hub that notes what the portal's row said when it was asked to start."""

    seen: list[str] = []

    def server_start(self, user, server, options):
        row = Workspace.objects.get(owner__username=user, name=server)
        self.seen.append(f"{row.state}: {row.progress_message}")
        return super().server_start(user, server, options)


def test_a_start_holds_its_running_place_before_it_asks_the_hub(
    alice, workspace_of, monkeypatch, hub_double
):
    hub_double(WatchingHub)
    monkeypatch.setattr(WatchingHub, "seen", [])
    workspace = workspace_of(alice)

    services.workspace_start(workspace=workspace, by=alice)

    assert WatchingHub.seen == ["starting: Asking JupyterHub to start it"]
    workspace.refresh_from_db()
    assert (workspace.state, workspace.progress_message) == (
        State.STARTING,
        "Asked JupyterHub to start it",
    )


def test_a_start_the_hub_refuses_gives_its_place_back_and_leaves_the_row_as_it_was(
    alice, workspace_of, monkeypatch, hub_double
):
    from portal.hub.client import HubError

    Quota.objects.create(user=alice, running=1)
    hub_double(ScriptedHub(down=True))
    workspace = workspace_of(
        alice, state=State.ERROR, message="Out of memory", progress=40, progress_message="Pulling"
    )

    with pytest.raises(HubError) as refused:
        services.workspace_start(workspace=workspace, by=alice)

    assert (refused.value.status, refused.value.message) == (
        503,
        "JupyterHub is not reachable: ConnectionError",
    )
    workspace.refresh_from_db()
    assert (workspace.state, workspace.message, workspace.progress, workspace.progress_message) == (
        State.ERROR,
        "Out of memory",
        40,
        "Pulling",
    )
    hub_double(ScriptedHub)
    assert services.workspace_start(workspace=workspace, by=alice).state == State.STARTING


@AT_ONCE
def test_two_starts_at_once_cannot_both_pass_the_running_limit(alice, monkeypatch, hub_double):
    from portal.workspaces.models import WorkspaceTemplate

    template, _ = WorkspaceTemplate.objects.get_or_create(
        name="default", defaults={"is_default": True}
    )
    Quota.objects.create(user=alice, running=1)
    rows = [
        Workspace.objects.create(
            owner=alice, name=name, template=template, image=template.image, cpu=1, memory=GIB
        )
        for name in ("one", "two")
    ]
    hub_double(WatchingHub)
    monkeypatch.setattr(WatchingHub, "seen", [])

    outcomes = both_at_once(
        monkeypatch, lambda row: services.workspace_start(workspace=row, by=alice), rows
    )

    assert outcomes == ["Quota exceeded for alice: running workspaces — limit 1, in use 1.", "done"]
    assert WatchingHub.seen == ["starting: Asking JupyterHub to start it"]
    states = sorted(Workspace.objects.filter(owner=alice).values_list("state", flat=True))
    assert states == [State.STARTING, State.STOPPED]
