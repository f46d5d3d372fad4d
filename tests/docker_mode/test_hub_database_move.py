"""A hub moved from SQLite to PostgreSQL for real (manage.py mlhub_hub_database_move,
docs/operations.md): a Docker-mode stack whose hub keeps SQLite, a person with a running
workspace and a hub token for it; the move is refused while the hub runs; the stack stops
(its workspaces keep running, as the image's do), the database moves, the stack starts with
``MLHUB_HUB_DB_URL`` on PostgreSQL, and the same container answers through the proxy to the
same token, with nothing made again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from lib.labels import container_name
from tests.docker_engine import remove_everything_of, require_image
from tests.docker_mode.test_backup_restore import manage
from tests.docker_mode.test_faults import answers, open_in, sh
from tests.faults import sync_workspaces
from tests.hub_stack import portal_login, running_stack
from tests.postgres import databases, psql

pytestmark = [pytest.mark.docker, pytest.mark.hub]
HUB = "mlhmv"  # its own: its stack stops and starts again on another database
IMAGE = "mlhub-workspace:latest"
ALICE = ("alice", "alice-pass-123")
WORK = "/home/jovyan/work"


@pytest.fixture(scope="module")
def sqlite_hub(tmp_path_factory, docker_client):
    require_image(docker_client, IMAGE)
    remove_everything_of(docker_client, HUB)
    data = tmp_path_factory.mktemp("mlhub-hub-move")
    try:
        # As the image runs it: a stopped hub leaves its workspaces running.
        yield from running_stack(
            data,
            "local",
            HUB,
            {"MLHUB_WORKSPACE_IMAGES": IMAGE, "MLHUB_CLEANUP_SERVERS": "false"},
        )
    finally:
        remove_everything_of(docker_client, HUB)


def test_a_hub_moved_to_postgresql_keeps_its_running_workspace_and_tokens(
    sqlite_hub, docker_client
):
    hub = sqlite_hub
    sqlite = Path(hub.stack.environ["MLHUB_DATA_DIR"]) / "hub" / "jupyterhub.sqlite"
    hub.user_create(*ALICE)
    token = hub.token_for(*ALICE)
    made = hub.api(token).post(f"{hub.url}/api/v1/workspaces/", json={"name": "kept"}, timeout=30)
    assert made.status_code == 201, made.text
    workspace = hub.wait_for_state(token, made.json()["id"], "running")
    running = docker_client.containers.get(container_name(HUB, ALICE[0], "kept"))
    assert sh(running, f"echo written-before > {WORK}/kept.txt") == (0, "")
    issued = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 3600}
    )
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"token {issued.json()['token']}"}
    status = workspace["url"] + "api/status"
    assert requests.get(status, headers=bearer, timeout=30).status_code == 200
    hub_tokens = hub.hub_tokens(ALICE[0])
    assert hub_tokens

    with databases("mlhub_hubmv") as (name, url):
        target = url.rsplit("/", 1)[0] + f"/{name}_hub"  # a database its server lacks yet

        # While the hub runs: refused, and nothing changed.
        refused = manage(hub.stack, "mlhub_hub_database_move", "--to", target)
        assert refused.returncode == 1, refused.stdout
        assert "the hub is running" in refused.stderr and "stop it first" in refused.stderr
        assert sqlite.exists()
        assert psql(name, f"SELECT 1 FROM pg_database WHERE datname = '{name}_hub'") == []

        hub.stack.stop()
        running.reload()
        assert running.status == "running"  # the workspace outlives its hub
        moved = manage(hub.stack, "mlhub_hub_database_move", "--to", target)
        assert moved.returncode == 0, moved.stderr
        assert "Moved the hub's database into postgresql+psycopg://mlhub:***@" in moved.stdout
        assert "Now set MLHUB_HUB_DB_URL to that URL" in moved.stdout
        assert not sqlite.exists()
        (kept,) = sqlite.parent.glob("jupyterhub.sqlite.moved-*")
        # A second move into it is refused: it has tables now.
        again = manage(hub.stack, "mlhub_hub_database_move", "--from", str(kept), "--to", target)
        assert again.returncode == 1 and "is not empty" in again.stderr, again.stderr

        hub.stack.environ["MLHUB_HUB_DB_URL"] = target
        hub.stack.start()
        synced = sync_workspaces(hub.stack)
        assert synced.returncode == 0, synced.stderr

        # The hub on PostgreSQL took the same container over: running, not re-created, and
        # it answers through the proxy to the token issued before the move.
        found = hub.api(token).get(f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=30)
        assert (found.json()["state"], found.json()["message"]) == ("running", "")
        assert docker_client.containers.get(running.name).id == running.id
        assert requests.get(status, headers=bearer, timeout=30).status_code == 200
        assert [t["id"] for t in hub.hub_tokens(ALICE[0])] == [t["id"] for t in hub_tokens]
        session = portal_login(hub.url, *ALICE)
        open_in(session, workspace)
        read = session.get(workspace["url"] + "api/contents/kept.txt", timeout=30)
        assert read.json()["content"] == "written-before\n"
        assert answers(session, workspace)
        # Its state is in PostgreSQL, and it made no SQLite database again.
        assert psql(f"{name}_hub", "SELECT name FROM users") == ["alice"]
        assert psql(f"{name}_hub", "SELECT name FROM spawners WHERE name = 'kept'") == ["kept"]
        assert not sqlite.exists()
        hub.stack.stop()  # before its database goes
