"""The hub as an OAuth2 client of the portal (django-oauth-toolkit)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import get_application_model


def hub_redirect_uri(public_url: str) -> str:
    """The hub's one callback: its authenticator sends exactly this ``oauth_callback_url``.

    No second (loopback twin) URI and no port freedom (``accounts/oauth_validator.py``):
    a code goes nowhere but to the hub at the public URL.
    """
    return f"{public_url}/hub/oauth_callback"


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
        "redirect_uris": hub_redirect_uri(settings.PUBLIC_URL),
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
