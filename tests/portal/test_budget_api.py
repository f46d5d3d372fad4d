"""``/api/v1/budgets/``: admins list, create, change and delete budgets (each change audited,
a bad one a 400 that changes nothing); a person sees only their own budget in effect, with
the use so far and when it resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.audit.models import AuditEntry
from portal.budgets.models import Budget
from tests.portal.usage_runs import run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("budgets_unset")]
URL = "/api/v1/budgets/"


@pytest.fixture
def as_carol(api, carol):
    api.force_authenticate(carol)
    return api


def test_an_admin_creates_a_groups_budget_and_it_is_audited(as_carol):
    Group.objects.create(name="physics")
    body = {"group": "physics", "cpu_hours": 1000, "gpu_hours": 20, "period": "30d"}
    response = as_carol.post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "id": Budget.objects.get().pk,
        "user": None,
        "group": "physics",
        "cpu_hours": 1000.0,
        "gpu_hours": 20.0,
        "memory_gib_hours": None,
        "period": "30d",
        "stop_at_budget": None,
    }
    entry = AuditEntry.objects.get(action="budget.save")
    assert (entry.actor_name, entry.target, entry.result) == ("carol", "group physics", "ok")
    assert entry.detail == (
        "cpu_hours=1000.0, gpu_hours=20.0, memory_gib_hours=None, period=30d, stop_at_budget=None"
    )


def test_an_admin_sets_a_calendar_month_which_is_five_letters(as_carol, alice):
    # The column held 4 characters: PostgreSQL refused "month" (a 500; SQLite does not check).
    response = as_carol.post(URL, {"user": "alice", "cpu_hours": 50, "period": "Month"})
    assert (response.status_code, response.json()["period"]) == (201, "month")
    assert Budget.objects.get(user=alice).period == "month"


def test_an_admin_lists_changes_and_deletes_budgets(as_carol, alice, bob):
    mine = Budget.objects.create(user=alice, cpu_hours=10)
    Budget.objects.create(user=bob, gpu_hours=1)
    listed = as_carol.get(URL).json()
    assert listed["count"] == 2
    assert [b["user"] for b in listed["results"]] == ["alice", "bob"]
    changed = as_carol.patch(f"{URL}{mine.pk}/", {"stop_at_budget": True}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["cpu_hours"], changed.json()["stop_at_budget"]) == (10.0, True)
    assert as_carol.delete(f"{URL}{mine.pk}/").status_code == 204
    assert list(Budget.objects.values_list("user__username", flat=True)) == ["bob"]
    actions = AuditEntry.objects.filter(action__startswith="budget.").values_list(
        "action", "target"
    )
    assert list(actions.order_by("pk")) == [("budget.save", "alice"), ("budget.delete", "alice")]


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"user": "alice", "cpu_hours": -1}, {"cpu_hours": ["Hours cannot be negative."]}),
        (
            {"user": "alice", "cpu_hours": "NaN"},
            {"cpu_hours": ["Hours must be a finite number (not NaN or infinity)."]},
        ),
        (
            {"user": "alice", "gpu_hours": "Infinity"},
            {"gpu_hours": ["Hours must be a finite number (not NaN or infinity)."]},
        ),
        (
            {"user": "alice", "memory_gib_hours": 1e-7},
            {
                "memory_gib_hours": [
                    "Hours under 0.01 (36 s) are a slip: use 0 for none at all, or leave it "
                    "empty for no limit."
                ]
            },
        ),
        (
            {"user": "alice", "period": "0d"},
            {"period": ["'0d' is not a period: use month, or a number of days like 30d"]},
        ),
        (
            {"user": "alice", "group": "lab", "cpu_hours": 1},
            {
                "detail": "Give user or group, not both: a budget is for one of them.",
                "code": "invalid",
            },
        ),
        (
            {"cpu_hours": 1},
            {"detail": "Give user (a username) or group (a group's name).", "code": "invalid"},
        ),
        (
            {"user": "nobody", "cpu_hours": 1},
            {"detail": "No user named 'nobody'.", "code": "invalid"},
        ),
        (
            {"group": "nope", "cpu_hours": 1},
            {"detail": "No group named 'nope'.", "code": "invalid"},
        ),
    ],
)
def test_a_bad_budget_is_a_400_and_changes_nothing(as_carol, alice, body, answer):
    Group.objects.create(name="lab")
    response = as_carol.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == answer
    assert not Budget.objects.exists()


def test_a_second_budget_for_the_same_person_is_a_409(as_carol, alice):
    first = Budget.objects.create(user=alice, cpu_hours=10)
    response = as_carol.post(URL, {"user": "alice", "cpu_hours": 20}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"alice already has a budget (id {first.pk}): change that one.",
        "code": "conflict",
    }
    assert list(Budget.objects.values_list("cpu_hours", flat=True)) == [10.0]


def test_a_bad_change_leaves_the_budget_as_it_was(as_carol, alice):
    budget = Budget.objects.create(user=alice, cpu_hours=10)
    response = as_carol.patch(f"{URL}{budget.pk}/", {"cpu_hours": "nan"}, format="json")
    assert response.status_code == 400
    budget.refresh_from_db()
    assert budget.cpu_hours == 10.0


def test_a_person_may_not_see_or_change_budgets(api, alice):
    budget = Budget.objects.create(user=alice, cpu_hours=10)
    api.force_authenticate(alice)
    refused = {"detail": "Only administrators may do this.", "code": "admin_only"}
    assert api.get(URL).json() == refused
    assert api.post(URL, {"user": "alice", "cpu_hours": 1e6}, format="json").status_code == 403
    assert api.patch(f"{URL}{budget.pk}/", {"cpu_hours": 1e6}, format="json").status_code == 403
    assert api.delete(f"{URL}{budget.pk}/").status_code == 403
    assert Budget.objects.get().cpu_hours == 10.0


def test_a_person_sees_their_own_budget_with_use_and_reset(api, alice, bob, clock):
    lab = Group.objects.create(name="lab")
    alice.groups.add(lab)
    Budget.objects.create(group=lab, cpu_hours=100, stop_at_budget=True)
    Budget.objects.create(user=bob, cpu_hours=1)
    start = datetime(2026, 12, 2, tzinfo=UTC)
    run(start, start + timedelta(hours=12, minutes=30))
    api.force_authenticate(alice)
    response = api.get(f"{URL}mine/")
    assert response.status_code == 200
    assert response.json() == {
        "user": "alice",
        "cpu_hours": {
            "limit": 100.0,
            "used": 12.5,
            "period": "month",
            "since": "2026-12-01",
            "resets_at": "2027-01-01T00:00:00Z",
            "stop_at_budget": True,
            "source": "group lab",
        },
        "gpu_hours": None,
        "memory_gib_hours": None,
    }
