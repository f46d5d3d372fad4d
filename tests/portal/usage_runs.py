"""Usage intervals written straight into the table, for the roll-up and read tests."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from portal.usage.models import UsageGroup, UsageInterval

GIB = 1024**3


def run(
    start: datetime,
    end: datetime | None,
    *,
    owner: str = "alice",
    template: str = "default",
    groups: tuple[str, ...] = (),
    cpu: float = 1.0,
    memory: int = GIB,
    gpus: int = 0,
) -> UsageInterval:
    """A run of ``owner``'s workspace from ``start`` to ``end`` (None: still running), closed
    now when it has an end."""
    interval = UsageInterval.objects.create(
        workspace_name="thesis",
        owner_name=owner,
        template_name=template,
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        started_at=start,
        ended_at=end,
        ended_how="stopped" if end else "",
        closed_at=timezone.now() if end else None,
    )
    UsageGroup.objects.bulk_create(UsageGroup(interval=interval, name=name) for name in groups)
    return interval
