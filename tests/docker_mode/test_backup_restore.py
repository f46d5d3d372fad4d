"""Backup and restore for real (portal/backups/, docs/operations.md): a Docker-mode stack is
backed up while it runs, its data directory is lost with everything in it, and a restore
onto an empty one brings the same people, tokens and workspaces back; the workspace still
running on the engine is taken over, its files untouched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from lib.labels import container_name
from lib.stack import BIN, ROOT
from tests.docker_engine import remove_everything_of, require_image
from tests.docker_mode.test_faults import answers, open_in, sh
from tests.faults import hub_kill, sync_workspaces
from tests.hub_stack import portal_login, running_stack

pytestmark = [pytest.mark.docker, pytest.mark.hub]
HUB = "mlhbk"  # its own: this test loses its stack's data directory
IMAGE = "mlhub-workspace:latest"
ALICE = ("alice", "alice-pass-123")
WORK = "/home/jovyan/work"


@pytest.fixture(scope="module")
def backed_up_hub(tmp_path_factory, docker_client):
    require_image(docker_client, IMAGE)
    remove_everything_of(docker_client, HUB)
    data = tmp_path_factory.mktemp("mlhub-backed-up")
    try:
        yield from running_stack(data, "local", HUB, {"MLHUB_WORKSPACE_IMAGES": IMAGE})
    finally:
        remove_everything_of(docker_client, HUB)


def container(docker_client, workspace: dict):
    return docker_client.containers.get(container_name(HUB, ALICE[0], workspace["name"]))


def manage(stack, *args: str) -> subprocess.CompletedProcess:
    """``manage.py *args`` as an admin runs it beside the stack: with its settings, but not
    the paths to the secrets ``make run`` gives its own processes (manage.py finds them in
    the data directory, or makes them there when it is new)."""
    secrets = str(Path(stack.environ["MLHUB_DATA_DIR"]) / "secrets")
    environ = {
        name: value
        for name, value in stack.environ.items()
        if not (name.endswith("_FILE") and value.startswith(secrets))
    }
    return subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_restore_onto_a_running_mlhub_is_refused_and_changes_nothing(backed_up_hub, tmp_path):
    hub = backed_up_hub
    backup = tmp_path / "backup"
    assert manage(hub.stack, "mlhub_backup", str(backup)).returncode == 0
    hub.user_create("bob", "bob-pass-1234")  # after the backup: restoring it would lose bob

    refused = manage(hub.stack, "mlhub_restore", str(backup))
    assert refused.returncode == 1
    assert "this MLHub is not new" in refused.stderr and "--replace" in refused.stderr
    assert hub.token_for("bob", "bob-pass-1234")  # bob is still there


def test_a_lost_data_directory_comes_back_from_a_backup_with_the_running_workspace(
    backed_up_hub, docker_client, tmp_path
):
    hub = backed_up_hub
    hub.user_create(*ALICE)
    token = hub.token_for(*ALICE)
    made = hub.api(token).post(f"{hub.url}/api/v1/workspaces/", json={"name": "kept"}, timeout=30)
    assert made.status_code == 201, made.text
    workspace = hub.wait_for_state(token, made.json()["id"], "running")
    running = container(docker_client, workspace)
    assert sh(running, f"echo written-before > {WORK}/kept.txt") == (0, "")

    # While everything runs: the backup.
    backup = tmp_path / "backup"
    made_backup = manage(hub.stack, "mlhub_backup", str(backup))
    assert made_backup.returncode == 0, made_backup.stderr
    assert "not included: the workspaces' files" in made_backup.stdout

    # The disk dies: the hub and its proxy end without a word (the hub does not stop the
    # workspaces), then the rest, and the data directory is gone.
    data = Path(hub.stack.environ["MLHUB_DATA_DIR"])
    proxy_pid = int((data / "hub" / "jupyterhub-proxy.pid").read_text())
    hub_kill(hub.stack)
    os.kill(proxy_pid, signal.SIGKILL)
    hub.stack.stop()
    shutil.rmtree(data)

    restored = manage(hub.stack, "mlhub_restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "Start MLHub now" in restored.stdout
    hub.stack.start()
    synced = sync_workspaces(hub.stack)
    assert synced.returncode == 0, synced.stderr

    # The same person with the same token, the same workspace, running, not re-created.
    found = hub.api(token).get(f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=30)
    assert found.status_code == 200, found.text
    assert (found.json()["state"], found.json()["message"]) == ("running", "")
    assert container(docker_client, workspace).id == running.id
    # Logging in again (the restored secrets: the hub's OAuth client is still the portal's)
    # opens it through the proxy, with the file written before the backup.
    session = portal_login(hub.url, *ALICE)
    open_in(session, workspace)
    kept = session.get(workspace["url"] + "api/contents/kept.txt", timeout=30)
    assert kept.status_code == 200, kept.text
    assert kept.json()["content"] == "written-before\n"
    assert answers(session, workspace)
