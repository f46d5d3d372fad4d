"""Login lockouts with django-axes: whose address a request is, how long a lock lasts, the 429.

Axes counts failed sign-ins per account and per client address (``AXES_LOCKOUT_PARAMETERS``)
in its ``AccessAttempt`` table, shared by every worker. This module holds what MLHub decides
on top: one notion of the client's address, a narrower reset on success, and the answer.
"""

from __future__ import annotations

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from lib import usernames


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the entry the nearest trusted proxy added to X-Forwarded-For.

    configurable-http-proxy appends the address it was reached from, so with
    ``MLHUB_TRUSTED_PROXY_COUNT`` (DRF's ``NUM_PROXIES``) proxies the client is that many
    entries from the right; anything further left was sent by the client and may be forged.
    DRF's throttles use this same function, so a lock and a throttle never disagree on who
    is asking. (django-ipware's ``proxy_count`` counts differently, and with a forged header
    it answered the forged address or none at all.)
    """
    return BaseThrottle().get_ident(request)


ATTEMPT_USERNAME_MAX = AccessAttempt._meta.get_field("username").max_length


def account_of(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: the account a sign-in is for, in its hub form.

    Logging in as ``Alice``, ``ALICE`` or ``alice`` is logging in to one account
    (``User.objects.get_by_natural_key``), so their failures must add up to one lock.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    return attempt_name(credentials.get(field) if credentials else request.POST.get(field))


def attempt_name(name: str | None) -> str | None:
    """How a sign-in's name is kept in axes' attempts: its hub form, cut to axes' column of
    255 (PostgreSQL refuses more: a 500); no account's name is that long."""
    if not isinstance(name, str):
        return name
    return usernames.hub_form(name)[:ATTEMPT_USERNAME_MAX]


def lock_seconds_left(request: HttpRequest, credentials: dict | None = None) -> int:
    """Whole seconds until the account's or the address's lock ends; 0 when neither is locked.

    Failures older than the cool-off stop counting, so a lock ends one cool-off after the
    newest failure that made it (an upper bound when several names share an address).
    """
    AxesProxyHandler.update_request(request)  # axes' request attributes, set once
    handler = AxesProxyHandler.get_implementation()
    limit = get_failure_limit(request, credentials)
    cool_off = get_cool_off(request)
    ends = []
    for attempts in handler.get_user_attempts(request, credentials):
        found = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        if (found["failures"] or 0) >= limit:
            ends.append(found["last"] + cool_off)
    if not ends:
        return 0
    # Now, not the request's axes_attempt_time: a new AccessAttempt row stamps itself later.
    return max(1, math.ceil((max(ends) - timezone.now()).total_seconds()))


def lockout_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    wait = f"{minutes} minutes" if minutes > 1 else "a minute"
    return (
        f"Too many failed sign-ins for this account or from this address. "
        f"Try again in {wait}, or ask an administrator to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the login page's 429, saying how long to wait.

    The API's token endpoint answers its own JSON 429 (``portal.api.services.api_token_login``):
    DRF hands axes its own Request, so the flag axes sets never reaches this middleware.
    """
    seconds = lock_seconds_left(request, credentials)
    response = render(
        request,
        "registration/locked_out.html",
        {"message": lockout_message(seconds)},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def failures_forgive(*, username: str | None, ip_address: str | None) -> int:
    """Forget the failures of this name (in any case or form) from this address (a sign-in
    just succeeded there)."""
    attempts = AccessAttempt.objects.filter(username=attempt_name(username), ip_address=ip_address)
    count, _ = attempts.delete()
    return count


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, except that a success forgives only its own failures.

    Axes' reset deletes every failure matching the name OR the address: someone with an
    account of their own could sign in between guesses at another's password and so wipe
    their address's count, and the victim's row with it.
    """

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        return failures_forgive(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        )
