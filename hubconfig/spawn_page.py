"""The hub's spawn page, for a hub whose servers only the portal starts.

Upstream's ``/hub/spawn/<user>/<server>`` starts a server on a GET (with its options taken
from the query) and on a POST of its form. A GET is a link: another site could show one to an
admin, whose browser sends the hub's cookie on a top-level GET, and the hub would start a
server the portal never hears of, without its templates, quotas or expiry. Workspaces start
in the portal, so here every method of that page sends the browser to the portal's
workspaces page, for everyone, admins included, and starts nothing. (The pending page,
``/hub/spawn-pending/``, only shows a start's progress: ``pending_page.py``.)
"""

from __future__ import annotations

from jupyterhub.handlers.base import BaseHandler


class SpawnPageToPortal(BaseHandler):
    def _to_portal(self, *args) -> None:
        who = self.current_user.name if self.current_user else "someone logged out"
        # The path only: a query may carry anything.
        self.log.warning("Refused a start outside the portal: %s by %s", self.request.path, who)
        # The portal's "My workspaces": the prefix itself (the hub is <prefix>hub/ beside it).
        self.redirect(self.base_url, status=303)

    get = post = _to_portal


# Served ahead of upstream's routes of the same paths (see MLHubAuthenticator.get_handlers).
HANDLERS = [
    (r"/spawn", SpawnPageToPortal),
    (r"/spawn/([^/]+)", SpawnPageToPortal),
    (r"/spawn/([^/]+)/([^/]+)", SpawnPageToPortal),
]
