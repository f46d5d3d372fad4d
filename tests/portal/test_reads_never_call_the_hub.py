"""No read of the portal asks the hub: pages, the API and the admin answer from the database.

Every hub call goes through ``HubClient._request`` (our adapter's one way out); here it
fails the test, so a read path that starts calling the hub again is caught whatever it
does with the error.
"""

from __future__ import annotations

import pytest

from portal.hub.client import HubClient
from portal.workspaces.models import Workspace

State = Workspace.State


@pytest.fixture(autouse=True)
def hub_calls(monkeypatch):
    made = []

    def refuse(self, method, path, *, ok=(200,), timeout=None, **kwargs):
        made.append((method, path))
        raise AssertionError(f"a read called the hub: {method} {path}")

    monkeypatch.setattr(HubClient, "_request", refuse)
    return made


@pytest.fixture
def rows(alice, bob, workspace_of):
    return [
        workspace_of(alice, "one", state=State.RUNNING),
        workspace_of(alice, "two", state=State.STARTING),
        workspace_of(bob, "three", state=State.STOPPING),
    ]


def test_api_reads_answer_from_the_database(api, alice, carol, rows, hub_calls):
    api.force_authenticate(alice)
    assert api.get("/api/v1/workspaces/").status_code == 200
    assert api.get(f"/api/v1/workspaces/{rows[0].pk}/").json()["state"] == "running"
    assert api.get("/api/v1/workspaces/", {"state": "starting"}).json()["count"] == 1
    api.force_authenticate(carol)
    assert api.get("/api/v1/workspaces/").json()["count"] == 3
    assert api.get("/api/v1/users/").status_code == 200
    assert api.get("/api/v1/me/").status_code == 200
    assert hub_calls == []


def test_pages_answer_from_the_database(client, alice, rows, hub_calls):
    client.force_login(alice)
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-workspace="two"' in page.content.decode()
    assert hub_calls == []


def test_admin_pages_answer_from_the_database(client, carol, rows, hub_calls):
    carol.is_superuser = True
    carol.save()
    client.force_login(carol)
    for url in [
        "/admin/workspaces/workspace/",
        "/admin/workspaces/workspace/?state__exact=running",
        f"/admin/workspaces/workspace/{rows[2].pk}/change/",
        "/admin/accounts/user/",
        "/admin/workspaces/syncpass/",
    ]:
        assert client.get(url).status_code == 200, url
    assert hub_calls == []
