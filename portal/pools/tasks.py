"""django-q2 tasks of warm pools: thin wrappers around portal/pools/services.py."""

from __future__ import annotations

from portal.pools import services
from portal.schedules import schedule_every

FILL_SCHEDULE = "warm pools fill"


def fill() -> str:
    return services.pools_fill()


def remove(names: list[str]) -> str:
    return f"{services.slots_remove(names)} removed"


def fill_schedule_ensure() -> str:
    """A fill pass every minute where there are pools (it repairs what a claim's own pass or
    a restart left short); none elsewhere."""
    on = services.pools_on()
    schedule_every(FILL_SCHEDULE, "portal.pools.tasks.fill", 1 if on else None)
    return "every minute" if on else "off (no warm pools in this execution mode)"
