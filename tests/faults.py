"""Break parts of a running test stack for real (kill the hub, the portal) and bring them back.

For the fault tests, which start a stack of their own: nothing here is safe on a shared one.
"""

from __future__ import annotations

import os
import signal
import subprocess

from lib.stack import BIN, ROOT, Stack


def alive(stack: Stack, name: str) -> bool:
    process = stack.processes.get(name)
    return process is not None and process.poll() is None


def hub_kill(stack: Stack) -> None:
    """SIGKILL the hub process alone: its proxy and the workspace containers live on."""
    hub = stack.processes["hub"]
    hub.send_signal(signal.SIGKILL)
    hub.wait(10)


def portal_kill(stack: Stack) -> None:
    """SIGKILL gunicorn with its workers (a worker left behind would go on answering)."""
    portal = stack.processes["portal"]
    os.killpg(portal.pid, signal.SIGKILL)
    portal.wait(10)


def sync_workspaces(stack: Stack) -> subprocess.CompletedProcess:
    """One sync pass now, as an operator runs it (``manage.py sync_workspaces``)."""
    return operator_command(stack, "sync_workspaces")


def operator_command(stack: Stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``manage.py <args>`` against ``stack``, as an operator runs it; its output captured."""
    return subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=stack.environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
