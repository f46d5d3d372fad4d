"""The last release's MLHub image replaced by this checkout's on the same /data
(docs/deploy.md, "Upgrades"): the release's container (tests/upgrade/release.py builds its
image from its own tree) makes a person with a running workspace and a file in it, and stops;
the workspace does not. The current image on the same volume migrates the release's data:
the person logs in with her password and opens the same workspace, never restarted, with its
file; her old API token and the workspace's old hub token still work.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests

from lib.labels import container_name
from lib.polling import poll_until
from tests.deploy.mlhub_image import (
    IMAGE,
    WORKSPACE_IMAGE,
    image_built,
    image_environment,
    image_hub_up,
    image_run,
)
from tests.deploy.nginx_front import SubdomainAdapter
from tests.docker_engine import require_image
from tests.hub_stack import free_port, portal_login, resolve_localhost_subdomains
from tests.upgrade.release import RELEASE, newest_migrations, release_image

pytestmark = [pytest.mark.docker, pytest.mark.hub]
HUB = "mlhri"  # its own: image_run removes what its runs leave
DORA = ("Dora", "dora-pass-1234")  # a capital, as tests/upgrade/test_upgrade_from_release.py
TEXT = f"written in the workspace under {RELEASE}'s image"
MIGRATIONS = (
    "import json, sqlite3; print(json.dumps(sqlite3.connect('/data/portal.sqlite3')"
    ".execute('SELECT app, name FROM django_migrations').fetchall()))"
)


def through_its_host(session: requests.Session, workspace: dict) -> requests.Session:
    """``session`` able to reach the workspace's own origin over the image's https."""
    host = urlsplit(workspace["url"])
    session.mount(f"https://{host.netloc}/", SubdomainAdapter(host.hostname))
    return session


def workspace_container(docker_client) -> dict:
    container = docker_client.containers.get(container_name(HUB, "dora", "kept"))
    started = container.attrs["State"]["StartedAt"]
    return {"id": container.id, "status": container.status, "started_at": started}


def applied_migrations(container) -> set[tuple[str, str]]:
    """The django_migrations rows of the portal's database on the image's /data."""
    found = container.exec_run(["python", "-c", MIGRATIONS])
    assert found.exit_code == 0, found.output
    return {tuple(row) for row in json.loads(found.output)}


def test_the_releases_data_runs_under_the_current_image_with_its_workspace(
    docker_client, tmp_path, monkeypatch
):
    require_image(docker_client, WORKSPACE_IMAGE)
    release = release_image(docker_client, tmp_path / "release")
    image_built()  # this checkout's, as tests/deploy/ build it
    resolve_localhost_subdomains()
    port = free_port()
    url = f"https://localhost:{port}"
    environment = image_environment(HUB, port)
    with image_run(docker_client, HUB, environment, port, data=True, image=release) as (
        container,
        options,
    ):
        old = image_hub_up(container, options, url, tmp_path)
        # Its certificate, made on the volume at the first start, is the new image's too.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(old.cert))
        old.user_create(*DORA)
        token = old.token_for(*DORA)
        made = old.api(token).post(
            f"{url}/api/v1/workspaces/", json={"name": "kept", "cpu": 0.5, "memory": "512M"}
        )
        assert made.status_code == 201, made.text
        workspace = old.wait_for_state(token, made.json()["id"], "running")
        bearer = old.api(token).post(
            f"{url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 3600}
        )
        assert bearer.status_code == 200, bearer.text
        bearer = {"Authorization": f"token {bearer.json()['token']}"}
        body = {"type": "file", "format": "text", "content": TEXT}
        contents = f"{workspace['url']}api/contents/kept.txt"
        written = through_its_host(requests.Session(), workspace).put(
            contents, json=body, headers=bearer, timeout=30
        )
        assert written.status_code == 201, written.text
        before = workspace_container(docker_client)
        migrated_before = applied_migrations(container)

        # The upgrade, as docs/deploy.md says: the release's container goes, the new image
        # comes on the same /data, network and port.
        container.stop(timeout=60)
        assert workspace_container(docker_client) == before  # left running
        container.remove(v=True)  # anonymous volumes only: the named /data stays
        current = docker_client.containers.run(IMAGE, name=f"{HUB}-mlhub-2", **options)
        new = image_hub_up(current, options, url, tmp_path)
        migrated = applied_migrations(current)
        assert newest_migrations() - migrated_before, f"{RELEASE} has nothing to migrate"
        assert newest_migrations() <= migrated  # the new image's start migrated the release's

        me = new.api(token).get(f"{url}/api/v1/me/", timeout=10)  # the release's API token
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["hub_name"]) == ("Dora", "dora")
        old_bearer = through_its_host(requests.Session(), workspace)
        poll_until(
            lambda: old_bearer.get(contents, headers=bearer, timeout=10).status_code == 200,
            timeout=60,
            what="the workspace never answered its release's hub token through the new image",
        )
        browser = through_its_host(portal_login(url, *DORA), workspace)  # her password
        lab = browser.get(f"{workspace['url']}lab", timeout=60)  # the new hub's OAuth
        assert (lab.status_code, lab.url) == (200, f"{workspace['url']}lab")
        kept = browser.get(contents, timeout=30)
        assert kept.status_code == 200, kept.text
        assert kept.json()["content"] == TEXT
        assert workspace_container(docker_client) == before  # the same, never restarted
        row = new.api(token).get(f"{url}/api/v1/workspaces/{workspace['id']}/", timeout=10)
        assert (row.json()["state"], row.json()["message"]) == ("running", "")
        assert new.hub_user("dora")["servers"]["kept"]["ready"] is True
