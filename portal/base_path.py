"""The portal under a path prefix (``MLHUB_BASE_URL``), as a plain WSGI layer.

The proxy sends the portal every path the hub and the workspaces do not take, the prefix
included (``/mlhub/accounts/login/``). Under the prefix this moves it from ``PATH_INFO`` to
``SCRIPT_NAME``, WSGI's own place for where an application is mounted, so Django routes the
rest; ``FORCE_SCRIPT_NAME`` (portal/settings.py) puts it back into every URL Django builds.
Anything outside the prefix (``/``, an old ``/hub/...`` link) is sent to the same path under
it, as JupyterHub sends requests outside its own ``base_url``.
"""

from __future__ import annotations

from urllib.parse import quote

# What a path keeps unquoted when it is sent on (RFC 3986's path characters).
PATH_SAFE = "/:@!$&'()*+,;=-._~"


def prefixed(application, base_url: str):
    """``application`` served under ``base_url`` (``/mlhub/``); at ``/``, itself."""
    if base_url == "/":
        return application
    mount = base_url.rstrip("/")

    def under_prefix(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == mount or path.startswith(base_url):
            # A copy: the server's access log keeps the whole path it received.
            mounted = {
                **environ,
                "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + mount,
                "PATH_INFO": path[len(mount) :],
            }
            return application(mounted, start_response)
        return _redirect(environ, start_response, base_url + path.lstrip("/"))

    return under_prefix


def _redirect(environ, start_response, path: str):
    # PATH_INFO is the decoded path as latin-1 (PEP 3333): quote its bytes again.
    location = quote(path.encode("latin-1"), safe=PATH_SAFE)
    query = environ.get("QUERY_STRING", "")
    if query:
        location += f"?{query}"
    start_response(
        "302 Found",
        [("Location", location), ("Content-Length", "0"), ("Cache-Control", "no-store")],
    )
    return [b""]
