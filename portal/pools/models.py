"""Warm pool slots: workspaces made before anyone asks (issue 26, lib/pools.py).

A row per slot the portal made. Unclaimed rows are the pool; a claimed row is the portal's
record of which workspace took the slot: Docker labels cannot change, so cleanup learns from
it that the slot's volume (and container) are that workspace's, not an orphan.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from lib import pools


class PoolSlotQuerySet(models.QuerySet):
    def pooled(self) -> PoolSlotQuerySet:
        """The pool's own: made, not claimed (warming, ready, or failed and not yet removed)."""
        return self.exclude(state=PoolSlot.State.CLAIMED)

    def live(self) -> PoolSlotQuerySet:
        """Those that count toward a pool's size."""
        return self.filter(state__in=(PoolSlot.State.WARMING, PoolSlot.State.READY))


class PoolSlot(models.Model):
    class State(models.TextChoices):
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
