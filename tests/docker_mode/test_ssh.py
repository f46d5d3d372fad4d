"""SSH into workspaces, end to end: Debian's ssh client, the gateway image (deploy/hub/ssh/)
asking the real portal for keys, and the workspace image's own sshd in real containers.

The gateway container is attached to each person's network, as the MLHub container will be,
and reaches workspaces by their container names. The portal of the test stack listens on the
host's 127.0.0.1 only (in the MLHub image it shares the gateway's loopback); a relay on the
gateway network's host address passes the gateway's requests on, and the gateway calls the
portal by a name the portal answers to (conftest's ALLOWED_HOSTS), as a compose or Kubernetes
deployment calls it by its service name.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest
import requests

from lib.labels import container_name, network_name
from lib.stack import ROOT
from tests.docker_mode.conftest import HUB, IMAGE, PORTAL_NAME
from tests.hub_stack import free_port
from tests.parts import require
from tests.ssh_client import alias_of, key_add, new_key, ssh, workspace_create
from tests.ssh_client import config_for as config_with_gateway

pytestmark = [pytest.mark.docker, pytest.mark.hub]

ALICE, BOB = ("alice", "alice-pass-123"), ("bob", "bob-pass-1234")
GATEWAY_CONTEXT = ROOT / "deploy" / "hub" / "ssh"
GATEWAY_IMAGE = "mlhub-ssh-gateway:test"
# The gateway image is built again only when its files or its base changed.
INPUTS_LABEL = "mlhub.test.inputs"
BASES = ("python:3.11-slim-bookworm", "mlhub-base:bookworm")  # the workspace image's
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
GATEWAY_ALIAS = f"{HUB}-gateway"
NO_SHELL = "This is MLHub's SSH gateway: it has no shell."
# What ssh says when the gateway refuses to open a connection (permitopen, PermitOpen).
PROHIBITED = "channel 0: open failed: administratively prohibited: open failed"


# --- the gateway --------------------------------------------------------------------------


def gateway_image(client) -> str:
    """Build the gateway image from deploy/hub/ssh on the workspace image's base, unless one
    built from the same inputs exists."""
    base = next((name for name in BASES if _image_id(client, name)), None)
    require(
        base is not None,
        f"none of the base images {BASES} exists: build the workspace "
        "image first (deploy/scripts/build-workspace-image.sh)",
    )
    digest = hashlib.sha256(_image_id(client, base).encode())
    for path in sorted(GATEWAY_CONTEXT.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(GATEWAY_CONTEXT)}:{path.stat().st_mode:o}".encode())
            digest.update(path.read_bytes())
    inputs = digest.hexdigest()
    try:
        if client.images.get(GATEWAY_IMAGE).labels.get(INPUTS_LABEL) == inputs:
            return GATEWAY_IMAGE
    except docker.errors.ImageNotFound:
        pass
    build_args = {"BASE_IMAGE": base}
    build_args.update({var: os.environ[var] for var in PROXY_VARS if os.environ.get(var)})
    client.images.build(
        path=str(GATEWAY_CONTEXT),
        tag=GATEWAY_IMAGE,
        buildargs=build_args,
        labels={INPUTS_LABEL: inputs},
        rm=True,
    )
    return GATEWAY_IMAGE


def _image_id(client, name: str) -> str:
    try:
        return client.images.get(name).id
    except docker.errors.ImageNotFound:
        return ""


class Relay:
    """Passes TCP connections made to (host, port) on to `target`, both ways."""

    def __init__(self, host: str, target: tuple[str, int]):
        self.target = target
        self.server = socket.create_server((host, 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                incoming, _ = self.server.accept()
            except OSError:
                return  # closed
            outgoing = socket.create_connection(self.target, timeout=10)
            for source, sink in ((incoming, outgoing), (outgoing, incoming)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()


def wait_for_ssh(port: int, container, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    container.reload()
    raise AssertionError(
        f"the gateway never answered ({container.status}):\n{container.logs().decode()}"
    )


@pytest.fixture(scope="module")
def gateway(docker_hub, docker_client):
    """The gateway image running as a container; its address on the host and the container."""
    require(shutil.which("ssh") is not None, "Debian's ssh client is not installed")
    image = gateway_image(docker_client)
    name = f"{HUB}-ssh-gateway-test"
    for leftover in docker_client.containers.list(all=True, filters={"name": name}):
        leftover.remove(force=True)
    for leftover in docker_client.networks.list(names=[name]):
        leftover.remove()
    # Not labelled as the hub's: cleanup must neither count nor remove it.
    network = docker_client.networks.create(name, driver="bridge")
    host_side = network.attrs["IPAM"]["Config"][0]["Gateway"]
    portal = docker_hub.stack.address("MLHUB_PORTAL_URL")
    host, port = re.match(r"^https?://([^:/]+):(\d+)", portal).groups()
    relay = Relay(host_side, (host, int(port)))
    # A fixed host port: Docker maps the port again when the container joins a network whose
    # name sorts first (it then routes through that one), and an ephemeral one would change.
    published = free_port()
    container = None
    try:
        container = docker_client.containers.run(
            image,
            name=name,
            detach=True,
            network=name,
            ports={"22/tcp": ("127.0.0.1", published)},
            extra_hosts={PORTAL_NAME: host_side},
            environment={
                "MLHUB_PORTAL_URL": f"http://{PORTAL_NAME}:{relay.port}",
                "MLHUB_SSH_GATEWAY_TOKEN_FILE": "/run/mlhub/token",
            },
            volumes={
                docker_hub.stack.environ["MLHUB_SSH_GATEWAY_TOKEN_FILE"]: {
                    "bind": "/run/mlhub/token",
                    "mode": "ro",
                }
            },
        )
        wait_for_ssh(published, container)
        yield published, container
    finally:
        if container is not None:
            container.remove(force=True, v=True)
        network.remove()
        relay.close()


# --- people, keys and workspaces ----------------------------------------------------------


def person(docker_hub, username: str, password: str) -> str:
    """Their API token; created unless another module of this session made them."""
    response = requests.post(
        f"{docker_hub.url}/api/v1/auth/token/",
        json={"username": username, "password": password},
        timeout=10,
    )
    if response.status_code != 200:
        docker_hub.user_create(username, password)
    return docker_hub.token_for(username, password)


@pytest.fixture(scope="module")
def world(docker_hub, docker_client, gateway, tmp_path_factory):
    """Alice (a key, two running workspaces) and Bob (a key, one running workspace), with the
    gateway on both their networks."""
    try:
        docker_client.containers.run(IMAGE, ["test", "-x", "/usr/sbin/sshd"], remove=True)
    except docker.errors.ContainerError:
        pytest.fail(f"{IMAGE} has no sshd: FORCE=1 bash deploy/scripts/build-workspace-image.sh")
    folder = tmp_path_factory.mktemp("ssh")
    alice, bob = person(docker_hub, *ALICE), person(docker_hub, *BOB)
    keys = {"alice": new_key(folder, "alice"), "bob": new_key(folder, "bob")}
    key_add(docker_hub, alice, keys["alice"])
    key_add(docker_hub, bob, keys["bob"])
    workspaces = {
        "thesis": workspace_create(docker_hub, alice, "sshthesis"),
        "draft": workspace_create(docker_hub, alice, "sshdraft"),
        "bobs": workspace_create(docker_hub, bob, "sshbobs"),
    }
    port, container = gateway
    for username in ("alice", "bob"):
        docker_client.networks.get(network_name(HUB, username)).connect(container)
    wait_for_ssh(port, container)
    return {
        "port": port,
        "gateway": container,
        "folder": folder,
        "tokens": {"alice": alice, "bob": bob},
        "keys": keys,
        "workspaces": workspaces,
    }


def config_for(workspace: dict, gateway_port: int, key: Path, *more, **options) -> Path:
    return config_with_gateway(workspace, GATEWAY_ALIAS, gateway_port, key, *more, **options)


def hostname_of(docker_client, username: str, workspace: dict) -> str:
    found = docker_client.containers.get(container_name(HUB, username, workspace["name"]))
    return found.attrs["Config"]["Hostname"]


REMOTE = "echo hello-from-$(hostname)"


def explain(result: subprocess.CompletedProcess, world: dict) -> str:
    """What the client and the gateway said, for a failure's message."""
    logs = world["gateway"].logs(tail=30).decode(errors="replace")
    return f"exit {result.returncode}\n{result.stderr}\n--- the gateway's log\n{logs}"


