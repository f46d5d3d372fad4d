"""Both workspace images in Docker mode, with a real hub and proxy: the lean one and the
data-science one (deploy/workspace/Dockerfile's targets), through the templates the first
set-up makes. The lab opens quietly with the workspace's name; the data-science image's
libraries import in a kernel, git works in a terminal, and each tool answers its owner on her
own origin and refuses another person."""

from __future__ import annotations

import json
import re

import pytest
import requests

from lib.polling import poll_until
from tests.hub_stack import portal_login
from tests.jupyter_client import kernel_run, terminal_run
from tests.workspace_images import DS, LEAN, stack_fixture, workspace_create

pytestmark = [pytest.mark.docker, pytest.mark.hub]

HUB = "mlhim"
ALICE, BOB = ("alice", "alice-pass-123"), ("bob", "bob-pass-1234")
LIBRARIES = (
    "numpy pandas scipy sklearn matplotlib seaborn ipywidgets jupyterlab_git "
    "jupyter_resource_usage tensorboard jupyter_server_proxy"
).split()
MEMORY = 2 * 1024**3


stack = stack_fixture(HUB)


@pytest.fixture(scope="module")
def people(stack):
    stack.user_create(*ALICE)
    stack.user_create(*BOB)
    return {name: stack.token_for(name, password) for name, password in (ALICE, BOB)}


@pytest.fixture(scope="module")
def workspaces(stack, people):
    """alice's ``lean`` (the default template) and ``science`` (the data-science one)."""
    return {
        name: workspace_create(stack, people["alice"], name, template)
        for name, template in (("lean", "default"), ("science", "data-science"))
    }


def server_url(stack, name: str) -> str:
    return stack.url.replace("://", "://alice.") + f"/user/alice/{name}/"  # her own origin


def server_token(stack, people, workspaces, name: str) -> str:
    """A short-lived hub token that opens only this workspace (the portal's token action)."""
    response = stack.api(people["alice"]).post(
        f"{stack.url}/api/v1/workspaces/{workspaces[name]['id']}/token/", json={}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_the_first_set_up_made_a_template_for_each_image(stack, people):
    response = stack.api(people["alice"]).get(f"{stack.url}/api/v1/templates/", timeout=30)
    templates = {t["name"]: t for t in response.json()["results"]}
    assert {name: t["image"] for name, t in templates.items()} == {
        "default": LEAN,
        "data-science": DS,
    }


@pytest.mark.parametrize("name", ["lean", "science"])
def test_the_lab_opens_quietly_with_the_workspaces_name(stack, people, workspaces, name):
    alice = portal_login(stack.url, *ALICE)
    page = alice.get(server_url(stack, name) + "lab", timeout=60)
    assert page.status_code == 200
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S
    )
    config = json.loads(found.group(1))
    assert config["appName"] == f"{name} · JupyterLab"
    # Installs from the lab would vanish at the next start (a new container): none offered.
    assert (config["extensionManager"]["name"], config["extensionManager"]["can_install"]) == (
        "read-only",  # LabApp.extension_manager "readonly"'s own name for itself
        False,
    )
    # No news and no update check: the lab's two handlers that would ask the internet.
    headers = {"Authorization": f"token {server_token(stack, people, workspaces, name)}"}
    news = alice.get(server_url(stack, name) + "lab/api/news", headers=headers, timeout=30)
    assert news.json() == {"news": []}
    update = alice.get(server_url(stack, name) + "lab/api/update", headers=headers, timeout=30)
    assert update.json() == {"notification": None}
    overrides = alice.get(
        server_url(stack, name) + "lab/api/settings/@jupyterlab/apputils-extension:notification",
        headers=headers,
        timeout=30,
    ).json()["schema"]["properties"]  # lab-overrides.json: the defaults the lab starts with
    assert (overrides["fetchNews"]["default"], overrides["checkForUpdates"]["default"]) == (
        "false",
        False,
    )


def test_a_kernel_imports_every_library(stack, people, workspaces):
    token = server_token(stack, people, workspaces, "science")
    code = "\n".join(f"import {library}" for library in LIBRARIES) + "\nprint('imported')"
    said = kernel_run(server_url(stack, "science"), token, code)
    assert (said["status"], said["error"], said["stdout"]) == ("ok", "", "imported\n")


