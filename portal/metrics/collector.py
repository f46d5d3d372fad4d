"""What ``/metrics`` answers, computed at each scrape from the portal's database.

The state of things (workspaces by state and template, the last sync pass, the cleanup runs)
is read from the rows that hold it; the events only one process saw (refusals, starts, hub
errors) from their ``EventCount`` totals. So every process of every replica answers the
same, a restart forgets nothing, and a scrape costs a fixed handful of aggregate queries
whatever the number of workspaces (``QUERIES``), never a call to the hub.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

from django.db.models import Case, CharField, Count, F, Max, Sum, Value, When
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from portal.cleanup.models import CleanupRun
from portal.metrics import counters
from portal.metrics.models import EventCount
from portal.workspaces.models import SyncPass, Workspace, WorkspaceTemplate

# The queries of one scrape: templates, workspaces, event counts, cleanup runs, sync pass.
QUERIES = 5
DELETING = "deleting"
# A start waiting in the start queue (portal/workspaces/start_queue.py): "starting" for people.
QUEUED = "queued"
# Every state a workspace is counted in: its own, "deleting" once its delete was asked, or
# "queued" while its start waits its turn.
STATES = [*Workspace.State.values, QUEUED, DELETING]
# Those that hold resources (a queued start holds its place in the quotas).
RESERVING = (*Workspace.ALIVE, QUEUED)


class PortalCollector(Collector):
    def collect(self):
        yield from _workspaces()
        yield from _events()
        yield from _cleanup()
        yield from _sync()


def _workspaces():
    templates = list(WorkspaceTemplate.objects.order_by("name").values_list("name", flat=True))
    shown = Case(
        When(deleting_since__isnull=False, then=Value(DELETING)),
        When(start_queued_at__isnull=False, state=Workspace.State.STARTING, then=Value(QUEUED)),
        default=F("state"),
        output_field=CharField(),
    )
    rows = (
        Workspace.objects.order_by()
        .annotate(shown=shown)
        .values("shown", "template__name")
        .annotate(n=Count("pk"), cpu=Sum("cpu"), memory=Sum("memory"))
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    cpu: dict[str, float] = defaultdict(float)
    memory: dict[str, float] = defaultdict(float)
    for row in rows:  # one per state and template: a few dozen at most
        key = (row["shown"], row["template__name"])
        counts[key] += row["n"]
        if row["shown"] in RESERVING:
            cpu[row["template__name"]] += row["cpu"] or 0
            memory[row["template__name"]] += row["memory"] or 0
    workspaces = GaugeMetricFamily(
        "mlhub_workspaces",
        "Workspaces by state (queued: its start waits in the start queue; deleting: its "
        "delete asked, not yet done) and template",
        labels=["state", "template"],
    )
    reserved_cpu = GaugeMetricFamily(
        "mlhub_workspaces_reserved_cpu_cores",
        "CPU cores reserved by queued, starting, running and stopping workspaces, by template",
        labels=["template"],
    )
    reserved_memory = GaugeMetricFamily(
        "mlhub_workspaces_reserved_memory_bytes",
        "Memory reserved by queued, starting, running and stopping workspaces, by template",
        labels=["template"],
    )
    # Every state of every template, zeros included: a series that vanishes at zero
    # breaks rates and sums in Prometheus.
    for template in templates:
        for state in STATES:
            workspaces.add_metric([state, template], counts.get((state, template), 0))
        reserved_cpu.add_metric([template], cpu.get(template, 0.0))
        reserved_memory.add_metric([template], memory.get(template, 0.0))
    yield from (workspaces, reserved_cpu, reserved_memory)


def _events():
    totals: dict[str, list[tuple[dict, float]]] = defaultdict(list)
    for metric, labels, value in EventCount.objects.values_list("metric", "labels", "value"):
        totals[metric].append((json.loads(labels or "{}"), value))
    refusals = CounterMetricFamily(
        "mlhub_workspace_refusals",
        "Creates and starts refused, by action (create, start) and reason (the API's code: "
        "quota_exceeded, access_refused, conflict, invalid, ...)",
        labels=["action", "reason"],
    )
    for labels, value in totals[counters.REFUSALS]:
        refusals.add_metric([labels["action"], labels["reason"]], value)
    starts = CounterMetricFamily(
        "mlhub_workspace_starts",
        "Starts ended, by template and outcome (running; error: the spawn failed; stopped: "
        "stopped or lost before it was ready)",
        labels=["template", "outcome"],
    )
    for labels, value in totals[counters.STARTS]:
        starts.add_metric([labels["template"], labels["outcome"]], value)
    yield from (refusals, starts, _start_durations(totals))
    errors = CounterMetricFamily(
        "mlhub_hub_api_errors",
        "Calls to the hub's REST API that failed for the hub's reasons, by status "
        "(unreachable; 5xx; 401/403: the portal's token refused)",
        labels=["status"],
    )
    for labels, value in totals[counters.HUB_ERRORS]:
        errors.add_metric([labels["status"]], value)
    yield errors


def _start_durations(totals) -> HistogramMetricFamily:
    histogram = HistogramMetricFamily(
        "mlhub_workspace_start_duration_seconds",
        "Seconds from a create or start being asked to its server being ready, by template",
        labels=["template"],
    )
    per_bucket: dict[str, dict[str, float]] = defaultdict(dict)
    for labels, value in totals[counters.START_BUCKET]:
        per_bucket[labels["template"]][labels["le"]] = value
    sums = {labels["template"]: value for labels, value in totals[counters.START_SUM]}
    for template in sorted(per_bucket):
        buckets, seen = [], 0.0
        for bound in counters.START_BUCKETS:
            le = "+Inf" if math.isinf(bound) else repr(bound)
            seen += per_bucket[template].get(le, 0.0)
            buckets.append((le, seen))
        histogram.add_metric([template], buckets, sum_value=sums.get(template, 0.0))
    return histogram


def _cleanup():
    runs = CounterMetricFamily(
        "mlhub_cleanup_runs",
        "Cleanup runs finished, by job (users, expired) and whether they were dry runs",
        labels=["job", "dry_run"],
    )
    removals = CounterMetricFamily(
        "mlhub_cleanup_removals",
        "Resources (containers, volumes, networks, hub users, workspaces) cleanup removed, by job",
        labels=["job"],
    )
    last = GaugeMetricFamily(
        "mlhub_cleanup_last_run_timestamp_seconds",
        "When the last cleanup run of each job finished (dry runs included), Unix time",
        labels=["job"],
    )
    rows = (
        CleanupRun.objects.filter(finished_at__isnull=False)
        .order_by()
        .values("job", "dry_run")
        .annotate(n=Count("pk"), removed=Sum("removed"), last=Max("finished_at"))
    )
    found: dict[tuple[str, bool], dict] = {(row["job"], row["dry_run"]): row for row in rows}
    for job in CleanupRun.Job.values:
        for dry_run in (False, True):
            row = found.get((job, dry_run), {})
            runs.add_metric([job, str(dry_run).lower()], row.get("n", 0))
        real = found.get((job, False), {})
        removals.add_metric([job], real.get("removed") or 0)
        when = [row["last"] for key, row in found.items() if key[0] == job]
        if when:
            last.add_metric([job], max(when).timestamp())
    yield from (runs, removals, last)


def _sync():
    lag = GaugeMetricFamily(
        "mlhub_sync_lag_seconds",
        "Seconds since the last full comparison of every workspace with the hub read the hub "
        "(absent before the first; alert when it passes a few MLHUB_SYNC_INTERVAL_SECONDS)",
    )
    duration = GaugeMetricFamily(
        "mlhub_sync_last_pass_duration_seconds", "How long the last sync pass took"
    )
    corrected = GaugeMetricFamily(
        "mlhub_sync_last_pass_corrected",
        "Workspaces whose state the last sync pass corrected (the hub's reports missed them)",
    )
    unknown = GaugeMetricFamily(
        "mlhub_sync_last_pass_unknown_servers",
        "Servers the hub ran that the portal had no workspace for, at the last sync pass",
    )
    last = SyncPass.objects.filter(pk=1).first()
    if last is not None:
        lag.add_metric([], max((timezone.now() - last.started_at).total_seconds(), 0.0))
        duration.add_metric([], (last.finished_at - last.started_at).total_seconds())
        corrected.add_metric([], last.corrected)
        unknown.add_metric([], last.unknown_servers)
    yield from (lag, duration, corrected, unknown)
