"""Warm pool slots: workspaces made before anyone asks (issue 26, lib/pools.py).

A row per slot the portal made. Unclaimed rows are the pool; a claimed row is the portal's
record of which workspace took the slot: Docker labels cannot change, so cleanup learns from
it that the slot's volume (and container) are that workspace's, not an orphan.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from lib import pools


class PoolSlotQuerySet(models.QuerySet):
    def pooled(self) -> PoolSlotQuerySet:
        """The pool's own: made, not claimed (warming, ready, or failed and not yet removed)."""
        return self.exclude(state=PoolSlot.State.CLAIMED)

    def live(self) -> PoolSlotQuerySet:
        """Those that count toward a pool's size."""
        return self.filter(
            state__in=(PoolSlot.State.MAKING, PoolSlot.State.WARMING, PoolSlot.State.READY)
        )


class PoolSlot(models.Model):
    class State(models.TextChoices):
        MAKING = "making"  # planned by a fill, its container being made
        WARMING = "warming"  # made; its server's code still loading
        READY = "ready"  # waiting to be claimed
        CLAIMED = "claimed"  # a workspace now (``workspace``)
        FAILED = "failed"  # did not come up; removed by the next fill

    template = models.ForeignKey(
        "workspaces.WorkspaceTemplate", on_delete=models.CASCADE, related_name="pool_slots"
    )
    name = models.CharField(max_length=63, unique=True, help_text="its container (pod)")
    image = models.CharField(max_length=200)
    cpu = models.FloatField()
    memory = models.BigIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.WARMING)
    detail = models.TextField(blank=True, help_text="why it failed")
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    workspace = models.OneToOneField(
        "workspaces.Workspace",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="pool_slot",
        help_text="the workspace that claimed it",
    )

    objects = PoolSlotQuerySet.as_manager()

    class Meta:
        ordering = ["template", "created_at", "pk"]
        indexes = [models.Index(fields=["template", "state"])]

    def __str__(self) -> str:
        return self.name

    @property
    def volume(self) -> str:
        return pools.volume_name(self.name)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PoolSchedule(models.Model):
    """A larger pool at set hours: "300 from 08:30 to 10:00 on Mondays". While one is on,
    its template's pool holds the largest size of its own ``pool_size`` and those on."""

    template = models.ForeignKey(
        "workspaces.WorkspaceTemplate", on_delete=models.CASCADE, related_name="pool_schedules"
    )
    size = models.PositiveIntegerField(help_text="slots while it is on")
    weekdays = models.CharField(
        max_length=27,
        blank=True,
        help_text='e.g. "mon" or "mon,wed,fri"; empty: every day',
    )
    starts = models.TimeField(help_text="on from (fill ahead: a slot takes a second or two)")
    ends = models.TimeField(help_text="off from; before starts: over midnight")
    time_zone = models.CharField(max_length=60, default="UTC", help_text='e.g. "Europe/Berlin"')

    class Meta:
        ordering = ["template", "starts", "pk"]

    def __str__(self) -> str:
        days = self.weekdays or "every day"
        hours = f"{self.starts:%H:%M} to {self.ends:%H:%M}"
        return f"{self.size} from {hours} ({days}, {self.time_zone})"

    def clean(self) -> None:
        """What the admin's form says of a schedule that cannot be."""
        problems = {}
        names = [day.strip().lower() for day in self.weekdays.split(",") if day.strip()]
        unknown = [name for name in names if name not in WEEKDAYS]
        if unknown:
            problems["weekdays"] = (
                f"Not a weekday: {', '.join(unknown)} (use {', '.join(WEEKDAYS)})"
            )
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems["time_zone"] = f"Unknown time zone {self.time_zone!r}"
        if self.starts is not None and self.starts == self.ends:
            problems["ends"] = "It ends when it starts: never on"
        if self.size is not None and self.size > settings.POOL_SIZE_MAX:
            problems["size"] = (
                f"Above the maximum of {settings.POOL_SIZE_MAX} (MLHUB_POOL_SIZE_MAX)"
            )
        if problems:
            raise ValidationError(problems)

    def days(self) -> set[int]:
        """The weekdays it is on (0: Monday)."""
        names = [day.strip().lower() for day in self.weekdays.split(",") if day.strip()]
        return {WEEKDAYS.index(name) for name in names} if names else set(range(7))

    def on_at(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.time_zone))
        now, day = local.time(), local.weekday()
        if self.starts <= self.ends:
            return day in self.days() and self.starts <= now < self.ends
        # Over midnight: the evening of a listed day, or the morning after it.
        return (day in self.days() and now >= self.starts) or (
            (day - 1) % 7 in self.days() and now < self.ends
        )
