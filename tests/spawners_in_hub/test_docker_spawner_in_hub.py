"""MLHub's Docker spawner inside JupyterHub's in-process test hub, on the real engine: starts,
stops and refusals through the hub's REST API, with `user_options` as the portal sends them
(Workspace.user_options()). Only the spawner is under test: no portal process, no stack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from lib.labels import container_name, network_name, volume_name
from lib.polling import poll_until
from portal.hub.client import HubError

# The fixture (in_process_hub) is imported here, not in the conftest: only this module pays
# for importing JupyterHub's test hub (seconds).
from tests.spawners_in_hub.in_process_hub import (  # noqa: F401
    HUB,
    IMAGE,
    InProcessHub,
    in_process_hub_fixture,
)

pytestmark = [pytest.mark.docker, pytest.mark.hub]
M = 1024**2
WORK = "/home/jovyan/work"
EXPIRES = datetime(2030, 3, 1, tzinfo=UTC)


def start(hub: InProcessHub, user: str, server: str, options: dict) -> dict:
    """Start as the portal does (its client, its token): the last progress event."""
    portal = hub.portal()
    portal.user_ensure(user)
    portal.server_start(user, server, options)

    def last_event() -> dict | None:
        try:
            return portal.server_progress(user, server, timeout=120)
        except HubError as error:
            # While the hub stops a start that failed at once, its progress API answers 400
            # "not starting" (JupyterHub clears the pending flag before that stop ends); asked
            # again, it reports the failure.
            if error.status == 400 and "is not starting" in error.message:
                return None
            raise

    return poll_until(last_event, timeout=150, what=f"no outcome for {user}/{server}")


def started(hub: InProcessHub, user: str, server: str, options: dict) -> None:
    outcome = start(hub, user, server, options)
    assert outcome.get("ready") is True, outcome


def stop(hub: InProcessHub, user: str, server: str, *, remove: bool = False) -> None:
    """Stop (and with ``remove`` forget) as the portal does, and wait until the hub has: a
    removal still pending would drop the next spawner of that name."""
    portal = hub.portal()

    def gone(*, with_stopped: bool = False) -> bool:
        return server not in portal.user_get(user, with_stopped=with_stopped)["servers"]

    if remove:
        # JupyterHub 6.1.1 answers a removal during a failed start's own stop with a 500
        # (AttributeError: _stop_future): let that stop end first.
        poll_until(gone, timeout=60, what=f"{user}/{server} never stopped")
    if not portal.server_stop(user, server, remove=remove):
        poll_until(
            lambda: gone(with_stopped=remove), timeout=60, what=f"{user}/{server} never stopped"
        )


def persisted_state(hub: InProcessHub, user: str, server: str) -> dict:
    """The spawner's state as the hub stored it in its database (what a restarted hub loads)."""

    def read() -> dict:
        orm_user = hub.app.users[user].orm_user
        hub.app.db.refresh(orm_user)
        return dict(orm_user.orm_spawners[server].state or {})

    return hub.in_hub(read)


def run_in(container, code: str) -> tuple[int, str]:
    exit_code, output = container.exec_run(["python3", "-c", code], user="jovyan")
    return exit_code, output.decode(errors="replace")


def ours(user: str, server: str) -> dict:
    return {"label": [f"mlhub.origin={HUB}", f"mlhub.user={user}", f"mlhub.server_name={server}"]}


@pytest.mark.django_db
def test_a_workspace_starts_with_the_portals_options_into_the_container_asked_for(
    in_process_hub, docker_client, alice, workspace_of
):
    hub = in_process_hub
    workspace = workspace_of(
        alice, name="one", cpu=0.5, memory=512 * M, env={"GREETING": "hello"}, expires_at=EXPIRES
    )
    user = alice.hub_name
    try:
        started(hub, user, "one", workspace.user_options())

        found = docker_client.api.inspect_container(container_name(HUB, user, "one"))
        labels = {k: v for k, v in found["Config"]["Labels"].items() if k.startswith("mlhub.")}
        assert labels == {
            "mlhub.origin": HUB,
            "mlhub.user": user,
            "mlhub.username": user,
            "mlhub.server_name": "one",
            "mlhub.expires_at": str(int(EXPIRES.timestamp())),
        }
        assert found["Config"]["Image"] == IMAGE
        host = found["HostConfig"]
        assert (host["NanoCpus"], host["Memory"], host["MemorySwap"]) == (
            500_000_000,
            512 * M,
            512 * M,
        )
        assert host["CpuQuota"] == 0  # upstream's cpu_limit is replaced, not added
        assert host["Init"] is True
        networks = found["NetworkSettings"]["Networks"]
        assert list(networks) == [network_name(HUB, user)]
        mounts = {m["Destination"]: m for m in found["Mounts"]}
        assert mounts[WORK]["Name"] == volume_name(HUB, user, "one")
        volume = docker_client.volumes.get(volume_name(HUB, user, "one"))
        assert volume.attrs["Labels"]["mlhub.server_name"] == "one"
        network = docker_client.networks.get(network_name(HUB, user))
        assert network.attrs["Labels"]["mlhub.user"] == user

        variables = dict(v.split("=", 1) for v in found["Config"]["Env"])
        assert variables["GREETING"] == "hello"
        assert variables["CPU_LIMIT"] == "0.5"
        assert variables["MEM_LIMIT"] == str(512 * M)
        # The hub's API at the network's gateway: the container's way to the host.
        gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
        assert variables["JUPYTERHUB_API_URL"] == f"http://{gateway}:{hub.app.hub.port}/hub/api"

        # The hub stored the container's id while it runs: a restarted hub finds it.
        assert persisted_state(hub, user, "one")["object_id"] == found["Id"]
    finally:
        stop(hub, user, "one")
    assert not docker_client.containers.list(all=True, filters=ours(user, "one"))


