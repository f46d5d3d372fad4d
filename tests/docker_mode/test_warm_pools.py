"""Warm pools on the real engine, hub and proxy (issue 26): a template's slots are made and
wait as nobody's, a create takes one and it becomes the person's workspace, the pool refills,
cleanup finds no orphan in any of it, and a slot that cannot be claimed is removed and the
create starts cold."""

from __future__ import annotations

import socket

import pytest
from docker.errors import NotFound

from lib import pools
from lib.labels import container_name, network_name, volume_name
from lib.polling import poll_until
from portal.pools.records import UNRECORDED
from tests.docker_mode.conftest import HUB, IMAGE
from tests.hub_stack import portal_login, run_cleanup

pytestmark = [pytest.mark.docker, pytest.mark.hub]
PAM, OLE = ("pam", "pam-pass-1234"), ("ole", "ole-pass-1234")
TEMPLATE = "pooled"
SIZE = 2
WORK = "/home/jovyan/work"


def pool_of(docker_hub) -> dict:
    answer = docker_hub.api().get(f"{docker_hub.url}/api/v1/pools/", timeout=30)
    assert answer.status_code == 200, answer.text
    return next((p for p in answer.json()["pools"] if p["template"] == TEMPLATE), {})


def ready_slots(docker_hub, count: int = SIZE) -> list[str]:
    """The names of the pool's ready slots, once ``count`` are ready."""

    def ready():
        pool = pool_of(docker_hub)
        names = [slot["name"] for slot in pool.get("slots", []) if slot["state"] == "ready"]
        return names if len(names) >= count else None

    try:
        return poll_until(ready, timeout=180, what=f"{count} ready slots")
    except TimeoutError as error:
        raise AssertionError(f"{error}: {pool_of(docker_hub)}\n{docker_hub.logs()}") from None


@pytest.fixture(scope="module")
def people(docker_hub):
    docker_hub.user_create(*PAM)
    docker_hub.user_create(*OLE)
    return {name: docker_hub.token_for(name, password) for name, password in (PAM, OLE)}


@pytest.fixture(scope="module")
def pool(docker_hub, people):
    """A template of its own with a pool of SIZE (other tests' creates use the default one).
    Pam and Ole log in first: the most recently seen, theirs are the SIZE networks the fill
    makes ahead (portal/pools/networks.py)."""
    for person in (PAM, OLE):
        portal_login(docker_hub.url, *person)
    body = {
        "name": TEMPLATE,
        "image": IMAGE,
        "cpu_default": 0.5,
        "memory_default": "512M",
        "pool_size": SIZE,
    }
    made = docker_hub.api().post(f"{docker_hub.url}/api/v1/templates/", json=body, timeout=30)
    assert made.status_code == 201, made.text
    ready_slots(docker_hub)
    yield made.json()
    docker_hub.api().patch(
        f"{docker_hub.url}/api/v1/templates/{made.json()['id']}/", json={"pool_size": 0}
    )


def create(docker_hub, token: str, name: str, **options) -> dict:
    response = docker_hub.api(token).post(
        f"{docker_hub.url}/api/v1/workspaces/",
        json={"name": name, "template": TEMPLATE, **options},
    )
    assert response.status_code == 201, response.text
    return docker_hub.wait_for_state(token, response.json()["id"], "running")


def pams_warm(docker_hub, api) -> dict:
    """Pam's workspace "warm", made from a slot, as the API shows it to her."""
    listed = api.get(f"{docker_hub.url}/api/v1/workspaces/", timeout=30).json()["results"]
    (workspace,) = [w for w in listed if w["name"] == "warm"]
    return workspace


def run_in(target, code: str) -> tuple[int, str]:
    exit_code, output = target.exec_run(["python3", "-c", code], user="jovyan")
    return exit_code, output.decode(errors="replace")


