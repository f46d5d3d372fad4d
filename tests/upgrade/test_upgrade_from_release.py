"""An upgrade from the last release (docs/operations.md, "Upgrades"), in Docker mode.

The release's stack (tests/upgrade/release.py: its tag's files, its own virtualenv, started as
its `make run` starts it) makes people, a template, a quota, API tokens and two workspaces:
one running with a file written through the proxy, one stopped with a file of its own. It
stops; its workspaces do not. This checkout's stack starts on the same data directory and
ports, migrates, and everything is there: the same rows, the release's tokens and passwords
let their people in, the running workspace was never restarted and answers through the new
proxy, the stopped one starts with its file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from lib import env
from lib.labels import container_name
from tests.docker_engine import remove_everything_of, require_image
from tests.docker_mode.test_faults import open_in
from tests.faults import sync_workspaces
from tests.hub_stack import (
    ADMIN_PASSWORD,
    RunningHub,
    free_ports,
    portal_login,
    resolve_localhost_subdomains,
    running_stack,
)
from tests.upgrade.release import (
    RELEASE,
    ReleaseHub,
    newest_migrations,
    release_environment,
    release_stack,
    release_tree,
    release_venv,
)

pytestmark = [pytest.mark.docker, pytest.mark.hub]
HUB = "mlhrs"  # its own: the release's stack leaves its workspaces running on purpose
IMAGE = "mlhub-workspace:latest"
# A capital: the release kept no hub name for people (accounts.0004 derives it, "dora"),
# while its hub already called her "dora" and named her containers so.
DORA = ("Dora", "dora-pass-1234")
BOB = ("bob", "bob-pass-1234")
MALLORY = ("mallory", "mallory-pass-1234")  # waiting for approval
SMALL = {
    "name": "small",
    "image": IMAGE,
    "cpu_default": 0.5,
    "cpu_max": 1,
    "memory_default": "512M",
    "memory_max": "1G",
    "days_to_live_default": 30,
    "days_to_live_max": 90,
}
QUOTA = {"workspaces": 3, "running": 2, "cpu": 2.0, "memory": 2**31, "gpus": 0}
# A workspace row's fields that stay what they were (its state, sync and time left move on).
WORKSPACE_FIELDS = (
    *("id", "name", "owner", "template", "url", "image", "cpu", "memory", "gpus"),
    *("shm_size", "env", "created_at", "expires_at"),
)


@dataclass
class Before:
    """What the release's stack made and answered, read before it stopped."""

    tokens: dict[str, str]  # each person's API token, the admin's too
    users: list[dict]
    templates: list[dict]
    quota: dict
    workspaces: dict[str, dict]  # Dora's, by name
    bearers: dict[str, str]  # a hub token for each workspace, from the portal's token API
    kept: dict = field(default_factory=dict)  # the running one's container after the stop
    migrations: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Upgraded:
    hub: RunningHub
    before: Before
    data: Path


def text_of(workspace: dict, name: str) -> str:
    return f"written into {workspace['name']} ({name}) under {RELEASE}"


def file_put(workspace: dict, bearer: str, name: str) -> None:
    """A file written through the proxy, with the Jupyter server's contents API."""
    body = {"type": "file", "format": "text", "content": text_of(workspace, name)}
    written = requests.put(
        f"{workspace['url']}api/contents/{name}",
        json=body,
        headers={"Authorization": f"token {bearer}"},
        timeout=30,
    )
    assert written.status_code == 201, written.text


def file_get(workspace: dict, bearer: str, name: str) -> requests.Response:
    return requests.get(
        f"{workspace['url']}api/contents/{name}",
        headers={"Authorization": f"token {bearer}"},
        timeout=30,
    )


def bearer_for(hub: RunningHub, token: str, workspace: dict) -> str:
    made = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 3600}
    )
    assert made.status_code == 200, made.text
    return made.json()["token"]


