"""Log in with the organisation's OpenID Connect provider: two pages, with Authlib.

Authlib (its Django client) because it does what a login must and we should not write:
discovery from the issuer, PKCE (S256), ``state`` kept in the session and checked, a ``nonce``
in the ID token, whose signature, issuer, audience and expiry it verifies against the
provider's published keys. It logs no one in: the person is MLHub's to make and check
(portal/accounts/organisation.py). mozilla-django-oidc has no discovery; django-allauth would
take over the local accounts' pages as well.

``/accounts/oidc/login/`` sends the browser to the provider; the provider sends it back to
``/accounts/oidc/callback/``, which logs the person in and goes on to where they were going
(the hub's OAuth request too, so a lab opens with no second login).
"""

from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib.auth import login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET
from joserfc.errors import JoseError

from portal.accounts import organisation
from portal.accounts.login_config import OidcConfig
from portal.accounts.login_page import NEXT_KEY, refused_page

log = logging.getLogger(__name__)
SESSION_BACKEND = "portal.accounts.backends.OrganisationSessions"
# Discovery, keys and the token exchange each give up after this: a provider that does not
# answer costs a login page this long, not a worker's whole timeout.
PROVIDER_TIMEOUT_SECONDS = 10

# One Authlib client per configuration (the tests change it); each keeps the provider's
# discovery document once it has loaded it.
_clients: dict[OidcConfig, object] = {}


def _client():
    config = settings.OIDC
    if config not in _clients:
        registry = OAuth()
        registry.register(
            "organisation",
            client_id=config.client_id,
            client_secret=config.client_secret,
            server_metadata_url=config.discovery_url,
            client_kwargs={
                "scope": config.scopes,
                "code_challenge_method": "S256",
                "default_timeout": PROVIDER_TIMEOUT_SECONDS,
            },
        )
        _clients[config] = registry.create_client("organisation")
    return _clients[config]


def _unavailable(request, error: Exception):
    log.warning("OpenID provider %s did not answer: %s", settings.OIDC.issuer, error)
    return refused_page(
        request,
        f"{settings.OIDC.name} does not answer now, so you cannot log in through it; "
        "try again in a few minutes. Administrators can still log in with their local password.",
        503,
    )


@require_GET
def oidc_login(request):
    if not settings.OIDC:
        return redirect("login")
    target = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        request.session[NEXT_KEY] = target
    else:
        request.session.pop(NEXT_KEY, None)
    callback = settings.PUBLIC_URL + reverse("oidc_callback")
    try:
        # Asked at every click, though the client keeps the document it loaded: a provider
        # that went down since is said so here, not by the browser's connection error there.
        requests.get(
            settings.OIDC.discovery_url, timeout=PROVIDER_TIMEOUT_SECONDS
        ).raise_for_status()
        return _client().authorize_redirect(request, callback)
    except (requests.RequestException, ValueError) as error:
        return _unavailable(request, error)


@require_GET
def oidc_callback(request):
    if not settings.OIDC:
        return redirect("login")
    if "error" in request.GET:
        # The provider said no (a person who cancelled, a client it does not know).
        error = request.GET.get("error_description") or request.GET["error"]
        return refused_page(request, f"{settings.OIDC.name} did not log you in: {error}", 403)
    try:
        token = _client().authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        if _missing_claims(claims):
            claims.update(_client().userinfo(token=token))
    except (OAuthError, JoseError) as error:
        # A state that is not this browser's (tampered, replayed, or a second tab), a code
        # the provider refuses, or an ID token whose nonce, signature, issuer, audience or
        # expiry the checks refuse (joserfc's errors, under Authlib).
        log.warning("OpenID login refused: %s", error)
        return refused_page(
            request,
            "This login could not be checked (it did not start in this browser, or it was "
            "used already). Please log in again.",
            400,
        )
    except (requests.RequestException, ValueError) as error:
        return _unavailable(request, error)
    try:
        user = organisation.oidc_person(claims)
    except organisation.LoginRefused as refused:
        return refused_page(request, refused.message, refused.status)
    login(request, user, backend=SESSION_BACKEND)
    target = request.session.pop(NEXT_KEY, "") or settings.LOGIN_REDIRECT_URL
    return redirect(target)


def _missing_claims(claims: dict) -> bool:
    """Some providers put the username or the groups in userinfo only (Keycloak's mappers)."""
    config = settings.OIDC
    return config.username_claim not in claims or (
        bool(config.groups_claim) and config.groups_claim not in claims
    )
