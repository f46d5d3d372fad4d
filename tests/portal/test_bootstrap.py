"""The portal serves Bootstrap 5 as the jupyterhub package ships it: found in JupyterHub's
share/jupyterhub, collected and served like the portal's own files. A JupyterHub upgrade that
moves it or brings another major version fails here (and stops the portal's start:
portal/settings.py)."""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from jupyterhub._data import DATA_FILES_PATH

from tests.portal.reloaded import settings_refusal

BOOTSTRAP = "vendor/bootstrap/bootstrap.min.css"
HUBS_COPY = Path(DATA_FILES_PATH, "static/components/bootstrap/dist/css/bootstrap.min.css")


def banner_version(css: bytes) -> str:
    """The version Bootstrap's banner comment names, from the file's first lines."""
    head = b"\n".join(css.splitlines()[:5]).decode()
    found = re.search(r"\* Bootstrap\s+v(\d+\.\d+\.\d+)", head)
    assert found, head
    return found.group(1)


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
