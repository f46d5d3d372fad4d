"""API tokens: issued to approved people only, shown once, stored as a digest."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from portal.accounts.models import User
from portal.api.models import ApiToken

NOT_APPROVED = "Your account is waiting for an administrator's approval."
# A script that asks for a token at every run would pile them up, and knox looks through
# all of a person's tokens at each request: keep the newest unnamed ones, retire the rest.
UNNAMED_TOKENS_KEPT = 20


def api_token_create(*, user: User, by: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user`` and its key, which exists nowhere else: show it once.

    Each call makes another token; earlier ones keep working until they expire
    (``MLHUB_API_TOKEN_TTL_SECONDS``) or, for unnamed ones, until
    ``UNNAMED_TOKENS_KEPT`` newer unnamed ones exist. Only people themselves may ask, and
    only once approved.
    """
    if by.pk != user.pk:
        raise PermissionDenied("Only the owner may create their API tokens.")
    if not user.is_approved:
        raise PermissionDenied(NOT_APPROVED)
    ApiToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    token, key = ApiToken.objects.create(user=user, name=name)
    if not name:
        unnamed = ApiToken.objects.filter(user=user, name="").order_by("-created", "-pk")
        retired = list(unnamed.values_list("pk", flat=True)[UNNAMED_TOKENS_KEPT:])
        ApiToken.objects.filter(pk__in=retired).delete()
    return token, key
