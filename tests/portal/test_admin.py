"""The Django admin deletes through the services: nothing is orphaned in the hub."""

from __future__ import annotations

import pytest

from portal.accounts.models import User
from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, carol):
    carol.is_superuser = True
    carol.save()
    client.force_login(carol)
    return client


def test_deleting_a_workspace_while_the_hub_is_down_keeps_it_and_says_why(
    admin_client, alice, workspace_of
):
    workspace = workspace_of(alice)
    url = f"/admin/workspaces/workspace/{workspace.pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    texts = [str(m) for m in response.context["messages"]]
    assert any("was not deleted" in t and "not reachable" in t for t in texts), texts
    assert not any("successfully" in t for t in texts), texts


def test_the_bulk_delete_goes_through_the_service(admin_client, alice, workspace_of):
    workspace = workspace_of(alice)
    response = admin_client.get("/admin/workspaces/workspace/")
    assert b'value="delete_selected"' not in response.content
    response = admin_client.post(
        "/admin/workspaces/workspace/",
        {"action": "delete_with_resources", "_selected_action": [workspace.pk]},
        follow=True,
    )
    assert Workspace.objects.filter(pk=workspace.pk).exists()  # the hub is down
    texts = [str(m) for m in response.context["messages"]]
    assert any("was not deleted" in t for t in texts), texts


def test_deleting_a_person_while_the_hub_is_down_keeps_them(admin_client, alice):
    admin_client.post(f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"})
    assert User.objects.filter(pk=alice.pk).exists()


def test_workspaces_are_added_on_the_portals_create_form_not_in_the_admin(admin_client):
    # There the request is checked against the template and the workspace started.
    response = admin_client.get("/admin/workspaces/workspace/add/")
    assert (response.status_code, response["Location"]) == (302, "/#new-workspace")


def test_admins_approve_people_in_the_admin(admin_client, mallory):
    admin_client.post(
        "/admin/accounts/user/", {"action": "approve", "_selected_action": [mallory.pk]}
    )
    mallory.refresh_from_db()
    assert mallory.is_approved