# --- what holds -------------------------------------------------------------------------


def test_the_owner_runs_a_command_in_their_workspace_through_the_gateway(docker_client, world):
    thesis = world["workspaces"]["thesis"]
    config = config_for(thesis, world["port"], world["keys"]["alice"])
    result = ssh("-F", str(config), alias_of(thesis), REMOTE)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"hello-from-{hostname_of(docker_client, 'alice', thesis)}\n",
        "",
    ), explain(result, world)
    assert alias_of(thesis) == f"{HUB}-sshthesis"
    # The workspace user, in their home, with the image's venv first on the PATH.
    result = ssh("-F", str(config), alias_of(thesis), "id -un; echo $HOME; command -v python")
    assert (result.returncode, result.stdout) == (
        0,
        "jovyan\n/home/jovyan\n/opt/venv/bin/python\n",
    ), result.stderr


def test_the_owner_gets_a_terminal_in_their_workspace(world):
    thesis = world["workspaces"]["thesis"]
    config = config_for(thesis, world["port"], world["keys"]["alice"])
    result = ssh("-F", str(config), "-tt", alias_of(thesis), "tty")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"/dev/pts/\d+\n", result.stdout), result.stdout


def test_each_of_the_owners_running_workspaces_answers_as_itself(docker_client, world):
    draft = world["workspaces"]["draft"]
    config = config_for(draft, world["port"], world["keys"]["alice"])
    result = ssh("-F", str(config), alias_of(draft), REMOTE)
    assert (result.returncode, result.stdout) == (
        0,
        f"hello-from-{hostname_of(docker_client, 'alice', draft)}\n",
    ), result.stderr


