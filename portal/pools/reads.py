"""What the pools hold, for the API and the dashboard: the portal's rows only, no engine call."""

from __future__ import annotations

from collections import Counter

from django.utils import timezone

from portal.pools.models import PoolSlot
from portal.pools.services import pool_size, pools_on
from portal.workspaces.models import WorkspaceTemplate


def pools_overview() -> list[dict]:
    """Each template with a pool (a size, or slots left to remove): its size and its slots."""
    slots: dict[int, list[PoolSlot]] = {}
    for slot in PoolSlot.objects.pooled().order_by("created_at", "pk"):
        slots.setdefault(slot.template_id, []).append(slot)
    found = []
    now = timezone.now()
    for template in WorkspaceTemplate.objects.prefetch_related("pool_schedules").order_by("name"):
        mine = slots.get(template.pk, [])
        schedules = list(template.pool_schedules.all())
        if not template.pool_size and not mine and not schedules:
            continue
        counts = Counter(slot.state for slot in mine)
        failed = [slot for slot in mine if slot.state == PoolSlot.State.FAILED]
        found.append(
            {
                "template": template.name,
                "image": template.image,
                "size": pool_size(template, now),
                "pool_size": template.pool_size,
                "schedules": [
                    {"text": str(schedule), "size": schedule.size, "on": schedule.on_at(now)}
                    for schedule in schedules
                ],
                "ready": counts[PoolSlot.State.READY],
                "warming": counts[PoolSlot.State.WARMING] + counts[PoolSlot.State.MAKING],
                "failed": counts[PoolSlot.State.FAILED],
                "last_error": failed[-1].detail if failed else "",
                "slots": mine,
            }
        )
    return found


def pools_available() -> bool:
    """Whether this execution mode has warm pools at all."""
    return pools_on()
