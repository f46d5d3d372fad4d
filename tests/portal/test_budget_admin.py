"""Budgets in the Django admin: an inline on a group's and a person's page, saved through the
budget services (audited, checked as the API's), and each person's use against theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group

from portal.audit.models import AuditEntry
from portal.budgets.limits import limits_of
from portal.budgets.models import Budget
from tests.portal.usage_runs import run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("budgets_unset")]


def _group_form(**budget) -> dict:
    return {
        "name": "course",
        "quota-TOTAL_FORMS": 0,
        "quota-INITIAL_FORMS": 0,
        "budget-TOTAL_FORMS": 1,
        "budget-INITIAL_FORMS": 0,
        **{f"budget-0-{field}": value for field, value in budget.items()},
    }


def test_a_groups_budget_inline_saves_through_the_service(client, carol, alice):
    client.force_login(carol)
    form = _group_form(cpu_hours=500, period="30d", stop_at_budget="true")
    assert client.post("/admin/auth/group/add/", form).status_code == 302
    alice.groups.add(Group.objects.get(name="course"))
    limit = limits_of(alice)["cpu_hours"]
    assert (limit.hours, limit.period.text, limit.stop_at_budget) == (500.0, "30d", True)
    entry = AuditEntry.objects.get(action="budget.save")
    assert (entry.target, entry.source) == ("group course", "admin")


def test_a_bad_value_in_the_inline_is_refused_and_saves_nothing(client, carol):
    client.force_login(carol)
    page = client.post("/admin/auth/group/add/", _group_form(gpu_hours="nan", period="week"))
    assert page.status_code == 200
    text = page.content.decode()
    negative = client.post("/admin/auth/group/add/", _group_form(cpu_hours="-1"))
    assert "hours cannot be negative" in negative.content.decode()
    assert "Enter a number." in text  # Django's own field refuses NaN first
    assert "&#x27;week&#x27; is not a period" in text
    assert not Budget.objects.exists()


def test_a_persons_page_shows_use_against_the_budget(client, carol, alice, clock):
    Budget.objects.create(user=alice, cpu_hours=100)
    start = datetime(2026, 12, 2, tzinfo=UTC)
    run(start, start + timedelta(hours=25))
    client.force_login(carol)
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert (
        "CPU (core-hours): 25 of 100 per calendar month (UTC) (own; it resets on "
        "2027-01-01 00:00 UTC)"
    ) in page
    assert "GPU (GPU-hours): no limit" in page
