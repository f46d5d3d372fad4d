"""The hub applies the portal's word: admin flag and approval, read from /api/v1/me/."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from tornado import web

from hubconfig.authenticator import MLHubAuthenticator


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
    return MLHubAuthenticator()


def test_it_talks_to_the_portal_with_our_defaults(authenticator):
    assert authenticator.auto_login is True
    assert authenticator.authorize_url == "/o/authorize/"
    assert authenticator.token_url == "http://127.0.0.1:8010/o/token/"
    assert authenticator.userdata_url == "http://127.0.0.1:8010/api/v1/me/"
    assert authenticator.client_secret == "secret"
    assert authenticator.enable_pkce is True
    assert authenticator.allow_all is False  # check_allowed decides


def test_the_admin_flag_comes_from_the_portal(authenticator):
    admin = run(authenticator.update_auth_model(auth_model(is_admin=True)))
    person = run(authenticator.update_auth_model(auth_model(is_admin=False)))
    assert admin["admin"] is True and person["admin"] is False


def test_approved_people_are_let_in(authenticator):
    assert run(authenticator.check_allowed("alice", auth_model(approved=True)))


def test_people_waiting_for_approval_are_told_why(authenticator):
    with pytest.raises(web.HTTPError) as refused:
        run(authenticator.check_allowed("mallory", auth_model(approved=False)))
    assert refused.value.status_code == 403
    assert "approval" in refused.value.log_message