def results(hub: RunningHub, token: str, path: str) -> list[dict]:
    response = hub.api(token).get(f"{hub.url}/api/v1/{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def release_made(old: ReleaseHub) -> Before:
    """Through the release's API: people, a template, a quota, tokens and workspaces."""
    old.admin_token = old.token_for("admin", ADMIN_PASSWORD)
    dora = old.user_create(*DORA)
    old.user_create(*BOB)
    old.user_create(*MALLORY, approved=False)
    admin = old.api()
    template = admin.post(f"{old.url}/api/v1/templates/", json=SMALL, timeout=10)
    assert template.status_code == 201, template.text
    quota_url = f"{old.url}/api/v1/users/{dora['id']}/quota/"
    assert admin.put(quota_url, json=QUOTA, timeout=10).status_code == 200
    tokens = {"admin": old.admin_token, DORA[0]: old.token_for(*DORA), BOB[0]: old.token_for(*BOB)}

    made = {}
    for name in ("kept", "paused"):
        response = old.api(tokens["Dora"]).post(
            f"{old.url}/api/v1/workspaces/", json={"name": name, "template": "small"}, timeout=30
        )
        assert response.status_code == 201, response.text
        made[name] = response.json()
    bearers = {}
    for name, workspace in made.items():
        old.wait_for_state(tokens["Dora"], workspace["id"], "running")
        bearers[name] = bearer_for(old, tokens["Dora"], workspace)
        file_put(workspace, bearers[name], f"{name}.txt")
    paused = f"{old.url}/api/v1/workspaces/{made['paused']['id']}/"
    assert old.api(tokens["Dora"]).post(f"{paused}stop/", timeout=30).status_code == 200
    old.wait_for_state(tokens["Dora"], made["paused"]["id"], "stopped")

    return Before(
        tokens=tokens,
        users=results(old, old.admin_token, "users/"),
        templates=results(old, old.admin_token, "templates/"),
        quota=admin.get(quota_url, timeout=10).json(),
        workspaces={found["name"]: found for found in results(old, tokens["Dora"], "workspaces/")},
        bearers=bearers,
    )


def applied_migrations(data: Path) -> set[tuple[str, str]]:
    """The portal database's django_migrations rows."""
    with contextlib.closing(sqlite3.connect(data / env.PORTAL_SQLITE)) as database:
        return set(database.execute("SELECT app, name FROM django_migrations"))


def kept_container(docker_client) -> dict:
    container = docker_client.containers.get(container_name(HUB, "dora", "kept"))
    return {
        "id": container.id,
        "status": container.status,
        "started_at": container.attrs["State"]["StartedAt"],
        "restarts": container.attrs["RestartCount"],
    }


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory, docker_client):
    require_image(docker_client, IMAGE)
    folder = tmp_path_factory.mktemp("mlhub-upgrade")
    tree = release_tree(folder / "release")
    venv = release_venv(tree)
    data = folder / "data"
    public, portal, proxy_api, hub = free_ports(4)
    ports = {"public": public, "portal": portal, "proxy_api": proxy_api, "hub": hub}
    log = folder / "release-stack.log"
    resolve_localhost_subdomains()
    remove_everything_of(docker_client, HUB)
    try:
        with pytest.MonkeyPatch.context() as environment:
            # Both on `make run`'s SQLite in the data directory, whatever this run's database.
            environment.delenv("DATABASE_URL", raising=False)
            with release_stack(tree, venv, release_environment(data, HUB, ports, IMAGE), log):
                old = ReleaseHub(
                    url=f"http://localhost:{public}",
                    hub_api=f"http://127.0.0.1:{hub}/hub/api",
                    hub_token=(data / "secrets" / "mlhub_hub_api_token").read_text(),
                    admin_token="",
                    stack=None,
                    log=log,
                )
                before = release_made(old)
            # Stopped, every process of it (the new stack's start checks its ports are free).
            before.kept = kept_container(docker_client)
            before.migrations = applied_migrations(data)
            extra = {
                "MLHUB_WORKSPACE_IMAGES": IMAGE,
                # The same four addresses: the workspaces' servers call the hub at its own.
                "MLHUB_PORTAL_URL": f"http://127.0.0.1:{portal}",
                "MLHUB_PROXY_API_URL": f"http://127.0.0.1:{proxy_api}",
            }
            current = contextlib.contextmanager(running_stack)(
                data, "local", HUB, extra, hub_port=hub, public_port=public, prepared=False
            )
            with current as new:
                yield Upgraded(hub=new, before=before, data=data)
    finally:
        remove_everything_of(docker_client, HUB)


def test_the_current_code_migrates_the_releases_database(upgraded):
    before, after = upgraded.before.migrations, applied_migrations(upgraded.data)
    newest = newest_migrations()
    assert newest - before, f"{RELEASE} has this checkout's migrations: nothing to upgrade"
    assert newest <= after, newest - after
    assert before < after


