"""deploy/compose/ with Debian's docker-compose 1.29, as an admin runs it: `.env` from
`.env.example` with the first block filled in, `up -d`, the portal over HTTPS on the one port
with its state in PostgreSQL, then `down -v`, which leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests

from lib.stack import ROOT
from tests.deploy.mlhub_image import ImageHub, image_built, read_file
from tests.docker_engine import remove_everything_of
from tests.hub_stack import ADMIN_PASSWORD, free_port, portal_login
from tests.parts import require

pytestmark = [pytest.mark.docker, pytest.mark.hub]

COMPOSE_DIR = ROOT / "deploy" / "compose"
PROJECT = "mlhc"  # its containers, network and volumes start with this
HUB = "mlhc"


def env_file(folder, port: int) -> None:
    """.env.example with the first block filled in, as the README says."""
    values = {
        "MLHUB_HOST": "localhost",
        "MLHUB_PORT": str(port),
        "POSTGRES_PASSWORD": "composetestpassword1",
        "MLHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLHUB_POSTGRES_IMAGE": "mlhub-postgres:15",  # no registry here
        "MLHUB_RESOURCES": str(folder / "resources"),
        "HUB_NAME": HUB,
        "COMPOSE_PROJECT_NAME": PROJECT,
    }
    lines = []
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    assert values == {}, f".env.example lacks {sorted(values)}"
    (folder / ".env").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def compose(docker_client, tmp_path_factory):
    require(shutil.which("docker-compose") is not None, "docker-compose is not installed")
    image_built()
    postgres = subprocess.run(
        ["bash", str(ROOT / "deploy" / "scripts" / "build-image.sh"), "postgres"],
        capture_output=True,
        text=True,
    )
    assert postgres.returncode == 0, postgres.stderr[-2000:]
    folder = tmp_path_factory.mktemp("compose")
    shutil.copy(COMPOSE_DIR / "docker-compose.yml", folder / "docker-compose.yml")
    (folder / "resources").mkdir()
    port = free_port()
    env_file(folder, port)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker-compose", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    run("down", "-v")
    up = run("up", "-d")
    try:
        assert up.returncode == 0, up.stderr
        yield run, port
    finally:
        down = run("down", "-v")
        remove_everything_of(docker_client, HUB)
    assert down.returncode == 0, down.stderr
    left = [c.name for c in docker_client.containers.list(all=True) if c.name.startswith(PROJECT)]
    volumes = [v.name for v in docker_client.volumes.list() if v.name.startswith(f"{PROJECT}_")]
    assert (left, volumes) == ([], [])


def test_compose_serves_the_portal_over_https_with_postgresql(docker_client, compose, tmp_path):
    run, port = compose
    assert run("config", "--services").stdout.split() == ["postgres", "mlhub"]
    container = docker_client.containers.get(f"{PROJECT}_mlhub_1")
    hub = ImageHub(
        url=f"https://localhost:{port}",
        hub_api="",
        hub_token="",
        admin_token="",
        stack=None,
        container=container,
        port=port,
    )
    hub.wait_until_up()
    cert = tmp_path / "cert.crt"
    cert.write_bytes(read_file(container, "/data/ssl/cert.crt"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        browser = portal_login(hub.url, "admin", ADMIN_PASSWORD)
        assert browser.get(f"{hub.url}/api/v1/users/", timeout=10).status_code == 200
        assert requests.get(f"{hub.url}/hub/api/", timeout=10).json()["version"] == "6.1.1"
    # The portal's people are in PostgreSQL, and no SQLite file holds them.
    users = run(
        "exec",
        "-T",
        "postgres",
        "psql",
        "-U",
        "mlhub",
        "-d",
        "mlhub",
        "-tAc",
        "SELECT username FROM accounts_user ORDER BY username",
    )
    assert users.stdout.split() == ["admin"], users.stderr
    assert container.exec_run(["test", "-e", "/data/portal.sqlite3"]).exit_code == 1
    health = docker_client.containers.get(f"{PROJECT}_postgres_1").attrs["State"]["Health"]
    assert health["Status"] == "healthy"
