"""Templates (groups, one default, days to live) and workspace expiry: create within the
template's bounds, extend up to its maximum (admins beyond), time left in the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from portal.workspaces.models import GIB, Workspace, WorkspaceTemplate

pytestmark = pytest.mark.django_db
TEMPLATES = "/api/v1/templates/"
WORKSPACES = "/admin/workspaces/workspace/"


@pytest.fixture
def course(db):
    """A template only the group "ml-course" may use, living 7 days by default, 30 at most."""
    group = Group.objects.create(name="ml-course")
    template = WorkspaceTemplate.objects.create(
        name="course", description="For the ML course", days_to_live_default=7, days_to_live_max=30
    )
    template.groups.add(group)
    return template


def test_people_see_the_templates_open_to_them(api, alice, bob, course):
    alice.groups.add(Group.objects.get(name="ml-course"))
    api.force_authenticate(alice)
    assert [t["name"] for t in api.get(TEMPLATES).json()["results"]] == ["course", "default"]
    api.force_authenticate(bob)
    assert [t["name"] for t in api.get(TEMPLATES).json()["results"]] == ["default"]
    assert api.get(f"{TEMPLATES}{course.pk}/").status_code == 404


def test_a_template_not_open_to_the_person_is_a_403_and_creates_nothing(api, bob, course):
    api.force_authenticate(bob)
    response = api.post("/api/v1/workspaces/", {"name": "x", "template": "course"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "bob may not use the template 'course'.",
        "code": "forbidden",
    }
    assert not Workspace.objects.exists()


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (31, "days_to_live must be 1 to 30 for the template 'course'; got 31."),
        (0, "days_to_live must be 1 to 30 for the template 'course'; got 0."),
    ],
)
def test_days_to_live_beyond_the_template_is_a_400(api, alice, course, days, message):
    alice.groups.add(Group.objects.get(name="ml-course"))
    api.force_authenticate(alice)
    body = {"name": "x", "template": "course", "days_to_live": days}
    response = api.post("/api/v1/workspaces/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": message, "code": "invalid"}
    assert not Workspace.objects.exists()


def test_no_template_named_means_the_default(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "x"}, format="json")
    # The hub is down in unit tests: the template was resolved, then the start failed.
    assert response.status_code == 503
    assert not Workspace.objects.exists()


def test_admins_write_templates_and_a_new_default_replaces_the_old(api, carol):
    api.force_authenticate(carol)
    body = {
        "name": "gpu",
        "memory_default": "8G",
        "memory_max": "16G",
        "cpu_default": 2,
        "cpu_max": 8,
        "gpus_max": 1,
        "days_to_live_default": 3,
        "days_to_live_max": 14,
        "groups": [],
        "is_default": True,
    }
    response = api.post(TEMPLATES, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["memory_max"] == 16 * 1024**3
    assert list(
        WorkspaceTemplate.objects.filter(is_default=True).values_list("name", flat=True)
    ) == ["gpu"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"image": "evil:latest"},
            "Template not saved: image 'evil:latest' is not allowed "
            "(MLHUB_WORKSPACE_IMAGES: mlhub-workspace:latest).",
        ),
        (
            {"cpu_default": 4, "cpu_max": 2},
            "Template not saved: CPU default 4.0 must be at least 0.01 and at most 2.0.",
        ),
        # Below 0.01 core a workspace's CPU limit would not hold (Docker: none at all).
        (
            {"cpu_default": 0.001, "cpu_max": 0.001},
            "Template not saved: CPU maximum 0.001 is below the minimum of 0.01 cores; "
            "CPU default 0.001 must be at least 0.01 and at most 0.001.",
        ),
        (
            {"cpu_default": 0.005, "cpu_max": 2},
            "Template not saved: CPU default 0.005 must be at least 0.01 and at most 2.0.",
        ),
        (
            {"days_to_live_default": 0, "days_to_live_max": 5},
            "Template not saved: days to live default 0 must be 1 to 5 (the maximum); "
            "0 (never expires) only when there is no maximum.",
        ),
    ],
)
def test_a_template_that_contradicts_itself_is_a_400(api, carol, change, message, settings):
    settings.WORKSPACE_IMAGES = ["mlhub-workspace:latest"]
    api.force_authenticate(carol)
    response = api.patch(f"{TEMPLATES}{WorkspaceTemplate.objects.get().pk}/", change, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": message, "code": "invalid"}
    assert WorkspaceTemplate.objects.get().image == "mlhub-workspace:latest"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cpu_max": 3}, "CPU maximum 3.0 is above the hub's 2.0 (MLHUB_CPU_MAX)"),
        ({"memory_max": "5G"}, "memory maximum 5G is above the hub's 4G (MLHUB_MEMORY_MAX)"),
        ({"gpus_max": 2}, "GPU maximum 2 is above the hub's 1 (MLHUB_GPUS_MAX)"),
    ],
)
def test_a_template_offering_more_than_the_hub_starts_is_a_400(
    api, carol, change, message, settings
):
    # The hub's spawner would refuse such a workspace at its start, after the portal said yes.
    settings.WORKSPACE_IMAGES = ["mlhub-workspace:latest"]
    settings.WORKSPACE_CPU_MAX, settings.WORKSPACE_MEMORY_MAX = 2.0, 4 * GIB
    settings.WORKSPACE_GPUS_MAX = 1
    template = WorkspaceTemplate.objects.get()
    api.force_authenticate(carol)
    response = api.patch(f"{TEMPLATES}{template.pk}/", change, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": f"Template not saved: {message}.", "code": "invalid"}
    fresh = WorkspaceTemplate.objects.get()
    assert (fresh.cpu_max, fresh.memory_max, fresh.gpus_max) == (2.0, 4 * GIB, 0)
    at_the_edge = {"cpu_max": 2, "memory_max": "4G", "gpus_max": 1}
    assert api.patch(f"{TEMPLATES}{template.pk}/", at_the_edge, format="json").status_code == 200


def test_a_new_templates_bounds_default_to_what_the_hub_allows(api, carol, settings):
    settings.WORKSPACE_IMAGES = ["mlhub-workspace:latest"]
    settings.WORKSPACE_CPU_MAX, settings.WORKSPACE_MEMORY_MAX = 0.5, GIB
    api.force_authenticate(carol)
    response = api.post(TEMPLATES, {"name": "small"}, format="json")
    assert response.status_code == 201, response.json()
    made = response.json()
    assert (made["cpu_default"], made["cpu_max"]) == (0.5, 0.5)
    assert (made["memory_default"], made["memory_max"]) == (GIB, GIB)


def test_people_cannot_write_templates(api, alice):
    api.force_authenticate(alice)
    response = api.post(TEMPLATES, {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only administrators may do this.", "code": "admin_only"}
    assert api.delete(f"{TEMPLATES}{WorkspaceTemplate.objects.get().pk}/").status_code == 403


def test_a_template_in_use_is_not_deleted(api, carol, alice, workspace_of):
    workspace_of(alice)
    api.force_authenticate(carol)
    response = api.delete(f"{TEMPLATES}{WorkspaceTemplate.objects.get().pk}/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The template 'default' is used by 1 workspaces; delete those first.",
        "code": "conflict",
    }


def expiring(workspace_of, owner, template, days):
    return workspace_of(owner, template=template, expires_at=timezone.now() + timedelta(days=days))


def test_people_extend_up_to_the_maximum(api, alice, course, workspace_of):
    workspace = expiring(workspace_of, alice, course, 2)
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{workspace.pk}/extend/", {"days": 30}, format="json")
    assert response.status_code == 200
    assert 29 * 86400 < response.json()["expires_in_seconds"] <= 30 * 86400
    too_far = api.post(f"/api/v1/workspaces/{workspace.pk}/extend/", {"days": 31}, format="json")
    assert too_far.status_code == 400
    assert too_far.json() == {
        "detail": "days_to_live must be 1 to 30 for the template 'course'; got 31.",
        "code": "invalid",
    }


def test_admins_extend_beyond_it(api, carol, alice, course, workspace_of):
    workspace = expiring(workspace_of, alice, course, 2)
    api.force_authenticate(carol)
    response = api.post(f"/api/v1/workspaces/{workspace.pk}/extend/", {"days": 90}, format="json")
    assert response.status_code == 200
    assert response.json()["expires_in_seconds"] > 89 * 86400


def test_extending_never_shortens_and_others_get_a_404(api, alice, bob, course, workspace_of):
    workspace = expiring(workspace_of, alice, course, 20)
    before = workspace.expires_at
    api.force_authenticate(alice)
    api.post(f"/api/v1/workspaces/{workspace.pk}/extend/", {"days": 1}, format="json")
    workspace.refresh_from_db()
    assert workspace.expires_at == before
    api.force_authenticate(bob)
    assert api.post(f"/api/v1/workspaces/{workspace.pk}/extend/", {"days": 5}).status_code == 404


def test_a_workspace_that_never_expires_cannot_be_extended(api, alice, workspace_of):
    workspace = workspace_of(alice)
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{workspace.pk}/extend/", {"days": 5}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "Workspace 'thesis' never expires.", "code": "conflict"}
    assert api.get(f"/api/v1/workspaces/{workspace.pk}/").json()["expires_in_seconds"] is None


def test_the_admin_site_extends_after_asking_how_long(client, carol, alice, course, workspace_of):
    workspace = expiring(workspace_of, alice, course, 2)
    client.force_login(carol)
    chosen = {"action": "extend", "_selected_action": [workspace.pk]}
    assert b"They expire this many days from now" in client.post(WORKSPACES, chosen).content
    assert client.post(WORKSPACES, {**chosen, "confirm": "yes", "days": 60}).status_code == 302
    workspace.refresh_from_db()
    assert workspace.time_left > timedelta(days=59)


def test_the_admin_site_checks_a_template_before_saving(client, carol, settings):
    settings.WORKSPACE_IMAGES = ["mlhub-workspace:latest"]
    client.force_login(carol)
    form = {
        "name": "big",
        "image": "mlhub-workspace:latest",
        "cpu_default": 4,
        "cpu_max": 2,
        "memory_default": 2**30,
        "memory_max": 2**31,
        "gpus_max": 0,
        "days_to_live_default": 0,
        "days_to_live_max": 0,
        "pool_size": 0,
        # The pool schedules' inline, empty.
        "pool_schedules-TOTAL_FORMS": 0,
        "pool_schedules-INITIAL_FORMS": 0,
    }
    page = client.post("/admin/workspaces/workspacetemplate/add/", form)
    assert b"CPU default 4.0 must be at least 0.01 and at most 2.0" in page.content
    page = client.post("/admin/workspaces/workspacetemplate/add/", {**form, "cpu_default": 1e-7})
    assert b"CPU default 1e-07 must be at least 0.01 and at most 2.0" in page.content
    assert not WorkspaceTemplate.objects.filter(name="big").exists()
    assert (
        client.post(
            "/admin/workspaces/workspacetemplate/add/", {**form, "cpu_default": 1}
        ).status_code
        == 302
    )
    assert WorkspaceTemplate.objects.filter(name="big").exists()