def test_another_persons_key_does_not_open_the_workspace(world):
    # Bob's key gets him into the gateway (he has a running workspace) but no further.
    config = config_for(
        world["workspaces"]["thesis"], world["port"], world["keys"]["bob"], log_level="INFO"
    )
    result = ssh("-F", str(config), alias_of(world["workspaces"]["thesis"]), REMOTE)
    assert result.returncode == 255
    assert result.stdout == ""
    assert PROHIBITED in result.stderr, result.stderr


def test_a_key_the_portal_does_not_know_is_refused_at_the_gateway(world):
    stranger = new_key(world["folder"], "stranger")
    config = config_for(world["workspaces"]["thesis"], world["port"], stranger)
    result = ssh("-F", str(config), alias_of(world["workspaces"]["thesis"]), REMOTE)
    assert result.returncode == 255
    assert "mlhub@127.0.0.1: Permission denied (publickey)." in result.stderr, result.stderr


def test_the_gateway_forwards_to_no_other_port_or_host(world):
    config = config_for(
        world["workspaces"]["thesis"], world["port"], world["keys"]["alice"], log_level="INFO"
    )
    thesis = container_name(HUB, "alice", "sshthesis")
    for target in (
        f"{thesis}:8888",
        f"{PORTAL_NAME}:22",
        f"{container_name(HUB, 'bob', 'sshbobs')}:2222",
    ):
        result = ssh("-F", str(config), "-W", target, GATEWAY_ALIAS)
        assert result.returncode == 255, target
        assert PROHIBITED in result.stderr, (target, result.stderr)


@pytest.mark.parametrize(
    "options, command, code, said",
    [
        ([], [], 1, NO_SHELL),  # a shell
        ([], ["id"], 1, NO_SHELL),
        # The gateway has no subsystems: sshd refuses before any command.
        (["-s"], ["sftp"], 255, "subsystem request failed on channel 0"),
        (["-tt"], ["id"], 255, "PTY allocation request failed on channel 0"),
    ],
)
def test_the_gateway_gives_no_shell_nor_command(world, options, command, code, said):
    config = config_for(world["workspaces"]["thesis"], world["port"], world["keys"]["alice"])
    result = ssh("-F", str(config), *options, GATEWAY_ALIAS, *command)
    assert (result.returncode, result.stdout) == (code, ""), explain(result, world)
    assert said in result.stderr, explain(result, world)


