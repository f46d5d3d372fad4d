from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

LIMITS = ("workspaces", "running", "cpu", "memory", "gpus")


class Quota(models.Model):
    """Limits for one person or one group; an empty field leaves that limit to the next
    level (person → their groups → the MLHUB_QUOTA_* default → unlimited)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota",
    )
    group = models.OneToOneField(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    workspaces = models.PositiveIntegerField(null=True, blank=True, help_text="most workspaces")
    running = models.PositiveIntegerField(null=True, blank=True, help_text="most running at once")
    cpu = models.FloatField(null=True, blank=True, help_text="most cores of running workspaces")
    memory = models.BigIntegerField(
        null=True, blank=True, help_text="most bytes of memory of running workspaces"
    )
    gpus = models.PositiveIntegerField(
        null=True, blank=True, help_text="most GPUs of running workspaces"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="quota_of_a_person_or_a_group",
            ),
        ]

    def __str__(self) -> str:
        return f"quota of {self.user or self.group}"

    def clean(self):
        if self.cpu is not None and self.cpu < 0:
            raise ValidationError({"cpu": "Cores cannot be negative."})
        if self.memory is not None and self.memory < 0:
            raise ValidationError({"memory": "Memory cannot be negative."})
