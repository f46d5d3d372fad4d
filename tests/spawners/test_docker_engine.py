"""The Docker spec builders against the real engine and the built workspace image.

Everything created here carries the test-only origin label `mlhub.origin=mlht` and is removed
by that label before and after each test.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest

from lib.labels import container_name, network_name, volume_name
from lib.resources import WorkspaceResources
from spawners.docker_spec import docker_labels as labels
from spawners.docker_spec import docker_user_labels as user_labels
from spawners.docker_spec import host_config
from tests.docker_engine import remove_everything_of, require_image

pytestmark = pytest.mark.docker

HUB = "mlht"
PORT = 8888
# Connects or exits 1; the image's own python3, so the test needs nothing else in it.
CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
    "except OSError as error:\n"
    "    sys.exit(f'no connection: {error}')\n"
)


@dataclass
class Engine:
    client: docker.DockerClient
    image: str

    def workspace(self, user: str, server: str, command: str = "sleep infinity"):
        """A container as the spawner makes it: user network, labels, limits, init."""
        net = network_name(HUB, user)
        if not self.client.networks.list(names=[net]):
            self.client.networks.create(
                net, driver="bridge", labels=user_labels(HUB, user), check_duplicate=True
            )
        resources = WorkspaceResources(image=self.image, cpu=0.5, memory=256 * 1024**2)
        container = self.client.containers.run(
            self.image,
            command,
            name=container_name(HUB, user, server),
            labels=labels(HUB, user, server, 0),
            network=net,
            detach=True,
            **host_config(resources),
        )
        container.reload()
        return container

    def ip(self, container, user: str) -> str:
        return container.attrs["NetworkSettings"]["Networks"][network_name(HUB, user)]["IPAddress"]

    def connects(self, client_container, host: str, port: int = PORT) -> tuple[bool, str]:
        code, output = client_container.exec_run(["python3", "-c", CONNECT, host, str(port)])
        return code == 0, output.decode(errors="replace")


@pytest.fixture
def engine(docker_client) -> Iterator[Engine]:
    image = os.environ.get("MLHUB_WORKSPACE_IMAGE", "mlhub-workspace:latest")
    require_image(docker_client, image)
    remove_everything_of(docker_client, HUB)
    yield Engine(docker_client, image)
    remove_everything_of(docker_client, HUB)


def _wait_until_connects(engine: Engine, client_container, host: str) -> None:
    # The server container needs a moment to listen; the same-network path proves it does.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ok, output = engine.connects(client_container, host)
        if ok:
            return
        time.sleep(0.2)
    raise AssertionError(f"never connected to {host}:{PORT}: {output}")


def test_two_workspaces_of_one_user_reach_each_other(engine):
    server = engine.workspace("alice", "ws1", f"python3 -m http.server {PORT}")
    neighbour = engine.workspace("alice", "ws2")

    _wait_until_connects(engine, neighbour, engine.ip(server, "alice"))


def test_workspaces_of_different_users_cannot_connect(engine):
    server = engine.workspace("alice", "ws1", f"python3 -m http.server {PORT}")
    same_user = engine.workspace("alice", "ws2")
    other_user = engine.workspace("bob", "ws1")
    alice_ip = engine.ip(server, "alice")
    _wait_until_connects(engine, same_user, alice_ip)  # alice's server does listen

    ok, output = engine.connects(other_user, alice_ip)

    assert not ok, "bob's workspace reached alice's across user networks"
    assert "no connection" in output
    assert network_name(HUB, "bob") not in server.attrs["NetworkSettings"]["Networks"]


def test_a_workspace_reaches_the_host_at_its_network_gateway(engine):
    # How workspaces find the hub: it listens on all interfaces of the host.
    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    accepted = threading.Thread(target=lambda: listener.accept()[0].close(), daemon=True)
    accepted.start()
    try:
        workspace = engine.workspace("alice", "ws1")
        gateway = engine.client.networks.get(network_name(HUB, "alice")).attrs["IPAM"]["Config"][0][
            "Gateway"
        ]

        ok, output = engine.connects(workspace, gateway, port)

        assert ok, output
    finally:
        listener.close()


def test_a_fresh_volume_at_the_work_folder_is_writable_by_the_workspace_user(engine):
    name = volume_name(HUB, "alice", "ws1")
    engine.client.volumes.create(name, labels=labels(HUB, "alice", "ws1", 0))

    output = engine.client.containers.run(
        engine.image,
        ["sh", "-c", "id -u && touch /home/jovyan/work/kept && ls /home/jovyan/work"],
        volumes={name: {"bind": "/home/jovyan/work", "mode": "rw"}},
        labels=labels(HUB, "alice", "ws1", 0),
        remove=True,
    )

    assert output.decode().split() == ["1000", "kept"]


def test_workspace_objects_carry_the_labels_cleanup_selects_on(engine):
    engine.workspace("alice", "ws1")
    selected = engine.client.containers.list(
        all=True, filters={"label": [f"mlhub.origin={HUB}", "mlhub.user=alice"]}
    )

    assert [c.name for c in selected] == ["mlht-alice--ws1"]
    assert selected[0].labels["mlhub.server_name"] == "ws1"
    assert selected[0].attrs["HostConfig"]["NanoCpus"] == 500_000_000
    assert selected[0].attrs["HostConfig"]["Init"] is True


def test_the_workspace_image_carries_no_iri_grammar_to_build_at_each_start(engine):
    """rfc3987-syntax builds its grammar at import (a second of each start); the image drops
    it (deploy/workspace/Dockerfile), and jsonschema's format checks still run."""
    check = (
        "import importlib.util, jsonschema\n"
        "assert importlib.util.find_spec('rfc3987_syntax') is None\n"
        "checker = jsonschema.Draft7Validator.FORMAT_CHECKER\n"
        "print(checker.conforms('not an email', 'email'), checker.conforms('a@b.org', 'email'))\n"
    )
    output = engine.client.containers.run(
        engine.image, ["python3", "-c", check], labels={"mlhub.origin": HUB}, remove=True
    )
    assert output.decode().split() == ["False", "True"]
