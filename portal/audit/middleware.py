from __future__ import annotations

import ipaddress

from portal.accounts.lockout import client_address
from portal.audit.log import Source, from_source

# The hub's reports arrive at the internal API; everything else under /api/ is a client's.
_BY_PREFIX = [
    ("/api/v1/internal/hub-events", Source.HUB_EVENT),
    ("/api/", Source.API),
    ("/admin/", Source.ADMIN),
]


class AuditSourceMiddleware:
    """Tag what a request records with where it came from and the client's address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = next((s for p, s in _BY_PREFIX if request.path_info.startswith(p)), Source.PAGE)
        with from_source(source, _address(request)):
            return self.get_response(request)


def _address(request) -> str | None:
    """The client's address, or None when what the proxies passed on is not one."""
    try:
        return str(ipaddress.ip_address(client_address(request) or ""))
    except ValueError:
        return None
