"""The Django admin lets in exactly MLHub's admins (``User.is_admin``), as the API and hub do."""

from __future__ import annotations

import pytest

from portal.accounts.models import User

WORKSPACES = "/admin/workspaces/workspace/"


def test_an_admin_who_is_not_a_superuser_can_use_the_admin(client, workspace_of, alice):
    # What POST /api/v1/users/ with "is_admin": true makes: staff, approved, no superuser.
    dora = User.objects.create_user(
        "dora", password="x", is_staff=True, approval=User.Approval.APPROVED
    )
    assert not dora.is_superuser
    workspace = workspace_of(alice)
    client.force_login(dora)
    assert client.get(WORKSPACES).status_code == 200
    assert client.get(f"{WORKSPACES}{workspace.pk}/change/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


@pytest.mark.parametrize(
    "who",
    [
        {"is_staff": True, "approval": User.Approval.PENDING},
        {"is_staff": True, "approval": User.Approval.REJECTED},
        {"is_staff": False, "approval": User.Approval.APPROVED},
    ],
    ids=["staff-waiting", "staff-rejected", "not-staff"],
)
def test_nobody_else_gets_in(client, db, who):
    person = User.objects.create_user("eve", password="x", **who)
    client.force_login(person)
    response = client.get(WORKSPACES)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={WORKSPACES}"
