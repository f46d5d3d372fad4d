"""The users API is for admins; approval lets people in."""

from __future__ import annotations

import pytest

from portal.accounts.models import User

pytestmark = pytest.mark.django_db


def test_people_who_are_not_admins_cannot_list_users(api, alice):
    api.force_authenticate(alice)
    response = api.get("/api/v1/users/")
    assert response.status_code == 403
    assert "administrators" in response.json()["detail"]


def test_people_who_are_not_admins_cannot_create_or_approve(api, alice, mallory):
    api.force_authenticate(alice)
    assert api.post("/api/v1/users/", {"username": "eve"}, format="json").status_code == 403
    assert api.post(f"/api/v1/users/{mallory.pk}/approve/").status_code == 403
    mallory.refresh_from_db()
    assert not mallory.is_approved
    assert not User.objects.filter(username="eve").exists()


def test_admins_create_approved_users(api, carol):
    api.force_authenticate(carol)
    body = {"username": "dave", "password": "a-long-password-1", "email": "d@example.org"}
    response = api.post("/api/v1/users/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["approval"] == "approved"
    assert User.objects.get(username="dave").check_password("a-long-password-1")


@pytest.mark.parametrize("username", ["", "has space", "x" * 151])
def test_bad_usernames_are_refused(api, carol, username):
    api.force_authenticate(carol)
    response = api.post("/api/v1/users/", {"username": username}, format="json")
    assert response.status_code == 400
    assert User.objects.count() == 1


def test_usernames_that_differ_only_in_case_are_refused(api, carol, alice):
    api.force_authenticate(carol)
    response = api.post("/api/v1/users/", {"username": "Alice"}, format="json")
    assert response.status_code == 400
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_admins_approve_people(api, carol, mallory):
    api.force_authenticate(carol)
    response = api.post(f"/api/v1/users/{mallory.pk}/approve/")
    assert response.status_code == 200
    mallory.refresh_from_db()
    assert mallory.is_approved and mallory.approved_at is not None


def test_approving_nobody_is_a_404(api, carol):
    api.force_authenticate(carol)
    assert api.post("/api/v1/users/9999/approve/").status_code == 404


def test_delete_while_the_hub_is_down_keeps_the_person(api, carol, alice):
    api.force_authenticate(carol)
    response = api.delete(f"/api/v1/users/{alice.pk}/")
    assert response.status_code == 503
    assert User.objects.filter(pk=alice.pk).exists()


def test_admins_cannot_delete_themselves(api, carol):
    api.force_authenticate(carol)
    response = api.delete(f"/api/v1/users/{carol.pk}/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You cannot delete your own account here.",
        "code": "forbidden",
    }


@pytest.mark.parametrize("password", ["short", "password123", "qwertyuiop"])
def test_weak_passwords_are_refused_and_nobody_is_created(api, carol, password):
    api.force_authenticate(carol)
    response = api.post("/api/v1/users/", {"username": "dave", "password": password}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not User.objects.filter(username="dave").exists()


def test_staff_waiting_for_approval_are_not_shown_as_admins(api, carol):
    # User.is_admin is the one rule: staff who are not approved (or not active) are not admins.
    User.objects.create_user(username="sam", password="x-long-password-1", is_staff=True)
    User.objects.create_user(
        username="una", is_staff=True, is_active=False, approval=User.Approval.APPROVED
    )
    api.force_authenticate(carol)
    shown = {u["username"]: u["is_admin"] for u in api.get("/api/v1/users/").json()["results"]}
    assert (shown["sam"], shown["una"], shown["carol"]) == (False, False, True)
