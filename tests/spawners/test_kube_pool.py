"""What the portal's fill reads from a Kubernetes slot's pod (spawners/pool/kube_pool.py
``KubePool._state``), without a cluster; the real pool is tests/k8s/test_kube_warm_pools.py."""

from __future__ import annotations

import pytest

from spawners.pool.kube_pool import KubePool

SLOT = "mlhub--pool-default-0a1b2c3d"
WAITING = "mlhub-pool-waiter: loaded in 0.93 s; waiting to be claimed\n"


def pod(phase: str = "Running", *, waiting: str = "", deleting: bool = False) -> dict:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    found = {
        "metadata": {"name": SLOT},
        "status": {"phase": phase, "containerStatuses": [{"name": "notebook", "state": state}]},
    }
    if deleting:
        found["metadata"]["deletionTimestamp"] = "2026-12-07T08:00:00Z"
    return found


@pytest.mark.parametrize(
    ("found", "log", "known_ready", "state"),
    [
        (None, None, False, "gone"),
        (pod(deleting=True), WAITING, True, "gone"),
        (pod("Pending"), "", False, "warming"),
        (pod(), "mlhub-pool-waiter: loading\n", False, "warming"),
        (pod(), WAITING, False, "ready"),
        (pod(), None, True, "ready"),  # known ready: no log read
        (pod(waiting="ErrImageNeverPull"), "", False, "failed"),
        (pod(waiting="CrashLoopBackOff"), "Traceback: no waiter here", False, "failed"),
    ],
)
def test_a_slots_state_comes_from_its_pod_and_the_waiters_last_lines(
    found, log, known_ready, state
):
    ready = frozenset({SLOT}) if known_ready else frozenset()
    assert KubePool._state(SLOT, found, log, ready).state == state


def test_a_failed_slot_says_why_with_its_last_lines():
    found = KubePool._state(SLOT, pod(waiting="CrashLoopBackOff"), "boom\n", frozenset())
    assert found.state == "failed"
    assert "it keeps exiting" in found.detail and found.detail.endswith("boom")