def test_git_works_in_a_terminal(stack, people, workspaces):
    token = server_token(stack, people, workspaces, "science")
    command = (
        "cd ~/work && git init -q demo && cd demo && echo hi > a.txt && git add a.txt"
        " && git -c user.name=alice -c user.email=alice@example.org commit -q -m first"
        " && git log --format=LOGGED:%s"
    )
    shown = terminal_run(server_url(stack, "science"), token, command)
    assert "LOGGED:first" in shown, shown


@pytest.mark.parametrize(
    ("tool", "marker"), [("vscode/", "code-server"), ("tensorboard/", "<tb-webapp>")]
)
def test_each_tool_answers_its_owner_and_refuses_another_person(stack, workspaces, tool, marker):
    url = server_url(stack, "science") + tool
    alice = portal_login(stack.url, *ALICE)
    # The first request starts the tool (jupyter-server-proxy waits for it to listen).
    page = alice.get(url, timeout=120)
    assert page.status_code == 200, page.text[:500]
    assert marker in page.text
    bob = portal_login(stack.url, *BOB)
    refused = bob.get(url, timeout=60)
    assert refused.status_code == 403
    assert marker not in refused.text


def test_no_tool_listens_where_another_workspace_could_reach_it(stack, docker_client, workspaces):
    """After both tools have started: every TCP port listening beyond the container's own
    loopback is the single-user server's (VS Code has a Unix socket, TensorBoard loopback)."""
    alice = portal_login(stack.url, *ALICE)
    for tool in ("vscode/", "tensorboard/"):
        assert alice.get(server_url(stack, "science") + tool, timeout=120).status_code == 200
    (container,) = docker_client.containers.list(
        filters={"label": [f"mlhub.origin={HUB}", "mlhub.server_name=science"]}
    )
    code = (
        "import socket\n"
        "for name in ('/proc/net/tcp', '/proc/net/tcp6'):\n"
        "    for line in open(name).readlines()[1:]:\n"
        "        local, state = line.split()[1], line.split()[3]\n"
        "        if state == '0A':\n"  # LISTEN
        "            print(local)\n"
    )
    exit_code, output = container.exec_run(["python3", "-c", code], user="jovyan")
    assert exit_code == 0, output
    listening = output.decode().split()  # "<address>:<port>" in /proc's hex
    # IPv4 addresses in /proc are little-endian: 127.x.x.x ends in 7F (Docker's DNS, 127.0.0.11,
    # is one of them); IPv6's loopback is ::1.
    beyond = [
        entry
        for entry in listening
        if not entry.split(":")[0].endswith("7F")
        and entry.split(":")[0] != "00000000000000000000000001000000"
    ]
    assert {int(entry.split(":")[1], 16) for entry in beyond} == {8888}, listening
    assert len(listening) > len(beyond)  # TensorBoard's, on loopback


@pytest.mark.parametrize("name", ["lean", "science"])
def test_both_images_carry_the_entrypoint_and_the_pool_waiter(docker_client, workspaces, name):
    """The data-science image is the lean one and more: a warm pool of either template works."""
    (container,) = docker_client.containers.list(
        filters={"label": [f"mlhub.origin={HUB}", f"mlhub.server_name={name}"]}
    )
    for program in ("/usr/local/bin/mlhub-workspace-start", "/usr/local/bin/mlhub-pool-waiter"):
        assert container.exec_run(["test", "-x", program]).exit_code == 0, program


def test_resource_usage_reports_the_containers_memory_limit(stack, people, workspaces):
    token = server_token(stack, people, workspaces, "science")
    metrics = poll_until(
        lambda: _metrics(server_url(stack, "science"), token),
        timeout=30,
        what="no metrics from jupyter-resource-usage",
    )
    assert metrics["limits"]["memory"]["rss"] == MEMORY
    assert 0 < metrics["rss"] < MEMORY


def _metrics(url: str, token: str) -> dict | None:
    response = requests.get(
        url + "api/metrics/v1", headers={"Authorization": f"token {token}"}, timeout=30
    )
    return response.json() if response.status_code == 200 else None