def test_the_releases_people_templates_and_quotas_are_there(upgraded):
    hub, before = upgraded.hub, upgraded.before
    users = {found["username"]: found for found in results(hub, hub.admin_token, "users/")}
    assert set(users) == {"admin", "Dora", "bob", "mallory"}
    for old in before.users:  # every field the release answered, as it answered it
        assert {key: users[old["username"]].get(key) for key in old} == old
    assert users["mallory"]["approval"] == "pending"

    templates = {found["name"]: found for found in results(hub, hub.admin_token, "templates/")}
    assert set(templates) == {"default", "small"}
    for old in before.templates:
        assert {key: templates[old["name"]].get(key) for key in old} == old

    quota = hub.api().get(f"{hub.url}/api/v1/users/{users['Dora']['id']}/quota/", timeout=10)
    assert quota.status_code == 200, quota.text
    assert quota.json()["own"] == before.quota["own"] == QUOTA
    assert quota.json()["limits"] == before.quota["limits"]

    workspaces = {
        found["name"]: found for found in results(hub, before.tokens["Dora"], "workspaces/")
    }
    assert set(workspaces) == {"kept", "paused"}
    for name, old in before.workspaces.items():
        assert {key: workspaces[name][key] for key in WORKSPACE_FIELDS} == {
            key: old[key] for key in WORKSPACE_FIELDS
        }
    assert workspaces["paused"]["state"] == "stopped"


def test_the_releases_tokens_and_passwords_still_let_their_people_in(upgraded):
    hub, before = upgraded.hub, upgraded.before
    for username, token in before.tokens.items():
        me = hub.api(token).get(f"{hub.url}/api/v1/me/", timeout=10)
        assert me.status_code == 200, (username, me.text)
        assert me.json()["username"] == username
    me = hub.api(before.tokens["Dora"]).get(f"{hub.url}/api/v1/me/", timeout=10).json()
    assert (me["hub_name"], me["approved"]) == ("dora", True)
    assert hub.token_for(*DORA)  # her password, hashed by the release
    waiting = requests.post(
        f"{hub.url}/api/v1/auth/token/",
        json={"username": MALLORY[0], "password": MALLORY[1]},
        timeout=10,
    )
    assert waiting.status_code == 403, waiting.text


def test_the_running_workspace_was_never_restarted_and_answers_through_the_new_proxy(
    upgraded, docker_client
):
    hub, before = upgraded.hub, upgraded.before
    workspace = before.workspaces["kept"]
    assert before.kept["status"] == "running"  # the release's stack left it running
    assert kept_container(docker_client) == before.kept  # the same container, never restarted
    assert before.kept["restarts"] == 0
    synced = sync_workspaces(hub.stack)  # the portal and the hub agree on it
    assert synced.returncode == 0, synced.stderr
    row = hub.api(before.tokens["Dora"]).get(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=10
    )
    assert (row.json()["state"], row.json()["message"]) == ("running", "")
    assert hub.hub_user("dora")["servers"]["kept"]["ready"] is True

    # The hub token the release's portal made for it still opens it through the new proxy;
    kept = file_get(workspace, before.bearers["kept"], "kept.txt")
    assert kept.status_code == 200, kept.text
    assert kept.json()["content"] == text_of(workspace, "kept.txt")
    # and so does Dora's own way in: the new portal's login, then the hub's OAuth.
    session = portal_login(hub.url, *DORA)
    open_in(session, workspace)
    kept = session.get(f"{workspace['url']}api/contents/kept.txt", timeout=30)
    assert kept.status_code == 200, kept.text
    assert kept.json()["content"] == text_of(workspace, "kept.txt")


def test_the_stopped_workspace_starts_with_its_file(upgraded):
    hub, before = upgraded.hub, upgraded.before
    token, workspace = before.tokens["Dora"], before.workspaces["paused"]
    started = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/start/", timeout=30
    )
    assert started.status_code == 200, started.text
    running = hub.wait_for_state(token, workspace["id"], "running")
    assert running["url"] == workspace["url"]

    paused = file_get(running, bearer_for(hub, token, running), "paused.txt")
    assert paused.status_code == 200, paused.text
    assert paused.json()["content"] == text_of(workspace, "paused.txt")
