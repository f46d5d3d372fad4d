"""The MLHub image end to end, as `docker run` with one public port: the portal over HTTPS with
the generated certificate, a workspace opened and its kernel's websocket through that port,
SSH through that same port with a key registered in the portal, the hub killed inside the
container (restarted; workspaces keep answering), and a new container on the same data (an
upgrade) that takes running workspaces over.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from lib.labels import container_name, network_name
from lib.polling import poll_until
from lib.stack import SHARED_SECRETS
from tests.deploy.mlhub_image import HUB, IMAGE, SUPERVISORCTL, role_accounts, roles
from tests.deploy.nginx_front import SubdomainAdapter, assert_kernel_answers
from tests.hub_stack import ADMIN_PASSWORD, portal_login
from tests.ssh_client import alias_of, config_for, key_add, new_key, ssh

pytestmark = [pytest.mark.docker, pytest.mark.hub]

ALICE, BOB = ("alice", "alice-pass-123"), ("bob", "bob-pass-1234")
REMOTE = "echo hello-from-$(hostname)"


@pytest.fixture(autouse=True)
def trust_its_certificate(mlhub, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mlhub.cert))


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
    assert {c.name: c.secure for c in browser.cookies}["__Host-mlhub-portal-session"] is True


def test_every_role_is_running_and_the_healthcheck_says_so(mlhub):
    everyone = ["chp", "hub", "nginx", "portal", "ssh", "tasks"]
    # A role counts as started once up for its startsecs (the hub's 5 s), after it answers.
    poll_until(
        lambda: [state for _, state in roles(mlhub.container)] == ["RUNNING"] * len(everyone),
        timeout=30,
        what=f"not every role is RUNNING: {roles(mlhub.container)}",
    )
    assert roles(mlhub.container) == [[role, "RUNNING"] for role in everyone]
    health = mlhub.container.exec_run(["mlhub-entrypoint", "health"])
    assert (health.exit_code, health.output) == (0, b'{"healthy": true, "not_answering": []}\n')
    # A hub that dies of a signal leaves its threads' stacks in its log (docs/operations.md).
    pid = mlhub.container.exec_run([*SUPERVISORCTL, "pid", "hub"]).output.decode().strip()
    environ = mlhub.container.exec_run(["cat", f"/proc/{pid}/environ"]).output.split(b"\0")
    assert b"PYTHONFAULTHANDLER=1" in environ


# What the portal's account can reach, as it sees it: its database, not the Docker engine,
# not the hub's folder (its database, cookie secret and API tokens).
REACH = """
import glob, json, os, socket
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as error:
        return type(error).__name__
engine = socket.socket(socket.AF_UNIX)
print(json.dumps({
    "docker": attempt(lambda: engine.connect("/var/run/docker.sock")),
    "hub_folder": attempt(lambda: os.listdir("/data/hub")),
    "database": attempt(lambda: open("/data/portal.sqlite3", "r+b").close()),
    "secrets": attempt(lambda: [open(path).close() for path in glob.glob("/data/secrets/*")]),
    "secrets_made": len(glob.glob("/data/secrets/*")),
}))
"""


def test_the_portal_and_the_proxy_run_without_root_or_docker(mlhub):
    accounts = role_accounts(mlhub.container)
    root = {"hub": "root", "tasks": "root", "nginx": "root", "ssh": "root"}
    assert accounts == {"portal": "mlhub-web", "chp": "mlhub-web", **root}

    reach = mlhub.container.exec_run(["python", "-c", REACH], user="mlhub-web")

    assert reach.exit_code == 0, reach.output
    assert json.loads(reach.output) == {
        "docker": "PermissionError",
        "hub_folder": "PermissionError",
        "database": "allowed",
        "secrets": "allowed",  # lib.stack's generated ones, which the portal and proxy read
        "secrets_made": len(SHARED_SECRETS),
    }


def test_the_portal_can_log_people_in_through_ldap_and_openid_connect(mlhub):
    """python-ldap is built in the image (requirements-ldap.txt), and its libraries are there."""
    probe = "import ldap, django_auth_ldap.backend, authlib.integrations.django_client"
    found = mlhub.container.exec_run(["python", "-c", probe], user="mlhub-web")
    assert found.exit_code == 0, found.output


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


def test_a_removed_key_is_refused_and_the_gateway_gives_no_shell(mlhub, alice, workspace, tmp_path):
    spare = new_key(tmp_path, "spare")
    added = key_add(mlhub, alice, spare)
    removed = mlhub.api(alice).delete(f"{mlhub.url}/api/v1/ssh-keys/{added['id']}/", timeout=10)
    assert removed.status_code == 204, removed.text
    config = config_for(workspace, f"{HUB}-gateway", mlhub.port, spare)
    result = ssh("-F", str(config), f"{HUB}-gateway", "true")
    assert (result.returncode, result.stdout) == (255, "")
    assert "mlhub@127.0.0.1: Permission denied (publickey)." in result.stderr, result.stderr
    # Alice's own key logs in to the gateway, and gets no shell nor command there.
    config = config_for(workspace, f"{HUB}-gateway", mlhub.port, workspace["key"])
    result = ssh("-F", str(config), f"{HUB}-gateway", "id")
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert "This is MLHub's SSH gateway: it has no shell." in result.stderr


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
    mlhub.container.remove(v=True)  # anonymous volumes only: the named /data stays
    mlhub.container = docker_client.containers.run(
        IMAGE, name=f"{HUB}-mlhub-2", **mlhub.run_options
    )
    mlhub.wait_until_up()
    people = docker_client.networks.list(filters={"label": f"mlhub.origin={HUB}"})
    assert f"mlhub: on {len(people)} people's networks".encode() in mlhub.container.logs()
    mlhub.container.reload()
    assert network_name(HUB, "alice") in mlhub.container.attrs["NetworkSettings"]["Networks"]
    poll_until(lambda: answers(mlhub, workspace, bearer), timeout=60, what="never answered")
    assert container_of(docker_client, workspace).id == before.id
    state = mlhub.api(alice).get(f"{mlhub.url}/api/v1/workspaces/{workspace['id']}/").json()
    assert state["state"] == "running"
    assert mlhub.hub_user("alice")["servers"]["lab"]["ready"] is True