def test_a_removed_key_is_refused(docker_hub, world):
    spare = new_key(world["folder"], "spare")
    added = key_add(docker_hub, world["tokens"]["alice"], spare)
    config = config_for(world["workspaces"]["thesis"], world["port"], spare)
    # Added after the workspace started: the gateway lets it through, the workspace's sshd
    # does not know it before its next start.
    result = ssh("-F", str(config), alias_of(world["workspaces"]["thesis"]), REMOTE)
    assert result.returncode == 255
    assert (
        f"jovyan@{container_name(HUB, 'alice', 'sshthesis')}: Permission denied (publickey)."
        in (result.stderr)
    ), result.stderr
    response = docker_hub.api(world["tokens"]["alice"]).delete(
        f"{docker_hub.url}/api/v1/ssh-keys/{added['id']}/", timeout=10
    )
    assert response.status_code == 204, response.text
    result = ssh("-F", str(config), GATEWAY_ALIAS, "true")
    assert result.returncode == 255
    assert "mlhub@127.0.0.1: Permission denied (publickey)." in result.stderr, result.stderr


def test_a_stopped_workspace_is_refused_and_a_started_one_knows_the_keys_of_its_start(
    docker_hub, docker_client, world
):
    alice = world["tokens"]["alice"]
    draft = world["workspaces"]["draft"]
    api = docker_hub.api(alice)
    # Alice's known_hosts learns the workspace's host key.
    known_hosts = world["folder"] / "known_hosts"
    config = config_for(draft, world["port"], world["keys"]["alice"], known_hosts)
    assert ssh("-F", str(config), alias_of(draft), "true").returncode == 0
    response = api.post(f"{docker_hub.url}/api/v1/workspaces/{draft['id']}/stop/", timeout=30)
    assert response.status_code == 200, response.text
    docker_hub.wait_for_state(alice, draft["id"], "stopped")
    config = config_for(draft, world["port"], world["keys"]["alice"], log_level="INFO")
    result = ssh("-F", str(config), alias_of(draft), REMOTE)
    assert result.returncode == 255
    assert PROHIBITED in result.stderr, result.stderr

    # A key added while it was stopped counts from the next start; the workspace keeps its
    # host key (in its work folder), so Alice's known_hosts is still right.
    later = new_key(world["folder"], "later")
    key_add(docker_hub, alice, later)
    response = api.post(f"{docker_hub.url}/api/v1/workspaces/{draft['id']}/start/", timeout=30)
    assert response.status_code == 200, response.text
    draft = docker_hub.wait_for_state(alice, draft["id"], "running")
    config = config_for(draft, world["port"], later, known_hosts)
    config.write_text(config.read_text().replace("accept-new", "yes"))
    result = ssh("-F", str(config), alias_of(draft), REMOTE)
    assert (result.returncode, result.stdout) == (
        0,
        f"hello-from-{hostname_of(docker_client, 'alice', draft)}\n",
    ), result.stderr


def test_an_ssh_session_counts_as_activity_for_idle_culling(docker_hub, world):
    thesis = world["workspaces"]["thesis"]

    def last_activity() -> datetime:
        server = docker_hub.hub_user("alice")["servers"]["sshthesis"]
        return datetime.fromisoformat(server["last_activity"].replace("Z", "+00:00"))

    quiet = last_activity()
    time.sleep(2.5)  # more than two of the workspace's report intervals, with no session
    assert last_activity() == quiet
    began = datetime.now(UTC)
    config = config_for(thesis, world["port"], world["keys"]["alice"])
    result = ssh("-F", str(config), alias_of(thesis), "sleep 4")
    assert result.returncode == 0, explain(result, world)
    assert last_activity() >= began
