"""Faults (issue 6, part 3): the hub, a workspace's container or the portal dies for real.

The portal's states stay right or become right again, what still runs keeps answering
through the proxy, and what cannot work says so at once instead of hanging.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

import docker
import pytest
import requests

from lib.labels import container_name, volume_name
from lib.polling import poll_until
from lib.stack import BIN, ROOT
from tests.docker_engine import remove_everything_of, require_image
from tests.faults import alive, hub_kill, portal_kill, sync_workspaces
from tests.hub_stack import portal_login, running_stack

pytestmark = [pytest.mark.docker, pytest.mark.hub]
# Its own stack and hub name: these tests kill its hub, its portal and its containers.
HUB = "mlhf"
IMAGE = "mlhub-workspace:latest"
ALICE = ("alice", "alice-pass-123")
WORK = "/home/jovyan/work"


@pytest.fixture(scope="module")
def fault_hub(tmp_path_factory, docker_client):
    """A Docker-mode stack of its own: these tests kill its hub, portal, tasks and
    containers, which the shared one (tests/docker_mode/conftest.py) must not live through."""
    require_image(docker_client, IMAGE)
    remove_everything_of(docker_client, HUB)
    try:
        yield from running_stack(
            tmp_path_factory.mktemp("mlhub-faults"),
            "local",
            HUB,
            # The hub notices a container killed from outside within this.
            {"MLHUB_WORKSPACE_IMAGES": IMAGE, "MLHUB_SERVER_POLL_SECONDS": "2"},
        )
    finally:
        remove_everything_of(docker_client, HUB)


@pytest.fixture(scope="module")
def token(fault_hub):
    fault_hub.user_create(*ALICE)
    return fault_hub.token_for(*ALICE)


@pytest.fixture
def new_workspace(fault_hub, token):
    """Create alice's running workspaces; afterwards revive what the test killed, delete them."""
    made: list[int] = []

    def create(name: str) -> dict:
        response = fault_hub.api(token).post(
            f"{fault_hub.url}/api/v1/workspaces/", json={"name": name}, timeout=30
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return fault_hub.wait_for_state(token, made[-1], "running")

    create.adopt = made.append  # a workspace the test made itself, deleted afterwards too
    yield create
    stack = fault_hub.stack
    if not alive(stack, "portal"):
        stack.portal_start()
    if not alive(stack, "hub"):
        stack.hub_start()
    for workspace_id in made:  # keeps the next test's host quiet; the module removes the rest
        fault_hub.api(token).delete(f"{fault_hub.url}/api/v1/workspaces/{workspace_id}/")


def row(fault_hub, token: str, workspace: dict) -> dict:
    response = fault_hub.api(token).get(
        f"{fault_hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def rows(fault_hub, token: str) -> dict[str, dict]:
    response = fault_hub.api(token).get(f"{fault_hub.url}/api/v1/workspaces/", timeout=10)
    assert response.status_code == 200, response.text
    return {found["name"]: found for found in response.json()["results"]}


def action(fault_hub, token: str, workspace: dict, verb: str) -> requests.Response:
    url = f"{fault_hub.url}/api/v1/workspaces/{workspace['id']}/"
    if verb == "delete":
        return fault_hub.api(token).delete(url, timeout=30)
    return fault_hub.api(token).post(f"{url}{verb}/", timeout=30)


def open_in(session: requests.Session, workspace: dict) -> None:
    """The browser's OAuth walk to the workspace (server → hub → portal → back), then its API."""
    assert session.get(workspace["url"] + "lab", timeout=30).status_code == 200
    assert answers(session, workspace)


def answers(session: requests.Session, workspace: dict) -> bool:
    response = session.get(workspace["url"] + "api/status", timeout=30)
    return response.status_code == 200 and "started" in response.json()


def container(docker_client, workspace: dict):
    return docker_client.containers.get(container_name(HUB, "alice", workspace["name"]))


def sh(target, command: str) -> tuple[int, str]:
    exit_code, output = target.exec_run(["sh", "-c", command], user="jovyan")
    return exit_code, output.decode(errors="replace")


def test_a_restarted_hub_takes_over_the_running_workspaces(
    fault_hub, docker_client, token, new_workspace
):
    one, two = new_workspace("hk1"), new_workspace("hk2")
    session = portal_login(fault_hub.url, *ALICE)
    open_in(session, one)
    open_in(session, two)
    ids = {w["name"]: container(docker_client, w).id for w in (one, two)}
    assert sh(container(docker_client, one), f"echo kept > {WORK}/kept.txt") == (0, "")
    before = rows(fault_hub, token)

    hub_kill(fault_hub.stack)
    fault_hub.stack.hub_start()
    synced = sync_workspaces(fault_hub.stack)
    assert synced.returncode == 0, synced.stderr

    after = rows(fault_hub, token)
    for workspace in (one, two):
        name = workspace["name"]
        assert (after[name]["state"], after[name]["message"]) == ("running", ""), after[name]
        assert after[name]["synced_at"] > before[name]["synced_at"]  # the pass vouched for it
        # Nothing was re-created: the same container, reached with the same session.
        assert container(docker_client, workspace).id == ids[name]
        assert answers(session, workspace)
    assert sh(container(docker_client, one), f"cat {WORK}/kept.txt") == (0, "kept\n")


def test_a_hub_killed_while_a_workspace_starts_takes_the_started_container_over(
    fault_hub, docker_client, token, new_workspace
):
    """The soak's missing routes (issue 24): a hub killed between the container's start and
    the server's answer left a record of the address from before the container had one. The
    new hub waited its whole http_timeout there, stopped a workspace that ran, and until then
    added no route of the other workspaces it checked in the background."""
    hub_log = fault_hub.stack.log_dir / "hub.log"
    for attempt in range(3):  # the window is the server's boot, a second or two: aim for it
        name = f"mid{attempt}"
        made = fault_hub.api(token).post(
            f"{fault_hub.url}/api/v1/workspaces/", json={"name": name}, timeout=30
        )
        assert made.status_code == 201, made.text
        workspace = made.json()
        started = poll_until(
            lambda workspace=workspace: _running_container(docker_client, workspace),
            timeout=60,
            first_wait=0.05,
            scale=1,
            what="the workspace's container to run",
        )
        hub_kill(fault_hub.stack)
        if row(fault_hub, token, workspace)["state"] == "starting":
            break  # killed mid-start, as wanted
        fault_hub.stack.hub_start()  # the start had ended already: again
        action(fault_hub, token, workspace, "delete")
    else:
        pytest.fail("three starts ended before the hub could be killed during them")
    log_before = hub_log.stat().st_size
    fault_hub.stack.hub_start()
    new_workspace.adopt(workspace["id"])  # deleted after the test like its own

    running = fault_hub.wait_for_state(token, workspace["id"], "running")
    assert container(docker_client, running).id == started.id  # taken over, not made again
    session = portal_login(fault_hub.url, *ALICE)
    # Its route comes with the hub's next check of routes (every 10 s, last_activity_interval)
    # when the hub checked it in the background, past its first 10 s (a slow machine).
    poll_until(
        lambda: session.get(running["url"] + "lab", timeout=30).status_code == 200,
        timeout=90,
        what="the taken-over workspace to answer through the proxy",
    )
    open_in(session, running)
    with open(hub_log, errors="replace") as log:
        log.seek(log_before)
        assert "does not appear to be running" not in log.read()


def _running_container(docker_client, workspace: dict):
    with contextlib.suppress(docker.errors.NotFound):
        found = container(docker_client, workspace)
        if found.status == "running":
            return found
    return None


def test_a_container_killed_from_outside_shows_stopped_and_starts_again(
    fault_hub, docker_client, token, new_workspace
):
    workspace = new_workspace("dk")
    session = portal_login(fault_hub.url, *ALICE)
    open_in(session, workspace)
    killed = container(docker_client, workspace)
    killed.kill()

    # The hub's poll (2 s here) notices and reports: no sync pass needed.
    def no_longer_running() -> dict | None:
        found = row(fault_hub, token, workspace)
        return found if found["state"] != "running" else None

    found = poll_until(no_longer_running, timeout=15, what="the portal still says running")
    assert found["state"] == "stopped", found
    # Its exit says why, exactly (read before the container goes).
    assert found["message"] == (
        "The workspace was killed (signal 9: out of memory, or from outside)"
    ), found
    # And the ended container goes, as after a stop; it stayed until the workspace was
    # deleted (the soak, bench/soak.py, found them left over).
    poll_until(
        lambda: not docker_client.api.containers(all=True, filters={"name": f"^/{killed.name}$"}),
        timeout=15,
        what="the killed container removed",
    )

    assert action(fault_hub, token, workspace, "start").status_code == 200
    assert fault_hub.wait_for_state(token, workspace["id"], "running")["message"] == ""
    open_in(session, workspace)


def test_with_the_hub_down_reads_answer_actions_refuse_and_it_recovers(
    fault_hub, docker_client, token, new_workspace
):
    up, down = new_workspace("hd1"), new_workspace("hd2")
    assert action(fault_hub, token, down, "stop").status_code == 200
    fault_hub.wait_for_state(token, down["id"], "stopped")
    session = portal_login(fault_hub.url, *ALICE)
    open_in(session, up)

    hub_kill(fault_hub.stack)
    # The proxy outlives the hub: an open workspace goes on answering.
    assert answers(session, up)
    # Reads come from the database: the API and the page answer. Read after the kill: no
    # late report or sync pass can change a row from here on.
    before = rows(fault_hub, token)
    assert before["hd1"]["state"] == "running" and before["hd2"]["state"] == "stopped"
    assert before["hd1"]["synced_at"] and not before["hd1"]["stale"]
    page = session.get(f"{fault_hub.url}/", timeout=10)
    assert page.status_code == 200
    assert 'data-workspace="hd1"' in page.text and 'data-workspace="hd2"' in page.text
    # The sync cannot read the hub: it says so and changes nothing.
    synced = sync_workspaces(fault_hub.stack)
    assert synced.returncode != 0
    assert "Not synced: JupyterHub is not reachable" in synced.stderr, synced.stderr
    assert rows(fault_hub, token) == before
    # Actions need the hub: a 503 naming it, and nothing is marked or removed.
    for workspace, verb in ((down, "start"), (up, "stop"), (up, "delete")):
        refused = action(fault_hub, token, workspace, verb)
        assert refused.status_code == 503, (verb, refused.text)
        assert refused.json()["detail"].startswith("JupyterHub could not do this"), refused.text
    assert rows(fault_hub, token) == before
    assert container(docker_client, up).status == "running"
    docker_client.volumes.get(volume_name(HUB, "alice", "hd2"))

    fault_hub.stack.hub_start()
    synced = sync_workspaces(fault_hub.stack)
    assert synced.returncode == 0, synced.stderr
    after = rows(fault_hub, token)
    assert (after["hd1"]["state"], after["hd2"]["state"]) == ("running", "stopped"), after
    assert answers(session, up)
    assert action(fault_hub, token, up, "stop").status_code == 200
    fault_hub.wait_for_state(token, up["id"], "stopped")
    assert action(fault_hub, token, down, "start").status_code == 200
    fault_hub.wait_for_state(token, down["id"], "running")
    assert action(fault_hub, token, up, "delete").status_code == 204
    poll_until(
        lambda: gone(lambda: docker_client.volumes.get(volume_name(HUB, "alice", "hd1"))),
        timeout=60,
        what="the deleted workspace's volume is still there",
    )


def test_with_the_portal_down_open_workspaces_answer_and_logins_fail_fast(
    fault_hub, token, new_workspace
):
    workspace = new_workspace("pd")
    session = portal_login(fault_hub.url, *ALICE)
    open_in(session, workspace)

    portal_kill(fault_hub.stack)
    # The workspace and the hub need no portal for a session that is already in.
    assert answers(session, workspace)
    # A new login needs the portal (the hub's OAuth provider): a quick, clear 503.
    for url in (workspace["url"] + "lab", f"{fault_hub.url}/hub/login"):
        started = time.monotonic()
        response = requests.get(url, timeout=15)
        assert time.monotonic() - started < 15
        assert response.status_code == 503, (url, response.status_code, response.text[:500])
        assert "/o/authorize/" in response.url, response.url  # stopped at the portal's door
        # The proxy shows the hub's error page for the portal it cannot reach.
        assert "503 : Service Unavailable" in response.text, response.text
        assert "portal is restarting\n    or down: try again in a minute" in response.text

    fault_hub.stack.portal_start()
    open_in(portal_login(fault_hub.url, *ALICE), workspace)


def gone(lookup) -> bool:
    try:
        lookup()
    except docker.errors.NotFound:
        return True
    return False


def test_with_the_hub_down_cleanup_says_so_and_removes_nothing(
    fault_hub, docker_client, new_workspace
):
    workspace = new_workspace("kept")
    hub_kill(fault_hub.stack)
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", "cleanup"],
        cwd=ROOT,
        env=fault_hub.stack.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Exit 1: a part could not be checked; the hub's users were not touched, nor is alice's.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not checked: JupyterHub did not answer" in result.stderr
    assert "users: 0 found" in result.stdout
    assert container(docker_client, workspace).status == "running"
