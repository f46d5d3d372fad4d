"""The memory of the stack's processes over a soak, for growth per hour.

Every ``interval`` seconds: the resident memory (RSS) of the portal (gunicorn and its
workers), the task cluster (django-q2 and its workers), the hub, and the Node proxy. A fault
kills some of them, and a new process starts from nothing, so growth is measured on each
role's longest-lived process: its first, middle and last sample, and the slope between the
first and the last. A process's first minute is its start-up, not growth (a task cluster
sampled before its workers had forked once showed 18 MB, then 800): it is left out.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

from bench.soak_faults import proxy_pid
from lib.stack import Stack

PAGE_KB = 4
STARTING_UP_S = 60


def group_rss_kb(leader: int) -> int:
    """The RSS of every process in ``leader``'s process group (its session's children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            if int(stat[2]) == leader:  # the process group
                total += int((entry / "statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
    return total


def rss_kb(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


class MemorySampler:
    def __init__(self, stack: Stack, interval: float = 10.0):
        self.stack = stack
        self.interval = interval
        # role -> pid -> [(monotonic time, KB)]
        self.samples: dict[str, dict[int, list[tuple[float, int]]]] = defaultdict(dict)

    def run(self, stop: threading.Event) -> None:
        self.sample()
        while not stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        leaders = {name: process.pid for name, process in list(self.stack.processes.items())}
        measured = {
            "portal": group_rss_kb(leaders["portal"]) if "portal" in leaders else 0,
            "tasks": group_rss_kb(leaders["tasks"]) if "tasks" in leaders else 0,
            "hub": rss_kb(leaders["hub"]) if "hub" in leaders else 0,
        }
        proxy = proxy_pid(self.stack)
        if proxy:
            measured["proxy"] = rss_kb(proxy)
        pids = {**leaders, "proxy": proxy}
        for role, kb in measured.items():
            if kb:
                self.samples[role].setdefault(pids[role], []).append((now, kb))

    def table(self) -> dict[str, dict]:
        rows = {}
        for role, by_pid in self.samples.items():
            longest = max(map(_started_up, by_pid.values()), key=lambda s: s[-1][0] - s[0][0])
            (t0, first), (t1, last) = longest[0], longest[-1]
            middle = longest[len(longest) // 2][1]
            hours = (t1 - t0) / 3600
            rows[role] = {
                "start": round(first / 1024, 1),
                "middle": round(middle / 1024, 1),
                "end": round(last / 1024, 1),
                "growth per hour": round((last - first) / 1024 / hours, 1) if hours else 0.0,
                "over minutes": round((t1 - t0) / 60, 1),
                "restarts": len(by_pid) - 1,
            }
        return rows


def _started_up(samples: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """The samples after the process's first ``STARTING_UP_S`` (all of a shorter life's)."""
    settled = [sample for sample in samples if sample[0] - samples[0][0] >= STARTING_UP_S]
    return settled or samples
