"""Our hub adapter with the HTTP replaced by a script: every public method is the real one.

``ScriptedHub`` subclasses ``HubClient`` and answers at ``_send``, where the HTTP goes out, so the
client's own counting, paging, status handling and errors run as in production. Tests set the hub's
active servers, its progress answers and which calls fail.
"""

from __future__ import annotations

from portal.hub.client import HubClient, HubError


class Answer:
    """The little of ``requests.Response`` the client reads."""

    def __init__(self, status: int, body):
        self.status_code = status
        self._body = body

    def json(self):
        return self._body

    def iter_lines(self, decode_unicode=True):
        import json

        # A list is a stream of several events; anything else is one.
        for event in self._body if isinstance(self._body, list) else [self._body]:
            yield f"data: {json.dumps(event)}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ScriptedHub(HubClient):
    def __init__(self, active=None, progress=(), kept=None, down=False, users_only=False):
        super().__init__("http://scripted-hub/hub/api", "scripted")
        # users_only: a server start for a user not made here (``users``, ``active``,
        # ``kept``) is a 404, as the hub answers; otherwise every user is taken as made.
        self.users_only = users_only
        self.active = active or {}  # {user: {server: model}}
        self.kept = kept if kept is not None else {}  # {user: {server: model}} incl. stopped
        self.progress = list(progress)  # answers of the progress stream: dicts or HubErrors
        self.down = down
        self.tokens: dict[str, list[dict]] = {}  # {user: [token model]}
        self.users: set[str] = set()  # hub users without servers
        self.deleted_users: list[str] = []
        self.paths: list[tuple[str, str]] = []

    def _send(self, method: str, path: str, *, ok=(200,), timeout=None, **kwargs):
        self.paths.append((method, path))
        if self.down:
            # Down: every connection refused, as the real client reports it.
            raise HubError(
                503, "JupyterHub is not reachable: ConnectionError", unsent=True, reachable=False
            )
        answer = self._answer(method, path, kwargs)
        if answer.status_code not in ok:  # as the real client: the status decides
            raise HubError(answer.status_code, f"scripted {answer.status_code}")
        return answer

    def _answer(self, method: str, path: str, kwargs: dict) -> Answer:
        if method == "GET" and path == "/":
            return Answer(200, {"version": "6.1.1"})
        if method == "GET" and path == "/users":
            return Answer(200, self._users_page(kwargs["params"]))
        if "/tokens" in path:
            return self._tokens(method, path)
        if path.endswith("/progress"):
            answer = self.progress.pop(0) if len(self.progress) > 1 else self.progress[0]
            if isinstance(answer, HubError):
                raise answer
            return Answer(200, answer)
        parts = path.split("/")  # "", "users", name[, "servers", server]
        if method == "GET" and len(parts) == 3:
            servers = self.kept.get(parts[2], self.active.get(parts[2]))
            return Answer(404, {}) if servers is None else Answer(200, {"servers": servers})
        if method == "POST":  # a user made, or a server start asked (201 as the hub may answer)
            if len(parts) == 3:
                self.users.add(parts[2])
            elif self.users_only and parts[2] not in {*self.users, *self.active, *self.kept}:
                return Answer(404, {})  # the hub's answer for a user it does not have
            return Answer(201, {})
        if method == "DELETE":
            if len(parts) == 3:
                self.deleted_users.append(parts[2])
                self.users.discard(parts[2])
            return Answer(202 if len(parts) == 5 else 204, {})
        raise AssertionError(f"unscripted hub call {method} {path}")

    def _tokens(self, method: str, path: str) -> Answer:
        parts = path.split("/")  # "", "users", name, "tokens"[, id]
        owned = self.tokens.setdefault(parts[2], [])
        if method == "GET":
            return Answer(200, {"api_tokens": owned})
        if method == "DELETE":
            self.tokens[parts[2]] = [t for t in owned if t["id"] != parts[4]]
            return Answer(204, {})
        raise AssertionError(f"unscripted hub call {method} {path}")

    def _users_page(self, params: dict) -> dict:
        # The sync asks for active users; cleanup for everyone (``users``: name → servers).
        if params.get("state") == "active":
            names = sorted(self.active)
        else:
            assert "state" not in params, f"unscripted user filter {params}"
            names = sorted({*self.active, *self.kept, *self.users})
        offset, limit = params["offset"], params["limit"]
        items = [
            {"name": n, "servers": self.active.get(n, {})} for n in names[offset : offset + limit]
        ]
        more = offset + limit < len(names)
        return {
            "items": items,
            "_pagination": {"next": {"offset": offset + limit} if more else None},
        }
