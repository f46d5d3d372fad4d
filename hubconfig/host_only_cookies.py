"""Keep the hub's ``jupyterhub-session-id`` cookie on the hub's own host.

With ``subdomain_host`` JupyterHub sets that cookie with ``Domain=<public host>`` on purpose,
so that services on sibling subdomains can read it. MLHub's subdomains are workspaces that
run their owners' code: no hub or portal cookie may reach them (docs/security.md). The
cookie is only read by the hub itself (to tie OAuth tokens to a login session, so logout
revokes them), which works the same with a host-only cookie.
"""

from __future__ import annotations

from jupyterhub.handlers import base

SESSION_COOKIE = base.SESSION_COOKIE_NAME
_installed = False


def install() -> None:
    """Drop the ``domain`` of the session cookie whenever the hub sets or clears it."""
    global _installed
    if _installed:
        return
    handler = base.BaseHandler
    set_cookie, clear_cookie = handler._set_cookie, handler.clear_cookie

    def _set_cookie(self, key, value, encrypted=True, **overrides):
        if key == SESSION_COOKIE:
            overrides.pop("domain", None)
        return set_cookie(self, key, value, encrypted=encrypted, **overrides)

    def _clear_cookie(self, name, **kwargs):
        if name == SESSION_COOKIE:
            kwargs.pop("domain", None)
        return clear_cookie(self, name, **kwargs)

    handler._set_cookie, handler.clear_cookie = _set_cookie, _clear_cookie
    _installed = True
