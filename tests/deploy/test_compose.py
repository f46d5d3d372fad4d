"""deploy/compose/ with Debian's docker-compose 1.29, as an admin runs it: `.env` from
`.env.example` with the first block filled in, `up -d`, the portal over HTTPS on the one port
and the hub, each with its state in its own PostgreSQL database, then `down -v`, which leaves
nothing behind. The install starts as released before the hub moved to PostgreSQL (its
database SQLite in /data/hub), with a hub token of the admin's; `up -d` with this compose file
upgrades it, and the hub has the same person and token in PostgreSQL. Last, a backup made
inside the running container (mlhub-manage, pg_dump of both databases) is restored into a new
install of its own, new volumes and PostgreSQL server, where the same person logs in to the
same workspace."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from lib.labels import container_name
from lib.polling import poll_until
from lib.stack import ROOT
from tests.deploy.mlhub_image import (
    IMAGE,
    WORKSPACE_IMAGE,
    ImageHub,
    image_built,
    image_waited_on,
    read_file,
)
from tests.docker_engine import remove_everything_of, require_image
from tests.hub_stack import ADMIN_PASSWORD, free_port, portal_login
from tests.parts import require

pytestmark = [pytest.mark.docker, pytest.mark.hub]

COMPOSE_DIR = ROOT / "deploy" / "compose"
PROJECT = "mlhc"  # its containers, network and volumes start with this
HUB = "mlhc"
RESTORED = "mlhr"  # the new install a backup is restored into (the same hub)
ALICE = ("alice", "alice-pass-123")


def env_file(folder, port: int, *, project: str = PROJECT, backups: Path | None = None) -> None:
    """.env.example with the first block filled in, as the README says."""
    values = {
        "MLHUB_HOST": "localhost",
        "MLHUB_PORT": str(port),
        "POSTGRES_PASSWORD": "composetestpassword1",
        "MLHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLHUB_POSTGRES_IMAGE": "mlhub-postgres:15",  # no registry here
        "MLHUB_IMAGE": IMAGE,  # this checkout's (tests/deploy/mlhub_image.py)
        "MLHUB_RESOURCES": str(folder / "resources"),
        "MLHUB_BACKUPS": str(backups or folder / "backups"),
        "HUB_NAME": HUB,
        "COMPOSE_PROJECT_NAME": project,
    }
    lines = []
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    assert values == {}, f".env.example lacks {sorted(values)}"
    (folder / ".env").write_text("\n".join(lines) + "\n")


def compose_file(folder, *, before_the_hub_moved: bool = False) -> None:
    """The compose file; ``before_the_hub_moved``: as released before, the hub on SQLite."""
    lines = (COMPOSE_DIR / "docker-compose.yml").read_text().splitlines(keepends=True)
    if before_the_hub_moved:
        kept = [line for line in lines if not line.lstrip().startswith("MLHUB_HUB_DB_URL:")]
        assert len(kept) == len(lines) - 1
        lines = kept
    (folder / "docker-compose.yml").write_text("".join(lines))


def compose_in(folder):
    """``docker-compose ARGS`` in ``folder``: its .env and compose file."""

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker-compose", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def image_hub(container, port: int) -> ImageHub:
    hub = image_waited_on(container, port)
    hub.wait_until_up()
    return hub


def hub_call(container, token: str, method: str, path: str, body: dict | None = None) -> dict:
    """The hub's API from inside the container (on its own address, no TLS)."""
    command = ["curl", "-sS", "-f", "-X", method, "-H", f"Authorization: token {token}"]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    done = container.exec_run([*command, f"http://127.0.0.1:8081/hub/api{path}"])
    assert done.exit_code == 0, done.output.decode(errors="replace")
    return json.loads(done.output)


def admins_hub_token(container) -> str:
    """A hub token of the admin's (who is in the portal too: no cleanup takes them), as the
    portal issues them, with the portal's own hub token."""
    portal = read_file(container, "/data/secrets/mlhub_hub_api_token").decode().strip()
    hub_call(container, portal, "POST", "/users/admin")
    issued = hub_call(
        container,
        portal,
        "POST",
        "/users/admin/tokens",
        {"scopes": ["read:users!user=admin"], "expires_in": 3600, "note": "before the upgrade"},
    )
    return issued["token"]


