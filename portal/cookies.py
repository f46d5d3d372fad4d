"""Refuse a request that carries the portal's session or CSRF cookie twice.

A browser sends two cookies of one name when a second one was set with another ``Domain`` or
``Path``: a workspace on ``<user>.<public host>`` can set ("toss") ``Domain=<public host>``
cookies onto the portal. Django keeps only one of the two (the last), which may be the
tossed one: the visitor is then logged in as the workspace's owner (login CSRF), or in a
session the owner chose (fixation). Over https the cookies' ``__Host-`` names keep browsers
from accepting a tossed one at all (portal/settings.py); this check is what is left over
plain http (``make run``), and a second line over https. The raw ``Cookie`` header is read,
since Django's parser keeps one value per name.
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import Morsel
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

MESSAGE = (
    "Your browser sent the portal's {name} cookie twice: a page on another host may have set "
    "one. The portal has cleared them; log in again, and if this page comes back, delete this "
    "site's cookies in your browser."
)


def cookie_count(header: str, name: str) -> int:
    """How often ``name`` is a cookie's name in a raw ``Cookie`` header."""
    return sum(1 for pair in header.split(";") if pair.partition("=")[0].strip() == name)


def cleared(response: HttpResponse, name: str, parent_domain: str | None) -> None:
    """Clear ``name`` on this host and, where a browser would take it, on ``parent_domain``;
    on ``/`` and, under a path prefix, on the prefix too (a tossed copy may use either).

    Django keeps one Set-Cookie per name; the others go in as Morsels of their own (what
    ``response.cookies`` holds under another key is sent all the same).
    """
    response.delete_cookie(name, path="/", samesite="Lax")
    paths = dict.fromkeys(["/", settings.SESSION_COOKIE_PATH])
    for path in paths:
        if path != "/":
            _expired(response, name, path, domain=None)
        if parent_domain and not name.startswith("__Host-"):
            _expired(response, name, path, domain=parent_domain)


def _expired(response: HttpResponse, name: str, path: str, domain: str | None) -> None:
    morsel = Morsel()
    morsel.set(name, "", '""')
    morsel.update(
        {
            "path": path,
            "max-age": 0,
            "expires": "Thu, 01 Jan 1970 00:00:00 GMT",
            "secure": settings.SESSION_COOKIE_SECURE,
            **({"domain": domain} if domain else {"samesite": "Lax"}),
        }
    )
    response.cookies[f"{name} (on {domain or 'this host'}, {path})"] = morsel


class DuplicateCookieMiddleware:
    """A 400 that clears both copies, before the session or the CSRF check reads either."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_COOKIE", "")
        names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
        twice = [name for name in names if cookie_count(header, name) > 1]
        if not twice:
            return self.get_response(request)
        response = HttpResponseBadRequest(
            MESSAGE.format(name=" and ".join(twice)), content_type="text/plain; charset=utf-8"
        )
        # A tossed cookie sits on the public host's own name as a domain (the parent of
        # every workspace's host).
        public_host = urlsplit(settings.PUBLIC_URL).hostname
        for name in twice:
            cleared(response, name, public_host)
        return response
