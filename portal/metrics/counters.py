"""Counting the events only one process sees as they happen, into ``EventCount`` rows.

A refused start, a hub call that failed, a start that became ready: each adds to one row with
an ``UPDATE ... SET value = value + n``, so every process of every replica adds to the same
total and any of them answers a scrape with all of it (``portal/metrics/collector.py``).
The events are rare (a start, a refusal, an outage): one small write each.

Counting never fails what it counts: a database error here is logged and forgotten. Inside a
transaction that is later rolled back the count is rolled back with it; the services count
outside their transactions.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from contextvars import ContextVar
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F

from portal.errors import ServiceError
from portal.metrics.models import EventCount

log = logging.getLogger(__name__)

# The metrics counted here (their names without the exported ``mlhub_`` and ``_total``).
REFUSALS = "workspace_refusals"
STARTS = "workspace_starts"
START_BUCKET = "workspace_start_duration_seconds_bucket"
START_SUM = "workspace_start_duration_seconds_sum"
HUB_ERRORS = "hub_api_errors"

# Seconds from asking for a start to its server being ready: a local process starts in 3-5 s,
# a Docker container in a few, a pod whose image must be pulled in minutes (the hub gives up
# after MLHUB_START_TIMEOUT).
START_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, math.inf)


def labels_key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def add(metric: str, labels: dict[str, str] | None = None, amount: float = 1.0) -> None:
    """Add ``amount`` to the row of ``metric`` with ``labels``, made at its first event."""
    key = labels_key(labels or {})
    rows = EventCount.objects.filter(metric=metric, labels=key)
    try:
        try:
            with transaction.atomic():
                if not rows.update(value=F("value") + amount):
                    EventCount.objects.create(metric=metric, labels=key, value=amount)
        except IntegrityError:  # another process made the row in between: add to it
            with transaction.atomic():
                rows.update(value=F("value") + amount)
    except DatabaseError as error:
        log.warning("Could not count %s %s: %s", metric, key, error)


def bucket_of(seconds: float) -> str:
    """The bucket (its upper bound, as the exposition writes it) an observation falls in."""
    bound = next(bound for bound in START_BUCKETS if seconds <= bound)
    return "+Inf" if math.isinf(bound) else repr(bound)


def start_ended(*, workspace_id: int, state: str, at: datetime) -> float | None:
    """A workspace's state just became ``running``, ``error`` or ``stopped``: if a start was
    waiting for it (``Workspace.start_asked_at``, the moment the hub was asked), that start
    ended so. Counted once, by whichever writer (the start's answer, its follower, the hub's
    report, the sync) gets there first: the field is cleared only where it still holds the
    value read. How many seconds it took when this call counted it, else None."""
    from portal.workspaces.models import Workspace

    waiting = Workspace.objects.filter(pk=workspace_id, start_asked_at__isnull=False)
    found = waiting.values_list("start_asked_at", "template__name").first()
    if found is None:
        return None
    asked_at, template = found
    if not waiting.filter(start_asked_at=asked_at).update(start_asked_at=None):
        return None  # another writer counted it
    add(STARTS, {"template": template, "outcome": state})
    seconds = max((at - asked_at).total_seconds(), 0.0)
    if state == Workspace.State.RUNNING:
        add(START_BUCKET, {"template": template, "le": bucket_of(seconds)})
        add(START_SUM, {"template": template}, seconds)
    return seconds


_counting_refusals: ContextVar[bool] = ContextVar("counting_refusals", default=False)


def refusals_counted(action: str):
    """Count each refusal (``ServiceError``) of the service it wraps by ``action`` and the
    refusal's code (``quota_exceeded``, ``access_refused``, ``conflict``, ...). A refusal of a
    start inside a create counts once, as the create's."""

    def decorate(service):
        @functools.wraps(service)
        def call(**kwargs):
            if _counting_refusals.get():
                return service(**kwargs)
            token = _counting_refusals.set(True)
            try:
                return service(**kwargs)
            except ServiceError as refusal:
                add(REFUSALS, {"action": action, "reason": refusal.code})
                raise
            finally:
                _counting_refusals.reset(token)

        return call

    return decorate


def hub_error(error) -> None:
    """A hub call that failed for the hub's reasons (a ``HubError`` that ``is_outage``): by
    its status, or ``unreachable`` when no answer came."""
    status = "unreachable" if error.reachable is False else str(error.status)
    add(HUB_ERRORS, {"status": status})
