"""django-q2 entry points for cleanup, and its schedule kept in step with the settings."""

from __future__ import annotations

from django.conf import settings

from portal.cleanup import runs
from portal.schedules import minutes_of, schedule_every

SCHEDULE = "cleanup"


def run_queued(run_id: int) -> str:
    return runs.run_queued(run_id)


def run_scheduled() -> str:
    """Both jobs, as the schedule runs them: people first, then expiry."""
    return "; ".join(runs.run_now(job=job).summary for job in ("users", "expired"))


def cleanup_schedule_ensure() -> str:
    """Create, update or (``CLEANUP_INTERVAL_SECONDS=-1``) remove the cleanup schedule."""
    seconds = settings.CLEANUP_INTERVAL_SECONDS
    minutes = None if seconds < 0 else minutes_of(seconds)
    schedule_every(SCHEDULE, "portal.cleanup.tasks.run_scheduled", minutes)
    return "off" if minutes is None else f"every {minutes} min"
