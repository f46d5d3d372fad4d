"""The admins' dashboard: people waiting, what runs, resources in use against the machine's
totals, and the latest audit entries. Reads the database only; approve and reject go
through the account services."""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.errors import ServiceError, require_admin
from portal.pools.reads import pools_overview
from portal.quotas.limits import gpu_count
from portal.workspaces.models import Workspace

RECENT_ENTRIES = 15
RUNNING_SHOWN = 50


def readable_size(size: int) -> str:
    """Rounded for people: 0 → "0", 25275222016 → "23.5G", 536870912 → "512M"."""
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + unit
    return "0" if size == 0 else f"{size}B"


def machine_totals() -> dict:
    """CPU cores, memory and GPUs of the machine: the MLHUB_MACHINE_* settings, else this
    host's own (where the portal runs next to the engine, as with `make run` and compose)."""
    memory = settings.MACHINE_MEMORY
    if memory is None:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            memory = None
    return {
        "cpu": settings.MACHINE_CPUS or os.cpu_count(),
        "memory": memory,
        "gpus": settings.MACHINE_GPUS or 0,
    }


@login_required
def dashboard(request):
    require_admin(request.user, "see the dashboard")
    alive = (
        Workspace.objects.alive().filter(deleting_since=None).select_related("owner", "template")
    )
    used = alive.aggregate(cpu=Sum("cpu"), memory=Sum("memory"))
    totals = machine_totals()
    gpus = sum(gpu_count(w) for w in alive.exclude(gpus=""))
    resources = [
        ("CPU cores", used["cpu"] or 0, totals["cpu"], lambda v: f"{v:g}"),
        ("Memory", used["memory"] or 0, totals["memory"], readable_size),
        ("GPUs", gpus, totals["gpus"], str),
    ]
    return render(
        request,
        "workspaces/dashboard.html",
        {
            "waiting": User.objects.filter(
                approval=User.Approval.PENDING, is_active=True, deleting_since=None
            ).order_by("date_joined"),
            "running": alive.order_by("-synced_at")[:RUNNING_SHOWN],
            "running_count": alive.count(),
            "people_count": User.objects.filter(deleting_since=None).count(),
            "workspace_count": Workspace.objects.filter(deleting_since=None).count(),
            "resources": [
                {
                    "label": label,
                    "used": shown(value),
                    "total": shown(total) if total else "unknown",
                    "value": value,
                    "max": total or 0,
                }
                for label, value, total, shown in resources
            ],
            "entries": AuditEntry.objects.all()[:RECENT_ENTRIES],
            "pools": pools_overview(),
        },
    )


@login_required
@require_POST
def person_decide(request, pk: int, verb: str):
    require_admin(request.user, "see the dashboard")
    person = get_object_or_404(User.objects.filter(deleting_since=None), pk=pk)
    if verb == "approve":
        accounts.user_approve(user=person, by=request.user)
        messages.success(request, f"{person} is approved.")
    elif verb == "reject":
        reason = request.POST.get("reason", "")
        accounts.user_reject(user=person, by=request.user, reason=reason)
        messages.success(request, f"{person} is rejected.")
    else:
        raise ServiceError(f"Unknown decision {verb!r}", 404)
    return redirect("dashboard")
