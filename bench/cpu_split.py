"""Where a host's CPU went between two moments, by part of the stack (Linux only).

A storm on a 2-core host is bounded by CPU before anything else: 2 cores give 2 CPU-seconds
a second, whatever waits on whom. This reads every process's user and system time from
/proc at two moments and sums the difference by part: workspace containers (by their cgroup),
the hub, the portal, the task cluster, the proxy, the engine's daemons, the benchmark itself
and the rest. A process that starts and ends between the two moments (a `runc` call) is
counted only through the host's total, hence the "unaccounted" line.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")

# The first pattern found in a process's command line names its part (order matters: the
# task cluster is `manage.py qcluster`, the portal is gunicorn, both are Python).
PARTS = (
    ("jupyterhub", "hub"),
    ("gunicorn", "portal"),
    ("qcluster", "tasks"),
    ("configurable-http-proxy", "proxy"),
    ("containerd-shim", "engine"),
    ("dockerd", "engine"),
    ("containerd", "engine"),
    ("docker-proxy", "engine"),
)


def _part(pid: str) -> str | None:
    try:
        cgroup = (PROC / pid / "cgroup").read_text()
        cmdline = (PROC / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None  # gone meanwhile
    if "docker-" in cgroup or "/docker/" in cgroup:
        return "workspaces"
    if int(pid) == os.getpid():
        return "benchmark"
    for pattern, part in PARTS:
        if pattern in cmdline:
            return part
    return "other"


def _cpu_seconds(pid: str) -> float | None:
    try:
        fields = (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state is field 3, utime 14 and stime 15 (proc(5)), so 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / TICKS


def _host_busy() -> float:
    """Seconds of CPU the host spent not idle (all cores) since it started."""
    first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in first[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def snapshot() -> dict:
    """Every process's part and CPU seconds so far, and the host's busy seconds."""
    processes = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            part, seconds = _part(entry.name), _cpu_seconds(entry.name)
            if part is not None and seconds is not None:
                processes[entry.name] = (part, seconds)
    return {"processes": processes, "host_busy": _host_busy()}


def split(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each part used between two snapshots, the host's total, and what no
    process still there at the end accounts for (short-lived ones, those that ended)."""
    parts: dict[str, float] = {}
    for pid, (part, seconds) in after["processes"].items():
        earlier = before["processes"].get(pid)
        used = seconds - (earlier[1] if earlier and earlier[0] == part else 0.0)
        parts[part] = parts.get(part, 0.0) + used
    total = after["host_busy"] - before["host_busy"]
    parts = {part: round(seconds, 2) for part, seconds in sorted(parts.items())}
    parts["host_total"] = round(total, 2)
    parts["unaccounted"] = round(total - sum(v for k, v in parts.items() if k != "host_total"), 2)
    return parts
