from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """One state-changing action, allowed or refused: who, what, on what, how it ended."""

    class Source(models.TextChoices):
        PAGE = "page"
        API = "api"
        ADMIN = "admin"
        SCHEDULER = "scheduler"
        HUB_EVENT = "hub-event"
        COMMAND = "command"

    class Result(models.TextChoices):
        OK = "ok"
        REFUSED = "refused", "Refused (bad input, no permission, over quota)"
        FAILED = "failed", "Failed (the hub or the engine could not do it)"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # The name stays when the person is deleted: the log outlives its actors.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="empty: the system")
    action = models.CharField(max_length=50, db_index=True)
    target = models.CharField(max_length=200, db_index=True, help_text='e.g. "alice/thesis"')
    result = models.CharField(max_length=10, choices=Result.choices, default=Result.OK)
    detail = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["actor_name", "-at"], name="audit_actor_at")]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target}: {self.result}"
