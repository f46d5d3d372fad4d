from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from lib.resources import SSH_KEYS_MAX
from portal.sshkeys.parse import KEY_TYPES

# How many keys one person may have: enough for every laptop, few enough that the gateway's
# lookup stays one short answer.
KEYS_PER_PERSON = SSH_KEYS_MAX  # one limit: what the spawners accept (lib/resources.py)


class SshKeyQuerySet(models.QuerySet):
    def visible_to(self, user) -> SshKeyQuerySet:
        """Admins see every key; everyone else only their own."""
        shown = self.select_related("owner")
        return shown if user.is_admin else shown.filter(owner=user)


class SshKey(models.Model):
    """One person's OpenSSH public key, for the SSH gateway's AuthorizedKeysCommand."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys"
    )
    name = models.CharField(max_length=100, blank=True, help_text="The key's comment unless named")
    key_type = models.CharField(max_length=30, choices=KEY_TYPES)
    public_key = models.TextField(help_text="<type> <base64>, without the comment")
    fingerprint = models.CharField(max_length=50, help_text="SHA256:…, as ssh-keygen -l shows")
    created_at = models.DateTimeField(default=timezone.now)

    objects = SshKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "SSH key"
        ordering = ["created_at", "id"]
        constraints = [
            # One key, one person: the gateway must know whose a key is. Its index also serves
            # the gateway's and the admin's lookups by fingerprint.
            models.UniqueConstraint(fields=["fingerprint"], name="sshkey_fingerprint_unique"),
        ]
        # A person's keys (the API's list, the gateway's lookup) use the owner foreign key's
        # own index.

    def __str__(self) -> str:
        return f"{self.owner.username}: {self.name or self.fingerprint}"
