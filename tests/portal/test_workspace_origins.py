"""Workspaces on their own origins: what the portal answers on a workspace's host."""

from __future__ import annotations

import pytest

from portal.api.serializers import WorkspaceSerializer

WORKSPACE_HOST = "alice.localhost:8000"


def test_a_workspace_url_is_absolute_on_its_owners_origin(alice, workspace_of):
    workspace = workspace_of(alice)
    assert workspace.url == "http://alice.localhost:8000/user/alice/thesis/"
    assert WorkspaceSerializer(workspace).data["url"] == workspace.url


def test_names_that_are_not_dns_labels_get_jupyterhubs_encoding(django_user_model, workspace_of):
    odd = django_user_model.objects.create_user(username="a.b@c", password="x" * 12)
    # JupyterHub's idna rule: not a DNS label, so trimmed and hashed (the hub agrees).
    assert workspace_of(odd).url == "http://u-abc--9455477.localhost:8000/user/a.b@c/thesis/"
    plus = django_user_model.objects.create_user(username="a+b", password="x" * 12)
    assert workspace_of(plus).url == "http://u-ab--300273d.localhost:8000/user/a%2Bb/thesis/"


def test_single_origin_keeps_workspaces_on_the_public_host(settings, alice, workspace_of):
    settings.SINGLE_ORIGIN = True
    assert workspace_of(alice).url == "http://localhost:8000/user/alice/thesis/"


def test_a_stopped_workspace_on_its_origin_is_handed_to_the_hub(client, alice):
    client.force_login(alice)  # the visitor has a portal session on the portal's host
    response = client.get("/user/alice/thesis/lab?reset", HTTP_HOST=WORKSPACE_HOST)
    assert response.status_code == 302
    assert response["Location"] == "http://localhost:8000/hub/user/alice/thesis/lab?reset"
    assert not response.cookies  # nothing set on a workspace's origin


def test_api_calls_to_a_stopped_workspace_get_the_424_jupyterlab_expects(client):
    response = client.post("/user/alice/thesis/api/kernels", HTTP_HOST=WORKSPACE_HOST)
    assert response.status_code == 424
    assert response.json() == {"detail": "This workspace is not running."}


@pytest.mark.parametrize("path", ["/", "/admin/", "/api/v1/me/", "/accounts/login/"])
def test_the_portal_serves_no_page_on_a_workspace_origin(client, alice, path):
    client.force_login(alice)
    response = client.get(path, HTTP_HOST=WORKSPACE_HOST)
    assert response.status_code == 302
    assert response["Location"] == f"http://localhost:8000{path}"
    assert not response.cookies


def test_writes_on_a_workspace_origin_find_nothing(client):
    response = client.post("/api/v1/users/", {"username": "x"}, HTTP_HOST=WORKSPACE_HOST)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_pages_on_the_loopback_twin_move_to_the_public_host(client):
    response = client.get("/accounts/login/?next=/", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 302
    assert response["Location"] == "http://localhost:8000/accounts/login/?next=/"


def test_api_calls_on_the_loopback_twin_are_answered_in_place(client):
    # Redirecting would make clients drop their Authorization header.
    response = client.get("/api/v1/me/", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 401


def test_hosts_that_are_not_ours_are_refused(client):
    assert client.get("/", HTTP_HOST="evil.example.com").status_code == 400


def test_portal_cookies_are_host_only(client, alice):
    client.get("/accounts/login/", HTTP_HOST="localhost:8000")
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct-horse-battery"},
        HTTP_HOST="localhost:8000",
    )
    assert response.status_code == 302
    session = response.cookies["mlhub-portal-session"]
    assert session["domain"] == "" and session["httponly"] is True
    assert session["samesite"] == "Lax"
