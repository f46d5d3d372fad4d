"""Ctrl-C in `make run` stops the whole stack: every process ends by itself, nothing is left.

A stack of its own (the shared one must live on), with a running workspace in it.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from lib.stack import listening, process_alive
from tests.hub_stack import free_ports, running_stack

pytestmark = pytest.mark.hub


def _processes_of(data: Path) -> set[int]:
    """Processes started for this stack: its data folder is in their environment or cwd."""
    found = set()
    marker = str(data).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in environ or cwd.startswith(str(data)):
            found.add(int(entry.name))
    return found


def test_stopping_the_stack_ends_every_process_by_itself(tmp_path):
    # A stack of its own, for this one test: it stops the stack (the shared one must live on
    # for the other tests), and it finds the processes to check by this stack's data folder,
    # which no other stack's processes carry. Its cost is the start (the set-up is copied,
    # tests/hub_stack.py prepared_data_dir) and one workspace's start: the least that shows
    # every kind of process (portal, tasks, hub, proxy, a server) ending by itself.
    data = tmp_path / "stack"
    stack_run = running_stack(data, "process", hub_name="mlhs")
    hub = next(stack_run)
    response = hub.api().post(f"{hub.url}/api/v1/workspaces/", json={"name": "ws"}, timeout=30)
    assert response.status_code == 201, response.text
    hub.wait_for_state(hub.admin_token, response.json()["id"], "running")
    leaders = dict(hub.stack.processes)
    started = _processes_of(data)
    assert len(started) > len(leaders), "the proxy and the workspace should be running too"

    stack_run.close()  # what Ctrl-C does: Stack.stop()

    killed = {
        name: process.returncode
        for name, process in leaders.items()
        if process.returncode == -signal.SIGKILL
    }
    assert not killed, f"had to be killed: {killed}\n{hub.logs()}"
    assert not [pid for pid in started if process_alive(pid)]
    assert "has stopped" in (data / "logs" / "tasks.log").read_text()


def test_a_hub_that_fails_while_starting_leaves_nothing_on_the_public_port(tmp_path):
    # The hub starts its proxy, then binds its own port: taken here by the test, so the hub
    # exits with its proxy on the public port. The launcher must stop it: the next `make run`
    # found the port busy (issue 24).
    data = tmp_path / "stack"
    public, hub_bind = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", hub_bind))
        taken.listen()
        stack_run = running_stack(
            data,
            "process",
            hub_name="mlhf",
            public_port=public,
            extra={"MLHUB_HUB_BIND_URL": f"http://127.0.0.1:{hub_bind}"},
        )
        with pytest.raises(AssertionError, match="did not start"):
            next(stack_run)
    hub_log = (data / "logs" / "hub.log").read_text()
    assert "Failed to bind hub" in hub_log, hub_log[-2000:]
    assert "Proxy" in hub_log or "proxy" in hub_log
    assert not listening("127.0.0.1", public), "the hub's proxy is left on the public port"
    assert not [pid for pid in _processes_of(data) if process_alive(pid)]
    assert not (data / "hub" / "jupyterhub-proxy.pid").exists()
