"""Docker mode end to end: the portal API, a real hub and proxy, real containers."""

from __future__ import annotations

import io
import time

import docker
import pytest

from lib.labels import container_name, network_name, volume_name
from lib.polling import poll_until
from tests.docker_mode.conftest import EXITS_IMAGE, HUB, IMAGE, MISSING_IMAGE
from tests.hub_stack import portal_login

pytestmark = [pytest.mark.docker, pytest.mark.hub]
ALICE, BOB = ("alice", "alice-pass-123"), ("bob", "bob-pass-1234")
WORK = "/home/jovyan/work"


@pytest.fixture(scope="module")
def tokens(docker_hub):
    docker_hub.user_create(*ALICE)
    docker_hub.user_create(*BOB)
    return {name: docker_hub.token_for(name, password) for name, password in (ALICE, BOB)}


def create(docker_hub, token: str, **body) -> dict:
    response = docker_hub.api(token).post(
        f"{docker_hub.url}/api/v1/workspaces/", json=body, timeout=30
    )
    assert response.status_code == 201, response.text
    return docker_hub.wait_for_state(token, response.json()["id"], "running")


@pytest.fixture(scope="module")
def workspaces(docker_hub, tokens):
    return {
        "one": create(docker_hub, tokens["alice"], name="one", cpu=0.5, memory="512M"),
        "two": create(docker_hub, tokens["alice"], name="two"),
        "bobs": create(docker_hub, tokens["bob"], name="bobs"),
    }


def container(client, user: str, server: str):
    return client.containers.get(container_name(HUB, user, server))


def run_in(target, code: str) -> tuple[int, str]:
    exit_code, output = target.exec_run(["python3", "-c", code], user="jovyan")
    return exit_code, output.decode(errors="replace")


def connects(source, ip: str, port: int = 8888) -> bool:
    code = f"import socket; socket.create_connection(({ip!r}, {port}), timeout=3)"
    exit_code, _ = run_in(source, code)
    return exit_code == 0


def ip_of(target, user: str) -> str:
    target.reload()
    return target.attrs["NetworkSettings"]["Networks"][network_name(HUB, user)]["IPAddress"]


def test_the_container_has_the_labels_limits_network_and_volume(docker_client, workspaces):
    one = container(docker_client, "alice", "one")
    labels = one.labels
    assert labels["mlhub.origin"] == HUB
    assert labels["mlhub.user"] == "alice"
    assert labels["mlhub.server_name"] == "one"
    assert labels["mlhub.expires_at"] == "0"  # the default template never expires
    assert one.attrs["HostConfig"]["NanoCpus"] == 500_000_000
    assert one.attrs["HostConfig"]["Memory"] == 512 * 1024**2
    assert list(one.attrs["NetworkSettings"]["Networks"]) == [network_name(HUB, "alice")]
    mounts = {m["Destination"]: m for m in one.attrs["Mounts"]}
    assert mounts[WORK]["Name"] == volume_name(HUB, "alice", "one")
    assert (
        docker_client.volumes.get(volume_name(HUB, "alice", "one")).attrs["Labels"]["mlhub.origin"]
        == HUB
    )
    assert (
        docker_client.networks.get(network_name(HUB, "alice")).attrs["Labels"]["mlhub.user"]
        == "alice"
    )


def test_only_alice_reaches_her_workspace_through_the_proxy(docker_hub, workspaces):
    url = docker_hub.url.replace("://", "://alice.") + "/user/alice/one/"  # her own origin
    alice = portal_login(docker_hub.url, *ALICE)
    assert alice.get(url + "lab", timeout=30).status_code == 200
    status = alice.get(url + "api/status", timeout=30)
    assert status.status_code == 200 and "started" in status.json()
    bob = portal_login(docker_hub.url, *BOB)
    assert bob.get(url + "lab", timeout=30).status_code == 403


def test_other_users_containers_cannot_reach_hers_but_her_own_can(docker_client, workspaces):
    target_ip = ip_of(container(docker_client, "alice", "one"), "alice")
    assert connects(container(docker_client, "alice", "two"), target_ip)
    assert not connects(container(docker_client, "bob", "bobs"), target_ip)


def test_a_file_in_the_work_folder_survives_stop_and_start(
    docker_hub, docker_client, tokens, workspaces
):
    one = workspaces["one"]
    code = f"open('{WORK}/keep.txt', 'w').write('still here')"
    assert run_in(container(docker_client, "alice", "one"), code)[0] == 0
    api = docker_hub.api(tokens["alice"])
    base = f"{docker_hub.url}/api/v1/workspaces/{one['id']}/"
    assert api.post(base + "stop/", timeout=30).status_code == 200
    docker_hub.wait_for_state(tokens["alice"], one["id"], "stopped")
    with pytest.raises(docker.errors.NotFound):
        container(docker_client, "alice", "one")  # the container goes; the volume stays
    assert api.post(base + "start/", timeout=30).status_code == 200
    docker_hub.wait_for_state(tokens["alice"], one["id"], "running")
    code = f"print(open('{WORK}/keep.txt').read())"
    assert run_in(container(docker_client, "alice", "one"), code) == (0, "still here\n")


def test_delete_removes_container_volume_and_the_last_network(
    docker_hub, docker_client, tokens, workspaces
):
    alice, bob = docker_hub.api(tokens["alice"]), docker_hub.api(tokens["bob"])
    url = f"{docker_hub.url}/api/v1/workspaces/"
    assert alice.delete(f"{url}{workspaces['two']['id']}/", timeout=60).status_code == 204
    # The 204 comes at once; the hub's spawner removes them in the background.
    removed(lambda: container(docker_client, "alice", "two"))
    removed(lambda: docker_client.volumes.get(volume_name(HUB, "alice", "two")))
    docker_client.networks.get(network_name(HUB, "alice"))  # "one" still uses it

    assert bob.delete(f"{url}{workspaces['bobs']['id']}/", timeout=60).status_code == 204
    removed(lambda: docker_client.volumes.get(volume_name(HUB, "bob", "bobs")))
    removed(lambda: docker_client.networks.get(network_name(HUB, "bob")))


