"""The hub as an OAuth2 client of the portal (django-oauth-toolkit)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import get_application_model

LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def hub_redirect_uris(public_url: str) -> list[str]:
    """The hub's callback on the public URL (and its loopback twin, for local use)."""
    parts = urlsplit(public_url)
    uris = [f"{public_url}/hub/oauth_callback"]
    twin = LOOPBACK_TWINS.get(parts.hostname or "")
    if twin:
        netloc = twin + (f":{parts.port}" if parts.port else "")
        uris.append(urlunsplit((parts.scheme, netloc, "/hub/oauth_callback", "", "")))
    return uris


def hub_oauth_client_ensure() -> str:
    """Create or update the hub's OAuth2 application from settings; what was done."""
    secret = settings.OAUTH_CLIENT_SECRET
    if not secret:
        return "skipped: MLHUB_OAUTH_CLIENT_SECRET is not set"
    Application = get_application_model()
    wanted = {
        "name": "JupyterHub",
        "client_type": Application.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": " ".join(hub_redirect_uris(settings.PUBLIC_URL)),
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
    # django-oauth-toolkit stores a hash of the secret: compare, and set the plain text.
    if not check_password(secret, app.client_secret):
        app.client_secret = secret
        changed.append("client_secret")
    if changed:
        app.save()
        return "updated " + ", ".join(changed)
    return "unchanged"
