"""How long a condition has held: a starting pod waits for a node or its volume for a while on
any busy cluster, so a start gives up on either only once it has lasted its timeout."""

from __future__ import annotations

import time


class Lasting:
    """Since when one condition has held without a break (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.since: float | None = None

    def longer_than(self, condition: object | None, seconds: float) -> bool:
        """Whether ``condition`` (None: it does not hold) has held for ``seconds`` or more; a
        break starts the count again."""
        if condition is None:
            self.since = None
            return False
        now = time.monotonic()
        self.since = self.since or now
        return now - self.since >= seconds
