"""API tokens: issued to approved people only, shown once, stored as a digest."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils import timezone

from portal.accounts import access, lockout
from portal.accounts.models import User
from portal.api.models import ApiToken
from portal.audit.log import audited
from portal.errors import ServiceError, forbidden

# A script that asks for a token at every run would pile them up, and knox looks through
# all of a person's tokens at each request: keep the newest unnamed ones, retire the rest.
UNNAMED_TOKENS_KEPT = 20


@audited(
    "token.create",
    lambda kwargs: kwargs["user"].username,
    detail=lambda kwargs, made: f"{made[0].token_key}… {kwargs.get('name', '')}".strip(),
)
def api_token_create(*, user: User, by: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user`` and its key, which exists nowhere else: show it once.

    Each call makes another token; earlier ones keep working until they expire
    (``MLHUB_API_TOKEN_TTL_SECONDS``) or, for unnamed ones, until
    ``UNNAMED_TOKENS_KEPT`` newer unnamed ones exist. Only people themselves may ask, and
    only while they may use MLHub (``access.require_access``).
    """
    if by.pk != user.pk:
        raise forbidden("Only the owner may create their API tokens.")
    access.require_access(user)
    ApiToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    token, key = ApiToken.objects.create(user=user, name=name)
    if not name:
        unnamed = ApiToken.objects.filter(user=user, name="").order_by("-created", "-pk")
        retired = list(unnamed.values_list("pk", flat=True)[UNNAMED_TOKENS_KEPT:])
        ApiToken.objects.filter(pk__in=retired).delete()
    return token, key


def api_token_login(*, request, username: str, password: str) -> str:
    """A new token's key for the person these credentials prove, counted by django-axes.

    ``request`` is the API's request: axes locks by its client address. A locked account or
    address is a 429 (with Retry-After), wrong credentials a 400, someone who may not use
    MLHub (not approved, off the allow-list) a 403.
    """
    # The request goes along so django-axes' backend can refuse a locked account or address.
    user = authenticate(request=request, username=username, password=password)
    if user is None:
        # Axes marks the DRF Request it was handed, not the HttpRequest its middleware
        # sees: without this check a lockout would be answered as a plain wrong password.
        if getattr(request, "axes_locked_out", False):
            seconds = lockout.lock_seconds_left(request, request.axes_credentials)
            locked = ServiceError(lockout.lockout_message(seconds), 429, "locked_out")
            locked.retry_after = seconds
            raise locked
        refused = ServiceError("Unable to log in with provided credentials.", 400, "authorization")
        # In the shape DRF's own token view answered with, which clients already read.
        refused.fields = {"non_field_errors": [refused.message]}
        raise refused
    # Axes forgives failures on a login (a signal authenticate() does not send): do the same.
    lockout.failures_forgive(username=username, ip_address=lockout.client_address(request))
    _, key = api_token_create(user=user, by=user)
    return key


@audited(
    "token.revoke",
    lambda kwargs: kwargs["token"].user.username,
    detail=lambda kwargs, _: f"{kwargs['token'].token_key}… {kwargs['token'].name}".strip(),
)
def api_token_revoke(*, token: ApiToken, by: User) -> None:
    """End one API token at once; only its owner does this (admins reject or delete people)."""
    if by.pk != token.user_id:
        raise forbidden("Only the owner may revoke their API tokens.")
    token.delete()
