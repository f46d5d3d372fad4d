"""The one use of a kubespawner private member by MLHub's Kubernetes spawner, kept here alone.

A start that fails removes what it made, its new volume claim included
(spawners/kubernetes.py). kubespawner remembers in ``_pvc_exists`` that it made the claim
(and keeps that in the spawner's state), and then never makes it again: the next start's pod
would wait for a claim that is gone. No public setting or method forgets it.
tests/spawners/test_private_members.py fails when an upgrade moves it; docs/architecture.md
lists it.
"""

from __future__ import annotations

from typing import Any


def forget_claim(spawner: Any) -> None:
    """Make kubespawner's next start ensure the claim again."""
    spawner._pvc_exists = False
