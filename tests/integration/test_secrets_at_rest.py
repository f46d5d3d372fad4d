"""Secrets at rest and in logs, on the real stack: the data directory is its owner's alone,
and no token, secret or OAuth code reaches a log."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.hub_stack import portal_login

pytestmark = pytest.mark.hub

SAM = ("sam", "sam-pass-12345")


def test_the_data_directory_and_its_files_are_private(hub):
    data = Path(hub.stack.environ["MLHUB_DATA_DIR"])
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    shared = [
        f"{path.relative_to(data)} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in data.rglob("*")
        if not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) & 0o077
    ]
    assert shared == []
    files = ["secrets/mlhub_hub_api_token", "hub/jupyterhub.sqlite"]
    if not hub.stack.environ.get("DATABASE_URL"):
        files.append("portal.sqlite3")  # the portal's database unless on PostgreSQL
    for name in files:
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


def oauth_codes(history) -> set[str]:
    """The OAuth codes of the hops a browser walked (the hub's and the workspace's).

    States are not watched: they are one-flow nonces, not credentials, and JupyterHub logs
    them inside the ``next`` parameter of its login redirects.
    """
    return {
        code
        for response in history
        for code in parse_qs(urlsplit(response.url).query).get("code", [])
    }


def test_no_token_secret_or_oauth_code_reaches_a_log(hub):
    hub.user_create(*SAM)
    token = hub.token_for(*SAM)
    created = hub.api(token).post(f"{hub.url}/api/v1/workspaces/", json={"name": "logs"})
    assert created.status_code == 201, created.text
    workspace = hub.wait_for_state(token, created.json()["id"], "running")
    browser = portal_login(hub.url, *SAM)
    page = browser.get(workspace["url"] + "lab", timeout=30)
    assert page.status_code == 200, page.url
    codes = oauth_codes(page.history)
    assert len(codes) == 2, [r.url for r in page.history]  # the hub's and the workspace's

    data = Path(hub.stack.environ["MLHUB_DATA_DIR"])
    secrets = {path.name: path.read_text().strip() for path in (data / "secrets").iterdir()}
    watched = {token, hub.admin_token, *codes, *secrets.values()}
    logs = {path.name: path.read_text(errors="replace") for path in (data / "logs").glob("*")}
    assert logs and all(logs.values())
    leaks = [
        f"{name}: ...{secret[:6]}..."
        for name, text in logs.items()
        for secret in watched
        if secret in text
    ]
    assert leaks == []
    assert hub.api(token).delete(f"{hub.url}/api/v1/workspaces/{workspace['id']}/").ok
