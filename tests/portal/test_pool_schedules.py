"""A larger warm pool at set hours ("300 from 08:30 to 10:00 on Mondays"): when a schedule is
on, what the fill then makes, what the admin may set, and what the API says."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.core.exceptions import ValidationError

from portal.audit.models import AuditEntry
from portal.pools import services
from portal.pools.models import PoolSchedule, PoolSlot
from portal.workspaces.models import WorkspaceTemplate
from tests.portal.test_pools import engine, fill  # noqa: F401 -- engine is a fixture

pytestmark = pytest.mark.django_db
MONDAY_0900_UTC = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def template():
    return WorkspaceTemplate.objects.get(name="default")


def schedule(template, **fields) -> PoolSchedule:
    values = {"size": 300, "weekdays": "mon", "starts": time(8, 30), "ends": time(10, 0)}
    return PoolSchedule.objects.create(template=template, **{**values, **fields})


@pytest.mark.parametrize(
    ("moment", "on"),
    [
        (datetime(2026, 12, 7, 8, 29, tzinfo=UTC), False),
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), True),
        (datetime(2026, 12, 7, 9, 59, tzinfo=UTC), True),
        (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), False),  # ends: off from then
        (datetime(2026, 12, 8, 9, 0, tzinfo=UTC), False),  # a Tuesday
    ],
)
def test_a_schedule_is_on_its_days_from_its_start_until_its_end(template, moment, on):
    assert schedule(template).on_at(moment) is on


def test_a_schedule_keeps_its_own_time_zone(template):
    berlin = schedule(template, time_zone="Europe/Berlin")  # 08:30 there is 07:30 UTC
    assert berlin.on_at(datetime(2026, 12, 7, 7, 45, tzinfo=UTC))
    assert not berlin.on_at(MONDAY_0900_UTC)


def test_a_schedule_over_midnight_runs_into_the_next_morning(template):
    night = schedule(template, weekdays="sun", starts=time(22, 0), ends=time(2, 0))
    assert night.on_at(datetime(2026, 12, 6, 23, 0, tzinfo=UTC))  # Sunday evening
    assert night.on_at(datetime(2026, 12, 7, 1, 0, tzinfo=UTC))  # Monday morning
    assert not night.on_at(datetime(2026, 12, 7, 23, 0, tzinfo=UTC))  # Monday evening


def test_the_pool_holds_the_largest_size_on(template, settings):
    settings.POOL_SIZE_MAX = 250
    template.pool_size = 5
    template.save()
    schedule(template, size=40, weekdays="")
    assert services.pool_size(template, datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) == 5
    assert services.pool_size(template, MONDAY_0900_UTC) == 40
    schedule(template)  # 300, on Mondays: the maximum bounds it
    assert services.pool_size(template, MONDAY_0900_UTC) == 250


def test_the_fill_follows_the_schedule(engine, template, monkeypatch):  # noqa: F811
    schedule(template, size=4, weekdays="", starts=time(0, 0), ends=time(23, 59, 59))
    assert fill(engine) == "4 made, 4 ready, 0 removed, 0 short"
    PoolSchedule.objects.all().delete()
    assert fill(engine) == "0 made, 0 ready, 4 removed, 0 short"
    assert not PoolSlot.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"weekdays": "mon,funday"}, "weekdays", "Not a weekday: funday"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone 'Mars/Olympus'"),
        ({"ends": time(8, 30)}, "ends", "It ends when it starts"),
        ({"size": 100_000}, "size", "Above the maximum of 500"),
    ],
)
def test_a_schedule_that_cannot_be_is_refused_with_why(template, fields, field, said):
    values = {"size": 300, "weekdays": "mon", "starts": time(8, 30), "ends": time(10, 0)}
    with pytest.raises(ValidationError) as refused:
        PoolSchedule(template=template, **{**values, **fields}).full_clean()
    assert said in refused.value.message_dict[field][0]


def test_an_admin_sets_a_schedule_on_the_templates_page_audited(engine, client, carol, template):  # noqa: F811
    client.force_login(carol)
    url = f"/admin/workspaces/workspacetemplate/{template.pk}/change/"
    form = {
        "name": "default",
        "image": template.image,
        "cpu_default": 1,
        "cpu_max": 2,
        "memory_default": template.memory_default,
        "memory_max": template.memory_max,
        "gpus_max": 0,
        "days_to_live_default": 0,
        "days_to_live_max": 0,
        "pool_size": 0,
        "is_default": "on",
        "pool_schedules-TOTAL_FORMS": 1,
        "pool_schedules-INITIAL_FORMS": 0,
        "pool_schedules-0-size": 300,
        "pool_schedules-0-weekdays": "mon",
        "pool_schedules-0-starts": "08:30",
        "pool_schedules-0-ends": "10:00",
        "pool_schedules-0-time_zone": "Europe/Berlin",
    }
    refused = client.post(url, {**form, "pool_schedules-0-weekdays": "funday"})
    assert refused.status_code == 200 and b"Not a weekday: funday" in refused.content
    assert not PoolSchedule.objects.exists()
    assert client.post(url, form).status_code == 302
    (saved,) = PoolSchedule.objects.all()
    assert str(saved) == "300 from 08:30 to 10:00 (mon, Europe/Berlin)"
    entry = AuditEntry.objects.filter(action="pool.schedule").get()
    assert entry.detail == str(saved) and entry.target == "default"
    assert engine.queued[-1] == "portal.pools.tasks.fill"


def test_the_pools_api_lists_the_schedules(engine, api, carol, template):  # noqa: F811
    schedule(template, weekdays="")
    api.force_authenticate(carol)
    (pool,) = api.get("/api/v1/pools/").json()["pools"]
    assert pool["pool_size"] == 0
    assert [s["text"] for s in pool["schedules"]] == ["300 from 08:30 to 10:00 (every day, UTC)"]