@dataclass
class Compose:
    run: object  # compose_in's
    port: int
    token: str  # the admin's hub token, made before the upgrade
    folder: Path


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
    compose_file(folder, before_the_hub_moved=True)
    (folder / "resources").mkdir()
    port = free_port()
    env_file(folder, port)
    run = compose_in(folder)
    run("down", "-v")
    up = run("up", "-d")
    try:
        assert up.returncode == 0, up.stderr
        before = docker_client.containers.get(f"{PROJECT}_mlhub_1")
        image_hub(before, port)
        assert before.exec_run(["test", "-s", "/data/hub/jupyterhub.sqlite"]).exit_code == 0
        token = admins_hub_token(before)
        # The upgrade: this compose file; compose replaces the mlhub container.
        compose_file(folder)
        upgraded = run("up", "-d")
        assert upgraded.returncode == 0, upgraded.stderr
        yield Compose(run, port, token, folder)
    finally:
        down = run("down", "-v")
        remove_everything_of(docker_client, HUB)
    assert down.returncode == 0, down.stderr
    left = [c.name for c in docker_client.containers.list(all=True) if c.name.startswith(PROJECT)]
    volumes = [v.name for v in docker_client.volumes.list() if v.name.startswith(f"{PROJECT}_")]
    assert (left, volumes) == ([], [])


def psql(run, database: str, query: str) -> list[str]:
    found = run("exec", "-T", "postgres", "psql", "-U", "mlhub", "-d", database, "-tAc", query)
    assert found.returncode == 0, found.stderr
    return found.stdout.split()


