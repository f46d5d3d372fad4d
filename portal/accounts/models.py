from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models

from lib import usernames

# What people who may not use MLHub yet are told, wherever they try.
NOT_APPROVED = "Your account is waiting for an administrator's approval."
REJECTED = "Your account was not approved."
NOT_ALLOWED = "Your account is not on this hub's allow-list; ask an administrator."


# Also for names that differ only in case or Unicode form: they are one hub account.
NAME_TAKEN = "A user with that username already exists."


class UserQuerySet(models.QuerySet):
    """Keeps ``hub_name`` derived from ``username`` on the paths that skip ``save()``."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for user in objs:
            user.hub_name = usernames.hub_form(user.username)
        return super().bulk_create(objs, *args, **kwargs)

    def named(self, username: str) -> models.QuerySet:
        """The person of this name in any case or Unicode form (at most one: hub_name is
        unique). Every look-up of a person by a typed name goes through here."""
        return self.filter(hub_name=usernames.hub_form(username or ""))

    def update(self, **kwargs):
        if "username" in kwargs:
            raise TypeError("Rename people one at a time (save()), which keeps hub_name right.")
        return super().update(**kwargs)


class MLHubUserManager(UserManager.from_queryset(UserQuerySet)):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        # The first admin (createsuperuser, make run) must be able to use the hub at once.
        extra_fields.setdefault("approval", User.Approval.APPROVED)
        return super().create_superuser(username, email, password, **extra_fields)

    def get_by_natural_key(self, username):
        # Logging in as "JÜRGEN" is logging in as "jürgen": one person per hub name.
        return self.named(username).get()


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
    # The name JupyterHub knows this person by (lib/usernames.py), set from the username at
    # every save. Unique here, so two people can never reach one hub account: SQLite's and
    # PostgreSQL's case-insensitive comparisons do not fold as the hub does.
    hub_name = models.CharField(max_length=150, unique=True, editable=False)

    class LoginProvider(models.TextChoices):
        LOCAL = "", "A local password"
        OIDC = "oidc", "OpenID Connect"
        LDAP = "ldap", "LDAP directory"

    # Whose login this account is: the provider that made it, or local. A provider never
    # takes over another's account of the same name (portal/accounts/organisation.py); an
    # admin hands one over by changing this.
    login_provider = models.CharField(
        max_length=10,
        choices=LoginProvider.choices,
        default=LoginProvider.LOCAL,
        blank=True,
        help_text="How this person logs in. Change it to hand an account to a provider.",
    )
    # The groups the provider named at the last login: the ones the next login may take away
    # (groups an admin gave in the portal are never removed by a login).
    provider_groups = models.JSONField(default=list, blank=True, editable=False)

    objects = MLHubUserManager()

    class Meta:
        # Not AbstractUser.Meta: the options the first migration recorded.
        pass

    def __str__(self) -> str:
        return self.username

    def clean(self) -> None:
        super().clean()
        username = self.username or ""  # None when the form's own check refused it
        # A name Django's own validator refused has its message already.
        if not usernames.ALLOWED.fullmatch(username):
            return
        if refused := usernames.refusal(username):
            raise ValidationError({"username": refused})
        hub_name = usernames.hub_form(username)
        if User.objects.exclude(pk=self.pk).filter(hub_name=hub_name).exists():
            raise ValidationError({"username": NAME_TAKEN})

    def save(self, *args, **kwargs) -> None:
        self.hub_name = usernames.hub_form(self.username)
        if kwargs.get("update_fields") is not None and "username" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "hub_name"}
        super().save(*args, **kwargs)

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
        """An MLHub administrator: in the portal, the API, the Django admin and the hub.
        The one definition; ``ADMINS`` below is the same in a query."""
        return self.is_approved and self.is_staff


# ``User.is_approved`` as a query, for people not being deleted: those a pass over "everyone
# who may use MLHub" starts from (the allow-list, a file, is ``access.why_refused``'s).
APPROVED = models.Q(is_active=True, approval=User.Approval.APPROVED, deleting_since__isnull=True)
# ``User.is_admin`` as a query: active, approved staff.
ADMINS = models.Q(is_staff=True, is_active=True, approval=User.Approval.APPROVED)


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
