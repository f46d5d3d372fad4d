"""POST /api/v1/workspaces/<id>/token/: a short-lived hub token that opens that one server.

The hub is our own adapter with its HTTP scripted (``TokenHub``, a ``ScriptedHub``): it
answers the token request as JupyterHub 6 does and keeps what the portal asked for.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.accounts.access import AccessRefused
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.errors import ServiceError
from portal.workspaces import workspace_tokens as tokens
from tests.portal.reloaded import reloaded_settings, settings_refusal
from tests.portal.scripted_hub import Answer, ScriptedHub

pytestmark = pytest.mark.django_db

SECRET = "0123456789abcdef0123456789abcdef"


class TokenHub(ScriptedHub):
    """Knows every user and makes tokens; ``asked`` keeps each token request's body."""

    def __init__(self, **script):
        super().__init__(**script)
        self.asked: list[tuple[str, dict]] = []

    def _answer(self, method, path, kwargs):
        parts = path.split("/")  # "", "users", name[, "tokens"]
        if method == "POST" and len(parts) == 3:
            return Answer(409, {})  # the user exists
        if method == "POST" and parts[3:] == ["tokens"]:
            body = kwargs["json"]
            self.asked.append((parts[2], body))
            return Answer(
                201,
                {
                    "user": parts[2],
                    "id": "a42",
                    "kind": "api_token",
                    # As JupyterHub 6 lists them: expanded, with the owner's identity that
                    # every token carries, in no particular order.
                    "scopes": [
                        f"read:users:name!user={parts[2]}",
                        *body["scopes"],
                        f"read:users:groups!user={parts[2]}",
                    ],
                    "expires_at": "2026-11-27T13:00:00.000000Z",
                    "note": body["note"],
                    "token": SECRET,
                },
            )
        return super()._answer(method, path, kwargs)


@pytest.fixture
def token_hub(hub_double):
    return hub_double(TokenHub())


@pytest.fixture
def alices_workspace(alice, workspace_of):
    return workspace_of(alice)


def url(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.pk}/token/"


def test_the_owner_gets_a_token_for_that_one_server(api, alice, alices_workspace, token_hub):
    api.force_authenticate(alice)
    response = api.post(url(alices_workspace), {"lifetime": 600}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "token": SECRET,
        "expires_at": "2026-11-27T13:00:00Z",
        "scopes": [
            "access:servers!server=alice/thesis",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
        ],
        "url": "http://alice.localhost:8000/user/alice/thesis/",
    }
    assert response["Cache-Control"] == "no-store"
    assert token_hub.asked == [
        (
            "alice",
            {
                "scopes": ["access:servers!server=alice/thesis"],
                "expires_in": 600,
                "note": "MLHub portal: token for workspace alice/thesis, asked by alice",
            },
        )
    ]
    assert token_hub.paths == [("POST", "/users/alice"), ("POST", "/users/alice/tokens")]


def test_the_lifetime_is_an_hour_unless_given(api, alice, alices_workspace, token_hub):
    api.force_authenticate(alice)
    assert api.post(url(alices_workspace)).status_code == 200
    assert token_hub.asked[0][1]["expires_in"] == 3600


def test_the_default_lifetime_never_exceeds_the_longest(
    api, alice, alices_workspace, token_hub, settings
):
    settings.WORKSPACE_TOKEN_MAX_SECONDS = 600
    api.force_authenticate(alice)
    assert api.post(url(alices_workspace)).status_code == 200
    assert token_hub.asked[0][1]["expires_in"] == 600


def test_an_admin_gets_a_token_for_someone_elses_workspace(api, carol, alices_workspace, token_hub):
    api.force_authenticate(carol)
    response = api.post(url(alices_workspace), {"lifetime": 60}, format="json")
    assert response.status_code == 200, response.json()
    # It is alice's token (her server lets only her in), and says who asked for it.
    assert token_hub.asked == [
        (
            "alice",
            {
                "scopes": ["access:servers!server=alice/thesis"],
                "expires_in": 60,
                "note": "MLHub portal: token for workspace alice/thesis, asked by carol",
            },
        )
    ]


def test_it_is_audited_without_the_token(api, alice, alices_workspace, token_hub):
    api.force_authenticate(alice)
    api.post(url(alices_workspace), {"lifetime": 600}, format="json")
    entry = AuditEntry.objects.get(action="workspace.token")
    assert (entry.actor_name, entry.target, entry.result, entry.source) == (
        "alice",
        "alice/thesis",
        "ok",
        "api",
    )
    assert entry.detail == "hub token a42, ends 2026-11-27T13:00:00+00:00"


def test_the_token_is_never_in_its_repr(alice, alices_workspace, token_hub):
    made = tokens.workspace_token_create(workspace=alices_workspace, by=alice, lifetime=60)
    assert made.token == SECRET
    assert SECRET not in repr(made)


def test_a_hub_that_is_down_is_a_503(api, alice, alices_workspace):
    api.force_authenticate(alice)
    response = api.post(url(alices_workspace), {"lifetime": 600}, format="json")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "JupyterHub could not do this: JupyterHub is not reachable: ConnectionError",
        "hub_status": 503,
        "code": "hub_unavailable",
    }
    assert AuditEntry.objects.get(action="workspace.token").result == "failed"


@pytest.mark.parametrize("lifetime", [59, 0, -1, 86401, 10**9])
def test_it_refuses_a_lifetime_out_of_bounds(api, alice, alices_workspace, token_hub, lifetime):
    api.force_authenticate(alice)
    response = api.post(url(alices_workspace), {"lifetime": lifetime}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The lifetime must be between 60 and 86400 seconds.",
        "code": "invalid",
    }
    assert token_hub.paths == []
    assert AuditEntry.objects.get(action="workspace.token").result == "refused"


