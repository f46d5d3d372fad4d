"""The hub as an OAuth2 client of the portal (django-oauth-toolkit)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.exceptions import ImproperlyConfigured
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

# The secret is stored without key stretching (accounts/hashers.py): it must be unguessable
# by its length alone. 32 characters of hex are 128 bits; the generated ones are 64.
MIN_SECRET_LENGTH = 32


def hub_redirect_uri(site_url: str) -> str:
    """The hub's one callback: its authenticator sends exactly this ``oauth_callback_url``
    (``site_url``: the public URL with the path prefix, settings.SITE_URL).

    No second (loopback twin) URI and no port freedom (``accounts/oauth_validator.py``):
    a code goes nowhere but to the hub at the public URL.
    """
    return f"{site_url}/hub/oauth_callback"


def hub_oauth_client_ensure() -> str:
    """Create or update the hub's OAuth2 application from settings; what was done."""
    secret = settings.OAUTH_CLIENT_SECRET
    if not secret:
        return "skipped: MLHUB_OAUTH_CLIENT_SECRET is not set"
    if len(secret) < MIN_SECRET_LENGTH:
        raise ImproperlyConfigured(
            f"MLHUB_OAUTH_CLIENT_SECRET has {len(secret)} characters; use at least "
            f"{MIN_SECRET_LENGTH} random ones (e.g. `openssl rand -hex 32`), or leave it unset "
            "to have one generated"
        )
    Application = get_application_model()
    wanted = {
        "name": "JupyterHub",
        "client_type": Application.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": hub_redirect_uri(settings.SITE_URL),
        # One login: people who are signed in to the portal are not asked again.
        "skip_authorization": True,
        "algorithm": "",
    }
    app = Application.objects.filter(client_id=settings.OAUTH_CLIENT_ID).first()
    if app is None:
        Application.objects.create(
            client_id=settings.OAUTH_CLIENT_ID, client_secret=secret, **wanted
        )
        return "created"
    changed = [key for key, value in wanted.items() if getattr(app, key) != value]
    for key in changed:
        setattr(app, key, wanted[key])
    # django-oauth-toolkit stores a hash of the secret: compare, and set the plain text
    # (hashed again on save) when it differs or was hashed the slow way of older versions.
    if not check_password(secret, app.client_secret) or not _hashed_as_configured(app):
        app.client_secret = secret
        changed.append("client_secret")
    if changed:
        app.save()
        return "updated " + ", ".join(changed)
    return "unchanged"


def _hashed_as_configured(app) -> bool:
    """Whether the stored hash is of the configured client-secret hasher."""
    try:
        algorithm = identify_hasher(app.client_secret).algorithm
    except ValueError:  # not a hash this portal knows
        return False
    return algorithm == oauth2_settings.CLIENT_SECRET_HASHER
