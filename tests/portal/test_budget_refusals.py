"""A create or start that would begin at or over a budget is a 429 naming the budget, the use
and when it resets, by every path (API, page, an admin's create for someone), and changes
nothing: no row, no hub call. Just under the budget it goes ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.budgets.models import Budget
from portal.metrics.models import EventCount
from portal.workspaces import services
from portal.workspaces.models import Workspace
from tests.portal.scripted_hub import ScriptedHub
from tests.portal.usage_runs import run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("budgets_unset")]
DEC_2 = datetime(2026, 12, 2, tzinfo=UTC)
MONTHLY = (
    "Budget used up for alice: CPU — 100 core-hours per calendar month (UTC), used 100; "
    "it resets on 2027-01-01 00:00 UTC."
)


@pytest.fixture
def hub(hub_double):
    """The hub adapter with its HTTP scripted: a refusal must leave ``hub.paths`` empty."""
    return hub_double(ScriptedHub())


@pytest.fixture
def at_budget(alice, clock):
    """alice: 100 core-hours this month, all used (one core for 100 hours)."""
    Budget.objects.create(user=alice, cpu_hours=100)
    run(DEC_2, DEC_2 + timedelta(hours=100))


def test_a_create_at_the_budget_is_a_429_and_creates_nothing(api, alice, at_budget, hub):
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "second"}, format="json")
    assert response.status_code == 429
    assert response.json() == {
        "detail": MONTHLY,
        "code": "budget_exceeded",
        "limit": "cpu_hours",
        "budget": 100.0,
        "used": 100.0,
        "period": "month",
        "resets_at": "2027-01-01T00:00:00Z",
    }
    # 14 days and 14 hours from 2026-12-17 10:00 UTC.
    assert response["Retry-After"] == str((14 * 24 + 14) * 3600)
    assert Workspace.objects.count() == 0
    assert hub.paths == []


def test_a_start_at_the_budget_is_a_429_and_changes_nothing(
    api, alice, at_budget, hub, workspace_of
):
    workspace = workspace_of(alice, message="Stopped earlier")
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{workspace.pk}/start/")
    assert response.status_code == 429
    assert response.json()["detail"] == MONTHLY
    after = Workspace.objects.get()
    assert (after.state, after.message, after.start_asked_at) == (
        "stopped",
        "Stopped earlier",
        None,
    )
    assert hub.paths == []


def test_the_refusal_is_counted_for_metrics_as_the_budgets(alice, at_budget, hub, workspace_of):
    workspace = workspace_of(alice)
    with pytest.raises(services.ServiceError):
        services.workspace_start(workspace=workspace, by=alice)
    counted = EventCount.objects.filter(labels__contains="reason").values_list("labels", "value")
    assert list(counted) == [('{"action":"start","reason":"budget_exceeded"}', 1.0)]


def test_the_pages_say_why_and_create_nothing(client, alice, at_budget, hub, workspace_of):
    client.force_login(alice)
    page = client.post(
        "/workspaces/create/", {"name": "second", "template": "default"}, follow=True
    )
    assert MONTHLY in page.content.decode()
    assert Workspace.objects.count() == 0
    workspace = workspace_of(alice)
    page = client.post(f"/workspaces/{workspace.pk}/start/", follow=True)
    assert MONTHLY in page.content.decode()
    assert Workspace.objects.get().state == "stopped"
    assert hub.paths == []


def test_an_admins_create_for_someone_is_bound_by_their_budget(api, carol, at_budget, hub):
    api.force_authenticate(carol)
    response = api.post("/api/v1/workspaces/", {"name": "given", "owner": "alice"}, format="json")
    assert response.status_code == 429
    assert response.json()["detail"] == MONTHLY
    assert Workspace.objects.count() == 0


def test_just_under_the_budget_the_start_goes_ahead(alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, cpu_hours=100)
    run(DEC_2, DEC_2 + timedelta(hours=99.99))
    workspace = workspace_of(alice)
    services.workspace_start(workspace=workspace, by=alice)
    assert workspace.state == "starting"


def test_use_before_the_month_does_not_count(alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, cpu_hours=100)
    run(DEC_2 - timedelta(hours=200), DEC_2 - timedelta(days=1, hours=1))  # all in November
    run(DEC_2 - timedelta(days=1, hours=1), DEC_2 + timedelta(hours=2))  # 3 h, 2 in December
    services.workspace_start(workspace=workspace_of(alice), by=alice)


def test_a_rolling_window_says_when_use_falls_under(api, alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, cpu_hours=10, period="7d")
    # 8 h on 12-12, 4 h today (12-17): 12 h in the 7 days; 4 h once 12-12 has left, on 12-19.
    run(datetime(2026, 12, 12, 1, tzinfo=UTC), datetime(2026, 12, 12, 9, tzinfo=UTC))
    run(datetime(2026, 12, 17, 6, tzinfo=UTC), None)  # still running, up to now
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{workspace_of(alice).pk}/start/")
    assert response.status_code == 429
    assert response.json()["detail"] == (
        "Budget used up for alice: CPU — 10 core-hours per 7 days, used 12; it is under the "
        "budget again on 2026-12-19 00:00 UTC, as older use leaves the 7-day window (later if "
        "more runs)."
    )
    assert response.json()["resets_at"] == "2026-12-19T00:00:00Z"


def test_use_older_than_the_window_does_not_count(alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, cpu_hours=10, period="7d")
    run(datetime(2026, 12, 10, 1, tzinfo=UTC), datetime(2026, 12, 10, 23, tzinfo=UTC))
    services.workspace_start(workspace=workspace_of(alice), by=alice)


def test_a_used_up_gpu_budget_refuses_gpu_starts_only(alice, clock, hub, workspace_of):
    Budget.objects.create(user=alice, gpu_hours=0)
    with pytest.raises(services.ServiceError) as refused:
        services.workspace_start(workspace=workspace_of(alice, "gpu", gpus="1"), by=alice)
    assert refused.value.message == (
        "Budget used up for alice: GPU — 0 GPU-hours per calendar month (UTC), used 0; it "
        "resets on 2027-01-01 00:00 UTC."
    )
    services.workspace_start(workspace=workspace_of(alice, "cpu-only"), by=alice)


def test_the_groups_budget_binds_its_members(alice, bob, clock, hub, workspace_of):
    from django.contrib.auth.models import Group

    lab = Group.objects.create(name="lab")
    alice.groups.add(lab)
    Budget.objects.create(group=lab, memory_gib_hours=50)
    run(DEC_2, DEC_2 + timedelta(hours=25), memory=2 * 1024**3)  # 50 GiB-hours
    with pytest.raises(services.ServiceError) as refused:
        services.workspace_start(workspace=workspace_of(alice), by=alice)
    assert refused.value.status == 429
    assert "memory — 50 GiB-hours per calendar month (UTC), used 50" in refused.value.message
    services.workspace_start(workspace=workspace_of(bob), by=bob)  # not in the group
