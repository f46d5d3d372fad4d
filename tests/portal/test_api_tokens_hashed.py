"""API tokens are kept as digests (django-rest-knox): each key is shown once, in the answer
that made it, and stops working when it expires or its owner is no longer active."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.accounts.models import User
from portal.api.models import ApiToken
from portal.api.services import api_token_create
from portal.errors import ServiceError
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NOT_APPROVED = {"detail": "Your account is waiting for an administrator's approval."}
REJECTED = {"detail": "Your account was not approved.", "code": "access_refused"}


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def token_of(api, username: str = "alice") -> str:
    response = api.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    (key,) = response.json().values()
    return key


def me(api, key: str):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/me/")


def test_the_database_keeps_a_digest_never_the_key(api, alice):
    key = token_of(api)
    (token,) = ApiToken.objects.all()
    assert len(key) == 64
    assert token.digest == hashlib.sha512(key.encode()).hexdigest()
    assert token.token_key == key[:15]  # knox's lookup prefix, not enough to sign in
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken")
        (row,) = cursor.fetchall()
    assert [value for value in row if key in str(value)] == []


def test_each_call_gives_a_new_token_and_each_works(api, alice):
    first, second = token_of(api), token_of(api)
    assert first != second
    assert ApiToken.objects.filter(user=alice).count() == 2
    assert me(api, first).json()["username"] == "alice"
    assert me(api, second).json()["username"] == "alice"


def test_a_token_lasts_thirty_days_by_default(api, alice):
    token_of(api)
    (token,) = ApiToken.objects.all()
    assert abs(token.expiry - token.created - timedelta(days=30)) < timedelta(seconds=1)


def test_with_no_lifetime_configured_a_token_never_expires(api, alice, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": None}
    token_of(api)
    assert ApiToken.objects.get().expiry is None


def test_an_expired_token_is_refused_and_dropped(api, alice):
    key = token_of(api)
    ApiToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    response = me(api, key)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}
    assert not ApiToken.objects.exists()


def test_a_made_up_token_is_refused(api, alice):
    token_of(api)
    response = me(api, "0" * 64)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_a_deactivated_persons_token_stops_working(api, alice):
    key = token_of(api)
    alice.is_active = False
    alice.save()
    response = me(api, key)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "User inactive or deleted.",
        "code": "authentication_failed",
    }


def test_a_person_no_longer_approved_is_refused_with_their_token(api, alice):
    key = token_of(api)
    alice.approval = User.Approval.REJECTED
    alice.save()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api.get("/api/v1/workspaces/")
    assert response.status_code == 403
    assert response.json() == REJECTED


def test_rejected_people_get_no_token(api, alice):
    alice.approval = User.Approval.REJECTED
    alice.save()
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert response.json() == REJECTED
    assert not ApiToken.objects.exists()


def test_inactive_people_get_no_token(api, alice):
    alice.is_active = False
    alice.save()
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not ApiToken.objects.exists()


def test_a_stale_token_header_does_not_stop_someone_getting_a_new_token(api, alice):
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


def test_nobody_creates_tokens_for_someone_else(alice, carol):
    with pytest.raises(ServiceError, match="^Only the owner may create their API tokens.$"):
        api_token_create(user=alice, by=carol)


def test_expired_tokens_are_cleared_when_a_new_one_is_made(alice):
    api_token_create(user=alice, by=alice)
    ApiToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    fresh, _ = api_token_create(user=alice, by=alice)
    assert list(ApiToken.objects.all()) == [fresh]


def test_admins_see_tokens_but_cannot_add_them(client, api, alice, carol):
    token_of(api)
    carol.is_superuser = True
    carol.save()
    client.force_login(carol)
    assert client.get("/admin/api/apitoken/").status_code == 200
    assert client.get("/admin/api/apitoken/add/").status_code == 403


def test_only_the_newest_twenty_unnamed_tokens_are_kept(api, alice):
    oldest = token_of(api)
    newer = [token_of(api) for _ in range(20)]
    assert ApiToken.objects.filter(user=alice).count() == 20
    assert me(api, oldest).status_code == 401
    assert me(api, newer[0]).status_code == 200


def test_named_tokens_are_not_retired_by_unnamed_ones(alice):
    named, _ = api_token_create(user=alice, by=alice, name="laptop")
    for _ in range(21):
        api_token_create(user=alice, by=alice)
    assert ApiToken.objects.filter(pk=named.pk).exists()
    assert ApiToken.objects.filter(user=alice, name="").count() == 20
