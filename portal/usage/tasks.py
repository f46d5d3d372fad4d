"""The usage schedules: the roll-up's pass every ``ROLLUP_MINUTES`` (reads are right between
passes: they add what the roll-ups do not hold yet; the pass keeps that part small) and the
sampler's every ``MLHUB_USAGE_SAMPLE_SECONDS``."""

from __future__ import annotations

from django.conf import settings

from portal.schedules import minutes_of, schedule_every
from portal.usage.rollup import rollup_pass
from portal.usage.sampler import usage_sample

SCHEDULE = "usage roll-up"
ROLLUP_MINUTES = 15
SAMPLE_SCHEDULE = "usage sample"


def rollup_task() -> str:
    return f"days recomputed: {rollup_pass().days}"


def rollup_schedule_ensure() -> str:
    schedule_every(SCHEDULE, "portal.usage.tasks.rollup_task", ROLLUP_MINUTES)
    return f"every {ROLLUP_MINUTES} min"


def sample_task() -> str:
    return usage_sample().summary


def sample_schedule_ensure() -> str:
    """Create, update or (``MLHUB_USAGE_SAMPLE_SECONDS`` 0 or -1) remove the sampler's
    schedule."""
    seconds = settings.USAGE_SAMPLE_SECONDS
    minutes = None if seconds is None else minutes_of(seconds)
    schedule_every(SAMPLE_SCHEDULE, "portal.usage.tasks.sample_task", minutes)
    return "off" if minutes is None else f"every {minutes} min"
