"""Cleanup on the real engine and the real hub, through the API and the task cluster: a gone
person's labelled resources go, everything else stays, with more than 200 people on the hub
(the original read one page of them and removed live people's resources); expired workspaces
go from the hub and the engine; dry runs remove nothing and list the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from docker.errors import NotFound

from lib.labels import LABEL_ORIGIN, LABEL_SERVER_NAME, LABEL_USER
from lib.polling import poll_until
from tests.docker_mode.conftest import HUB
from tests.hub_stack import run_cleanup

pytestmark = [pytest.mark.docker, pytest.mark.hub]
BASE_IMAGE = "mlhub-base:bookworm"  # created, never started: any local image does
CROWD = 210  # more than one page (200) of the hub's users


def labelled(client, origin: str | None, user: str, server: str = "x"):
    """A stopped container, a volume and a network labelled like the spawner's."""
    labels = {LABEL_USER: user, LABEL_SERVER_NAME: server}
    if origin:
        labels[LABEL_ORIGIN] = origin
    name = f"cleanup-{origin or 'none'}-{user}-{server}"
    container = client.containers.create(BASE_IMAGE, "true", name=name, labels=labels)
    volume = client.volumes.create(name=name, labels=labels)
    network = client.networks.create(name=name, labels=labels)
    return [container, volume, network]


def exists(client, thing) -> bool:
    getter = {
        "Container": client.containers.get,
        "Volume": client.volumes.get,
        "Network": client.networks.get,
    }[type(thing).__name__]
    try:
        getter(thing.id if type(thing).__name__ != "Volume" else thing.name)
        return True
    except NotFound:
        return False


def people_bulk_create(docker_hub, usernames: list[str], password: str) -> None:
    """Approved people in the stack's portal, as the admin's API makes them, in one process
    and one insert: through the API it was a request (and a password hash) for each."""
    docker_hub.stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.hashers import make_password\n"
        "from django.utils import timezone\n"
        "from portal.accounts.models import User\n"
        f"password, now = make_password({password!r}), timezone.now()\n"
        "User.objects.bulk_create(\n"
        "    User(username=name, password=password, approval=User.Approval.APPROVED,"
        " approved_at=now)\n"
        f"    for name in {usernames!r}\n"
        ")\n",
    )


@pytest.fixture(scope="module")
def crowd(docker_hub):
    """CROWD people in the portal and the hub, and one hub user the portal does not know."""
    people = [f"crowd{n:03}" for n in range(CROWD)]
    people_bulk_create(docker_hub, people, "crowd-pass-1234")
    listed = docker_hub.api().get(
        f"{docker_hub.url}/api/v1/users/", params={"page_size": 1000}, timeout=30
    )
    approved = {p["username"] for p in listed.json()["results"] if p["approval"] == "approved"}
    assert set(people) <= approved, listed.text[:500]
    response = requests.post(
        f"{docker_hub.hub_api}/users",
        json={"usernames": [*people, "stranger"]},
        headers={"Authorization": f"token {docker_hub.hub_token}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return people


def workspace_row_running(docker_hub, owner: str, name: str) -> None:
    """A row the portal says runs: what the engine has of it is the workspace's own. Its
    ``synced_at`` is tomorrow: the stack's sync pass leaves a row written after it read the
    hub alone, and would otherwise correct this one (the hub runs no such server) to stopped
    between the test's two cleanups (CI, 2026-12-06)."""
    docker_hub.stack.manage(
        "shell",
        "-c",
        "import datetime\n"
        "from django.utils import timezone\n"
        "from portal.accounts.models import User\n"
        "from portal.workspaces.models import Workspace, WorkspaceTemplate\n"
        f"Workspace.objects.create(owner=User.objects.get(username={owner!r}), name={name!r},"
        " template=WorkspaceTemplate.objects.get(name='default'), state='running',"
        " image='mlhub-workspace:latest', cpu=1, memory=2**30,"
        " synced_at=timezone.now() + datetime.timedelta(days=1))\n",
    )


def test_a_gone_persons_resources_go_and_nobody_elses(docker_hub, docker_client, crowd):
    last = crowd[-1]  # on the hub's second page of users
    live = labelled(docker_client, HUB, last)
    workspace_row_running(docker_hub, last, "x")
    gone = labelled(docker_client, HUB, "ghost")
    other_hub = labelled(docker_client, "othr", "ghost")
    unlabelled = labelled(docker_client, None, "ghost")
    try:
        dry = run_cleanup(docker_hub, "users", dry_run=True)
        assert all(exists(docker_client, thing) for thing in gone)
        real = run_cleanup(docker_hub, "users", dry_run=False)

        def names(run, outcome):
            return sorted(
                (line["kind"], line["name"])
                for line in run["report"]["lines"]
                if line["outcome"] == outcome
            )

        assert names(dry, "would remove") == names(real, "removed")
        assert ("hub user", "stranger") in names(real, "removed")
        assert {kind for kind, name in names(real, "removed") if "ghost" in name} == {
            "container",
            "volume",
            "network",
        }
        assert not any(exists(docker_client, thing) for thing in gone)
        for thing in [*live, *other_hub, *unlabelled]:
            assert exists(docker_client, thing), thing.name
        assert docker_hub.hub_user("stranger") is None
        assert docker_hub.hub_user(last) is not None
        assert real["report"]["errors"] == []
    finally:
        for thing in [*live, *gone, *other_hub, *unlabelled]:
            if exists(docker_client, thing):
                thing.remove(**({"force": True} if type(thing).__name__ != "Network" else {}))


def test_an_expired_workspace_goes_and_one_that_is_not_stays(docker_hub, docker_client):
    docker_hub.user_create("edith", "edith-pass-1234")
    token = docker_hub.token_for("edith", "edith-pass-1234")
    made = {}
    for name in ("due", "later"):
        response = docker_hub.api(token).post(
            f"{docker_hub.url}/api/v1/workspaces/", json={"name": name}, timeout=30
        )
        assert response.status_code == 201, response.text
        made[name] = docker_hub.wait_for_state(token, response.json()["id"], "running")
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    patched = docker_hub.api().patch(
        f"{docker_hub.url}/api/v1/workspaces/{made['due']['id']}/",
        json={"expires_at": past},
        timeout=30,
    )
    assert patched.status_code == 200, patched.text

    dry = run_cleanup(docker_hub, "expired", dry_run=True)
    listed = [(line["kind"], line["name"], line["outcome"]) for line in dry["report"]["lines"]]
    assert listed == [("workspace", "edith/due", "would remove")]
    assert "due" in docker_hub.hub_user("edith")["servers"]

    real = run_cleanup(docker_hub, "expired", dry_run=False)
    assert [(line["name"], line["outcome"]) for line in real["report"]["lines"]] == [
        ("edith/due", "removed")
    ]
    poll_until(
        lambda: "due" not in docker_hub.hub_user("edith")["servers"],
        timeout=60,
        what="the expired server still in the hub",
    )
    poll_until(
        lambda: (
            not docker_client.containers.list(
                all=True, filters={"label": [f"{LABEL_USER}=edith", f"{LABEL_SERVER_NAME}=due"]}
            )
        ),
        timeout=60,
        what="the expired container still on the engine",
    )
    assert "later" in docker_hub.hub_user("edith")["servers"]
    remaining = docker_hub.api(token).get(f"{docker_hub.url}/api/v1/workspaces/", timeout=30)
    assert [w["name"] for w in remaining.json()["results"]] == ["later"]
    docker_hub.api(token).delete(
        f"{docker_hub.url}/api/v1/workspaces/{made['later']['id']}/", timeout=30
    )
