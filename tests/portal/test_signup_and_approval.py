"""Sign-up, approval and rejection with a reason: the API, the admin site, and what a person
waiting or rejected can do (see that, and nothing else)."""

from __future__ import annotations

import pytest

from portal.accounts.models import User
from portal.api.models import ApiToken
from portal.workspaces.models import Workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
SIGNUP = "/api/v1/auth/signup/"
NEW = {"username": "dave", "email": "dave@example.org", "password": PASSWORD}


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def test_a_new_person_signs_up_and_waits(api):
    response = api.post(SIGNUP, NEW, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "username": "dave",
        "approval": "pending",
        "detail": "Signed up. An administrator must approve the account before it can be used.",
    }
    dave = User.objects.get(username="dave")
    assert (dave.approval, dave.email, dave.is_staff) == ("pending", "dave@example.org", False)
    assert dave.check_password(PASSWORD)


def test_waiting_people_get_no_token_and_no_workspace(api):
    api.post(SIGNUP, NEW, format="json")
    response = api.post("/api/v1/auth/token/", {"username": "dave", "password": PASSWORD})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your account is waiting for an administrator's approval.",
        "code": "access_refused",
    }
    api.force_authenticate(User.objects.get(username="dave"))
    response = api.post("/api/v1/workspaces/", {"name": "thesis"}, format="json")
    assert response.status_code == 403
    assert not Workspace.objects.exists() and not ApiToken.objects.exists()


TAKEN = "A user with that username already exists."


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({**NEW, "username": "alice"}, {"username": [TAKEN]}),
        ({**NEW, "username": "ALICE"}, {"username": [TAKEN]}),
        (
            {**NEW, "username": "has space"},
            {
                "username": [
                    "Enter a valid username. This value may contain only letters, numbers, "
                    "and @/./+/-/_ characters."
                ]
            },
        ),
        ({**NEW, "email": "nope"}, {"email": ["Enter a valid email address."]}),
        (
            {**NEW, "password": "short"},
            {"password": ["This password is too short. It must contain at least 8 characters."]},
        ),
    ],
    ids=["taken", "taken-other-case", "bad-name", "bad-email", "weak-password"],
)
def test_bad_sign_ups_are_400_and_create_nobody(api, alice, body, answer):
    response = api.post(SIGNUP, body, format="json")
    assert response.status_code == 400
    assert response.json() == answer
    assert User.objects.count() == 1


def test_sign_up_can_be_closed(api, settings):
    settings.SIGNUP_ENABLED = False
    response = api.post(SIGNUP, NEW, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Sign-up is closed on this hub; ask an administrator for an account.",
        "code": "signup_refused",
    }
    assert not User.objects.exists()


def test_sign_ups_from_one_address_are_throttled(api, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "signup", "2/hour")
    for number in range(2):
        body = {**NEW, "username": f"dave{number}"}
        assert api.post(SIGNUP, body, format="json").status_code == 201
    response = api.post(SIGNUP, {**NEW, "username": "dave9"}, format="json")
    assert response.status_code == 429
    assert not User.objects.filter(username="dave9").exists()


def test_a_rejection_gives_the_person_its_reason(api, carol, mallory):
    api.force_authenticate(carol)
    response = api.post(
        f"/api/v1/users/{mallory.pk}/reject/", {"reason": "Not in this course."}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["rejection_reason"] == "Not in this course."
    mallory.refresh_from_db()
    api.force_authenticate(mallory)
    me = api.get("/api/v1/me/").json()
    assert (me["approved"], me["refused"]) == (
        False,
        "Your account was not approved. Not in this course.",
    )


def test_approval_clears_an_earlier_rejection(api, carol, mallory):
    api.force_authenticate(carol)
    api.post(f"/api/v1/users/{mallory.pk}/reject/", {"reason": "later"}, format="json")
    api.post(f"/api/v1/users/{mallory.pk}/approve/")
    mallory.refresh_from_db()
    assert (mallory.approval, mallory.rejection_reason) == ("approved", "")


def test_the_admin_site_asks_for_the_reason_then_rejects(client, carol, mallory, bob):
    client.force_login(carol)
    chosen = {"action": "reject", "_selected_action": [mallory.pk, bob.pk]}
    page = client.post("/admin/accounts/user/", chosen)
    assert page.status_code == 200 and b"Shown to them when they log in" in page.content
    mallory.refresh_from_db()
    assert mallory.approval == "pending"  # nothing happens before the confirmation
    done = client.post("/admin/accounts/user/", {**chosen, "confirm": "yes", "reason": "Duplicate"})
    assert done.status_code == 302
    for person in (mallory, bob):
        person.refresh_from_db()
        assert (person.approval, person.rejection_reason) == ("rejected", "Duplicate")


def test_a_rejected_person_sees_the_reason_on_their_page(client, mallory):
    mallory.approval, mallory.rejection_reason = "rejected", "Course is full."
    mallory.save()
    client.force_login(mallory)
    page = client.get("/").content.decode()
    assert "Your account was not approved. Course is full." in page
    assert "New workspace" not in page
