"""The portal's pages use Bootstrap 5 as the jupyterhub package ships it: linked from the
portal's own static URL, found in JupyterHub's share/jupyterhub, collected and served like the
portal's own files. A JupyterHub upgrade that moves it or brings another major version fails
here (and stops the portal's start: portal/settings.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from jupyterhub._data import DATA_FILES_PATH

from portal.accounts.login_page import LoginForm
from portal.workspaces.forms import WorkspaceCreateForm
from tests.portal.reloaded import settings_refusal

pytestmark = pytest.mark.django_db

BOOTSTRAP = "vendor/bootstrap/bootstrap.min.css"
HUBS_COPY = Path(DATA_FILES_PATH, "static/components/bootstrap/dist/css/bootstrap.min.css")
LINKS = (
    f'<link rel="stylesheet" href="/static/{BOOTSTRAP}">\n'
    '  <link rel="stylesheet" href="/static/mlhub/mlhub.css">'
)


def banner_version(css: bytes) -> str:
    """The version Bootstrap's banner comment names, from the file's first lines."""
    head = b"\n".join(css.splitlines()[:5]).decode()
    found = re.search(r"\* Bootstrap\s+v(\d+\.\d+\.\d+)", head)
    assert found, head
    return found.group(1)


def test_pages_link_bootstrap_from_the_portals_static_url_before_the_portals_css(client, alice):
    assert LINKS in client.get("/accounts/login/").content.decode()

    client.force_login(alice)
    assert LINKS in client.get("/").content.decode()


def test_the_static_file_is_the_jupyterhub_packages_bootstrap_5():
    assert DATA_FILES_PATH  # jupyterhub found its share/jupyterhub
    assert finders.find(BOOTSTRAP) == str(HUBS_COPY)
    assert banner_version(HUBS_COPY.read_bytes()).startswith("5.")


def test_collectstatic_gathers_it_and_the_portal_serves_it(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / BOOTSTRAP).read_bytes() == HUBS_COPY.read_bytes()

    # A new client: WhiteNoise reads STATIC_ROOT when its middleware is made, as in production.
    response = Client().get(f"/static/{BOOTSTRAP}", HTTP_ACCEPT_ENCODING="identity")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert banner_version(b"".join(response.streaming_content)).startswith("5.")


def test_without_jupyterhubs_bootstrap_the_portal_does_not_start(monkeypatch, tmp_path):
    monkeypatch.setattr("jupyterhub._data.DATA_FILES_PATH", str(tmp_path))

    assert settings_refusal(monkeypatch) == (
        "The portal's pages use the Bootstrap that the jupyterhub package installs, and it is "
        f"not there: {tmp_path}/static/components/bootstrap/dist/css/bootstrap.min.css"
    )


def test_page_forms_render_with_bootstraps_classes(alice):
    login = LoginForm(data={"username": "alice", "password": ""})
    login.is_valid()
    workspace = WorkspaceCreateForm(user=alice)

    assert 'class="form-control"' in str(login["username"])
    # A field with errors says so to the eye (is-invalid) as Django says it to screen readers.
    password = str(login["password"])
    assert 'class="form-control is-invalid"' in password and 'aria-invalid="true"' in password
    assert str(login["username"].label_tag()) == (
        '<label class="form-label" for="id_username">Username</label>'
    )
    assert 'class="form-select"' in str(workspace["template"])
    assert 'aria-describedby="id_cpu_helptext"' in str(workspace["cpu"])
