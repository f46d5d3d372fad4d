"""Docker mode: a workspace's CPU limit holds in the kernel, down to the least one may ask for.

Docker turns NanoCpus into a CFS quota of NanoCpus / 10,000 us per 100 ms period. 1e-7 core
(NanoCpus=100) once gave a quota of 0, which the kernel reads as no limit; the floor of 0.01
core (lib.resources.MIN_CPU) is a quota of 1 ms, the least the kernel takes.
"""

from __future__ import annotations

import json

import pytest

from lib.labels import container_name
from lib.polling import poll_until
from tests.docker_mode.conftest import HUB

pytestmark = [pytest.mark.docker, pytest.mark.hub]
DORA = ("dora", "dora-pass-1234")
BELOW = "cpu 1e-07 is below the minimum of 0.01 cores"


@pytest.fixture(scope="module")
def token(docker_hub):
    docker_hub.user_create(*DORA)
    return docker_hub.token_for(*DORA)


def ours(name: str) -> dict:
    return {"label": [f"mlhub.origin={HUB}", "mlhub.user=dora", f"mlhub.server_name={name}"]}


def cgroup_cpu(target) -> tuple[int, int, int]:
    """(quota us, period us, times throttled) of the container's own CPU cgroup, read inside it
    (cgroup v2's cpu.max and cpu.stat, or v1's cpu controller); a quota of -1 is no limit."""
    script = (
        "if [ -f /sys/fs/cgroup/cpu.max ]; then"
        " cat /sys/fs/cgroup/cpu.max; grep nr_throttled /sys/fs/cgroup/cpu.stat;"
        " else d=/sys/fs/cgroup/cpu; [ -d $d ] || d=/sys/fs/cgroup/cpu,cpuacct;"
        " echo $(cat $d/cpu.cfs_quota_us) $(cat $d/cpu.cfs_period_us);"
        " grep nr_throttled $d/cpu.stat; fi"
    )
    exit_code, output = target.exec_run(["sh", "-c", script])
    assert exit_code == 0, output
    limit, throttled = output.decode().splitlines()
    quota, period = limit.split()
    return (-1 if quota == "max" else int(quota)), int(period), int(throttled.split()[1])


def spawn_failure(session, server_url: str) -> str:
    """The message of the hub's "failed" progress event for this server."""

    def failed() -> str | None:
        with session.get(f"{server_url}/progress", stream=True, timeout=30) as progress:
            for line in progress.iter_lines(decode_unicode=True):
                event = json.loads(line[len("data:") :]) if line.startswith("data:") else {}
                if event.get("failed"):
                    return event["message"]
        return None

    return poll_until(failed, timeout=30, what="the hub never reported the spawn as failed")


def test_the_least_cpu_is_a_real_limit_in_the_containers_cgroup(docker_hub, docker_client, token):
    api = docker_hub.api(token)
    response = api.post(
        f"{docker_hub.url}/api/v1/workspaces/", json={"name": "least", "cpu": 0.01}, timeout=30
    )
    assert response.status_code == 201, response.text
    # At 0.01 core the server takes minutes to start: the container is what is looked at.
    name = container_name(HUB, "dora", "least")
    target = poll_until(
        lambda: next(iter(docker_client.containers.list(filters=ours("least"))), None),
        timeout=60,
        what=f"{name} never ran",
    )
    try:
        assert target.attrs["HostConfig"]["NanoCpus"] == 10_000_000
        assert cgroup_cpu(target)[:2] == (1_000, 100_000)  # 1 ms of CPU per 100 ms
        # The kernel enforces it: the starting server is held back at once.
        poll_until(lambda: cgroup_cpu(target)[2] > 0, timeout=30, what="never throttled")
    finally:
        deleted = api.delete(f"{docker_hub.url}/api/v1/workspaces/{response.json()['id']}/")
        assert deleted.status_code == 204, deleted.text


def test_cpu_below_the_least_is_refused_by_the_portal_and_the_spawner(
    docker_hub, docker_client, token
):
    response = docker_hub.api(token).post(
        f"{docker_hub.url}/api/v1/workspaces/", json={"name": "tiny", "cpu": 1e-7}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": BELOW, "code": "invalid"}

    # A client that calls the hub directly: the spawner refuses before any Docker call.
    hub_api = docker_hub.api()
    hub_api.headers["Authorization"] = f"token {docker_hub.hub_token}"
    user = f"{docker_hub.hub_api}/users/dora"
    if hub_api.get(user, timeout=30).status_code == 404:  # when this test runs alone
        assert hub_api.post(user, timeout=30).status_code == 201
    server = f"{user}/servers/tiny"
    try:
        started = hub_api.post(server, json={"cpu": 1e-7}, timeout=30)
        # The hub answers 202 at once (slow_spawn_timeout 0) and reports the refusal as progress.
        assert started.status_code == 202, started.text
        assert spawn_failure(hub_api, server) == f"Spawn failed: {BELOW}"
    finally:
        hub_api.delete(server, json={"remove": True}, timeout=30)
    assert not docker_client.containers.list(all=True, filters=ours("tiny"))
    assert not docker_client.volumes.list(filters=ours("tiny"))