def connects(source, ip: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(({ip!r}, {port}), timeout=3)"
    return run_in(source, code)[0] == 0


def address(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def listening(container, port: int) -> None:
    """A listener of the test's own in ``container`` (a slot serves nothing by itself)."""
    container.exec_run(["python3", "-m", "http.server", str(port)], user="jovyan", detach=True)
    ip = address(container, pools.network_name(HUB))
    poll_until(lambda: connects(container, ip, port), timeout=20, what="the test's listener")


def test_a_slot_is_nobodys_and_reaches_nothing_before_its_claim(
    docker_hub, docker_client, pool, people
):
    first, second = (docker_client.containers.get(n) for n in ready_slots(docker_hub))
    pool_network = pools.network_name(HUB)
    for slot in (first, second):
        assert list(slot.attrs["NetworkSettings"]["Networks"]) == [pool_network]
        assert pools.LABEL_POOL in slot.labels and "mlhub.user" not in slot.labels
        every_environment = slot.exec_run(
            ["sh", "-c", "cat /proc/[0-9]*/environ | tr '\\0' '\\n'"], user="jovyan"
        ).output.decode(errors="replace")
        assert "JUPYTERHUB_" not in every_environment
        assert "MLHUB_SSH_AUTHORIZED_KEYS" not in every_environment
        assert slot.exec_run(["ls", "-A", WORK]).output == b""  # its volume is empty
    # Another slot, listening: unreachable (the pool's network passes nothing between slots).
    listening(second, 9999)
    assert not connects(first, address(second, pool_network), 9999)
    # Nothing on any other network: a person's workspace (here, a listener of the test's own
    # on a network like a person's) is out of reach. Only the host's own addresses answer,
    # as on every workspace network: the hub, which a slot has no token for.
    other = docker_client.networks.create(f"{HUB}-pool-peer", labels={"mlhub.origin": HUB})
    peer = docker_client.containers.run(
        IMAGE,
        ["python3", "-m", "http.server", "9999"],
        entrypoint=[],
        name=f"{HUB}-pool-peer",
        network=other.name,
        labels={"mlhub.origin": HUB},
        detach=True,
    )
    try:
        peer_ip = address(peer, other.name)
        poll_until(lambda: connects(peer, peer_ip, 9999), timeout=20, what="the peer listening")
        assert not connects(first, peer_ip, 9999)
    finally:
        peer.remove(force=True)
        other.remove()
    assert docker_client.networks.get(pool_network).attrs["Internal"] is True


def test_a_create_takes_a_slot_which_becomes_the_persons_workspace(
    docker_hub, docker_client, pool, people
):
    before = {name: docker_client.containers.get(name).id for name in ready_slots(docker_hub)}
    ahead = poll_until(
        lambda: network_of(docker_client, "pam"), timeout=90, what="pam's network made ahead"
    )
    workspace = create(docker_hub, people["pam"], "warm")
    container = docker_client.containers.get(container_name(HUB, "pam", "warm"))
    # The claim took the network made ahead: the same one, not a new one of that name.
    assert container.attrs["NetworkSettings"]["Networks"][ahead.name]["NetworkID"] == ahead.id
    claimed = next(name for name, id_ in before.items() if id_ == container.id)
    with pytest.raises(NotFound):
        docker_client.containers.get(claimed)  # renamed: the same container
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [network_name(HUB, "pam")]
    mounts = {m["Destination"]: m["Name"] for m in container.attrs["Mounts"]}
    assert mounts[WORK] == pools.volume_name(claimed)
    assert container.attrs["HostConfig"]["Memory"] == 512 * 1024**2
    assert container.attrs["HostConfig"]["CpuQuota"] == 50_000
    # Its lab, for its owner only, on her origin.
    url = docker_hub.url.replace("://", "://pam.") + "/user/pam/warm/"
    assert portal_login(docker_hub.url, *PAM).get(url + "lab", timeout=30).status_code == 200
    assert portal_login(docker_hub.url, *OLE).get(url + "lab", timeout=30).status_code == 403
    # Nothing of the pool reaches it: a slot still waiting, to its address and its port.
    remaining = docker_client.containers.get(next(n for n in before if n != claimed))
    ip = address(container, network_name(HUB, "pam"))
    assert not connects(remaining, ip, 8888)
    # The claim port closed with the claim: the slot's key opens nothing any more.
    with pytest.raises(OSError):
        socket.create_connection((ip, pools.CLAIM_PORT), timeout=3).close()
    # The pool refills to its size.
    refilled = ready_slots(docker_hub)
    assert claimed not in refilled
    assert workspace["state"] == "running"


def test_a_create_with_its_own_cpu_and_memory_takes_a_slot_and_gets_them(
    docker_hub, docker_client, pool, people
):
    before = {docker_client.containers.get(name).id for name in ready_slots(docker_hub)}
    workspace = create(docker_hub, people["pam"], "roomy", cpu=1.5, memory="768M")
    container = docker_client.containers.get(container_name(HUB, "pam", "roomy"))
    assert container.id in before  # a slot, updated on the run
    assert container.attrs["HostConfig"]["Memory"] == 768 * 1024**2
    assert container.attrs["HostConfig"]["MemorySwap"] == 768 * 1024**2
    assert container.attrs["HostConfig"]["CpuQuota"] == 150_000
    api = docker_hub.api(people["pam"])
    assert api.delete(f"{docker_hub.url}/api/v1/workspaces/{workspace['id']}/").status_code == 204


def test_a_claimed_workspace_keeps_its_files_and_is_the_persons_after_a_restart(
    docker_hub, docker_client, pool, people
):
    api = docker_hub.api(people["pam"])
    workspace = pams_warm(docker_hub, api)
    container = docker_client.containers.get(container_name(HUB, "pam", "warm"))
    assert run_in(container, f"open('{WORK}/keep.txt', 'w').write('still here')")[0] == 0
    base = f"{docker_hub.url}/api/v1/workspaces/{workspace['id']}/"
    assert api.post(base + "stop/", timeout=30).status_code == 200
    docker_hub.wait_for_state(people["pam"], workspace["id"], "stopped")
    assert api.post(base + "start/", timeout=30).status_code == 200
    docker_hub.wait_for_state(people["pam"], workspace["id"], "running")
    again = docker_client.containers.get(container_name(HUB, "pam", "warm"))
    assert again.id != container.id
    assert again.labels["mlhub.user"] == "pam" and again.labels["mlhub.server_name"] == "warm"
    assert run_in(again, f"print(open('{WORK}/keep.txt').read())")[1].strip() == "still here"


def test_cleanup_finds_no_orphan_in_the_pool_or_a_claimed_slot(
    docker_hub, docker_client, pool, people
):
    slots = ready_slots(docker_hub, count=1)  # not waiting for the refill of the claims before
    stray = f"{HUB}--pool-{TEMPLATE}-0badc0de"
    docker_client.containers.create(
        IMAGE, "true", name=stray, labels=pools.slot_labels(HUB, TEMPLATE)
    )
    # Ole has no workspace yet: his network, made ahead, is not an orphan either.
    ahead = poll_until(
        lambda: network_of(docker_client, "ole"), timeout=90, what="ole's network made ahead"
    )
    report = run_cleanup(docker_hub, "users", dry_run=True)
    listed = {line["name"]: line["reason"] for line in report["report"]["lines"]}
    assert listed.get(stray) == UNRECORDED
    assert ahead.name not in listed
    for name in slots:
        assert name not in listed and pools.volume_name(name) not in listed
    claimed = [n for n in listed if n.startswith(container_name(HUB, "pam", "warm"))]
    assert claimed == [] and not [n for n in listed if "pool" in n and n != stray], listed
    docker_client.containers.get(stray).remove(force=True)


def test_a_slot_that_cannot_be_claimed_is_removed_and_the_create_starts_cold(
    docker_hub, docker_client, pool, people
):
    # Every ready slot made unfit for a claim: on a second network (as if claimed already).
    other = docker_client.networks.create(f"{HUB}-pool-test", labels={"mlhub.origin": HUB})
    slots = ready_slots(docker_hub)
    for name in slots:
        other.connect(name)
    create(docker_hub, people["ole"], "cold")
    container = docker_client.containers.get(container_name(HUB, "ole", "cold"))
    left = [docker_client.containers.get(n).id for n in slots if exists(docker_client, n)]
    assert container.id not in left
    mounts = {m["Destination"]: m["Name"] for m in container.attrs["Mounts"]}
    assert mounts[WORK] == volume_name(HUB, "ole", "cold")
    claimed = [n for n in slots if not exists(docker_client, n)]
    assert len(claimed) == 1  # the one the create took: removed, with its volume
    with pytest.raises(NotFound):
        docker_client.volumes.get(pools.volume_name(claimed[0]))
    for name in slots:
        if exists(docker_client, name):
            other.disconnect(name)
    other.remove()


def network_of(docker_client, person: str):
    """The person's network, or None."""
    try:
        return docker_client.networks.get(network_name(HUB, person))
    except NotFound:
        return None


def exists(docker_client, name: str, kind: str = "containers") -> bool:
    try:
        getattr(docker_client, kind).get(name)
        return True
    except NotFound:
        return False


def test_deleting_a_claimed_workspace_removes_its_container_and_the_slots_volume(
    docker_hub, docker_client, pool, people
):
    api = docker_hub.api(people["pam"])
    workspace = pams_warm(docker_hub, api)
    container = docker_client.containers.get(container_name(HUB, "pam", "warm"))
    volume = {m["Destination"]: m["Name"] for m in container.attrs["Mounts"]}[WORK]
    url = f"{docker_hub.url}/api/v1/workspaces/{workspace['id']}/"
    assert api.delete(url, timeout=60).status_code == 204

    def gone():
        return not exists(docker_client, container.name) and not exists(
            docker_client, volume, "volumes"
        )

    poll_until(gone, timeout=90, what="the claimed workspace's container and volume removed")
