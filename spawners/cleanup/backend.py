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
