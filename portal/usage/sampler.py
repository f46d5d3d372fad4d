"""Measured use beside reserved: a pass asks the engine what each running workspace uses now
and adds it to the workspace's open usage interval.

Docker counts CPU time since a container started: a sample adds what the counter grew by
since the last one (all of it when it went down or the container is another one: a restart
begins again at zero). The Kubernetes metrics API reports a rate: a sample adds the rate times
the time since the last sample. Peak memory is the highest the engine reports (cgroup v1
keeps a high-water mark; on cgroup v2 it is the highest of the samples).

The runs are read and written in one short transaction after the engine has answered (its
rows locked on PostgreSQL), so two passes at once (the schedule and ``manage.py
usage_sample``) do not add a counter's growth twice; every write is guarded by ``ended_at IS
NULL``: a closed interval is never written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from lib.labels import container_name
from portal.pools.models import PoolSlot
from portal.usage.models import SamplePass, UsageInterval
from spawners.cleanup.backend import EngineUnavailable, MetricsUnavailable, Reading

NO_ENGINE = "local-process workspaces have no engine to measure them"
OFF = "the usage sampler is off (MLHUB_USAGE_SAMPLE_SECONDS)"
NOT_YET = "no sample has been taken yet"
MEASURED = ["cpu_used_seconds", "memory_peak", "sampled_at", "cpu_counter", "engine_run"]


@dataclass
class Sampled:
    running: int  # open runs of running workspaces
    sampled: int  # of those, measured now
    seconds: float
    unavailable: str = ""

    @property
    def summary(self) -> str:
        if self.unavailable:
            return f"measured use unavailable: {self.unavailable}"
        measured = f"{self.sampled} of {self.running} running workspaces measured"
        return f"{measured} in {self.seconds:.2f} s"


def engine_backend():
    """The engine adapter cleanup uses (the one way this portal connects to the engine)."""
    from portal.cleanup.service import engine_backend as backend  # its import is heavy

    return backend()


def usage_sample(*, backend=None, now: datetime | None = None) -> Sampled:
    """Measure every running workspace's open run once: one engine listing (and one stats
    call per Docker container), then one query for the runs and one statement for their new
    values, in a short transaction. Recorded as the last SamplePass, with the reason when the
    engine measures nothing."""
    began = time.monotonic()
    backend = backend if backend is not None else engine_backend()
    done = Sampled(running=0, sampled=0, seconds=0.0)
    try:
        if backend is None:
            raise MetricsUnavailable(NO_ENGINE)
        readings = {reading.name: reading for reading in backend.readings()}
    except (EngineUnavailable, MetricsUnavailable) as error:
        done.unavailable = str(error)
        readings = {}
    now = now or timezone.now()
    with transaction.atomic():
        # Locked on PostgreSQL (SQLite has one writer at a time): a second pass at once reads
        # the counters this one wrote, so a counter's growth is added once.
        runs = list(
            UsageInterval.objects.select_for_update(of=("self",))
            .filter(ended_at__isnull=True, workspace__state="running")
            .values(
                "pk",
                "workspace_id",
                "workspace_name",
                "workspace__owner__hub_name",
                "started_at",
                *MEASURED,
            )
        )
        # A Docker slot is renamed at its claim; a Kubernetes pod cannot be.
        slots = claimed_slot_names() if runs and settings.EXECUTION_MODE == "k8s" else {}
        rows = []
        for run in runs:
            name = container_name(
                settings.HUB_NAME, run["workspace__owner__hub_name"], run["workspace_name"]
            )
            # A Kubernetes pod made from a warm slot keeps the slot's name until it stops.
            reading = readings.get(name) or readings.get(slots.get(run["workspace_id"], ""))
            if reading is not None:
                rows.append((*sampled(run, reading, now), run["pk"]))
        done.running, done.sampled = len(runs), _write(rows)
    done.seconds = time.monotonic() - began
    SamplePass.objects.update_or_create(
        pk=1,
        defaults={
            "finished_at": timezone.now(),
            "sampled": done.sampled,
            "seconds": done.seconds,
            "unavailable": done.unavailable,
        },
    )
    return done


def claimed_slot_names() -> dict[int, str]:
    """{workspace id: the name of the warm slot it was made from}."""
    return dict(
        PoolSlot.objects.filter(state=PoolSlot.State.CLAIMED, workspace__isnull=False).values_list(
            "workspace_id", "name"
        )
    )


def sampled(run: dict, reading: Reading, now: datetime) -> tuple:
    """The run's measured fields (``MEASURED``, in order) after this reading."""
    used = run["cpu_used_seconds"] or 0.0
    if reading.cpu_seconds is not None:
        counter = run["cpu_counter"]
        same_container = (
            run["engine_run"] == reading.run
            and counter is not None
            and reading.cpu_seconds >= counter
        )
        # The first sample, or a new container counting from zero: all of the counter.
        used += reading.cpu_seconds - counter if same_container else reading.cpu_seconds
    else:
        since = run["sampled_at"] or run["started_at"]
        used += (reading.cpu_cores or 0.0) * max((now - since).total_seconds(), 0.0)
    peak = max(run["memory_peak"] or 0, reading.memory, reading.memory_peak or 0)
    return used, peak, now, reading.cpu_seconds, reading.run[:64]


def _write(rows: list[tuple]) -> int:
    """One UPDATE statement run for each row (the database prepares it once: 200 rows take
    milliseconds, where Django's bulk_update compiled a CASE of 1,000 branches for a second),
    guarded by ``ended_at IS NULL``: a closed run is never written. How many were written."""
    if not rows:
        return 0
    meta = UsageInterval._meta
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in MEASURED)
    ended_at = quote(meta.get_field("ended_at").column)
    statement = (
        f"UPDATE {quote(meta.db_table)} SET {columns}"
        f" WHERE {quote(meta.pk.column)} = %s AND {ended_at} IS NULL"
    )
    at = connection.ops.adapt_datetimefield_value  # SQLite keeps text, PostgreSQL a timestamp
    with connection.cursor() as cursor:
        cursor.executemany(
            statement, [(used, peak, at(when), *rest) for used, peak, when, *rest in rows]
        )
        return cursor.rowcount


def measured_use_unavailable() -> str | None:
    """Why usage shows reserved use only, or None when the sampler measures: off, no engine,
    or what the last pass found (a cluster without the metrics API)."""
    if settings.USAGE_SAMPLE_SECONDS is None:
        return OFF
    if settings.EXECUTION_MODE == "process":
        return NO_ENGINE
    last = SamplePass.objects.filter(pk=1).values_list("unavailable", flat=True).first()
    if last is None:
        return NOT_YET
    return last or None
