from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CleanupRun(models.Model):
    """One run of a cleanup job and its report, whoever asked (schedule, command, API)."""

    class Job(models.TextChoices):
        USERS = "users"
        EXPIRED = "expired"

    job = models.CharField(max_length=10, choices=Job.choices)
    dry_run = models.BooleanField(default=False)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    asked_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    report = models.JSONField(default=dict, blank=True)
    # The report's removals, counted once as it is stored: /metrics sums these, never the JSON.
    removed = models.PositiveIntegerField(default=0, help_text="Resources it removed")

    class Meta:
        ordering = ["-asked_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.job}{' (dry run)' if self.dry_run else ''} at {self.asked_at:%Y-%m-%d %H:%M}"
