"""mlhub_backup and mlhub_restore's refusals and what a backup holds (portal/backups/).

The whole round trip (back up, lose the data directory, restore, open the same workspace
with its files) runs against a real stack: tests/docker_mode/test_backup_restore.py.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from hubconfig import database as hub_database
from portal.accounts.models import User
from portal.backups import archive
from portal.backups import databases as databases_module
from portal.backups.databases import PORTAL_DUMP, PORTAL_SQLITE
from tests.postgres import database_drop, databases, psql


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data directory as a running MLHub has it: the hub's database, its cookie secret, the
    generated secrets and the SSH host keys."""
    data = tmp_path / "data"
    (data / "hub").mkdir(parents=True)
    with sqlite3.connect(data / "hub" / "jupyterhub.sqlite") as hub_db:
        hub_db.execute("CREATE TABLE users (name TEXT)")
        hub_db.execute("INSERT INTO users VALUES ('ada')")
    hub_db.close()
    (data / "hub" / "jupyterhub_cookie_secret").write_text("cookie")
    (data / "secrets").mkdir()
    (data / "secrets" / "secret_key").write_text("generated")
    (data / "ssh").mkdir()
    (data / "ssh" / "ssh_host_ed25519_key").write_text("host key")
    (data / "static").mkdir()
    (data / "static" / "app.css").write_text("made again by collectstatic")
    monkeypatch.setenv("MLHUB_DATA_DIR", str(data))
    return data


# Committed rows, as a running portal's: a backup reads the database on a connection of its
# own, which the test's open transaction would keep waiting.
COMMITTED = pytest.mark.django_db(
    transaction=True, available_apps=[app.name for app in apps.get_app_configs()]
)


def modes(folder) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): stat.filemode(path.stat().st_mode)
        for path in [folder, *folder.rglob("*")]
    }


@COMMITTED
def test_a_backup_holds_both_databases_and_the_secrets_readable_by_its_owner_alone(
    data_dir, tmp_path
):
    User.objects.create_user(username="ada", password="x")
    dest = tmp_path / "backup"
    out = StringIO()
    call_command("mlhub_backup", str(dest), stdout=out)
    assert f"Backed up 5 files to {dest}" in out.getvalue()

    portal_file = PORTAL_SQLITE if connection.vendor == "sqlite" else PORTAL_DUMP
    manifest = json.loads((dest / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        portal_file,
        "hub/jupyterhub.sqlite",
        "hub/jupyterhub_cookie_secret",
        "secrets/secret_key",
        "ssh/ssh_host_ed25519_key",
    }
    assert manifest["migrations"]["accounts"].startswith("00")
    assert any("workspaces' files" in note for note in manifest["not_included"])
    assert {name: mode for name, mode in modes(dest).items()} == {
        name: "drwx------" if (dest / name).is_dir() else "-rw-------" for name in modes(dest)
    }
    assert (dest / "secrets" / "secret_key").read_text() == "generated"
    with sqlite3.connect(dest / "hub" / "jupyterhub.sqlite") as hub_db:
        assert hub_db.execute("SELECT name FROM users").fetchall() == [("ada",)]
    hub_db.close()
    if connection.vendor == "sqlite":
        with sqlite3.connect(dest / PORTAL_SQLITE) as portal_db:
            found = portal_db.execute("SELECT username FROM accounts_user").fetchall()
        portal_db.close()
    else:
        listed = subprocess.run(
            ["pg_restore", "--list", str(dest / PORTAL_DUMP)], capture_output=True, text=True
        )
        found = [("ada",)] if "TABLE DATA public accounts_user" in listed.stdout else listed.stderr
    assert ("ada",) in found
    assert not list(tmp_path.glob(".backup.partial-*"))


@COMMITTED
def test_a_backup_without_the_hubs_database_or_cookie_secret_says_so(
    data_dir, tmp_path, monkeypatch
):
    # As in the chart's task cluster: no hub volume, and no MLHUB_HUB_DB_URL given.
    (data_dir / "hub" / "jupyterhub.sqlite").unlink()
    (data_dir / "hub" / "jupyterhub_cookie_secret").unlink()
    monkeypatch.delenv("MLHUB_HUB_DB_URL", raising=False)
    monkeypatch.delenv("MLHUB_HUB_DB_URL_FILE", raising=False)
    dest = tmp_path / "backup"
    out = StringIO()
    call_command("mlhub_backup", str(dest), stdout=out)

    manifest = json.loads((dest / "manifest.json").read_text())
    assert not [name for name in manifest["files"] if name.startswith("hub/jupyterhub.")]
    note = (
        f"the hub's database: there is none at {data_dir / 'hub' / 'jupyterhub.sqlite'} "
        "(MLHUB_HUB_DB_URL is not set here): back up where the hub's settings are, or its "
        "database by itself"
    )
    cookie = (
        f"the hub's cookie secret: there is none at {data_dir / 'hub' / 'jupyterhub_cookie_secret'}"
        " (it signs the hub's cookies only: without it people log in to the hub again, through "
        "the portal)"
    )
    assert {note, cookie} <= set(manifest["not_included"])
    assert f"  not included: {note}" in out.getvalue().splitlines()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701])
