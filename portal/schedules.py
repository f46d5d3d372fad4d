"""The portal's django-q2 schedules: the periodic ones, kept in step with the settings at
every start (``manage.py mlhub_setup``), and the one-off retries of work the hub could not
finish yet."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import schedule

# Work the hub has not finished (a delete, a revocation) or could not be asked about is tried
# again this late (the periodic sync pass resumes deletes a retry did not finish).
RETRY_SECONDS = 30


def schedule_every(name: str, func: str, minutes: int | None) -> None:
    """Run ``func`` every ``minutes`` (django-q2 schedules by the whole minute) under the
    schedule ``name``; None removes the schedule."""
    if minutes is None:
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": func,
            "schedule_type": Schedule.MINUTES,
            "minutes": max(1, minutes),
            "repeats": -1,
        },
    )


def minutes_of(seconds: int) -> int:
    """Seconds rounded up to whole minutes, at least one."""
    return max(1, -(-seconds // 60))


def retry_later(func: str, arg, what: str) -> str:
    """Run the task ``func`` with ``arg`` once more in ``RETRY_SECONDS``; ``what`` names it
    among the schedules (a timestamp keeps names apart). What the task returns meanwhile."""
    schedule(
        func,
        arg,
        name=f"{what} {timezone.now():%H%M%S%f}",
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + timedelta(seconds=RETRY_SECONDS),
    )
    return f"not finished, retry in {RETRY_SECONDS} s"
