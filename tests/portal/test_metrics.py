"""``/metrics``: the portal's series, read by Prometheus's own text parser after starts,
refusals, failures, cleanup runs and sync passes, and the one rule of who may read them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from portal.api.services import api_token_create
from portal.cleanup.models import CleanupRun
from portal.metrics.collector import QUERIES, PortalCollector
from portal.quotas.models import Quota
from portal.workspaces import services, sync, tasks
from portal.workspaces.models import SyncPass, Workspace, WorkspaceTemplate
from tests.portal.scripted_hub import Answer, ScriptedHub

pytestmark = pytest.mark.django_db
State = Workspace.State
METRICS_TOKEN = "scraper-secret-0123456789"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.QUOTA_DEFAULTS = dict.fromkeys(["workspaces", "running", "cpu", "memory", "gpus"])
    settings.METRICS_TOKEN = METRICS_TOKEN


def scrape(api) -> str:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    response = api.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample, as {(name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


class SlowHub(ScriptedHub):
    """A hub whose starts are accepted (202) and become ready later."""

    def _send(self, method, path, *, ok=(200,), timeout=None, **kwargs):
        if method == "POST" and path.count("/") == 4:
            self.paths.append((method, path))
            return Answer(202, {})
        return super()._send(method, path, ok=ok, timeout=timeout, **kwargs)


def test_after_a_start_and_a_refusal_the_series_say_so(api, hub_double, alice):
    hub_double(ScriptedHub(progress=[{"progress": 100, "ready": True}]))
    thesis = services.workspace_create(by=alice, name="thesis")
    tasks.follow_spawn(thesis.pk)  # as the task cluster does after the start
    Quota.objects.create(user=alice, workspaces=1)
    with pytest.raises(services.ServiceError):
        services.workspace_create(by=alice, name="second")
    found = samples(scrape(api))
    assert value(found, "mlhub_workspaces", state="running", template="default") == 1
    assert value(found, "mlhub_workspaces", state="stopped", template="default") == 0
    assert value(found, "mlhub_workspaces", state="deleting", template="default") == 0
    assert value(found, "mlhub_workspaces_reserved_cpu_cores", template="default") == 1.0
    assert value(found, "mlhub_workspace_starts_total", template="default", outcome="running") == 1
    assert value(found, "mlhub_workspace_start_duration_seconds_count", template="default") == 1
    assert (
        value(found, "mlhub_workspace_start_duration_seconds_bucket", template="default", le="1.0")
        == 1
    )  # followed to its end at once: well under a second
    assert (
        value(found, "mlhub_workspace_refusals_total", action="create", reason="quota_exceeded")
        == 1
    )
    refusals = {k for k in found if k[0] == "mlhub_workspace_refusals_total"}
    assert len(refusals) == 1
    assert value(found, "mlhub_hub_api_errors_total", status="unreachable") is None


def test_a_start_over_the_running_quota_counts_once_as_the_starts_refusal(
    api, hub_double, alice, workspace_of
):
    hub_double(ScriptedHub())
    Quota.objects.create(user=alice, running=1)
    workspace_of(alice, "one", state=State.RUNNING)
    second = workspace_of(alice, "two")
    with pytest.raises(services.ServiceError):
        services.workspace_start(workspace=second, by=alice)
    with pytest.raises(services.ServiceError):
        services.workspace_create(by=alice, name="three")  # its start is refused inside
    found = samples(scrape(api))
    assert (
        value(found, "mlhub_workspace_refusals_total", action="start", reason="quota_exceeded") == 1
    )
    assert (
        value(found, "mlhub_workspace_refusals_total", action="create", reason="quota_exceeded")
        == 1
    )
    assert (
        value(found, "mlhub_workspace_starts_total", template="default", outcome="running") is None
    )


def test_a_start_that_is_ready_later_is_timed_from_the_ask_to_the_hubs_report(
    api, hub_double, alice, workspace_of
):
    hub_double(SlowHub())
    workspace = services.workspace_start(workspace=workspace_of(alice), by=alice)
    assert workspace.state == State.STARTING
    asked = Workspace.objects.get(pk=workspace.pk).start_asked_at
    sync.state_report(
        user="alice", server="thesis", state="running", at=asked + timedelta(seconds=7)
    )
    # A second writer seeing it running (the spawn's follower) counts nothing more.
    services.state_written(Workspace.objects.get(pk=workspace.pk), at=timezone.now())
    found = samples(scrape(api))
    bucket = "mlhub_workspace_start_duration_seconds_bucket"
    assert value(found, bucket, template="default", le="5.0") == 0
    assert value(found, bucket, template="default", le="10.0") == 1
    assert value(found, bucket, template="default", le="+Inf") == 1
    assert value(found, "mlhub_workspace_start_duration_seconds_sum", template="default") == 7.0
    assert value(found, "mlhub_workspace_starts_total", template="default", outcome="running") == 1


def test_a_failed_spawn_counts_as_an_error_and_is_not_timed(api, hub_double, alice, workspace_of):
    hub_double(SlowHub())
    workspace = services.workspace_start(workspace=workspace_of(alice), by=alice)
    sync.state_report(
        user="alice", server="thesis", state="error", message="no image", at=timezone.now()
    )
    found = samples(scrape(api))
    assert value(found, "mlhub_workspace_starts_total", template="default", outcome="error") == 1
    assert value(found, "mlhub_workspace_start_duration_seconds_count", template="default") is None
    assert value(found, "mlhub_workspaces", state="error", template="default") == 1
    assert Workspace.objects.get(pk=workspace.pk).start_asked_at is None


def test_a_hub_that_is_down_counts_as_unreachable(api, alice, workspace_of):
    # No double: the real client of the one seam, at an address where nothing listens.
    workspace = workspace_of(alice)
    with pytest.raises(services.HubError):
        services.workspace_start(workspace=workspace, by=alice)
    with pytest.raises(services.HubError):
        services.workspace_stop(
            workspace=workspace_of(alice, "other", state=State.RUNNING), by=alice
        )
    found = samples(scrape(api))
    assert value(found, "mlhub_hub_api_errors_total", status="unreachable") == 2
    # Its start was undone: no start ended, none refused.
    assert not [k for k in found if k[0] == "mlhub_workspace_starts_total"]
    assert not [k for k in found if k[0] == "mlhub_workspace_refusals_total"]


def test_a_refused_token_counts_by_its_status(api):
    from portal.hub.client import HubClient, HubError
    from portal.metrics import counters

    class RefusingHub(HubClient):
        def _send(self, method, path, **kwargs):
            raise HubError(403, "Action is not authorized")

    with pytest.raises(HubError):
        RefusingHub("http://h/hub/api", "t", on_outage=counters.hub_error).version()
    assert value(samples(scrape(api)), "mlhub_hub_api_errors_total", status="403") == 1


def test_the_hubs_own_refusals_are_not_hub_errors(api, hub_double, alice, workspace_of):
    hub = hub_double(ScriptedHub())
    hub.progress = [services.HubError(400, "not starting"), {"ready": True}]
    services.spawn_outcome(workspace_of(alice, state=State.STARTING), patience=5)
    assert not [k for k in samples(scrape(api)) if k[0] == "mlhub_hub_api_errors_total"]


def test_cleanup_runs_and_removals_come_from_their_rows(api, carol):
    now = timezone.now()
    CleanupRun.objects.create(job="users", removed=3, finished_at=now - timedelta(hours=1))
    CleanupRun.objects.create(job="users", removed=2, finished_at=now)
    CleanupRun.objects.create(job="users", dry_run=True, finished_at=now)
    CleanupRun.objects.create(job="expired")  # still running: not counted
    found = samples(scrape(api))
    assert value(found, "mlhub_cleanup_runs_total", job="users", dry_run="false") == 2
    assert value(found, "mlhub_cleanup_runs_total", job="users", dry_run="true") == 1
    assert value(found, "mlhub_cleanup_runs_total", job="expired", dry_run="false") == 0
    assert value(found, "mlhub_cleanup_removals_total", job="users") == 5
    assert value(found, "mlhub_cleanup_removals_total", job="expired") == 0
    assert value(found, "mlhub_cleanup_last_run_timestamp_seconds", job="users") == pytest.approx(
        now.timestamp()
    )
    assert value(found, "mlhub_cleanup_last_run_timestamp_seconds", job="expired") is None


def test_a_run_stores_its_removals(hub_double, monkeypatch):
    from portal.cleanup import runs
    from portal.cleanup.report import Outcome, Report

    report = Report(job="users", dry_run=False)
    report.add("container", "c1", "gone", Outcome.REMOVED, "orphaned")
    report.add("volume", "v1", "gone", Outcome.REMOVED, "orphaned")
    report.add("volume", "v2", "gone", Outcome.FAILED, "in use")
    monkeypatch.setitem(runs.JOBS, "users", lambda **kwargs: report)
    assert runs.run_now(job="users").removed == 2


def test_sync_lag_is_the_age_of_the_last_pass(api):
    found = samples(scrape(api))
    assert value(found, "mlhub_sync_lag_seconds") is None  # before the first pass
    started = timezone.now() - timedelta(seconds=90)
    SyncPass.objects.create(
        pk=1, started_at=started, finished_at=started + timedelta(seconds=2), corrected=4
    )
    found = samples(scrape(api))
    assert 90 <= value(found, "mlhub_sync_lag_seconds") < 120
    assert value(found, "mlhub_sync_last_pass_duration_seconds") == 2.0
    assert value(found, "mlhub_sync_last_pass_corrected") == 4


def test_a_scrape_is_a_fixed_number_of_queries_whatever_the_workspaces(
    alice, bob, workspace_of, django_assert_num_queries
):
    other = WorkspaceTemplate.objects.create(name="gpu")
    for n in range(30):
        workspace_of(alice if n % 2 else bob, f"w{n}", state=State.RUNNING, template=other)
    Workspace.objects.filter(name="w3").update(deleting_since=timezone.now())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    with django_assert_num_queries(QUERIES):
        text = generate_latest(registry).decode()
    found = samples(text)
    assert value(found, "mlhub_workspaces", state="running", template="gpu") == 29
    assert value(found, "mlhub_workspaces", state="deleting", template="gpu") == 1
    assert value(found, "mlhub_workspaces", state="running", template="default") == 0


def test_starts_waiting_in_the_start_queue_are_counted_apart_and_reserve(api, alice, workspace_of):
    now = timezone.now()
    workspace_of(alice, "asked", state=State.STARTING, start_asked_at=now)
    workspace_of(alice, "waiting", state=State.STARTING, start_queued_at=now, cpu=2)
    found = samples(scrape(api))
    assert value(found, "mlhub_workspaces", state="starting", template="default") == 1
    assert value(found, "mlhub_workspaces", state="queued", template="default") == 1
    assert value(found, "mlhub_workspaces_reserved_cpu_cores", template="default") == 3.0


# Who may read them ------------------------------------------------------------------------


def token_of(user) -> str:
    return api_token_create(user=user, by=user)[1]


def test_an_admins_api_token_reads_them(api, carol):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(carol)}")
    response = api.get("/metrics")
    assert response.status_code == 200
    assert b"# TYPE mlhub_workspaces gauge" in response.content


def test_someone_elses_api_token_is_a_403(api, alice):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(alice)}")
    response = api.get("/metrics")
    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"


def test_no_credential_is_a_401_asking_for_a_token(api):
    response = api.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_metrics_token_is_a_401(api):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}x")
    assert api.get("/metrics").status_code == 401


def test_an_admins_session_is_not_a_credential_here(api, carol):
    api.force_login(carol)
    assert api.get("/metrics").status_code == 401


def test_without_a_metrics_token_only_admins_read_them(api, carol, settings):
    settings.METRICS_TOKEN = None
    api.credentials(HTTP_AUTHORIZATION="Bearer ")
    assert api.get("/metrics").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Bearer None")
    assert api.get("/metrics").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(carol)}")
    assert api.get("/metrics").status_code == 200


def test_openmetrics_is_answered_to_who_asks_for_it(api):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    response = api.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


def test_a_user_hub_workspace_refused_at_login_counts_as_a_create(api, alice, settings):
    from portal.workspaces.user_hub import default_workspace_ensure

    settings.NAMED_WORKSPACES = False
    Quota.objects.create(user=alice, workspaces=0)
    assert default_workspace_ensure(alice) is None
    found = samples(scrape(api))
    assert (
        value(found, "mlhub_workspace_refusals_total", action="create", reason="quota_exceeded")
        == 1
    )


def test_a_replica_answers_the_scraper_at_its_pod_address_over_plain_http(
    api, settings, monkeypatch
):
    from tests.portal.reloaded import reloaded_settings

    with reloaded_settings(
        monkeypatch, MLHUB_POD_IP="10.1.2.3", MLHUB_PUBLIC_URL="https://hub.example.org"
    ) as chart:
        allowed, exempt, redirect = (
            chart.ALLOWED_HOSTS,
            chart.SECURE_REDIRECT_EXEMPT,
            chart.SECURE_SSL_REDIRECT,
        )
    assert "10.1.2.3" in allowed and redirect
    settings.ALLOWED_HOSTS, settings.SECURE_REDIRECT_EXEMPT = allowed, exempt
    settings.SECURE_SSL_REDIRECT = True
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert api.get("/metrics", HTTP_HOST="10.1.2.3:8010").status_code == 200
    # Pages are still sent to https, and other hosts still refused.
    assert api.get("/accounts/login/", HTTP_HOST="10.1.2.3:8010").status_code == 301
    assert api.get("/metrics", HTTP_HOST="10.9.9.9:8010").status_code == 400


def test_a_row_made_by_another_process_in_between_is_added_to(monkeypatch):
    from django.db.models import QuerySet

    from portal.metrics import counters
    from portal.metrics.models import EventCount

    counters.add(counters.HUB_ERRORS, {"status": "502"})
    real_update, calls = QuerySet.update, []

    def first_finds_nothing(self, **kwargs):
        calls.append(kwargs)
        return 0 if len(calls) == 1 else real_update(self, **kwargs)

    # As if another process made the row between this one's update and its create.
    monkeypatch.setattr(QuerySet, "update", first_finds_nothing)
    counters.add(counters.HUB_ERRORS, {"status": "502"})
    assert len(calls) == 2
    assert EventCount.objects.get(metric=counters.HUB_ERRORS).value == 2


def test_counting_never_fails_what_it_counts(monkeypatch, caplog):
    from django.db import DatabaseError
    from django.db.models import QuerySet

    from portal.metrics import counters

    def broken(self, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(QuerySet, "update", broken)
    counters.add(counters.REFUSALS, {"action": "start", "reason": "conflict"})
    assert "Could not count workspace_refusals" in caplog.text
