"""`mlhub_backup` and `mlhub_restore`: what a backup holds, and putting it back.

A backup is a folder readable by its owner alone:

    manifest.json            what is in it (each file's SHA-256), when, from which MLHub
    portal.sqlite3           the portal's database (or portal.pgdump, PostgreSQL's)
    hub/jupyterhub.sqlite    the hub's database: its users, servers and tokens
                             (or hub/jupyterhub.pgdump, PostgreSQL's: MLHUB_HUB_DB_URL)
    hub/jupyterhub_cookie_secret
    secrets/                 the secrets MLHub generated in its data directory
    ssh/                     the SSH gateway's host keys (the image), so clients see no change
    resources/               the hub's override file and certificates, when kept there

Not in it, and said so in the manifest: the workspaces' own files (Docker volumes,
Kubernetes claims, process mode's homes: back them up with the engine's tools), the static
files (`collectstatic` makes them again) and secrets given in the environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db.migrations.recorder import MigrationRecorder

from hubconfig import database as hub_database
from lib import env
from lib.stack import SHARED_SECRETS
from portal.backups import databases
from portal.backups.files import (
    BackupError,
    destination_check,
    private_copy,
    private_file,
    private_folder_for,
    sha256_of,
)

FORMAT = 1
MANIFEST = "manifest.json"
HUB_DATABASE = Path("hub") / "jupyterhub.sqlite"
HUB_DUMP = Path("hub") / "jupyterhub.pgdump"
HUB_COOKIE_SECRET = Path("hub") / "jupyterhub_cookie_secret"
# The data directory's own files and folders a backup copies as they are.
COPIED = (
    HUB_COOKIE_SECRET,
    Path("secrets"),
    Path("ssh"),
    Path("resources"),
)
NOT_INCLUDED = [
    "the workspaces' files (Docker volumes, Kubernetes claims, process mode's homes): "
    "back them up with the engine's own tools",
    "the static files: collectstatic makes them again (mlhub_restore runs it)",
]


@dataclass
class Manifest:
    format: int
    created: str
    hub_name: str
    portal_database: str  # the file's name: its kind
    migrations: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # relative path: SHA-256
    not_included: list[str] = field(default_factory=list)

    def write(self, folder: Path) -> None:
        private_file(folder / MANIFEST).write_text(json.dumps(self.__dict__, indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            found = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise BackupError(f"{folder} is not an MLHub backup ({MANIFEST}: {error})") from None
        if found.get("format") != FORMAT:
            raise BackupError(
                f"{folder} is a backup of format {found.get('format')!r}, not {FORMAT}"
            )
        return cls(**found)


def backup(dest: Path) -> Manifest:
    """A consistent copy of what MLHub keeps, into the new folder ``dest``."""
    destination_check(dest)
    data = env.data_dir()
    with private_folder_for(dest) as folder:
        manifest = Manifest(
            format=FORMAT,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            hub_name=settings.HUB_NAME,
            portal_database=databases.portal_backup(folder),
            migrations=_latest_migrations(),
            not_included=NOT_INCLUDED + _secrets_from_the_environment(data),
        )
        hub_url = hub_database.configured_url()
        if hub_database.is_postgresql(hub_url):
            databases.hub_postgres_backup(hub_url, folder / HUB_DUMP)
        elif _hub_sqlite(hub_url).exists():
            databases.sqlite_copy(_hub_sqlite(hub_url), folder / HUB_DATABASE)
        else:
            manifest.not_included.append(_hub_absent_note(hub_url))
        for part in COPIED:
            _copy(data / part, folder / part)
        if not (data / HUB_COOKIE_SECRET).is_file():
            manifest.not_included.append(
                f"the hub's cookie secret: there is none at {data / HUB_COOKIE_SECRET} (it "
                "signs the hub's cookies only: without it people log in to the hub again, "
                "through the portal)"
            )
        manifest.files = {
            str(path.relative_to(folder)): sha256_of(path)
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        manifest.write(folder)
    return manifest


def restore(source: Path, *, replace: bool = False) -> Manifest:
    """Put the backup in ``source`` back into this data directory and database, which must
    hold nothing of their own (``replace``: overwrite what they hold)."""
    manifest = Manifest.read(source)
    damaged = [
        name
        for name, digest in manifest.files.items()
        if not (source / name).is_file() or sha256_of(source / name) != digest
    ]
    if damaged:
        raise BackupError(f"the backup in {source} is damaged; these differ: {', '.join(damaged)}")
    data = env.data_dir()
    hub_url = hub_database.configured_url()
    if str(HUB_DUMP) in manifest.files and not hub_database.is_postgresql(hub_url):
        raise BackupError(
            "the backup's hub database is PostgreSQL's, this hub's is SQLite: set "
            "MLHUB_HUB_DB_URL to a new PostgreSQL database for it"
        )
    if not replace:
        _fresh_check(manifest, hub_url)
    databases.portal_restore(source / manifest.portal_database)
    for name in manifest.files:
        path = Path(name)
        if name != manifest.portal_database and path not in (HUB_DATABASE, HUB_DUMP):
            private_copy(source / path, data / path)
    if str(HUB_DUMP) in manifest.files:
        databases.hub_postgres_restore(hub_url, source / HUB_DUMP)
    elif str(HUB_DATABASE) in manifest.files:
        _hub_sqlite_restore(source / HUB_DATABASE, hub_url)
    return manifest


def _hub_sqlite(hub_url: str) -> Path:
    """The hub's SQLite file (``MLHUB_HUB_DB_URL`` may name another than the data
    directory's)."""
    return Path(hub_url.removeprefix("sqlite:///"))


