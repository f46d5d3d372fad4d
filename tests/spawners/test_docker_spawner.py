"""MLHubDockerSpawner inside a real JupyterHub (with the Node proxy) on the real engine.

The hub runs with a minimal config of its own (dummy authenticator, a service token) so these
tests prove the spawner alone; the full portal + hub stack is tested in tests/integration.
Objects carry the test-only origin `mlhub.origin=mlht` and are removed by that label.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from docker.errors import ImageNotFound

from tests.parts import require

pytestmark = [pytest.mark.docker, pytest.mark.hub]

ROOT = Path(__file__).resolve().parents[2]
HUB = "mlht"
TOKEN = "spawner-test-service-token-0123456789"
CONFIG = """
c.JupyterHub.spawner_class = "spawners.docker.MLHubDockerSpawner"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {{"alice", "bob"}}
c.JupyterHub.allow_named_servers = True
# As hubconfig: start requests answer 202 at once, refusals come through the progress stream.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
c.JupyterHub.hub_bind_url = "http://0.0.0.0:{hub_port}"
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.db_url = "sqlite:///{data}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{data}/cookie_secret"
c.JupyterHub.pid_file = "{data}/jupyterhub.pid"
c.JupyterHub.services = [{{"name": "tester", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "tester-role", "services": ["tester"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
}}]
c.MLHubDockerSpawner.hub_name = {hub!r}
c.MLHubDockerSpawner.workspace_images = [{image!r}]
c.MLHubDockerSpawner.cpu_max = 1
c.MLHubDockerSpawner.memory_max = "1G"
"""


@dataclass
class Hub:
    api: str
    public: str
    docker: object
    log: Path
    image: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {TOKEN}"}
        return requests.request(method, self.api + path, headers=headers, timeout=60, **kwargs)

    def user_get(self, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {TOKEN}"}
        return requests.get(self.public + path, headers=headers, timeout=30, **kwargs)

    def start(self, user: str, server: str, options: dict) -> None:
        response = self.call("POST", f"/users/{user}/servers/{server}", json=options)
        assert response.status_code in (201, 202), response.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            servers = self.call("GET", f"/users/{user}").json()["servers"]
            if servers.get(server, {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{user}/{server} never became ready:\n{self.tail()}")

    def refusal(self, user: str, server: str, options: dict) -> str:
        """The hub's reason for refusing a start: from the 400, or from the progress stream
        when the start answered 202 before the spawner refused."""
        response = self.call("POST", f"/users/{user}/servers/{server}", json=options)
        if response.status_code == 400:
            return response.json()["message"]
        assert response.status_code == 202, response.text
        # Between the refusal and the end of the hub's cleanup stop, the progress API says
        # "not starting" (400); then it reports the failure with our message.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            progress = self.call("GET", f"/users/{user}/servers/{server}/progress", stream=True)
            if progress.status_code == 200:
                for line in progress.iter_lines(decode_unicode=True):
                    if line.startswith("data:"):
                        event = json.loads(line[len("data:") :])
                        if event.get("failed"):
                            return event["message"].removeprefix("Spawn failed: ")
            time.sleep(0.2)
        raise AssertionError(f"{user}/{server} was not refused:\n{self.tail()}")

    def stop(self, user: str, server: str, remove: bool = False) -> None:
        """Stop (and with remove, delete) a server; wait until the hub has finished."""
        body = {"remove": True} if remove else None
        response = self.call("DELETE", f"/users/{user}/servers/{server}", json=body)
        assert response.status_code in (202, 204), response.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            servers = self.call("GET", f"/users/{user}").json()["servers"]
            if server not in servers or not servers[server].get("pending"):
                if not (remove and server in servers):
                    return
            time.sleep(0.2)
        raise AssertionError(f"{user}/{server} never stopped:\n{self.tail()}")

    def containers(self, **labels: str) -> list[dict]:
        # The low-level list: the high-level one inspects each container and races removals.
        filters = {"label": [f"{key.replace('_', '.', 1)}={v}" for key, v in labels.items()]}
        return self.docker.api.containers(all=True, filters=filters)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _remove_test_objects(client) -> None:
    ours = {"label": f"mlhub.origin={HUB}"}
    for container in client.containers.list(all=True, filters=ours):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=ours):
        network.remove()
    for volume in client.volumes.list(filters=ours):
        volume.remove(force=True)


def _wait_for_api(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the hub exited:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the hub never answered at {url}")


@pytest.fixture(scope="module")
def hub(docker_client, tmp_path_factory) -> Iterator[Hub]:
    image = os.environ.get("MLHUB_WORKSPACE_IMAGE", "mlhub-workspace:latest")
    try:
        docker_client.images.get(image)
    except ImageNotFound:
        require(False, f"no image {image}; build it with deploy/scripts/build-workspace-image.sh")
    local_chp = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    chp = str(local_chp) if local_chp.exists() else shutil.which("configurable-http-proxy")
    require(chp is not None, "no configurable-http-proxy (npm install in the checkout)")

    data = tmp_path_factory.mktemp("docker-hub")
    hub_port, proxy_port = free_port(), free_port()
    config = CONFIG.format(
        hub_port=hub_port,
        proxy_port=proxy_port,
        proxy_api_port=free_port(),
        chp=chp,
        data=data,
        token=TOKEN,
        hub=HUB,
        image=image,
    )
    (data / "jupyterhub_config.py").write_text(config)
    log = data / "hub.log"
    _remove_test_objects(docker_client)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(data / "jupyterhub_config.py")],
            cwd=data,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        api = f"http://127.0.0.1:{hub_port}/hub/api"
        _wait_for_api(api + "/", process, log)
        yield Hub(api, f"http://127.0.0.1:{proxy_port}", docker_client, log, image)
    finally:
        process.terminate()  # the hub stops its servers and the proxy on the way out
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        _remove_test_objects(docker_client)


def test_it_refuses_cpu_above_the_limit_with_the_reason(hub):
    message = hub.refusal("alice", "bad", {"cpu": 8})

    assert message == "cpu 8 is above the maximum of 1 core"


def test_it_refuses_an_image_not_allowed(hub):
    message = hub.refusal("alice", "bad2", {"image": "evil:latest"})

    assert message == "image 'evil:latest' is not allowed; allowed images: " + hub.image
    assert not hub.containers(mlhub_user="alice", mlhub_server_name="bad2")


def test_a_workspace_runs_with_its_resources_labels_network_and_volume(hub):
    options = {"cpu": 0.5, "memory": "512M", "env": {"FOO": "bar"}, "expires_at": 1900000000}

    hub.start("alice", "ws1", options)

    container = hub.docker.containers.get("mlht-alice--ws1")
    assert container.labels == {
        "mlhub.origin": HUB,
        "mlhub.user": "alice",
        "mlhub.server_name": "ws1",
        "mlhub.expires_at": "1900000000",
    }
    host = container.attrs["HostConfig"]
    assert (host["NanoCpus"], host["Memory"], host["Init"]) == (500_000_000, 512 * 1024**2, True)
    assert list(container.attrs["NetworkSettings"]["Networks"]) == ["mlht-alice"]
    network = hub.docker.networks.get("mlht-alice")
    assert network.attrs["Labels"] == {"mlhub.origin": HUB, "mlhub.user": "alice"}
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    env = dict(line.split("=", 1) for line in container.attrs["Config"]["Env"])
    assert env["FOO"] == "bar"
    assert env["JUPYTERHUB_API_URL"].startswith(f"http://{gateway}:")
    mounts = {m["Name"]: m["Destination"] for m in container.attrs["Mounts"]}
    assert mounts == {"mlht-alice--ws1-work": "/home/jovyan/work"}
    volume = hub.docker.volumes.get("mlht-alice--ws1-work")
    assert volume.attrs["Labels"]["mlhub.origin"] == HUB


def test_files_in_the_work_folder_survive_a_stop_and_start(hub):
    hub.start("alice", "keep", {})
    file_url = "/user/alice/keep/api/contents/kept.txt"
    body = {"type": "file", "format": "text", "content": "still here"}
    assert hub.user_get(file_url).status_code == 404
    written = requests.put(
        hub.public + file_url, json=body, headers={"Authorization": f"token {TOKEN}"}, timeout=30
    )
    assert written.status_code == 201, written.text

    hub.stop("alice", "keep")
    assert not hub.containers(mlhub_user="alice", mlhub_server_name="keep")
    hub.start("alice", "keep", {})

    assert hub.user_get(file_url).json()["content"] == "still here"


def test_deleting_workspaces_removes_their_volumes_and_then_the_user_network(hub):
    hub.start("bob", "one", {})
    hub.start("bob", "two", {})

    # The hub answers the DELETE, then deletes the spawner: wait for the objects to go.
    hub.stop("bob", "one", remove=True)
    _wait_gone(lambda: hub.docker.volumes.list(filters={"label": "mlhub.server_name=one"}))
    assert hub.docker.networks.list(names=["mlht-bob"]), "bob still has a workspace on it"

    hub.stop("bob", "two", remove=True)
    _wait_gone(lambda: hub.docker.networks.list(names=["mlht-bob"]))
    assert not hub.containers(mlhub_user="bob")
    assert not hub.docker.volumes.list(filters={"label": "mlhub.user=bob"})


def _wait_gone(still_there, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while still_there():
        assert time.monotonic() < deadline, f"still there: {still_there()}"
        time.sleep(0.2)
