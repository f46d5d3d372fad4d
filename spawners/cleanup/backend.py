"""What cleanup's engine backends (Docker, Kubernetes) list and how they fail: no Django, no
engine client. The service (portal/cleanup/service.py) decides what is orphaned; a backend
lists what carries this hub's origin label and removes what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class EngineUnavailable(Exception):
    """The engine (Docker, the Kubernetes API) did not answer: nothing can be proven orphaned."""


@dataclass(frozen=True)
class Resource:
    kind: str  # Docker: container, volume, network; Kubernetes: pod, service, pvc, ...
    id: str
    origin: str
    name: str
    user: str
    server: str  # "" for what belongs to a person, not one workspace (network, policy)
    created_at: datetime
    expires_at: int  # epoch seconds, 0 = never or not labelled
    # A warm pool slot's (lib/pools.py), and no person's by its labels: the template's name.
    pool: str = ""


class MetricsUnavailable(Exception):
    """The engine answers but measures nothing (a cluster that serves no metrics API): usage
    is then what was reserved only, and says so."""


@dataclass(frozen=True)
class Reading:
    """One running workspace's measured use, as its engine reports it at one moment.

    Docker counts CPU time since the container started (``cpu_seconds``); the Kubernetes
    metrics API reports a rate averaged over its last window (``cpu_cores``): exactly one of
    the two is set. ``run`` names the container (or pod) instance: another value, or a
    counter lower than before, means a new container whose counter began again at zero.
    """

    name: str  # the container's or pod's name (lib/labels.py container_name)
    run: str
    cpu_seconds: float | None
    cpu_cores: float | None
    memory: int  # bytes in use now
    memory_peak: int | None  # the engine's own high-water mark (cgroup v1); None where none