def _hub_absent_note(hub_url: str) -> str:
    """Why the backup has no hub database: said, never silently left out (the chart's task
    cluster, where backups run, has no hub volume; a hub that never started has none)."""
    return (
        f"the hub's database: there is none at {_hub_sqlite(hub_url)} (MLHUB_HUB_DB_URL is "
        "not set here): back up where the hub's settings are, or its database by itself"
    )


def _hub_sqlite_restore(backup_file: Path, hub_url: str) -> None:
    """The backup's SQLite hub database back in place; a hub on PostgreSQL now (compose and
    the chart, since they moved it there) gets it moved into its database."""
    if not hub_database.is_postgresql(hub_url):
        databases.sqlite_copy(backup_file, _hub_sqlite(hub_url))
        return
    moved_from = hub_database.sqlite_file()
    databases.sqlite_copy(backup_file, moved_from)
    try:
        # No hub runs on it: its database was empty (_fresh_check), and a hub makes tables.
        hub_database.move(moved_from, hub_url, check_running=False)
    except hub_database.HubDatabaseError as error:
        raise BackupError(
            f"the backup's SQLite hub database is back in {moved_from}, but moving it into "
            f"this hub's PostgreSQL database failed: {error}"
        ) from None


def _fresh_check(manifest: Manifest, hub_url: str) -> None:
    """Nothing of this MLHub's own would be overwritten: no people in its portal, no hub
    database (a hub on PostgreSQL: none with tables). (The secrets a first start generated
    are replaced: the backup's are the ones its tokens and sessions were made with.)"""
    there = []
    if databases.portal_has_people():
        there.append("the portal's database has people")
    has_hub = str(HUB_DATABASE) in manifest.files or str(HUB_DUMP) in manifest.files
    if has_hub and hub_database.is_postgresql(hub_url):
        try:
            hub_database.database_create(hub_url)
            tables = hub_database.tables_in(hub_url)
        except hub_database.HubDatabaseError as error:
            raise BackupError(f"the hub's database: {error}") from None
        if tables:
            there.append(f"the hub's database {hub_database.redacted(hub_url)} has tables")
    elif has_hub and _hub_sqlite(hub_url).exists():
        there.append(f"{_hub_sqlite(hub_url)} exists")
    if there:
        raise BackupError(
            "this MLHub is not new, restoring would mix two installations: "
            + "; ".join(there)
            + ". Restore onto a new MLHUB_DATA_DIR (and database), or pass --replace."
        )


def _copy(source: Path, target: Path) -> None:
    if source.is_file():
        private_copy(source, target)
    elif source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file():
                private_copy(path, target / path.relative_to(source))


def _latest_migrations() -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder.Migration.objects.values_list("app", "name"):
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


def _secrets_from_the_environment(data: Path) -> list[str]:
    """The shared secrets this process reads from elsewhere than the data directory."""

    elsewhere = []
    for name in SHARED_SECRETS:
        path = os.environ.get(f"{name}_FILE", "")
        if os.environ.get(name) or (path and not Path(path).resolve().is_relative_to(data)):
            elsewhere.append(f"{name}: given in the environment, keep it where it comes from")
    return elsewhere
