"""The MLHub image end to end, as `docker run` with one public port: the portal over HTTPS with
the generated certificate, a workspace opened and its kernel's websocket through that port,
SSH through that same port with a key registered in the portal, the hub killed inside the
container (restarted; workspaces keep answering), and a new container on the same data (an
upgrade) that takes running workspaces over.
"""

from __future__ import annotations

import time

import pytest
import requests

from lib.labels import container_name
from lib.polling import poll_until
from tests.deploy.mlhub_image import IMAGE, ImageHub, image_built, image_environment, read_file
from tests.deploy.nginx_front import SubdomainAdapter, assert_kernel_answers
from tests.docker_engine import remove_everything_of, require_image
from tests.hub_stack import ADMIN_PASSWORD, free_port, portal_login, resolve_localhost_subdomains
from tests.ssh_client import alias_of, config_for, key_add, new_key, ssh

pytestmark = [pytest.mark.docker, pytest.mark.hub]

HUB = "mlhi"
ALICE, BOB = ("alice", "alice-pass-123"), ("bob", "bob-pass-1234")
WORKSPACE_IMAGE = "mlhub-workspace:latest"
REMOTE = "echo hello-from-$(hostname)"


@pytest.fixture(scope="module")
def mlhub(docker_client, tmp_path_factory):
    require_image(docker_client, WORKSPACE_IMAGE)
    image_built()
    resolve_localhost_subdomains()
    remove_everything_of(docker_client, HUB)
    for leftover in docker_client.containers.list(all=True, filters={"name": f"{HUB}-mlhub"}):
        leftover.remove(force=True)
    network = docker_client.networks.create(f"{HUB}-net", driver="bridge")
    port = free_port()
    run_options = {
        "detach": True,
        "network": network.name,
        "ports": {"8080/tcp": ("127.0.0.1", port)},
        "volumes": {
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
            f"{HUB}-data": {"bind": "/data", "mode": "rw"},
        },
        "environment": image_environment(HUB, port),
    }
    container = docker_client.containers.run(IMAGE, name=f"{HUB}-mlhub", **run_options)
    url = f"https://localhost:{port}"
    hub = ImageHub(
        url=url,
        hub_api=f"{url}/hub/api",
        hub_token="",
        admin_token="",
        stack=None,
        container=container,
        port=port,
        run_options=run_options,
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            hub.wait_until_up()
            hub.cert = tmp_path_factory.mktemp("mlhub-image") / "cert.crt"
            hub.cert.write_bytes(read_file(container, "/data/ssl/cert.crt"))
            patch.setenv("REQUESTS_CA_BUNDLE", str(hub.cert))
            hub.hub_token = read_file(container, "/data/secrets/mlhub_hub_api_token").decode()
            hub.admin_token = hub.token_for("admin", ADMIN_PASSWORD)
            yield hub
    finally:
        hub.container.remove(force=True)
        remove_everything_of(docker_client, HUB)
        network.remove()
        docker_client.volumes.get(f"{HUB}-data").remove(force=True)


def person(hub, username: str, password: str) -> str:
    hub.user_create(username, password)
    return hub.token_for(username, password)


@pytest.fixture(scope="module")
def alice(mlhub):
    return person(mlhub, *ALICE)


@pytest.fixture(scope="module")
def workspace(mlhub, alice, tmp_path_factory):
    """Alice's running workspace, started with an SSH key she registered first."""
    key = new_key(tmp_path_factory.mktemp("keys"), "alice")
    key_add(mlhub, alice, key)
    response = mlhub.api(alice).post(
        f"{mlhub.url}/api/v1/workspaces/",
        json={"name": "lab", "cpu": 0.5, "memory": "512M"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    running = mlhub.wait_for_state(alice, response.json()["id"], "running")
    assert running["url"] == f"https://alice.localhost:{mlhub.port}/user/alice/lab/"
    return {**running, "key": key}


def container_of(docker_client, workspace: dict):
    return docker_client.containers.get(container_name(HUB, "alice", workspace["name"]))


@pytest.fixture(scope="module")
def bearer(mlhub, alice, workspace) -> dict[str, str]:
    """A token of Alice's for her workspace, taken while the hub answers."""
    token = mlhub.api(alice).post(
        f"{mlhub.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 3600}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"token {token.json()['token']}"}


def answers(mlhub, workspace, bearer) -> bool:
    """The workspace's API answers through the public port."""
    session = requests.Session()
    session.mount(f"https://alice.localhost:{mlhub.port}/", SubdomainAdapter("alice.localhost"))
    try:
        reply = session.get(workspace["url"] + "api/status", headers=bearer, timeout=10)
    except requests.RequestException:
        return False
    return reply.status_code == 200


def test_the_image_serves_the_portal_over_https_on_its_one_port(mlhub):
    response = requests.get(f"{mlhub.url}/accounts/login/", timeout=30)
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    browser = portal_login(mlhub.url, "admin", ADMIN_PASSWORD)
    assert {c.name: c.secure for c in browser.cookies}["mlhub-portal-session"] is True


def test_every_role_is_running_and_the_healthcheck_says_so(mlhub):
    status = mlhub.container.exec_run(
        ["supervisorctl", "-c", "/etc/mlhub/supervisord.conf", "status"]
    )
    lines = sorted(line.split()[:2] for line in status.output.decode().splitlines())
    assert lines == [
        ["chp", "RUNNING"],
        ["hub", "RUNNING"],
        ["nginx", "RUNNING"],
        ["portal", "RUNNING"],
        ["ssh", "RUNNING"],
        ["tasks", "RUNNING"],
    ], status.output
    health = mlhub.container.exec_run(["python", "-m", "lib.container", "health"])
    assert (health.exit_code, health.output) == (0, b'{"healthy": true, "not_answering": []}\n')


def test_alice_opens_her_workspace_and_a_kernel_through_the_same_port(mlhub, workspace, bearer):
    browser = portal_login(mlhub.url, *ALICE)
    browser.mount(f"https://alice.localhost:{mlhub.port}/", SubdomainAdapter("alice.localhost"))
    page = browser.get(workspace["url"] + "lab", timeout=60)
    assert page.status_code == 200, (page.url, page.text[:300])
    assert page.url == workspace["url"] + "lab"
    assert_kernel_answers(workspace["url"], "alice.localhost", mlhub.port, mlhub.cert, bearer)


def test_ssh_reaches_the_workspace_through_the_same_port(docker_client, mlhub, workspace):
    config = config_for(workspace, f"{HUB}-gateway", mlhub.port, workspace["key"])
    result = ssh("-F", str(config), alias_of(workspace), REMOTE)
    hostname = container_of(docker_client, workspace).attrs["Config"]["Hostname"]
    assert (result.returncode, result.stdout) == (0, f"hello-from-{hostname}\n"), (
        result.stderr,
        mlhub.logs(40),
    )


def test_another_persons_key_is_refused_through_the_same_port(mlhub, workspace, tmp_path):
    bob = person(mlhub, *BOB)
    bobs_key = new_key(tmp_path, "bob")
    key_add(mlhub, bob, bobs_key)
    config = config_for(workspace, f"{HUB}-gateway", mlhub.port, bobs_key)
    result = ssh("-F", str(config), alias_of(workspace), REMOTE)
    # Bob runs no workspace: the portal gives the gateway no line for his key at all.
    assert (result.returncode, result.stdout) == (255, "")
    assert "mlhub@127.0.0.1: Permission denied (publickey)." in result.stderr, result.stderr


def test_a_killed_hub_is_restarted_and_workspaces_keep_answering(
    docker_client, mlhub, alice, workspace, bearer
):
    before = container_of(docker_client, workspace).id
    hub_pid = mlhub.container.exec_run(["pgrep", "-f", "bin/jupyterhub"]).output.split()
    killed = mlhub.container.exec_run(["pkill", "-KILL", "-f", "bin/jupyterhub"])
    assert killed.exit_code == 0
    # The proxy is a process of its own: the workspace answers while the hub is away.
    assert answers(mlhub, workspace, bearer)
    poll_until(
        lambda: (
            b"exited: hub (terminated by SIGKILL; not expected)" in mlhub.container.logs(tail=200)
        ),
        timeout=30,
        what="supervisord did not log the hub's death",
    )
    mlhub.wait_until_up()
    assert mlhub.container.exec_run(["pgrep", "-f", "bin/jupyterhub"]).output.split() != hub_pid
    assert answers(mlhub, workspace, bearer)
    assert container_of(docker_client, workspace).id == before
    state = mlhub.api(alice).get(f"{mlhub.url}/api/v1/workspaces/{workspace['id']}/").json()
    assert state["state"] == "running"
    assert mlhub.hub_user("alice")["servers"]["lab"]["ready"] is True


def test_a_new_container_on_the_same_data_takes_the_workspace_over(
    docker_client, mlhub, alice, workspace, bearer
):
    """An upgrade: stop and remove the MLHub container, run a new one on the same /data. The
    workspace must outlive it and answer through the new one."""
    before = container_of(docker_client, workspace)
    began = time.monotonic()
    mlhub.container.stop(timeout=60)
    mlhub.container.reload()
    assert mlhub.container.attrs["State"]["ExitCode"] == 0, mlhub.logs(60)
    assert time.monotonic() - began < 50, "SIGTERM did not stop the roles in time"
    assert container_of(docker_client, workspace).status == "running"
    mlhub.container.remove()
    mlhub.container = docker_client.containers.run(
        IMAGE, name=f"{HUB}-mlhub-2", **mlhub.run_options
    )
    mlhub.wait_until_up()
    assert b"mlhub: on 1 people's networks" in mlhub.container.logs()
    poll_until(lambda: answers(mlhub, workspace, bearer), timeout=60, what="never answered")
    assert container_of(docker_client, workspace).id == before.id
    state = mlhub.api(alice).get(f"{mlhub.url}/api/v1/workspaces/{workspace['id']}/").json()
    assert state["state"] == "running"
    assert mlhub.hub_user("alice")["servers"]["lab"]["ready"] is True
