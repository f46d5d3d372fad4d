"""How the pool's Docker adapter reads a slot's state from the engine's listing and logs
(spawners/pool/docker_pool.py); the real engine: tests/docker_mode/test_warm_pools.py."""

from __future__ import annotations

import pytest

from spawners.pool.docker_pool import DockerPool


class Api:
    """The two calls of docker's APIClient the adapter reads states with."""

    def __init__(self, containers: list[dict], logs: bytes):
        self._containers, self._logs = containers, logs

    def containers(self, all=False, filters=None):  # noqa: A002 -- docker's own name
        return self._containers

    def logs(self, container, tail="all"):
        return self._logs


class Client:
    def __init__(self, api: Api):
        self.api = api


@pytest.mark.parametrize(
    ("state", "logs", "known_ready", "expected"),
    [
        ("created", b"", False, "warming"),  # another fill pass made it, not started yet
        ("running", b"mlhub-pool-waiter: loading", False, "warming"),
        ("running", b"loaded in 0.9 s; waiting to be claimed", False, "ready"),
        ("running", b"", True, "ready"),  # known ready: running is enough, no logs read
        ("exited", b"exec /usr/local/bin/mlhub-pool-waiter failed", False, "failed"),
        ("exited", b"", True, "failed"),
        ("dead", b"", False, "failed"),
    ],
)
def test_a_slots_state(state, logs, known_ready, expected):
    listed = [{"Names": ["/mlhub--pool-default-0badc0de"], "State": state, "Status": state}]
    pool = DockerPool("mlhub", client=Client(Api(listed, logs)))
    name = "mlhub--pool-default-0badc0de"
    found = pool.states([name], ready=frozenset({name}) if known_ready else frozenset())
    assert found[name].state == expected
    if expected == "failed":
        assert found[name].detail.startswith(f"{state}: ")


def test_a_slot_not_listed_is_gone():
    pool = DockerPool("mlhub", client=Client(Api([], b"")))
    assert pool.states(["mlhub--pool-default-0badc0de"])["mlhub--pool-default-0badc0de"].state == (
        "gone"
    )
