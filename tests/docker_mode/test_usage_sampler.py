"""Docker mode: the usage sampler records the CPU a workspace used as its cgroup counts it.

A workspace runs a CPU-bound loop for about 10 s; one sampler pass (``manage.py
usage_sample``, what the schedule runs) then reads the engine's stats API, and the CPU-hours
the usage API answers for the day are within 20% of the container's own cgroup counter read
just after the pass (cgroup v2's cpu.stat usage_usec, or v1's cpuacct.usage).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lib.labels import container_name
from tests.docker_mode.conftest import HUB

pytestmark = [pytest.mark.docker, pytest.mark.hub]
ERIN = ("erin", "erin-pass-1234")
BUSY_SECONDS = 10
BUSY = f"import time\nt = time.time()\nwhile time.time() - t < {BUSY_SECONDS}: pass\n"
# The container's CPU time in seconds, read inside it from its own cgroup.
CGROUP_CPU = (
    "import pathlib\n"
    "v2 = pathlib.Path('/sys/fs/cgroup/cpu.stat')\n"
    "if v2.exists():\n"
    "    usec = next(l for l in v2.read_text().splitlines() if l.startswith('usage_usec'))\n"
    "    print(int(usec.split()[1]) / 1e6)\n"
    "else:\n"
    "    v1 = pathlib.Path('/sys/fs/cgroup/cpuacct')\n"
    "    v1 = v1 if v1.exists() else pathlib.Path('/sys/fs/cgroup/cpu,cpuacct')\n"
    "    print(int((v1 / 'cpuacct.usage').read_text()) / 1e9)\n"
)


def cgroup_cpu_seconds(container) -> float:
    exit_code, output = container.exec_run(["python3", "-c", CGROUP_CPU])
    assert exit_code == 0, output
    return float(output.decode())


def test_the_sampler_records_the_cpu_the_containers_cgroup_counts(docker_hub, docker_client):
    docker_hub.user_create(*ERIN)
    token = docker_hub.token_for(*ERIN)
    api = docker_hub.api(token)
    made = api.post(
        f"{docker_hub.url}/api/v1/workspaces/", json={"name": "busy", "cpu": 1}, timeout=30
    )
    assert made.status_code == 201, made.text
    try:
        docker_hub.wait_for_state(token, made.json()["id"], "running")
        container = docker_client.containers.get(container_name(HUB, "erin", "busy"))
        before = cgroup_cpu_seconds(container)
        exit_code, output = container.exec_run(["python3", "-c", BUSY])
        assert exit_code == 0, output
        assert cgroup_cpu_seconds(container) - before > BUSY_SECONDS / 2  # the loop ran

        docker_hub.stack.manage("usage_sample")
        counted = cgroup_cpu_seconds(container)

        today = datetime.now(UTC).date()  # the usage API's days are UTC days
        response = api.get(
            f"{docker_hub.url}/api/v1/usage/",
            params={"since": str(today - timedelta(days=1)), "until": str(today)},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        rows = response.json()["results"]
        recorded = sum(row["cpu_used_hours"] for row in rows) * 3600
        assert {row["measured_use_unavailable"] for row in rows} == {None}
        assert recorded == pytest.approx(counted, rel=0.2), (recorded, counted, rows)
        assert any(row["efficiency"] is not None and row["memory_peak_bytes"] for row in rows)
    finally:
        deleted = api.delete(f"{docker_hub.url}/api/v1/workspaces/{made.json()['id']}/")
        assert deleted.status_code == 204, deleted.text
