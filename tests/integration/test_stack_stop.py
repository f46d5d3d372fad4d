"""Ctrl-C in `make run` stops the whole stack: every process ends by itself, nothing is left.

A stack of its own (the shared one must live on), with a running workspace in it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.hub_stack import running_stack

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


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().split(") ")[1][0]
    except OSError:
        return False
    return state != "Z"


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
    assert not [pid for pid in started if _alive(pid)]
    assert "has stopped" in (data / "logs" / "tasks.log").read_text()
