"""The one adapter to the JupyterHub REST API. Nothing else in the portal builds hub URLs.

Every failure comes out as ``HubError(status, message)``: the hub's own status and message
when it answered, 503 when it could not be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from django.conf import settings

PAGINATION = "application/jupyterhub-pagination+json"
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 30


class HubError(Exception):
    def __init__(
        self, status: int, message: str, *, unsent: bool = False, reachable: bool | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        # False: no answer came (no connection, or none in time); the 503 is the client's own.
        self.reachable = reachable
        # The request never reached the hub (refused, no connection in time): it did nothing.
        # Otherwise it may have been done with its answer lost (the hub died meanwhile).
        self.unsent = unsent

    def __str__(self) -> str:
        return f"{self.message} (hub status {self.status})"

    @property
    def is_outage(self) -> bool:
        """Unreachable, failing or misconfigured (our token refused): not the caller's fault."""
        return self.status >= 500 or self.status in (401, 403)


def _never_connected(error: requests.RequestException) -> bool:
    """No connection was made (refused, or not in time), so nothing was sent; a connection
    dropped or an answer not read in time may leave the request done."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(
        reason,
        urllib3.exceptions.ConnectTimeoutError,  # NewConnectionError too: refused
    )


def _q(name: str) -> str:
    return quote(name, safe="")


@dataclass(frozen=True)
class HubToken:
    """A hub token just made: the secret is in this answer only, and never in its repr."""

    token: str = field(repr=False)
    id: str
    expires_at: datetime
    scopes: list[str]


class HubClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        session: requests.Session | None = None,
        *,
        on_outage: Callable[[HubError], None] | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        self.calls = 0  # requests made, for the sync's figures
        self.on_outage = on_outage  # told of each call that failed for the hub's reasons

    def _request(self, method: str, path: str, *, ok=(200,), timeout=None, **kwargs):
        """Every call's one way out: counted, and its outages told to ``on_outage``."""
        self.calls += 1
        try:
            return self._send(method, path, ok=ok, timeout=timeout, **kwargs)
        except HubError as error:
            if error.is_outage and self.on_outage is not None:
                self.on_outage(error)
            raise

    def _send(self, method: str, path: str, *, ok=(200,), timeout=None, **kwargs):
        url = f"{self.api_url}{path}"
        try:
            response = self.session.request(
                method, url, timeout=timeout or (CONNECT_TIMEOUT, READ_TIMEOUT), **kwargs
            )
        except requests.RequestException as error:
            raise HubError(
                503,
                f"JupyterHub is not reachable: {type(error).__name__}",
                unsent=_never_connected(error),
                reachable=False,
            ) from None
        if response.status_code not in ok:
            raise HubError(response.status_code, _message_of(response))
        return response

    def version(self) -> str:
        """The hub's version: the cheapest call that shows it answers (no database, no
        Docker), for actions whose hub calls come later, in a task."""
        return self._request("GET", "/").json()["version"]

    # Users -------------------------------------------------------------------------------
    def user_get(self, name: str, *, with_stopped: bool = False) -> dict[str, Any] | None:
        """The user model with its active servers (``with_stopped``: every server the hub
        still keeps), or None when the hub has no such user."""
        params = {"include_stopped_servers": "1"} if with_stopped else None
        response = self._request("GET", f"/users/{_q(name)}", ok=(200, 404), params=params)
        return None if response.status_code == 404 else response.json()

    def user_ensure(self, name: str) -> None:
        """Create the user in the hub unless it exists (409)."""
        self._request("POST", f"/users/{_q(name)}", ok=(201, 409), json={})

    def user_delete(self, name: str) -> None:
        self._request("DELETE", f"/users/{_q(name)}", ok=(204, 404))

    def users_list(self, *, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every user with every server it keeps, page by page."""
        yield from self._users_pages({"include_stopped_servers": "1"}, page_size)

    def users_active(self, *, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """The users with at least one server running or pending, with those servers only."""
        yield from self._users_pages({"state": "active"}, page_size)

    def _users_pages(self, params: dict[str, str], page_size: int) -> Iterator[dict[str, Any]]:
        # Without the pagination header the hub answers one page and says nothing of more.
        offset = 0
        while True:
            response = self._request(
                "GET",
                "/users",
                params={**params, "offset": offset, "limit": page_size},
                headers={"Accept": PAGINATION},
            )
            body = response.json()
            yield from body["items"]
            following = body["_pagination"].get("next")
            if not following:
                return
            offset = following["offset"]

    # Tokens ------------------------------------------------------------------------------
    def tokens_list(self, name: str) -> list[dict[str, Any]]:
        """Every hub token of this user (API tokens and those the hub's OAuth issued)."""
        response = self._request("GET", f"/users/{_q(name)}/tokens", ok=(200, 404))
        return [] if response.status_code == 404 else response.json()["api_tokens"]

    def token_create(self, user: str, *, scopes: list[str], expires_in: int, note: str) -> HubToken:
        """A new hub token of ``user`` with ``scopes``, ending in ``expires_in`` seconds.

        The hub refuses (400) scopes the user does not hold themselves and lifetimes over its
        ``token_expires_in_max_seconds``; the portal's own token needs the ``tokens`` scope.
        """
        response = self._request(
            "POST",
            f"/users/{_q(user)}/tokens",
            ok=(201,),
            json={"scopes": scopes, "expires_in": expires_in, "note": note},
        )
        body = response.json()
        return HubToken(
            token=body["token"],
            id=body["id"],
            expires_at=datetime.fromisoformat(body["expires_at"]),
            scopes=sorted(body["scopes"]),
        )

    def token_delete(self, name: str, token_id: str) -> None:
        self._request("DELETE", f"/users/{_q(name)}/tokens/{_q(token_id)}", ok=(204, 404))

    # Servers -----------------------------------------------------------------------------
    def server_start(self, user: str, server: str, options: dict[str, Any]) -> None:
        """Ask for the server; how the spawn ends comes later (``server_progress``, the
        spawner's report).

        JupyterHub's 201 ("ready now") is not taken as ready: with ``slow_spawn_timeout`` 0
        (hubconfig) no real spawn ends inside the request, and JupyterHub 6.1.1 answers 201
        for a start right after a failed one while that start is still running (its
        ``get_spawner(replace_failed=True)`` hands the request a spawner it never stores, so
        the request looks at an idle one). The soak met it: "running" 80 s before the route.
        """
        self._request(
            "POST", f"/users/{_q(user)}/servers/{_q(server)}", ok=(201, 202), json=options
        )

    def server_stop(self, user: str, server: str, *, remove: bool = False) -> bool:
        """Stop (and with ``remove`` forget) the server; True when done, False when pending."""
        response = self._request(
            "DELETE",
            f"/users/{_q(user)}/servers/{_q(server)}",
            ok=(202, 204, 404),
            json={"remove": remove},
        )
        return response.status_code != 202

    def server_progress(
        self, user: str, server: str, *, timeout: float = 300, on_event=None
    ) -> dict[str, Any]:
        """Follow the spawn's progress stream; the last event (``ready`` or ``failed``).

        ``on_event(event)`` is called with each event as it arrives (``progress``, ``message``).
        """
        response = self._request(
            "GET",
            f"/users/{_q(user)}/servers/{_q(server)}/progress",
            ok=(200,),
            stream=True,
            timeout=(CONNECT_TIMEOUT, timeout),
        )
        last: dict[str, Any] = {}
        try:
            with response:
                for line in response.iter_lines(decode_unicode=True):
                    if line and line.startswith("data:"):
                        last = json.loads(line[5:])
                        if on_event is not None:
                            on_event(last)
                        if last.get("ready") or last.get("failed"):
                            break
        except requests.RequestException as error:
            # The hub went away mid-stream (killed, restarting): an outage like any other,
            # not a crash of the task that follows the spawn (found by bench/soak.py).
            raise HubError(
                503,
                f"JupyterHub's progress stream broke off: {type(error).__name__}",
                reachable=False,
            ) from None
        return last


def _message_of(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason)
    except ValueError:
        return response.text[:200] or response.reason or "no message"


def hub_client() -> HubClient:
    if not settings.HUB_API_TOKEN:
        raise HubError(503, "The portal has no hub token (MLHUB_HUB_API_TOKEN is not set)")
    from portal.metrics import counters  # its models load after this module

    return HubClient(settings.HUB_API_URL, settings.HUB_API_TOKEN, on_outage=counters.hub_error)
