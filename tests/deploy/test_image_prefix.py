"""The MLHub image under a path prefix (MLHUB_BASE_URL=/mlhub/, MLHUB_PUBLIC_URL without it):
every role comes up and its health check asks under the prefix, the root redirects into it, a
workspace in Docker opens through the hub's OAuth login at /mlhub/user/..., and SSH through
the one port works (the gateway asks the portal under the prefix)."""

from __future__ import annotations

import pytest
import requests

from lib.polling import poll_until
from tests.deploy.mlhub_image import image_hub, roles
from tests.deploy.nginx_front import SubdomainAdapter
from tests.hub_stack import portal_login
from tests.ssh_client import alias_of, config_for, key_add, new_key, ssh

pytestmark = [pytest.mark.docker, pytest.mark.hub]

HUB = "mlhq"  # this module's image run: apart from tests/deploy/test_image.py's "mlhi"
ALICE = ("alice", "alice-pass-123")


@pytest.fixture(scope="module")
def prefixed(docker_client, tmp_path_factory):
    yield from image_hub(docker_client, tmp_path_factory, HUB, MLHUB_BASE_URL="/mlhub/")


@pytest.fixture(autouse=True)
def trust_its_certificate(prefixed, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(prefixed.cert))


@pytest.fixture(scope="module")
def workspace(prefixed, tmp_path_factory):
    prefixed.user_create(*ALICE)
    alice = prefixed.token_for(*ALICE)
    key = new_key(tmp_path_factory.mktemp("keys"), "alice")
    key_add(prefixed, alice, key)
    response = prefixed.api(alice).post(
        f"{prefixed.url}/api/v1/workspaces/",
        json={"name": "lab", "cpu": 0.5, "memory": "512M"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    running = prefixed.wait_for_state(alice, response.json()["id"], "running")
    return {**running, "key": key}


def test_every_role_runs_and_the_health_check_asks_under_the_prefix(prefixed):
    assert prefixed.url == f"https://localhost:{prefixed.port}/mlhub"
    poll_until(
        lambda: {state for _, state in roles(prefixed.container)} == {"RUNNING"},
        timeout=30,
        what=f"not every role is RUNNING: {roles(prefixed.container)}",
    )
    health = prefixed.container.exec_run(["mlhub-entrypoint", "health"])
    assert (health.exit_code, health.output) == (0, b'{"healthy": true, "not_answering": []}\n')


def test_the_root_redirects_into_the_prefix(prefixed):
    root = requests.get(f"https://localhost:{prefixed.port}/", allow_redirects=False, timeout=30)
    assert (root.status_code, root.headers["Location"]) == (302, "/mlhub/")


def test_alice_opens_her_docker_workspace_under_the_prefix(prefixed, workspace):
    assert workspace["url"] == f"https://alice.localhost:{prefixed.port}/mlhub/user/alice/lab/"
    browser = portal_login(prefixed.url, *ALICE)
    browser.mount(f"https://alice.localhost:{prefixed.port}/", SubdomainAdapter("alice.localhost"))
    page = browser.get(workspace["url"] + "lab", timeout=60)
    assert page.status_code == 200, (page.url, page.text[:300])
    assert page.url == workspace["url"] + "lab"
    hops = [hop.url for hop in page.history]
    assert any(hop.startswith(f"{prefixed.url}/o/authorize/") for hop in hops), hops


def test_ssh_reaches_the_workspace_through_the_gateway_under_the_prefix(prefixed, workspace):
    config = config_for(workspace, f"{HUB}-gateway", prefixed.port, workspace["key"])
    result = ssh("-F", str(config), alias_of(workspace), "echo hello")
    assert (result.returncode, result.stdout) == (0, "hello\n"), (result.stderr, prefixed.logs())
