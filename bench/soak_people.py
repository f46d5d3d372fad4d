"""A simulated person of the soak: creates, opens, stops, starts and deletes workspaces at
random through the portal's REST API, as a script of theirs would.

Opening is one request through the proxy to the server's ``api/status``, with a hub token
for that workspace (``POST /api/v1/workspaces/<id>/token/``). Before every stop the person
writes a file into the workspace (Jupyter's contents API); every later open reads back all
the files written so far: one missing or changed is a lost file.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from bench.soak_ledger import Ledger

# A person holds at most this many workspaces: 20 people then run up to 40 servers.
WORKSPACES_EACH = 2
START_TIMEOUT = 180  # seconds from a start until the portal says running (an engine restart)
THINK_SECONDS = (1.0, 6.0)  # between one person's operations


@dataclass
class Workspace:
    id: int
    name: str
    url: str = ""
    state: str = "starting"
    token: str = ""  # the hub's token for this one server
    files: dict[str, str] = field(default_factory=dict)  # path -> content written before a stop


class TimeUp(Exception):
    """The soak's time is up while waiting for a state: the step is neither done nor failed
    (the end's checks see where it got to)."""


class StateWaitFailed(Exception):
    """The workspace did not reach the state asked for: ``cause`` says what it did instead."""

    def __init__(self, cause: str, message: str):
        super().__init__(message)
        self.cause = cause


@dataclass
class Person:
    username: str
    token: str  # their portal API token
    site: str  # the stack's public URL
    ledger: Ledger
    rng: random.Random
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    made: int = 0
    time_up: threading.Event = field(default_factory=threading.Event)  # run() gives its own

    def __post_init__(self):
        self.portal = requests.Session()
        self.portal.headers["Authorization"] = f"Token {self.token}"

    # The loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.time_up = stop
        while not stop.is_set():
            op, workspace = self._choose()
            started = time.monotonic()
            try:
                getattr(self, op)(workspace)
            except TimeUp:
                return
            except StateWaitFailed as failure:
                self.ledger.failed(op, failure.cause, started, str(failure), on=self._on(workspace))
            except requests.RequestException as error:
                cause = type(error).__name__
                self.ledger.failed(op, cause, started, str(error), on=self._on(workspace))
            else:
                self.ledger.done(op)
            stop.wait(self.rng.uniform(*THINK_SECONDS))

    def _choose(self) -> tuple[str, Workspace | None]:
        for workspace in self.workspaces.values():
            self.refresh(workspace)
        running = [w for w in self.workspaces.values() if w.state == "running"]
        resting = [w for w in self.workspaces.values() if w.state in ("stopped", "error")]
        choices: list[tuple[str, Workspace | None]] = []
        if len(self.workspaces) < WORKSPACES_EACH:
            choices.append(("create", None))
        choices += [("open", w) for w in running] * 3  # people mostly use what runs
        choices += [("stop", w) for w in running]
        choices += [("start", w) for w in resting] * 2
        choices += [("delete", w) for w in self.workspaces.values() if w.state != "starting"]
        return self.rng.choice(choices) if choices else ("wait", None)

    # Operations -------------------------------------------------------------------------
    def create(self, _: None) -> None:
        self.made += 1
        name = f"w{self.made}"
        response = self._portal("post", "/api/v1/workspaces/", json={"name": name}, expect=201)
        body = response.json()
        workspace = Workspace(id=body["id"], name=name, url=body["url"], state=body["state"])
        self.workspaces[name] = workspace
        self._wait_for(workspace, "running")
        self.open(workspace)

    def open(self, workspace: Workspace) -> None:
        """One request through the proxy, then every file written before a stop."""
        if not workspace.token:
            response = self._portal(
                "post", f"/api/v1/workspaces/{workspace.id}/token/", json={"lifetime": 86400}
            )
            workspace.token = response.json()["token"]
        server = self._server(workspace)
        status = server.get(workspace.url + "api/status", timeout=30, allow_redirects=False)
        if status.status_code != 200:
            raise StateWaitFailed(f"open {status.status_code}", status.text[:300])
        for path, content in workspace.files.items():
            read = server.get(workspace.url + f"api/contents/{path}", timeout=30)
            if _file_lost(read, content):
                lost = f"{self.username}/{workspace.name}/{path} ({read.status_code})"
                self.ledger.file_lost(lost)
                workspace.files.pop(path)  # counted once
                break
            if read.status_code != 200:
                # No answer from the server (a fault killed it mid-read: the proxy's 503) says
                # nothing about the file: a failed open, and the file is read again next time.
                raise StateWaitFailed(f"read {read.status_code}", read.text[:300])

    def stop(self, workspace: Workspace) -> None:
        self._file_write(workspace)
        self._portal("post", f"/api/v1/workspaces/{workspace.id}/stop/")
        self._wait_for(workspace, "stopped")

    def start(self, workspace: Workspace) -> None:
        self._portal("post", f"/api/v1/workspaces/{workspace.id}/start/")
        self._wait_for(workspace, "running")
        self.open(workspace)

    def delete(self, workspace: Workspace) -> None:
        self._portal("delete", f"/api/v1/workspaces/{workspace.id}/", expect=204)
        self.workspaces.pop(workspace.name)

    def wait(self, _: None) -> None:
        pass

    # Helpers ----------------------------------------------------------------------------
    def _on(self, workspace: Workspace | None) -> str:
        return f"{self.username}/{workspace.name}" if workspace else self.username

    def _file_write(self, workspace: Workspace) -> None:
        path = f"soak-{len(workspace.files) + 1}.txt"
        content = f"{self.username}/{workspace.name}/{path} {uuid.uuid4()}"
        body = {"type": "file", "format": "text", "content": content}
        server = self._server(workspace)
        written = server.put(workspace.url + f"api/contents/{path}", json=body, timeout=30)
        if written.status_code not in (200, 201):
            raise StateWaitFailed(f"write {written.status_code}", written.text[:300])
        workspace.files[path] = content

    def _server(self, workspace: Workspace) -> requests.Session:
        server = requests.Session()
        server.headers["Authorization"] = f"token {workspace.token}"
        return server

    def _portal(self, method: str, path: str, expect: int = 200, **kwargs) -> requests.Response:
        response = self.portal.request(method, self.site + path, timeout=30, **kwargs)
        if response.status_code != expect:
            cause = f"{method.upper()} {path.split('/')[-2] or 'workspaces'} {response.status_code}"
            raise StateWaitFailed(cause, response.text[:300])
        return response

    def refresh(self, workspace: Workspace) -> None:
        try:
            response = self.portal.get(f"{self.site}/api/v1/workspaces/{workspace.id}/", timeout=30)
        except requests.RequestException:
            return  # a fault: keep what we knew
        if response.status_code == 200:
            workspace.state = response.json()["state"]

    def _wait_for(self, workspace: Workspace, state: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.time_up.is_set():
                raise TimeUp
            self.refresh(workspace)
            if workspace.state == state:
                return
            if workspace.state == "error" or (state == "running" and workspace.state == "stopped"):
                body = self.portal.get(
                    f"{self.site}/api/v1/workspaces/{workspace.id}/", timeout=30
                ).json()
                raise StateWaitFailed(f"became {workspace.state}", str(body.get("message")))
            time.sleep(1)
        raise StateWaitFailed(f"not {state} in {START_TIMEOUT}s", f"still {workspace.state}")


def _file_lost(read: requests.Response, content: str) -> bool:
    """The server answered, and the file is gone (Jupyter's 404) or not what was written."""
    if read.status_code == 404:
        return True
    return read.status_code == 200 and read.json().get("content") != content
