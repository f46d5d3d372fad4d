"""The audit log forgets entries older than MLHUB_AUDIT_RETENTION_DAYS, daily, and says so."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from portal.audit.models import AuditEntry
from portal.audit.retention import SCHEDULE, audit_prune, prune_task
from tests.portal.reloaded import reloaded_settings, settings_refusal

pytestmark = pytest.mark.django_db


def entry(days_ago: float, target: str) -> AuditEntry:
    return AuditEntry.objects.create(
        at=timezone.now() - timedelta(days=days_ago),
        action="workspace.start",
        target=target,
        source=AuditEntry.Source.API,
    )


def test_entries_older_than_the_retention_go_and_the_pruning_is_an_entry(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    entry(31, "alice/old")
    entry(45, "bob/older")
    entry(29, "alice/recent")

    assert prune_task() == "2 entries pruned"

    kept = sorted(AuditEntry.objects.values_list("action", "target", "source", "actor_name"))
    assert kept == [
        ("audit.prune", "audit log", "scheduler", ""),
        ("workspace.start", "alice/recent", "api", ""),
    ]
    detail = AuditEntry.objects.get(action="audit.prune").detail
    assert detail.startswith("2 entries before ") and detail.endswith(" UTC (30 days kept)")


def test_nothing_to_prune_writes_nothing():
    entry(1, "alice/recent")
    assert audit_prune() == 0
    assert AuditEntry.objects.count() == 1


def test_zero_keeps_everything(settings):
    settings.AUDIT_RETENTION_DAYS = 0
    entry(10_000, "alice/ancient")
    assert audit_prune() == 0
    assert AuditEntry.objects.count() == 1


def test_setup_keeps_the_daily_schedule_in_step_with_the_setting(settings):
    out = StringIO()
    call_command("mlhub_setup", stdout=out)
    assert "Audit log: entries kept 365 days\n" in out.getvalue()
    schedule = Schedule.objects.get(name=SCHEDULE)
    assert (schedule.func, schedule.minutes) == ("portal.audit.retention.prune_task", 24 * 60)

    settings.AUDIT_RETENTION_DAYS = 0
    out = StringIO()
    call_command("mlhub_setup", stdout=out)
    assert "Audit log: entries kept forever\n" in out.getvalue()
    assert not Schedule.objects.filter(name=SCHEDULE).exists()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MLHUB_AUDIT_RETENTION_DAYS": "a year"},
            "MLHUB_AUDIT_RETENTION_DAYS='a year' is not an integer",
        ),
        ({"MLHUB_AUDIT_RETENTION_DAYS": "-1"}, "MLHUB_AUDIT_RETENTION_DAYS=-1 must be at least 0"),
        ({"MLHUB_TASK_WORKERS": "0"}, "MLHUB_TASK_WORKERS=0 must be at least 1"),
        ({"MLHUB_TASK_WORKERS": "many"}, "MLHUB_TASK_WORKERS='many' is not an integer"),
    ],
)
def test_a_bad_retention_or_task_cluster_setting_stops_the_start(monkeypatch, environ, message):
    assert settings_refusal(monkeypatch, **environ) == message


def test_the_task_cluster_runs_the_workers_asked_for(monkeypatch):
    with reloaded_settings(monkeypatch, MLHUB_TASK_WORKERS="6") as reloaded:
        assert reloaded.Q_CLUSTER["workers"] == 6
