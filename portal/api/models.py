from __future__ import annotations

from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """An API token (``Authorization: Token <key>``); the key is shown once, never stored.

    django-rest-knox keeps a SHA-512 ``digest`` of the key (the primary key) and its first
    15 characters in ``token_key``, indexed: each request looks its token up by that prefix
    and compares digests. This is knox's swappable token model (``KNOX_TOKEN_MODEL``) so a
    token can carry a name; several per person, each with its own ``expiry`` (null: never).
    """

    name = models.CharField(max_length=100, blank=True, help_text="what the owner calls it")

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.user}: {self.name or f'created {self.created:%Y-%m-%d %H:%M}'}"
