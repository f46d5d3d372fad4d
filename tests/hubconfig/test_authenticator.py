"""The hub applies the portal's word: admin flag and approval, read from /api/v1/me/."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from tornado.httpclient import HTTPClientError

from hubconfig.authenticator import ADMINS_GROUP, MLHubAuthenticator


def run(coroutine):
    # In a thread of its own: the browser tests' Playwright keeps an event loop running in
    # this one, where asyncio.run() refuses to start another.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def auth_model(**portal_user) -> dict:
    return {"name": "alice", "admin": None, "auth_state": {"oauth_user": portal_user}}


@pytest.fixture
def authenticator(monkeypatch):
    monkeypatch.setenv("MLHUB_PORTAL_URL", "http://127.0.0.1:8010")
    monkeypatch.setenv("MLHUB_OAUTH_CLIENT_SECRET", "secret")
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "http://localhost:8000")
    return MLHubAuthenticator()


def test_it_talks_to_the_portal_with_our_defaults(authenticator):
    assert authenticator.auto_login is True
    assert authenticator.authorize_url == "http://localhost:8000/o/authorize/"
    assert authenticator.oauth_callback_url == "http://localhost:8000/hub/oauth_callback"
    assert authenticator.token_url == "http://127.0.0.1:8010/o/token/"
    assert authenticator.userdata_url == "http://127.0.0.1:8010/api/v1/me/"
    assert authenticator.client_secret == "secret"
    assert authenticator.enable_pkce is True
    assert authenticator.allow_all is False  # check_allowed decides


def test_the_portals_admins_are_a_hub_group_never_the_hubs_admins(authenticator):
    # The hub's admin role starts any server; the group's role does not (hub config tests).
    admin = run(authenticator.update_auth_model(auth_model(is_admin=True)))
    person = run(authenticator.update_auth_model(auth_model(is_admin=False)))
    assert admin["admin"] is False and person["admin"] is False
    assert authenticator.manage_groups is True
    assert run(authenticator.get_user_groups(admin["auth_state"])) == {ADMINS_GROUP}
    assert run(authenticator.get_user_groups(person["auth_state"])) == set()


def test_approved_people_are_let_in(authenticator):
    assert run(authenticator.check_allowed("alice", auth_model(approved=True)))


def test_people_waiting_for_approval_are_told_why(authenticator):
    with pytest.raises(web.HTTPError) as refused:
        run(authenticator.check_allowed("mallory", auth_model(approved=False)))
    assert refused.value.status_code == 403
    assert "approval" in refused.value.log_message


def test_the_portal_is_asked_again_about_everyone_twice_a_minute(authenticator):
    assert authenticator.enable_auth_state is True
    assert authenticator.auth_refresh_age == 30
    # Not strict: workspaces' own tokens act as owners who may never have logged in.
    assert authenticator.auth_refresh_strict is False


def upstream_refresh(result=None, error=None):
    """The upstream refresh (which calls the portal) answering ``result`` or raising."""
    return mock.patch.object(
        GenericOAuthenticator,
        "refresh_user",
        autospec=True,
        return_value=result,
        side_effect=error,
    )


USER = mock.Mock()
USER.name = "alice"
USER.save_auth_state = mock.AsyncMock()
USER.get_auth_state = mock.AsyncMock(return_value={"oauth_user": {"approved": True}})


def test_people_who_never_logged_in_to_the_hub_are_left_alone(authenticator):
    never = mock.Mock()
    never.get_auth_state = mock.AsyncMock(return_value=None)
    with upstream_refresh(False) as upstream:
        assert run(authenticator.refresh_user(never)) is True
    upstream.assert_not_called()


def test_a_person_no_longer_approved_is_logged_out(authenticator):
    with upstream_refresh(auth_model(approved=False, is_admin=False)):
        assert run(authenticator.refresh_user(USER)) is False


def test_an_approved_person_keeps_the_refreshed_model(authenticator):
    model = auth_model(approved=True, is_admin=True)
    with upstream_refresh(model):
        assert run(authenticator.refresh_user(USER)) == model
    # Saved at once: the next refresh must use the rotated refresh token.
    USER.save_auth_state.assert_awaited_with(model["auth_state"])


def test_revoked_portal_tokens_log_the_person_out(authenticator):
    with upstream_refresh(False):
        assert run(authenticator.refresh_user(USER)) is False


@pytest.mark.parametrize(
    "outage", [HTTPClientError(502), HTTPClientError(599), ConnectionRefusedError()]
)
def test_a_portal_outage_logs_nobody_out(authenticator, outage):
    with upstream_refresh(error=outage):
        assert run(authenticator.refresh_user(USER)) is True


def test_under_a_prefix_it_talks_to_the_portal_there(monkeypatch):
    monkeypatch.setenv("MLHUB_PORTAL_URL", "http://127.0.0.1:8010")
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://tools.example.org")
    monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub/")
    authenticator = MLHubAuthenticator()
    assert authenticator.authorize_url == "https://tools.example.org/mlhub/o/authorize/"
    # Exactly what the portal registers for the hub (portal/accounts/oauth.py).
    assert authenticator.oauth_callback_url == "https://tools.example.org/mlhub/hub/oauth_callback"
    assert authenticator.token_url == "http://127.0.0.1:8010/mlhub/o/token/"
    assert authenticator.userdata_url == "http://127.0.0.1:8010/mlhub/api/v1/me/"
    assert authenticator.logout_redirect_url == "/mlhub/accounts/logout/"
