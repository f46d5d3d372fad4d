from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def test_it_gives_approved_people_a_token_that_works(api, alice):
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/me/").json()["username"] == "alice"


def test_it_refuses_a_wrong_password(api, alice):
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_it_refuses_people_waiting_for_approval(api, mallory):
    response = api.post("/api/v1/auth/token/", {"username": "mallory", "password": PASSWORD})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your account is waiting for an administrator's approval.",
        "code": "access_refused",
    }


def test_me_tells_the_hub_who_is_approved_and_admin(api, carol, mallory):
    api.force_authenticate(mallory)
    assert api.get("/api/v1/me/").json() == {
        "username": "mallory",
        "hub_name": "mallory",
        "email": "",
        "is_admin": False,
        "approved": False,
        "refused": "Your account is waiting for an administrator's approval.",
    }
    api.force_authenticate(carol)
    assert api.get("/api/v1/me/").json()["is_admin"] is True


def test_the_schema_and_docs_are_served(api):
    assert "/api/v1/workspaces/" in api.get("/api/v1/schema/").content.decode()
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
