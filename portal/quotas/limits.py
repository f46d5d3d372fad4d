"""Quotas: what a person may use, what they use, and the check on create and start.

A limit comes from the first level that sets it: the person's own quota, then the most
generous of their groups' quotas, then the ``MLHUB_QUOTA_*`` setting; unset everywhere means
unlimited. Use counts the workspaces that are not being deleted, and the resources of those
that are starting, running or stopping.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, Sum

from lib.resources import format_memory, parse_gpus
from portal.errors import ServiceError
from portal.quotas.models import LIMITS, Quota

LABELS = {
    "workspaces": "workspaces",
    "running": "running workspaces",
    "cpu": "CPU cores",
    "memory": "memory",
    "gpus": "GPUs",
}


class QuotaExceeded(ServiceError):
    """429: which limit, the limit and the current use, for the person and for scripts."""

    def __init__(self, limit: str, allowed, used, owner):
        shown = format_memory if limit == "memory" else _number
        super().__init__(
            f"Quota exceeded for {owner}: {LABELS[limit]} — limit {shown(allowed)}, "
            f"in use {shown(used)}.",
            429,
            "quota_exceeded",
        )
        self.extra = {"limit": limit, "quota": allowed, "used": used}


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Usage:
    workspaces: int = 0
    running: int = 0
    cpu: float = 0.0
    memory: int = 0
    gpus: int = 0


def limits_of(user) -> dict[str, float | int | None]:
    """Each limit of ``user`` (None: unlimited)."""
    own = Quota.objects.filter(user=user).first()
    groups = list(Quota.objects.filter(group__user=user))
    found = {}
    for limit in LIMITS:
        value = getattr(own, limit, None) if own else None
        if value is None:
            from_groups = [getattr(q, limit) for q in groups if getattr(q, limit) is not None]
            value = max(from_groups, default=None)
        if value is None:
            value = settings.QUOTA_DEFAULTS.get(limit)
        found[limit] = value
    return found


def usage_of(user) -> Usage:
    from portal.workspaces.models import Workspace

    mine = Workspace.objects.filter(owner=user, deleting_since__isnull=True)
    alive = Q(state__in=Workspace.ALIVE)
    totals = mine.aggregate(
        workspaces=Count("pk"),
        running=Count("pk", filter=alive),
        cpu=Sum("cpu", filter=alive),
        memory=Sum("memory", filter=alive),
    )
    gpus = sum(gpu_count(w) for w in mine.filter(alive).select_related("template"))
    return Usage(
        workspaces=totals["workspaces"],
        running=totals["running"],
        cpu=totals["cpu"] or 0.0,
        memory=totals["memory"] or 0,
        gpus=gpus,
    )


def gpu_count(workspace) -> int:
    """GPUs a workspace holds: its ids, or for "all" the most its template allows."""
    return gpus_reserved(parse_gpus(workspace.gpus), workspace.template.gpus_max)


def gpus_reserved(gpus, gpus_max: int) -> int:
    """How many GPUs parsed ``gpus`` (a count, ids, "all" or None) stand for."""
    if gpus == "all":
        return gpus_max
    if isinstance(gpus, int):
        return gpus
    return len(gpus or [])


def quota_check(owner, *, adding_workspace: bool = False, starting=None) -> None:
    """Raise ``QuotaExceeded`` if one more workspace (``adding_workspace``) or starting the
    workspace ``starting`` would take ``owner`` over a limit. Only the limits the action
    raises are checked: a lowered limit never blocks stopping or deleting."""
    limits = limits_of(owner)
    raised = {"workspaces": 1} if adding_workspace else {}
    if starting is not None:
        raised.update(running=1, cpu=starting.cpu, memory=starting.memory, gpus=gpu_count(starting))
    if all(limits[limit] is None for limit in raised):
        return
    used = usage_of(owner)
    for limit, more in raised.items():
        allowed = limits[limit]
        if allowed is not None and getattr(used, limit) + more > allowed:
            raise QuotaExceeded(limit, allowed, getattr(used, limit), owner)


def quota_summary(user) -> list[tuple[str, str]]:
    """Each limit as (label, "use of limit"), for admins' pages."""
    limits, used = limits_of(user), usage_of(user)
    rows = []
    for limit in LIMITS:
        shown = format_memory if limit == "memory" else _number
        allowed = limits[limit]
        text = shown(getattr(used, limit))
        rows.append(
            (LABELS[limit], f"{text} of {shown(allowed) if allowed is not None else 'unlimited'}")
        )
    return rows