def test_compose_serves_the_portal_over_https_with_postgresql(docker_client, compose, tmp_path):
    run, port = compose.run, compose.port
    assert run("config", "--services").stdout.split() == ["postgres", "mlhub"]
    container = docker_client.containers.get(f"{PROJECT}_mlhub_1")
    hub = image_hub(container, port)
    cert = tmp_path / "cert.crt"
    cert.write_bytes(read_file(container, "/data/ssl/cert.crt"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        browser = portal_login(hub.url, "admin", ADMIN_PASSWORD)
        assert browser.get(f"{hub.url}/api/v1/users/", timeout=10).status_code == 200
        assert requests.get(f"{hub.url}/hub/api/", timeout=10).json()["version"] == "6.1.1"
    # The portal's people are in PostgreSQL, and no SQLite file holds them.
    assert psql(run, "mlhub", "SELECT username FROM accounts_user ORDER BY username") == ["admin"]
    assert container.exec_run(["test", "-e", "/data/portal.sqlite3"]).exit_code == 1
    health = docker_client.containers.get(f"{PROJECT}_postgres_1").attrs["State"]["Health"]
    assert health["Status"] == "healthy"


def test_the_upgraded_hub_keeps_its_state_in_its_own_postgresql_database(docker_client, compose):
    run, port, token = compose.run, compose.port, compose.token
    container = docker_client.containers.get(f"{PROJECT}_mlhub_1")
    image_hub(container, port)
    # Its own database on the server, with the hub's tables and what it wrote: its service
    # (the portal's), and the admin with the token made before the upgrade, which it accepts.
    assert psql(run, "mlhub_hub", "SELECT name FROM services") == ["portal"]
    assert psql(run, "mlhub_hub", "SELECT name FROM users") == ["admin"]
    assert hub_call(container, token, "GET", "/users/admin")["name"] == "admin"
    # The SQLite database it had was moved in at the start, and is kept aside, not used.
    assert container.exec_run(["test", "-e", "/data/hub/jupyterhub.sqlite"]).exit_code == 1
    kept = container.exec_run(["sh", "-c", "ls /data/hub/jupyterhub.sqlite.moved-*"])
    assert kept.exit_code == 0, kept.output
    logs = container.logs().decode(errors="replace")
    assert "mlhub: made the hub's database postgresql+psycopg://mlhub:***@postgres" in logs
    assert "mlhub: moved /data/hub/jupyterhub.sqlite into" in logs


def trusted(hub: ImageHub, folder: Path) -> ImageHub:
    """``hub`` with the certificate its container made, for its requests."""
    hub.cert = folder / f"cert-{hub.port}.crt"
    hub.cert.write_bytes(read_file(hub.container, "/data/ssl/cert.crt"))
    return hub


def private_modes(folder: Path) -> dict[str, str]:
    """Each path under ``folder`` (and itself) and its mode, owner and group."""
    return {
        str(path.relative_to(folder)): (
            f"{stat.filemode(path.stat().st_mode)} {path.stat().st_uid}:{path.stat().st_gid}"
        )
        for path in [folder, *folder.rglob("*")]
    }


@pytest.fixture
def new_install(docker_client, compose, tmp_path):
    """A new install of the same hub beside ``compose``'s: its folder, .env (the backups are
    ``compose``'s) and its own PostgreSQL server, started (its health check takes seconds);
    the MLHub container is the test's to make. Taken down with its volumes afterwards."""
    folder = tmp_path / "restored"
    folder.mkdir()
    compose_file(folder)
    (folder / "resources").mkdir()
    port = free_port()
    env_file(folder, port, project=RESTORED, backups=compose.folder / "backups")
    run = compose_in(folder)
    run("down", "-v")
    try:
        postgres = run("up", "-d", "postgres")
        assert postgres.returncode == 0, postgres.stderr
        yield run, port
    finally:
        down = run("down", "-v", "--timeout", "1")  # its state goes: no need to stop in turn
    assert down.returncode == 0, down.stderr
    left = [c.name for c in docker_client.containers.list(all=True) if c.name.startswith(RESTORED)]
    volumes = [v.name for v in docker_client.volumes.list() if v.name.startswith(f"{RESTORED}_")]
    assert (left, volumes) == ([], [])


# Last in this module: it adds a person the tests above do not expect.
def test_a_backup_made_in_the_running_container_comes_back_in_a_new_install(
    docker_client, compose, new_install, tmp_path, monkeypatch
):
    require_image(docker_client, WORKSPACE_IMAGE)
    hub = trusted(
        image_hub(docker_client.containers.get(f"{PROJECT}_mlhub_1"), compose.port), tmp_path
    )
    hub.admin_token = hub.token_for("admin", ADMIN_PASSWORD)
    hub.user_create(*ALICE)
    alice = hub.token_for(*ALICE)
    made = hub.api(alice).post(
        f"{hub.url}/api/v1/workspaces/",
        json={"name": "kept", "cpu": 0.5, "memory": "512M"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    # Watched on the engine until its container runs, then through the port: the hub joins
    # alice's new network first, and Docker 20.10 moves the MLHub container's published port
    # to its network whose name sorts first (mlhc-alice before mlhc_default), dropping the
    # connections made meanwhile (seen here: RemoteDisconnected).
    poll_until(
        lambda: docker_client.containers.list(
            filters={"name": f"^{container_name(HUB, 'alice', 'kept')}$", "status": "running"}
        ),
        timeout=90,
        what="alice's workspace container did not start",
    )
    workspace = hub.wait_for_state(alice, made.json()["id"], "running")
    running = docker_client.containers.get(container_name(HUB, "alice", "kept")).id

    # While it all runs: the backup, inside the container, into the host's folder.
    backed_up = compose.run(
        "exec", "-T", "mlhub", "mlhub-manage", "mlhub_backup", "/backups/before-the-disk-died"
    )
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
    assert "not included: the workspaces' files" in backed_up.stdout
    backup = compose.folder / "backups" / "before-the-disk-died"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert {"portal.pgdump", "hub/jupyterhub.pgdump", "hub/jupyterhub_cookie_secret"} <= set(
        manifest["files"]
    )
    assert "secrets/mlhub_hub_api_token" in manifest["files"]
    for dump in ("portal.pgdump", "hub/jupyterhub.pgdump"):  # pg_dump's custom format
        assert (backup / dump).read_bytes()[:5] == b"PGDMP", dump
    assert private_modes(backup) == {
        name: ("drwx------" if (backup / name).is_dir() else "-rw-------") + " 0:0"
        for name in private_modes(backup)
    }

    # The new install (its own volumes and PostgreSQL server): restored before its first
    # start, then started.
    run, port = new_install
    restored = run(
        "run", "--rm", "-T", "--entrypoint", "mlhub-manage", "mlhub",
        "mlhub_restore", "/backups/before-the-disk-died",
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Start MLHub now" in restored.stdout
    up = run("up", "-d")
    assert up.returncode == 0, up.stderr
    new = trusted(image_hub(docker_client.containers.get(f"{RESTORED}_mlhub_1"), port), tmp_path)

    # Alice logs in with her password and finds the same workspace; her API token too.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(new.cert))
    session = portal_login(new.url, *ALICE)
    listed = session.get(f"{new.url}/api/v1/workspaces/", timeout=10)
    assert listed.status_code == 200, listed.text
    assert [(w["id"], w["name"]) for w in listed.json()["results"]] == [(workspace["id"], "kept")]
    me = new.api(alice).get(f"{new.url}/api/v1/me/", timeout=10)
    assert me.json()["username"] == "alice", me.text
    # The hub's database came back with it: the admin's hub token made before the upgrade,
    # and alice's server, still running, taken over by the new hub (it checks its servers
    # at its start; past init_spawners_timeout, in the background: the wait), not made anew.
    portal = read_file(new.container, "/data/secrets/mlhub_hub_api_token").decode().strip()
    assert portal == read_file(hub.container, "/data/secrets/mlhub_hub_api_token").decode().strip()
    assert hub_call(new.container, compose.token, "GET", "/users/admin")["name"] == "admin"
    poll_until(
        lambda: hub_call(new.container, portal, "GET", "/users/alice")["servers"]["kept"]["ready"],
        timeout=60,
        what="the restored hub did not take alice's running workspace over",
    )
    assert docker_client.containers.get(container_name(HUB, "alice", "kept")).id == running
