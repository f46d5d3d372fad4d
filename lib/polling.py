"""The one way to wait for something outside us in blocking code (tasks, scripts, tests).

Async code uses JupyterHub's ``exponential_backoff`` instead; this is its blocking twin, with
the same shape: checks start fast and slow down, so a quick answer is seen at once and a slow
one does not cost a call every tenth of a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    first_wait: float = 0.1,
    scale: float = 2.0,
    max_wait: float = 2.0,
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    Raises ``TimeoutError("<what> after <timeout> s")`` when ``timeout`` passes first.
    """
    deadline = time.monotonic() + timeout
    wait = first_wait
    while True:
        result = check()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{what} after {timeout:g} s")
        time.sleep(min(wait, left))
        wait = min(wait * scale, max_wait)
