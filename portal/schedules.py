"""The portal's periodic django-q2 schedules, kept in step with the settings at every start
(``manage.py mlhub_setup``)."""

from __future__ import annotations

from django_q.models import Schedule


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
