"""Workspace and user lists come in pages, filter and sort on request, cost the same per page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from drf_spectacular.generators import SchemaGenerator

from portal.accounts.models import User
from portal.workspaces.models import Workspace, WorkspaceTemplate

WORKSPACES = "/api/v1/workspaces/"
USERS = "/api/v1/users/"


def many_workspaces(owner, count: int, **fields) -> None:
    fields.setdefault("template", WorkspaceTemplate.objects.get(name="default"))
    Workspace.objects.bulk_create(
        Workspace(
            owner=owner,
            name=f"w{i:04d}",
            image="mlhub-workspace:latest",
            cpu=1,
            memory=2**30,
            **fields,
        )
        for i in range(count)
    )


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_a_page_holds_100_workspaces_by_default(api, alice):
    many_workspaces(alice, 101)
    api.force_authenticate(alice)
    body = api.get(WORKSPACES).json()
    assert body["count"] == 101
    assert len(body["results"]) == 100
    assert body["previous"] is None
    assert body["next"] == "http://testserver/api/v1/workspaces/?page=2"


def test_next_and_previous_lead_through_the_pages(api, alice):
    many_workspaces(alice, 101)
    api.force_authenticate(alice)
    first = api.get(WORKSPACES).json()
    second = api.get(first["next"]).json()
    assert [row["name"] for row in second["results"]] == ["w0100"]
    assert second["next"] is None
    assert second["previous"] == "http://testserver/api/v1/workspaces/"


def test_page_size_is_honoured(api, alice):
    many_workspaces(alice, 7)
    api.force_authenticate(alice)
    body = api.get(WORKSPACES, {"page_size": 3, "page": 3}).json()
    assert [row["name"] for row in body["results"]] == ["w0006"]
    assert body["count"] == 7


def test_page_size_is_cut_to_1000(api, alice):
    many_workspaces(alice, 1001)
    api.force_authenticate(alice)
    body = api.get(WORKSPACES, {"page_size": 5000}).json()
    assert len(body["results"]) == 1000
    # The link keeps the asked size; the next page is cut the same way.
    assert body["next"] == "http://testserver/api/v1/workspaces/?page=2&page_size=5000"
    assert [row["name"] for row in api.get(body["next"]).json()["results"]] == ["w1000"]


def test_a_page_past_the_end_is_404(api, alice, workspace_of):
    workspace_of(alice)
    api.force_authenticate(alice)
    response = api.get(WORKSPACES, {"page": 2})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page.", "code": "not_found"}


def test_someone_elses_workspaces_never_appear(api, alice, bob, workspace_of):
    workspace_of(alice, "alices")
    workspace_of(bob, "bobs")
    api.force_authenticate(bob)
    assert names(api.get(WORKSPACES)) == ["bobs"]
    assert names(api.get(WORKSPACES, {"owner": "alice"})) == []
    assert api.get(WORKSPACES, {"owner": "alice"}).json()["count"] == 0


def test_admins_filter_by_owner(api, carol, alice, bob, workspace_of):
    workspace_of(alice, "alices")
    workspace_of(bob, "bobs")
    api.force_authenticate(carol)
    assert names(api.get(WORKSPACES)) == ["alices", "bobs"]
    assert names(api.get(WORKSPACES, {"owner": "bob"})) == ["bobs"]
    assert names(api.get(WORKSPACES, {"owner": "nobody"})) == []


def test_it_filters_by_state(api, alice, workspace_of):
    workspace_of(alice, "up", state=Workspace.State.RUNNING)
    workspace_of(alice, "down", state=Workspace.State.STOPPED)
    api.force_authenticate(alice)
    assert names(api.get(WORKSPACES, {"state": "running"})) == ["up"]
    assert names(api.get(WORKSPACES, {"state": "stopped"})) == ["down"]


def test_it_refuses_an_unknown_state(api, alice):
    api.force_authenticate(alice)
    response = api.get(WORKSPACES, {"state": "asleep"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Unknown state 'asleep'; use one of: starting, running, stopping, stopped, "
        "error.",
        "code": "invalid",
    }


def test_it_filters_by_template(api, alice, workspace_of):
    gpu = WorkspaceTemplate.objects.create(name="gpu")
    workspace_of(alice, "plain")
    Workspace.objects.filter(pk=workspace_of(alice, "fast").pk).update(template=gpu)
    api.force_authenticate(alice)
    assert names(api.get(WORKSPACES, {"template": "gpu"})) == ["fast"]
    assert names(api.get(WORKSPACES, {"template": "default"})) == ["plain"]
    assert names(api.get(WORKSPACES, {"template": "none-such"})) == []


def test_it_orders_by_a_listed_field(api, alice, bob, carol, workspace_of):
    def day(n):
        return datetime(2026, 1, n, tzinfo=UTC)

    workspace_of(alice, "b", created_at=day(3), expires_at=day(9), state=Workspace.State.STOPPED)
    workspace_of(alice, "a", created_at=day(1), expires_at=day(7), state=Workspace.State.RUNNING)
    workspace_of(bob, "c", created_at=day(2), expires_at=day(8), state=Workspace.State.ERROR)
    api.force_authenticate(carol)
    assert names(api.get(WORKSPACES)) == ["a", "b", "c"]  # owner, then name
    assert names(api.get(WORKSPACES, {"ordering": "created_at"})) == ["a", "c", "b"]
    assert names(api.get(WORKSPACES, {"ordering": "-created_at"})) == ["b", "c", "a"]
    assert names(api.get(WORKSPACES, {"ordering": "-expires_at"})) == ["b", "c", "a"]
    assert names(api.get(WORKSPACES, {"ordering": "-name"})) == ["c", "b", "a"]
    assert names(api.get(WORKSPACES, {"ordering": "state"})) == ["c", "a", "b"]
    assert names(api.get(WORKSPACES, {"ordering": "-owner,-name"})) == ["c", "b", "a"]


def test_it_refuses_to_order_by_another_field(api, alice):
    api.force_authenticate(alice)
    response = api.get(WORKSPACES, {"ordering": "-env"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Cannot order by '-env'; use one of: name, created_at, expires_at, state, "
        "owner (prefix - for descending).",
        "code": "invalid",
    }


@pytest.mark.parametrize("rows", [5, 50])
def test_a_workspace_page_costs_two_queries_whatever_its_size(
    api, carol, alice, bob, rows, django_assert_num_queries
):
    # Several owners and templates on the page: their rows come in the same query.
    gpu = WorkspaceTemplate.objects.create(name="gpu")
    many_workspaces(alice, rows // 2)
    many_workspaces(bob, rows - rows // 2, template=gpu)
    api.force_authenticate(carol)
    # count(*), the page with owners and templates, the last sync pass (for "synced_at")
    with django_assert_num_queries(3):
        response = api.get(WORKSPACES)
    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [5, 50])
def test_a_user_page_costs_two_queries_whatever_its_size(
    api, carol, rows, django_assert_num_queries
):
    User.objects.bulk_create(User(username=f"u{i:03d}") for i in range(rows - 1))
    api.force_authenticate(carol)
    with django_assert_num_queries(2):  # count(*), then the page
        response = api.get(USERS)
    assert len(response.json()["results"]) == rows


def test_admins_get_people_in_pages(api, carol):
    User.objects.bulk_create(User(username=f"u{i:03d}") for i in range(100))
    api.force_authenticate(carol)
    body = api.get(USERS).json()
    assert body["count"] == 101
    assert [row["username"] for row in body["results"]][:2] == ["carol", "u000"]
    assert body["next"] == "http://testserver/api/v1/users/?page=2"


def test_people_who_are_not_admins_cannot_list_people(api, alice):
    api.force_authenticate(alice)
    response = api.get(USERS, {"page": 1})
    assert response.status_code == 403
    assert response.json() == {"detail": "Only administrators may do this.", "code": "admin_only"}


def test_admins_filter_people_by_approval_and_order_them(api, carol, alice, mallory):
    for days, person in enumerate([mallory, alice, carol]):
        User.objects.filter(pk=person.pk).update(
            date_joined=datetime(2026, 1, days + 1, tzinfo=UTC)
        )
    api.force_authenticate(carol)
    rows = api.get(USERS, {"approval": "pending"}).json()["results"]
    assert [row["username"] for row in rows] == ["mallory"]
    rows = api.get(USERS, {"ordering": "-username"}).json()["results"]
    assert [row["username"] for row in rows] == ["mallory", "carol", "alice"]
    rows = api.get(USERS, {"ordering": "date_joined"}).json()["results"]
    assert [row["username"] for row in rows] == ["mallory", "alice", "carol"]


def test_it_refuses_an_unknown_approval_or_ordering_of_people(api, carol):
    api.force_authenticate(carol)
    response = api.get(USERS, {"approval": "maybe"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Unknown approval 'maybe'; use one of: pending, approved, rejected.",
        "code": "invalid",
    }
    response = api.get(USERS, {"ordering": "password"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Cannot order by 'password'; use one of: username, date_joined "
        "(prefix - for descending).",
        "code": "invalid",
    }


def test_the_schema_documents_the_list_parameters(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    workspace_list = schema["paths"]["/api/v1/workspaces/"]["get"]
    parameters = {p["name"]: p for p in workspace_list["parameters"]}
    assert set(parameters) == {"page", "page_size", "owner", "state", "template", "ordering"}
    assert parameters["state"]["schema"]["enum"] == sorted(Workspace.State.values)
    assert "created_at" in parameters["ordering"]["description"]
    page = schema["components"]["schemas"]["PaginatedWorkspaceList"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    user_list = schema["paths"]["/api/v1/users/"]["get"]
    assert {p["name"] for p in user_list["parameters"]} == {
        "page",
        "page_size",
        "approval",
        "ordering",
    }
