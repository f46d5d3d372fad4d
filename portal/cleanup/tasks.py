"""django-q2 entry points for cleanup, and its schedule kept in step with the settings."""

from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule

from portal.cleanup import runs

SCHEDULE = "cleanup"


def run_queued(run_id: int) -> str:
    return runs.run_queued(run_id)


def run_scheduled() -> str:
    """Both jobs, as the schedule runs them: people first, then expiry."""
    return "; ".join(runs.run_now(job=job).summary for job in ("users", "expired"))


def cleanup_schedule_ensure() -> str:
    """Create, update or (``CLEANUP_INTERVAL_SECONDS=-1``) remove the cleanup schedule."""
    seconds = settings.CLEANUP_INTERVAL_SECONDS
    if seconds < 0:
        Schedule.objects.filter(name=SCHEDULE).delete()
        return "off"
    minutes = max(1, -(-seconds // 60))  # django-q2 schedules by the minute
    Schedule.objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "portal.cleanup.tasks.run_scheduled",
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
        },
    )
    return f"every {minutes} min"
