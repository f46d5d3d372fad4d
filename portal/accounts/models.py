from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

# What people who may not use MLHub yet are told, wherever they try.
NOT_APPROVED = "Your account is waiting for an administrator's approval."
REJECTED = "Your account was not approved."
NOT_ALLOWED = "Your account is not on this hub's allow-list; ask an administrator."


class MLHubUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        # The first admin (createsuperuser, make run) must be able to use the hub at once.
        extra_fields.setdefault("approval", User.Approval.APPROVED)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person of the portal. Self-signed-up people wait for an admin's approval."""

    class Approval(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    approval = models.CharField(max_length=10, choices=Approval.choices, default=Approval.PENDING)
    approved_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(
        max_length=500, blank=True, help_text="Shown to the person when they log in"
    )
    deleting_since = models.DateTimeField(
        null=True, blank=True, help_text="Deleted; kept until the hub has removed their servers"
    )

    objects = MLHubUserManager()

    class Meta:
        constraints = [
            # JupyterHub names users in lower case: two portal users may not share one.
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_approved(self) -> bool:
        return self.is_active and self.approval == self.Approval.APPROVED

    @property
    def access_refused(self) -> str:
        """Why this person may not use MLHub yet, in their words; empty when they may."""
        if self.is_approved:
            return ""
        if self.approval == self.Approval.REJECTED:
            reason = self.rejection_reason
            return f"{REJECTED} {reason}" if reason else REJECTED
        return NOT_APPROVED

    @property
    def is_admin(self) -> bool:
        """An MLHub administrator: in the portal, the API, the Django admin and the hub."""
        return self.is_approved and self.is_staff

    @property
    def hub_name(self) -> str:
        """This person's name in JupyterHub (which lower-cases every username)."""
        return self.username.lower()


class AllowListEntry(models.Model):
    """Someone who may join: an exact username, or everyone with an e-mail in a domain."""

    class Kind(models.TextChoices):
        USERNAME = "username"
        DOMAIN = "domain", "E-mail domain"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Kept lower-case: usernames and domains are compared without case.
    value = models.CharField(max_length=254)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "allow-list entry"
        verbose_name_plural = "allow-list"
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="allowlist_unique_entry"),
        ]

    def __str__(self) -> str:
        return f"@{self.value}" if self.kind == self.Kind.DOMAIN else self.value
