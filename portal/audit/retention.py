"""How long the audit log keeps its entries (``MLHUB_AUDIT_RETENTION_DAYS``), and the daily
task that forgets older ones: a course of 300 writes tens of thousands a term."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from portal.audit.log import record
from portal.audit.models import AuditEntry
from portal.schedules import schedule_every

SCHEDULE = "audit log retention"
DAILY = 24 * 60  # minutes


def audit_prune() -> int:
    """Delete the entries older than the retention; how many. The pruning is an entry
    itself, so that the log says where its history now begins."""
    days = settings.AUDIT_RETENTION_DAYS
    if not days:
        return 0
    before = timezone.now() - timedelta(days=days)
    pruned, _ = AuditEntry.objects.filter(at__lt=before).delete()
    if pruned:
        record(
            by=None,
            action="audit.prune",
            target="audit log",
            detail=f"{pruned} entries before {before:%Y-%m-%d %H:%M} UTC ({days} days kept)",
        )
    return pruned


def prune_task() -> str:
    return f"{audit_prune()} entries pruned"


def retention_schedule_ensure() -> str:
    """A daily pruning, or none when ``MLHUB_AUDIT_RETENTION_DAYS`` is 0 (keep forever)."""
    days = settings.AUDIT_RETENTION_DAYS
    schedule_every(SCHEDULE, "portal.audit.retention.prune_task", DAILY if days else None)
    return f"entries kept {days} days" if days else "entries kept forever"
