"""Ending the servers the identity tests start (a provider, a directory) as children."""

from __future__ import annotations

import subprocess


def ended(process: subprocess.Popen | None) -> None:
    """Ask ``process`` to end, and kill it if it has not within 10 s; None is nothing to end.
    Returns None, for ``self._process = ended(self._process)``."""
    if process is None:
        return None
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return None
