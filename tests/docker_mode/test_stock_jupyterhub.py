"""Both workspace images outside MLHub: a stock JupyterHub with the stock DockerSpawner (no
MLHub class, no MLHUB_* variable, no SSH keys) starts each and serves its lab, and the
data-science image's tools, through its own proxy."""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from lib.polling import poll_until
from tests.docker_engine import require_image
from tests.hub_stack import CHP, free_ports
from tests.parts import require

pytestmark = [pytest.mark.docker, pytest.mark.hub]

PREFIX = "mlhub-stock-test"  # the containers' names start with it; removed before and after
IMAGES = {"lean": "mlhub-workspace:latest", "ds": "mlhub-workspace-ds:latest"}
MEMORY = 1024**3


def host_address_for_containers() -> str:
    """The host's address on Docker's default bridge (docker0), where the hub listens for them."""
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True
    ).stdout.split()
    return shown[shown.index("inet") + 1].split("/")[0] if "inet" in shown else ""


def remove_containers(client) -> None:
    for container in client.containers.list(all=True, filters={"name": PREFIX}):
        container.remove(force=True, v=True)


@pytest.fixture(scope="module", params=sorted(IMAGES))
def stock_hub(request, tmp_path_factory, docker_client):
    """A stock JupyterHub 6 with DockerSpawner running one image; yields (url, admin token,
    which image)."""
    kind = request.param
    require_image(docker_client, IMAGES[kind])
    host = host_address_for_containers()
    require(bool(host), "Docker's default bridge docker0 has no IPv4 address here")
    remove_containers(docker_client)
    folder = tmp_path_factory.mktemp(f"stock-hub-{kind}")
    public, hub_port, proxy_api = free_ports(3)
    token = secrets.token_hex(16)
    (folder / "jupyterhub_config.py").write_text(
        textwrap.dedent(
            f"""
            c.JupyterHub.authenticator_class = "dummy"
            c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
            c.DockerSpawner.image = {IMAGES[kind]!r}
            c.DockerSpawner.prefix = {PREFIX!r}
            c.DockerSpawner.remove = True
            c.DockerSpawner.mem_limit = {MEMORY}
            c.DockerSpawner.network_name = "bridge"
            c.DockerSpawner.use_internal_ip = True
            c.Spawner.start_timeout = 120
            c.Spawner.http_timeout = 120
            c.JupyterHub.bind_url = "http://127.0.0.1:{public}"
            c.JupyterHub.hub_bind_url = "http://0.0.0.0:{hub_port}"
            c.JupyterHub.hub_connect_url = "http://{host}:{hub_port}"
            c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
            c.JupyterHub.db_url = "sqlite:///{folder}/jupyterhub.sqlite"
            c.JupyterHub.cookie_secret_file = "{folder}/cookie_secret"
            c.JupyterHub.services = [{{"name": "tester", "api_token": {token!r}}}]
            c.JupyterHub.load_roles = [{{"name": "tester", "services": ["tester"],
                "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]
            """
        )
    )
    log = (folder / "hub.log").open("w")
    hub = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyterhub")), "-f", "jupyterhub_config.py"],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{public}"
    try:
        poll_until(
            lambda: hub.poll() is not None or _answers(f"{url}/hub/api/"),
            timeout=60,
            what="the stock hub never answered",
        )
        assert hub.poll() is None, (folder / "hub.log").read_text()[-3000:]
        yield url, token, kind, folder
    finally:
        hub.terminate()
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            hub.kill()
        log.close()
        remove_containers(docker_client)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def started(stock_hub, docker_client):
    """alice's default server, ready; yields (her server's URL, her token, the container)."""
    url, token, kind, folder = stock_hub
    admin = {"Authorization": f"token {token}"}
    api = f"{url}/hub/api"
    assert requests.post(f"{api}/users/alice", headers=admin, timeout=30).status_code == 201
    spawn = requests.post(f"{api}/users/alice/server", headers=admin, timeout=120)
    assert spawn.status_code in (201, 202), spawn.text

    def ready() -> bool:
        server = requests.get(f"{api}/users/alice", headers=admin, timeout=30).json()
        return server["servers"].get("", {}).get("ready", False)

    poll_until(ready, timeout=180, what=f"alice's server never became ready\n{folder}")
    made = requests.post(
        f"{api}/users/alice/tokens", headers=admin, json={"expires_in": 600}, timeout=30
    )
    assert made.status_code == 201, made.text
    (container,) = docker_client.containers.list(filters={"name": PREFIX})
    return f"{url}/user/alice/", made.json()["token"], container


def test_the_image_serves_its_lab_under_a_stock_hub(started):
    server, token, container = started
    headers = {"Authorization": f"token {token}"}
    assert requests.get(server + "lab", headers=headers, timeout=60).status_code == 200
    assert "started" in requests.get(server + "api/status", headers=headers, timeout=30).json()
    environment = container.attrs["Config"]["Env"]
    assert not [variable for variable in environment if variable.startswith("MLHUB_")]
    # No keys, no sshd: SSH is simply off.
    processes = [" ".join(process) for process in container.top()["Processes"]]
    assert not [process for process in processes if "sshd" in process], processes


# The data-science image's alone: the lean image has no tools.
@pytest.mark.parametrize("stock_hub", ["ds"], indirect=True)
def test_the_data_science_tools_answer_under_a_stock_hub(stock_hub, started):
    server, token, _ = started
    headers = {"Authorization": f"token {token}"}
    for tool, marker in (("vscode/", "code-server"), ("tensorboard/", "<tb-webapp>")):
        page = requests.get(server + tool, headers=headers, timeout=120)
        assert page.status_code == 200 and marker in page.text, (tool, page.text[:300])
    metrics = requests.get(server + "api/metrics/v1", headers=headers, timeout=30).json()
    assert metrics["limits"]["memory"]["rss"] == MEMORY
