"""The portal on hosts that are not its own.

Workspaces live on their own origins (``<user>.<public host>``, lib/origins.py). The proxy
sends a workspace host's requests to the portal whenever the hub has no route for them (the
workspace is stopped): there the portal serves no page and sets no cookie, it only sends
people on. The public host's loopback twin (``127.0.0.1`` for ``localhost``) is sent to the
public host so that the portal's and the hub's cookies live on one host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.http.request import split_domain_port

from lib.origins import is_workspace_host
from portal.workspaces.views import server_not_running

LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
# Machine clients keep working on the twin: a redirect would drop their Authorization header.
NO_TWIN_REDIRECT = ("/api/", "/o/", "/static/")


class WorkspaceOriginMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        public = urlsplit(settings.PUBLIC_URL)
        twin = LOOPBACK_TWINS.get(public.hostname or "")
        self.twin_host = f"{twin}:{public.port}" if twin and public.port else twin

    def __call__(self, request):
        if settings.SINGLE_ORIGIN:
            return self.get_response(request)
        host = request.get_host()  # refuses hosts outside ALLOWED_HOSTS (400)
        hostname, _ = split_domain_port(host)
        safe = request.method in ("GET", "HEAD")
        if is_workspace_host(hostname, settings.PUBLIC_URL):
            if request.path_info.startswith("/user/"):
                return server_not_running(request, request.path_info[len("/user/") :])
            if safe:
                return HttpResponseRedirect(settings.PUBLIC_URL + request.get_full_path())
            return JsonResponse({"detail": "Not found."}, status=404)
        if safe and host == self.twin_host and not request.path_info.startswith(NO_TWIN_REDIRECT):
            return HttpResponseRedirect(settings.PUBLIC_URL + request.get_full_path())
        return self.get_response(request)
