"""The roll-up's schedule: a pass every ``ROLLUP_MINUTES``. Reads are right between passes
(they add what the roll-ups do not hold yet); the pass keeps that part small."""

from __future__ import annotations

from portal.schedules import schedule_every
from portal.usage.rollup import rollup_pass

SCHEDULE = "usage roll-up"
ROLLUP_MINUTES = 15


def rollup_task() -> str:
    return f"days recomputed: {rollup_pass().days}"


def rollup_schedule_ensure() -> str:
    schedule_every(SCHEDULE, "portal.usage.tasks.rollup_task", ROLLUP_MINUTES)
    return f"every {ROLLUP_MINUTES} min"
