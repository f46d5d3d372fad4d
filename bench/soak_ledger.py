"""What a soak saw: every operation's outcome, the faults and when each was over.

Shared by the people, the fault injector and the report (bench/soak.py). A failed operation
is *the fault's own* when it overlapped a fault's window (from the fault until its part
answered again, plus ``settle`` seconds for the hub's and the portal's view to catch up);
any other is unexplained, and the soak's target is none.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

UNEXPLAINED_KEPT = 100


@dataclass
class FaultWindow:
    kind: str
    started: float
    ended: float | None = None  # None: not recovered yet
    detail: str = ""


@dataclass
class Ledger:
    settle: float = 20.0  # seconds after a recovery that still count as the fault's
    operations: Counter = field(default_factory=Counter)  # op -> done
    failures: Counter = field(default_factory=Counter)  # (op, cause) -> unexplained failures
    during_faults: Counter = field(default_factory=Counter)  # (op, fault kind) -> failures
    faults: list[FaultWindow] = field(default_factory=list)
    unplanned_exits: Counter = field(default_factory=Counter)  # role -> exits nobody caused
    # Each such exit: when (UTC), the role, its exit status and its log's last lines.
    unplanned_ends: list[str] = field(default_factory=list)
    lost_files: list[str] = field(default_factory=list)
    examples: dict = field(default_factory=dict)  # (op, cause) -> one full message
    # The first unexplained failures with when (UTC) and on what, to find in the logs.
    unexplained: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_started(self, kind: str, detail: str = "") -> FaultWindow:
        window = FaultWindow(kind, time.monotonic(), detail=detail)
        with self._lock:
            self.faults.append(window)
        return window

    def fault_ended(self, window: FaultWindow) -> None:
        window.ended = time.monotonic()

    def done(self, op: str) -> None:
        with self._lock:
            self.operations[op] += 1

    def failed(self, op: str, cause: str, started: float, message: str = "", on: str = "") -> None:
        """``op`` on ``on``, begun at ``started`` (monotonic), failed with ``cause`` (short,
        countable)."""
        fault = self._fault_during(started, time.monotonic())
        with self._lock:
            if fault:
                self.during_faults[(op, fault)] += 1
                return
            self.failures[(op, cause)] += 1
            self.examples.setdefault((op, cause), message[:500])
            if len(self.unexplained) < UNEXPLAINED_KEPT:
                when = datetime.now(UTC).strftime("%H:%M:%S")
                self.unexplained.append(f"{when} {op} {on}: {cause}")

    def file_lost(self, what: str) -> None:
        with self._lock:
            self.lost_files.append(what)

    def _fault_during(self, started: float, ended: float) -> str:
        with self._lock:
            for window in self.faults:
                over = (window.ended or float("inf")) + self.settle
                if window.started <= ended and started <= over:
                    return window.kind
        return ""

    def fault_counts(self) -> Counter:
        return Counter(window.kind for window in self.faults)

    def recovery_seconds(self) -> dict[str, float]:
        """The longest time from a fault until its part answered again, by kind."""
        longest: dict[str, float] = {}
        for window in self.faults:
            if window.ended is not None:
                took = window.ended - window.started
                longest[window.kind] = max(longest.get(window.kind, 0.0), took)
        return longest