@pytest.mark.django_db
def test_a_stopped_workspace_is_in_the_hubs_state_and_starts_again_on_its_volume(
    in_process_hub, docker_client, alice, workspace_of
):
    hub = in_process_hub
    # A whole core: a server held to a fraction starts in tens of seconds, twice here.
    workspace = workspace_of(alice, name="two", cpu=1, memory=512 * M)
    user = alice.hub_name
    try:
        started(hub, user, "two", workspace.user_options())
        first = docker_client.containers.get(container_name(HUB, user, "two"))
        assert run_in(first, f"open('{WORK}/keep.txt', 'w').write('still here')")[0] == 0
        stop(hub, user, "two")

        # The container goes (remove=True); its volume's and network's names stay in the state.
        assert not docker_client.containers.list(all=True, filters=ours(user, "two"))
        assert persisted_state(hub, user, "two") == {
            "volume_name": volume_name(HUB, user, "two"),
            "network_name": network_name(HUB, user),
        }
        # The hub drops a stopped spawner; the next is made from the stored state, as after
        # a hub restart (load_state).
        assert hub.in_hub(lambda: "two" not in hub.app.users[user].spawners)
        assert hub.spawner(user, "two").get_state() == persisted_state(hub, user, "two")

        started(hub, user, "two", workspace.user_options())
        second = docker_client.containers.get(container_name(HUB, user, "two"))
        assert second.id != first.id
        assert run_in(second, f"print(open('{WORK}/keep.txt').read())") == (0, "still here\n")
    finally:
        stop(hub, user, "two")


@pytest.mark.django_db
def test_the_workspace_answers_through_the_proxy_with_a_token_for_it(
    in_process_hub, alice, workspace_of
):
    """The server in the container checks the token with the hub's API (at the gateway)."""
    hub = in_process_hub
    workspace = workspace_of(alice, name="three", cpu=1, memory=512 * M)
    user = alice.hub_name
    try:
        started(hub, user, "three", workspace.user_options())
        token = hub.portal().token_create(
            user, scopes=[workspace.access_scope], expires_in=600, note="in-process hub test"
        )
        url = f"{hub.public_url}/user/{user}/three/api/status"
        answer = requests.get(url, headers={"Authorization": f"token {token.token}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert "started" in answer.json()
        refused = requests.get(url, headers={"Authorization": "token wrong"}, timeout=30)
        assert refused.status_code == 403
    finally:
        stop(hub, user, "three")


@pytest.mark.parametrize(
    ("server", "options", "message"),
    [
        ("tiny", {"cpu": 0.001}, "cpu 0.001 is below the minimum of 0.01 cores"),
        (
            "busybox",
            {"image": "busybox:latest"},
            f"image 'busybox:latest' is not allowed; allowed images: {IMAGE}",
        ),
        ("cores", {"cpu": 64}, "cpu 64 is above the maximum of 2 cores"),
        ("memory", {"memory": "100T"}, "memory 100T is above the maximum of 4G"),
        ("gpus", {"gpus": "zz"}, "gpus 'zz' is not 'all' or device indices such as '0,1'"),
        ("gpu", {"gpus": "0"}, "GPUs are not allowed on this hub"),
    ],
)
def test_the_spawner_refuses_options_out_of_bounds_with_its_message(
    in_process_hub, docker_client, server, options, message
):
    hub = in_process_hub
    # The portal would refuse these itself; a client with a hub token meets the spawner.
    try:
        outcome = start(hub, "mallory", server, options)
    finally:
        stop(hub, "mallory", server, remove=True)
    assert outcome.get("failed") is True, outcome
    assert outcome["message"] == f"Spawn failed: {message}"
    # Refused before any Docker call: no container, volume or network.
    assert not docker_client.containers.list(all=True, filters=ours("mallory", server))
    assert not docker_client.volumes.list(filters=ours("mallory", server))
    assert not docker_client.networks.list(filters={"label": "mlhub.user=mallory"})


def test_a_start_right_after_a_failed_one_is_answered_201_while_it_is_still_starting(
    in_process_hub,
):
    """Why the portal takes no 201 as "ready" (HubClient.server_start): JupyterHub 6.1.1's
    ``get_spawner(replace_failed=True)`` hands the request a fresh spawner it never stores,
    the start runs on another, and the request answers from the idle one. The soak met it
    (docs/performance.md): "running" 80 s before the proxy had a route. Should upstream
    answer 202 here, this test fails, and a 201 means "ready" again."""
    hub = in_process_hub
    portal = hub.portal()
    user, server = "rerun", "again"
    try:
        refused = start(hub, user, server, {"image": "busybox:latest"})
        assert refused.get("failed") is True, refused

        answer = requests.post(
            f"{hub.api_url}/users/{user}/servers/{server}",
            json={"image": IMAGE},
            headers={"Authorization": f"token {hub.portal_token}"},
            timeout=30,
        )
        asked = portal.user_get(user)["servers"][server]
        assert (answer.status_code, asked["ready"], asked["pending"]) == (201, False, "spawn")

        # The spawn the hub runs is the one to follow: it ends ready, as the portal waits.
        ended = poll_until(
            lambda: portal.server_progress(user, server, timeout=120),
            timeout=150,
            what="the second start never ended",
        )
        assert ended.get("ready") is True, ended
    finally:
        stop(hub, user, server)
