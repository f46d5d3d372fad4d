"""The hub's name and logo on every page (``MLHUB_BRAND_NAME``, ``MLHUB_BRAND_LOGO_FILE``)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404


def _logo() -> Path | None:
    path = Path(settings.BRAND_LOGO_FILE)
    return path if path.is_file() else None


def brand(request) -> dict:
    """Template context: ``brand_name`` and whether a logo exists."""
    return {
        "brand_name": settings.BRAND_NAME,
        "brand_logo": _logo() is not None,
        "signup_enabled": settings.SIGNUP_ENABLED,
        # The login page's "Log in with <name>" (portal/accounts/oidc.py).
        "oidc_name": settings.OIDC.name if settings.OIDC else "",
    }


def logo(request):
    """The logo file (the original's ``/resources/logo``), served from the portal's origin:
    the Content-Security-Policy loads images from here only."""
    path = _logo()
    if path is None:
        raise Http404("No logo")
    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    if not kind.startswith("image/") or kind == "image/svg+xml":
        kind = "image/png"  # never served as a document that could run script
    return FileResponse(path.open("rb"), content_type=kind)
