"""The "My workspaces" pages: own workspaces only, clear errors, and they keep serving when
the hub is down (the unit tests' hub address has nothing listening)."""

from __future__ import annotations

import pytest

from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_workspace(alice, workspace_of):
    return workspace_of(alice, state=Workspace.State.RUNNING)


def test_it_sends_strangers_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_list_keeps_serving_when_the_hub_is_down(client, alice, alices_workspace):
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    assert b"thesis" in response.content and b"Running" in response.content
    assert b'href="http://alice.localhost:8000/user/alice/thesis/"' in response.content


def test_creating_while_the_hub_is_down_says_so_and_leaves_nothing(client, alice):
    client.force_login(alice)
    response = client.post("/workspaces/create/", {"name": "notes", "template": "default"})
    assert response.status_code == 200
    assert b"JupyterHub is unavailable" in response.content
    assert not Workspace.objects.exists()


def test_a_bad_name_is_explained(client, alice):
    client.force_login(alice)
    response = client.post("/workspaces/create/", {"name": "Bad_Name", "template": "default"})
    assert b"lowercase letters" in response.content
    assert not Workspace.objects.exists()


def test_people_waiting_for_approval_cannot_create(client, mallory):
    client.force_login(mallory)
    page = client.get("/")
    assert b"waiting for an administrator" in page.content
    assert b"New workspace" not in page.content
    client.post("/workspaces/create/", {"name": "notes", "template": "default"})
    assert not Workspace.objects.exists()


def test_someone_elses_workspace_is_a_404(client, bob, alices_workspace):
    client.force_login(bob)
    for verb in ("start", "stop", "delete"):
        assert client.post(f"/workspaces/{alices_workspace.pk}/{verb}/").status_code == 404
    assert b"thesis" not in client.get("/").content
    assert Workspace.objects.filter(pk=alices_workspace.pk).exists()


def test_actions_need_post_and_csrf(alice, alices_workspace):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    url = f"/workspaces/{alices_workspace.pk}/delete/"
    assert browser.get(url).status_code == 405
    assert browser.post(url).status_code == 403
    assert Workspace.objects.filter(pk=alices_workspace.pk).exists()


def test_a_workspace_that_is_not_running_is_handed_to_the_hub(client):
    response = client.get("/user/alice/thesis/lab?reset")
    assert response.status_code == 302
    assert response["Location"] == "http://localhost:8000/hub/user/alice/thesis/lab?reset"
    assert client.post("/user/alice/thesis/api/kernels").status_code == 424


def test_logout_ends_the_portal_session_then_the_hubs(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/hub/logout"
    assert client.get("/").status_code == 302
    # The hub sends people back here; with no session left the chain stops at the login.
    assert client.get("/accounts/logout/")["Location"] == "/accounts/login/"


def test_a_get_to_logout_asks_and_ends_no_session(client, alice):
    # What a link or an image on another site would do: the session survives.
    client.force_login(alice)
    response = client.get("/accounts/logout/")
    assert response.status_code == 200
    assert b"Log out of MLHub?" in response.content
    assert b'method="post"' in response.content
    assert client.get("/").status_code == 200


def test_the_form_refuses_resources_above_the_template(client, alice):
    client.force_login(alice)
    response = client.post(
        "/workspaces/create/", {"name": "big", "template": "default", "cpu": "16"}
    )
    assert b"above the maximum" in response.content
    response = client.post(
        "/workspaces/create/", {"name": "gpu", "template": "default", "gpus": "0"}
    )
    assert b"GPUs are not allowed" in response.content
    assert not Workspace.objects.exists()


def test_the_list_shows_the_resources(client, alice, alices_workspace):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "mlhub-workspace:latest" in page and "1G" in page and "none" in page
