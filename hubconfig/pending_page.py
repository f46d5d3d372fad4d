"""The hub's "your workspace is starting" page, for people who start workspaces in the portal.

Opening a workspace that is starting (or whose start failed) sends the browser to
``/hub/spawn-pending/<user>/<server>``. Upstream guards that page with the ``servers``
scope (start and stop), which MLHub's people do not hold: they start workspaces in the
portal, which checks templates and quotas first. So the page answered them with a bare 403
while their own workspace was starting. The page starts nothing (upstream says so), so here
it asks for what it shows: reading the server (the owner, admins), and nothing else changes.
"""

from __future__ import annotations

from jupyterhub.handlers.pages import SpawnPendingHandler
from jupyterhub.scopes import needs_scope
from tornado import web

# Upstream's get() under its two decorators (web.authenticated, then needs_scope("servers")).
_show_pending = SpawnPendingHandler.get.__wrapped__.__wrapped__


class PendingPage(SpawnPendingHandler):
    @web.authenticated
    @needs_scope("read:servers")
    async def get(self, user_name, server_name=""):
        return await _show_pending(self, user_name, server_name)


# Served ahead of upstream's routes of the same paths (see MLHubAuthenticator.get_handlers).
HANDLERS = [
    (r"/spawn-pending/([^/]+)", PendingPage),
    (r"/spawn-pending/([^/]+)/([^/]+)", PendingPage),
]
