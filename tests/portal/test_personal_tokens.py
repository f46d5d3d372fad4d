"""Personal API tokens on /api/v1/tokens/: several, named, the key shown once, revocable."""

from __future__ import annotations

import pytest

from portal.api.models import ApiToken

pytestmark = pytest.mark.django_db
TOKENS = "/api/v1/tokens/"


def test_a_person_makes_names_lists_and_revokes_tokens(api, alice):
    api.force_authenticate(alice)
    made = [api.post(TOKENS, {"name": name}, format="json") for name in ("laptop", "ci")]
    assert [response.status_code for response in made] == [201, 201]
    keys = [response.json()["token"] for response in made]
    listed = api.get(TOKENS).json()
    assert listed["count"] == 2
    assert {row["name"] for row in listed["results"]} == {"laptop", "ci"}
    assert all("token" not in row for row in listed["results"])  # shown once only
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {keys[0]}")
    assert api.get("/api/v1/me/").json()["username"] == "alice"
    laptop = made[0].json()["id"]
    assert api.delete(f"{TOKENS}{laptop}/").status_code == 204
    assert api.get("/api/v1/me/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {keys[1]}")
    assert api.get("/api/v1/me/").status_code == 200


def test_a_token_needs_a_name(api, alice):
    api.force_authenticate(alice)
    response = api.post(TOKENS, {"name": ""}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["This field may not be blank."]}
    assert not ApiToken.objects.exists()


def test_another_persons_token_is_a_404(api, alice, bob):
    api.force_authenticate(bob)
    bobs = api.post(TOKENS, {"name": "bob's"}, format="json").json()["id"]
    api.force_authenticate(alice)
    assert api.get(TOKENS).json()["count"] == 0
    response = api.delete(f"{TOKENS}{bobs}/")
    assert response.status_code == 404
    assert ApiToken.objects.filter(user=bob).count() == 1


def test_people_waiting_for_approval_get_none(api, mallory):
    assert api.get(TOKENS).status_code == 401
    api.force_authenticate(mallory)
    response = api.post(TOKENS, {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your account is waiting for an administrator's approval.",
        "code": "access_refused",
    }
    assert not ApiToken.objects.exists()