def removed(lookup) -> None:
    poll_until(lambda: gone(lookup), timeout=30, what="not removed")


def gone(lookup) -> bool:
    try:
        lookup()
    except docker.errors.NotFound:
        return True
    return False


@pytest.mark.parametrize(
    "options",
    [{"image": "busybox:latest"}, {"cpu": 64}, {"memory": "64G"}, {"gpus": "zz"}, {"gpus": "0"}],
)
def test_the_portal_refuses_resources_out_of_bounds(docker_hub, docker_client, tokens, options):
    response = docker_hub.api(tokens["alice"]).post(
        f"{docker_hub.url}/api/v1/workspaces/", json={"name": "bad", **options}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"]
    assert not docker_client.containers.list(
        all=True, filters={"label": [f"mlhub.origin={HUB}", "mlhub.server_name=bad"]}
    )


@pytest.mark.parametrize(
    "options, words",
    [
        ({"image": "busybox:latest"}, "not allowed"),
        ({"cpu": 64}, "above the maximum"),
        ({"memory": "100T"}, "above the maximum"),
        ({"gpus": "zz"}, "not 'all' or device indices"),
    ],
)
def test_the_spawner_refuses_a_client_that_bypasses_the_portal(
    docker_hub, docker_client, tokens, options, words
):
    hub_api = docker_hub.api()
    hub_api.headers["Authorization"] = f"token {docker_hub.hub_token}"
    server = f"{docker_hub.hub_api}/users/alice/servers/direct"
    started = hub_api.post(server, json=options, timeout=30)
    assert started.status_code in (201, 202, 400, 500), started.text
    message = started.text if started.status_code >= 400 else _spawn_failure(hub_api, server)
    assert words in message, message
    created = {"label": [f"mlhub.origin={HUB}", "mlhub.server_name=direct"]}
    assert not docker_client.containers.list(all=True, filters=created)
    assert not docker_client.volumes.list(filters=created)
    hub_api.delete(server, json={"remove": True}, timeout=30)


def _spawn_failure(session, server_url: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = session.get(f"{server_url}/progress", stream=True, timeout=timeout)
        for line in progress.iter_lines(decode_unicode=True):
            if line.startswith("data:") and '"failed": true' in line:
                return line
        time.sleep(0.3)
    raise AssertionError("the hub never reported the spawn as failed")


def test_a_failed_spawn_is_recorded_with_the_hubs_message(docker_hub, docker_client, tokens):
    api = docker_hub.api(tokens["alice"])
    response = api.post(
        f"{docker_hub.url}/api/v1/workspaces/",
        json={"name": "broken", "image": MISSING_IMAGE},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    workspace = docker_hub.wait_for_state(tokens["alice"], response.json()["id"], "error")
    assert MISSING_IMAGE in workspace["message"], workspace
    assert api.delete(f"{docker_hub.url}/api/v1/workspaces/{workspace['id']}/").status_code == 204


def test_a_start_refused_before_the_container_is_made_is_recorded_with_why(
    docker_hub, docker_client
):
    """A same-named network someone else made: the spawner refuses in its own start(),
    before upstream's; the portal must say so (it once said "stopped", with no reason)."""
    docker_hub.user_create("carol", "carol-pass-123")
    carol = docker_hub.token_for("carol", "carol-pass-123")
    squatter = docker_client.networks.create(network_name(HUB, "carol"), driver="bridge")
    try:
        response = docker_hub.api(carol).post(
            f"{docker_hub.url}/api/v1/workspaces/", json={"name": "first"}, timeout=30
        )
        assert response.status_code == 201, response.text
        workspace = docker_hub.wait_for_state(carol, response.json()["id"], "error")
        assert workspace["message"].removeprefix("Spawn failed: ") == (
            f"Docker network {network_name(HUB, 'carol')} exists but is not this hub's "
            "network for carol; remove it or change HUB_NAME"
        ), workspace
        # Nothing of carol's was made next to it, and the squatter's network is untouched.
        labelled = {"label": "mlhub.user=carol"}
        assert docker_client.containers.list(all=True, filters=labelled) == []
        assert docker_client.volumes.list(filters=labelled) == []
        squatter.reload()
    finally:
        squatter.remove()


def test_a_container_that_exits_fails_at_once_with_its_exit_and_last_lines(
    docker_hub, docker_client, tokens
):
    dockerfile = (
        f"FROM {IMAGE}\n"
        """CMD ["python3", "-c", "import sys; print('cannot go on'); sys.exit(3)"]\n"""
    )
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=EXITS_IMAGE, rm=True)
    api = docker_hub.api(tokens["alice"])
    began = time.monotonic()
    response = api.post(
        f"{docker_hub.url}/api/v1/workspaces/",
        json={"name": "exits", "image": EXITS_IMAGE},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    workspace = docker_hub.wait_for_state(tokens["alice"], response.json()["id"], "error")
    assert workspace["message"].removeprefix("Spawn failed: ") == (
        "the workspace exited while starting (exit code 3). Its last lines:\ncannot go on"
    ), workspace
    # From the container's exit, not after the hub's http_timeout (60 s).
    assert time.monotonic() - began < 30
    assert api.delete(f"{docker_hub.url}/api/v1/workspaces/{workspace['id']}/").status_code == 204