def test_the_bounds_follow_the_setting(api, alice, alices_workspace, token_hub, settings):
    settings.WORKSPACE_TOKEN_MAX_SECONDS = 600
    api.force_authenticate(alice)
    response = api.post(url(alices_workspace), {"lifetime": 601}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The lifetime must be between 60 and 600 seconds.",
        "code": "invalid",
    }
    assert token_hub.paths == []


@pytest.mark.parametrize("lifetime", ["an hour", 60.5, [60], None])
def test_it_refuses_a_lifetime_that_is_not_a_number_of_seconds(
    api, alice, alices_workspace, token_hub, lifetime
):
    api.force_authenticate(alice)
    response = api.post(url(alices_workspace), {"lifetime": lifetime}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["lifetime"]
    assert token_hub.paths == []


def test_it_needs_authentication(api, alices_workspace, token_hub):
    response = api.post(url(alices_workspace))
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    assert token_hub.paths == []


def test_it_hides_someone_elses_workspace(api, bob, alices_workspace, token_hub):
    api.force_authenticate(bob)
    response = api.post(url(alices_workspace), {"lifetime": 600}, format="json")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "No Workspace matches the given query.",
        "code": "not_found",
    }
    assert token_hub.paths == []


def test_it_refuses_people_waiting_for_approval(api, mallory, workspace_of, token_hub):
    workspace = workspace_of(mallory)
    api.force_authenticate(mallory)
    response = api.post(url(workspace))
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your account is waiting for an administrator's approval.",
        "code": "access_refused",
    }
    assert token_hub.paths == []


def test_the_service_refuses_people_waiting_for_approval(mallory, alices_workspace, token_hub):
    with pytest.raises(AccessRefused) as refused:
        tokens.workspace_token_create(workspace=alices_workspace, by=mallory, lifetime=60)
    assert (refused.value.status, refused.value.message) == (
        403,
        "Your account is waiting for an administrator's approval.",
    )


def test_the_service_refuses_someone_elses_workspace(bob, alices_workspace, token_hub):
    with pytest.raises(ServiceError) as refused:
        tokens.workspace_token_create(workspace=alices_workspace, by=bob, lifetime=60)
    assert (refused.value.status, refused.value.message) == (
        403,
        "Only its owner or an administrator may get a token for alice/thesis.",
    )
    assert token_hub.paths == []


def test_it_refuses_a_workspace_being_deleted(alice, workspace_of, token_hub):
    workspace = workspace_of(alice, deleting_since=timezone.now())
    with pytest.raises(ServiceError) as refused:
        tokens.workspace_token_create(workspace=workspace, by=alice, lifetime=60)
    assert (refused.value.status, refused.value.message) == (
        409,
        "Workspace 'thesis' is being deleted",
    )
    assert token_hub.paths == []


def test_an_admin_gets_none_for_someone_no_longer_approved(
    api, carol, alice, alices_workspace, token_hub
):
    alice.approval = User.Approval.REJECTED
    alice.save()
    api.force_authenticate(carol)
    response = api.post(url(alices_workspace), {"lifetime": 600}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "alice may not use MLHub (not approved, or not on the allow-list).",
        "code": "access_refused",
    }
    assert token_hub.paths == []


def test_it_is_in_the_api_schema(api, alice):
    api.force_authenticate(alice)
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/workspaces/{id}/token/"]["post"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response == {"$ref": "#/components/schemas/WorkspaceToken"}
    assert set(schema["components"]["schemas"]["WorkspaceToken"]["properties"]) == {
        "token",
        "expires_at",
        "scopes",
        "url",
    }
    assert set(schema["components"]["schemas"]["WorkspaceTokenRequest"]["properties"]) == {
        "lifetime"
    }


def test_the_longest_lifetime_is_a_setting(monkeypatch):
    with reloaded_settings(monkeypatch, MLHUB_WORKSPACE_TOKEN_MAX_SECONDS="7200") as reloaded:
        assert reloaded.WORKSPACE_TOKEN_MAX_SECONDS == 7200


@pytest.mark.parametrize(
    "environ, message",
    [
        (
            {"MLHUB_WORKSPACE_TOKEN_MAX_SECONDS": "59"},
            "MLHUB_WORKSPACE_TOKEN_MAX_SECONDS=59 must be at least 60",
        ),
        (
            {"MLHUB_WORKSPACE_TOKEN_MAX_SECONDS": "a day"},
            "MLHUB_WORKSPACE_TOKEN_MAX_SECONDS='a day' is not an integer",
        ),
        (
            {"MLHUB_WORKSPACE_TOKEN_MAX_SECONDS": "7200", "MLHUB_HUB_TOKEN_MAX_SECONDS": "3600"},
            "MLHUB_WORKSPACE_TOKEN_MAX_SECONDS=7200 must not exceed "
            "MLHUB_HUB_TOKEN_MAX_SECONDS=3600, the hub's own limit",
        ),
    ],
)
def test_a_bad_longest_lifetime_stops_the_start(monkeypatch, environ, message):
    assert settings_refusal(monkeypatch, **environ) == message


def test_a_hub_without_a_limit_allows_any(monkeypatch):
    environ = {"MLHUB_WORKSPACE_TOKEN_MAX_SECONDS": "604800", "MLHUB_HUB_TOKEN_MAX_SECONDS": "0"}
    with reloaded_settings(monkeypatch, **environ) as reloaded:
        assert reloaded.WORKSPACE_TOKEN_MAX_SECONDS == 604800
