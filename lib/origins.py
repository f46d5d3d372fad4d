"""Where each workspace lives: its own origin, ``<user>.<public host>``.

Pure (no Django, no hub calls): the portal builds workspace URLs from it and the hub
config uses JupyterHub's own subdomain rule, the one this module wraps, so both agree.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from jupyterhub.utils import subdomain_hook_idna

# The rule JupyterHub 5+ uses by default (``subdomain_hook = "idna"``), given to the hub as
# the function itself: DNS-safe names stay, others are IDNA-encoded or trimmed and hashed.
SUBDOMAIN_HOOK = subdomain_hook_idna


def workspace_origin(public_url: str, hub_name: str) -> str:
    """``scheme://<user>.<public host>[:port]``: the origin of this person's workspaces."""
    parts = urlsplit(public_url)
    host = SUBDOMAIN_HOOK(hub_name, parts.hostname or "", kind="user")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def workspace_url(
    public_url: str, hub_name: str, server_name: str, *, single_origin: bool, base_url: str = "/"
) -> str:
    """The absolute URL a browser opens for a workspace: JupyterHub's ``base_url`` (MLHub's
    prefix) holds on the workspace origins too."""
    # JupyterHub's User.escaped_name: the name in the path is quoted, '@' and '~' kept.
    path = f"{base_url}user/{quote(hub_name, safe='@~')}/{server_name}/"
    base = public_url.rstrip("/") if single_origin else workspace_origin(public_url, hub_name)
    return base + path


def is_workspace_host(host: str, public_url: str) -> bool:
    """Whether ``host`` (a Host header's name, no port) is one of the workspace origins."""
    public_host = (urlsplit(public_url).hostname or "").lower()
    return host.lower().endswith("." + public_host)