def test_a_folder_others_may_open_is_refused_and_nothing_written(data_dir, tmp_path, mode):
    dest = tmp_path / "shared"
    dest.mkdir()
    dest.chmod(mode)
    with pytest.raises(CommandError, match=r"may be opened by others .* chmod 700"):
        call_command("mlhub_backup", str(dest))
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "shared"]


@pytest.mark.django_db
def test_a_folder_that_is_not_empty_is_refused(data_dir, tmp_path):
    dest = tmp_path / "full"
    dest.mkdir(mode=0o700)
    (dest / "other.txt").write_text("someone's")
    with pytest.raises(CommandError, match="is not empty"):
        call_command("mlhub_backup", str(dest))
    assert [p.name for p in dest.iterdir()] == ["other.txt"]


@pytest.mark.django_db
def test_a_failed_backup_leaves_no_folder_behind(data_dir, tmp_path, monkeypatch):
    def broken(folder):
        raise archive.BackupError("the database went away")

    monkeypatch.setattr(archive.databases, "portal_backup", broken)
    with pytest.raises(CommandError, match="the database went away"):
        call_command("mlhub_backup", str(tmp_path / "backup"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.fixture
def made_backup(data_dir, tmp_path):
    dest = tmp_path / "backup"
    archive.backup(dest)
    return dest


@COMMITTED
def test_a_damaged_backup_is_refused_and_nothing_restored(
    made_backup, data_dir, tmp_path, monkeypatch
):
    (made_backup / "secrets" / "secret_key").write_text("tampered")
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("MLHUB_DATA_DIR", str(fresh))
    with pytest.raises(CommandError, match="damaged; these differ: secrets/secret_key"):
        call_command("mlhub_restore", str(made_backup))
    assert not fresh.exists() or list(fresh.iterdir()) == []


@COMMITTED
def test_a_restore_onto_an_mlhub_that_is_not_new_is_refused(made_backup, data_dir):
    # The data directory the backup came from: its hub database and secrets are there.
    before = (data_dir / "secrets" / "secret_key").read_text()
    with pytest.raises(CommandError, match=r"not new.*hub/jupyterhub.sqlite.*--replace"):
        call_command("mlhub_restore", str(made_backup))
    assert (data_dir / "secrets" / "secret_key").read_text() == before


@pytest.mark.django_db
def test_something_that_is_no_backup_is_refused(tmp_path):
    with pytest.raises(CommandError, match="is not an MLHub backup"):
        call_command("mlhub_restore", str(tmp_path))


# The hub on PostgreSQL (compose's and the chart's) -------------------------------------------
@pytest.fixture
def hub_on_postgresql(data_dir, monkeypatch):
    """The data directory's hub moved to PostgreSQL: its database ``<name>_hub`` holds ada,
    and no SQLite file is left. The server's URL without a database, and the name."""
    with databases("mlhub_hubbk") as (name, url):
        server = url.rsplit("/", 1)[0]
        hub_database.database_create(f"{server}/{name}_hub")
        psql(
            f"{name}_hub",
            "SET ROLE mlhub; CREATE TABLE users (name text); INSERT INTO users VALUES ('ada')",
        )
        monkeypatch.setenv("MLHUB_HUB_DB_URL", f"{server}/{name}_hub")
        (data_dir / "hub" / "jupyterhub.sqlite").unlink()
        yield server, name


@COMMITTED
def test_a_hub_on_postgresql_is_backed_up_with_pg_dump_and_comes_back_into_a_new_database(
    hub_on_postgresql, tmp_path
):
    server, name = hub_on_postgresql
    dest = tmp_path / "backup"
    call_command("mlhub_backup", str(dest), stdout=StringIO())

    manifest = json.loads((dest / "manifest.json").read_text())
    assert "hub/jupyterhub.pgdump" in manifest["files"]
    assert "hub/jupyterhub.sqlite" not in manifest["files"]
    assert stat.filemode((dest / "hub" / "jupyterhub.pgdump").stat().st_mode) == "-rw-------"
    # Into a database its server does not have yet: made, then filled.
    databases_module.hub_postgres_restore(f"{server}/{name}_hub2", dest / "hub/jupyterhub.pgdump")
    try:
        assert psql(f"{name}_hub2", "SELECT name FROM users") == ["ada"]
    finally:
        database_drop(f"{name}_hub2")


@COMMITTED
def test_a_restore_is_refused_onto_a_hub_database_with_tables_or_onto_a_sqlite_hub(
    hub_on_postgresql, tmp_path, monkeypatch
):
    server, name = hub_on_postgresql
    dest = tmp_path / "backup"
    archive.backup(dest)
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path / "fresh"))
    # The hub's database in use (a hub started on it, or the one backed up).
    with pytest.raises(CommandError, match=rf"not new.*the hub's database .*{name}_hub has tables"):
        call_command("mlhub_restore", str(dest))
    assert psql(f"{name}_hub", "SELECT name FROM users") == ["ada"]
    # A hub on SQLite cannot take PostgreSQL's dump.
    monkeypatch.delenv("MLHUB_HUB_DB_URL")
    with pytest.raises(CommandError, match="hub database is PostgreSQL's, this hub's is SQLite"):
        call_command("mlhub_restore", str(dest))
    assert not (tmp_path / "fresh").exists()
