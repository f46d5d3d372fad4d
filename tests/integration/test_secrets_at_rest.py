"""Secrets at rest and in logs, on the real stack: the data directory is its owner's alone,
and no token, secret or OAuth code reaches a log."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.hub_stack import portal_login

pytestmark = pytest.mark.hub

SAM = ("sam", "sam-pass-12345")
WENDY = ("wendy-waiting", "wendy-pass-12345")  # not approved: the hub refuses her login


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


def oauth_params(history) -> set[str]:
    """The OAuth codes and states of the hops a browser walked (the hub's and the workspace's)."""
    return {
        value
        for response in history
        for key, values in parse_qs(urlsplit(response.url).query).items()
        if key in ("code", "state")
        for value in values
    }


def test_no_token_secret_or_oauth_code_reaches_a_log(hub):
    hub.user_create(*SAM)
    hub.user_create(*WENDY, approved=False)
    token = hub.token_for(*SAM)
    created = hub.api(token).post(f"{hub.url}/api/v1/workspaces/", json={"name": "logs"})
    assert created.status_code == 201, created.text
    workspace = hub.wait_for_state(token, created.json()["id"], "running")
    browser = portal_login(hub.url, *SAM)
    page = browser.get(workspace["url"] + "lab", timeout=30)
    assert page.status_code == 200, page.url
    oauth = oauth_params(page.history)
    # A code and a state for the hub's login, and another pair for the workspace's.
    assert len(oauth) == 4, [r.url for r in page.history]

    # A workspace token in a URL of the hub, logged out: each hop of the hub's login carries
    # the whole URL, token included, URL-encoded in its ``next``.
    made = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 600}
    )
    assert made.status_code == 200, made.text
    workspace_token = made.json()["token"]
    home = requests.get(f"{hub.url}/hub/home", params={"token": workspace_token}, timeout=30)
    assert urlsplit(home.history[0].headers["Location"]).path == "/hub/login"
    assert home.url.startswith(f"{hub.url}/accounts/login/"), home.url
    api = requests.get(
        f"{hub.url}/hub/api/users/sam", params={"token": workspace_token}, timeout=30
    )
    assert api.status_code == 403, api.text
    # The same at the workspace (its Jupyter server logs to the hub's log in process mode): it
    # takes no token from a URL and sends the browser to log in.
    lab = requests.get(workspace["url"] + "lab", params={"token": workspace_token}, timeout=30)
    assert urlsplit(lab.history[1].url).path == "/hub/api/oauth2/authorize", lab.url
    # Refused logins: one the hub refuses after the portal said who (not approved), with a
    # real code and state, and one with made-up ones (no state cookie).
    refused = portal_login(hub.url, *WENDY).get(f"{hub.url}/hub/home", timeout=30)
    assert refused.status_code == 403, refused.url
    assert urlsplit(refused.url).path == "/hub/oauth_callback"
    refused_oauth = oauth_params(refused.history) | oauth_params([refused])
    assert len(refused_oauth) == 2, [r.url for r in [*refused.history, refused]]
    made_up = {"code": "madeupcode4c0de", "state": "madeupstate5tate"}
    callback = requests.get(f"{hub.url}/hub/oauth_callback", params=made_up, timeout=30)
    assert callback.status_code == 400, callback.text

    data = Path(hub.stack.environ["MLHUB_DATA_DIR"])
    secrets = {path.name: path.read_text().strip() for path in (data / "secrets").iterdir()}
    watched = {
        token,
        hub.admin_token,
        workspace_token,
        *oauth,
        *refused_oauth,
        *made_up.values(),
        *secrets.values(),
    }
    logs = {path.name: path.read_text(errors="replace") for path in (data / "logs").glob("*")}
    assert logs and all(logs.values())
    leaks = [
        f"{name}: {line.replace(secret, f'<{secret[:6]}...>')}"
        for name, text in logs.items()
        for line in text.splitlines()
        for secret in watched
        if secret in line
    ]
    assert leaks == [], "\n".join(leaks)
    assert hub.api(token).delete(f"{hub.url}/api/v1/workspaces/{workspace['id']}/").ok
