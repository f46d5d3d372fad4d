"""Consistent copies of the two databases, taken while MLHub runs.

Each is SQLite's online backup API (a snapshot even while it is written), or PostgreSQL's
`pg_dump` (custom format; `pg_restore` puts it back). The connection settings reach the
PostgreSQL tools in their PG* variables, never on a command line (`ps` shows those). The
portal's database is Django's; the hub's is ``MLHUB_HUB_DB_URL``'s (hubconfig/database.py).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection

from hubconfig import database as hub_database
from portal.backups.files import BackupError, private_file

PORTAL_SQLITE = "portal.sqlite3"
PORTAL_DUMP = "portal.pgdump"


def portal_kind() -> str:
    return connection.vendor  # "sqlite" or "postgresql"


def portal_backup(folder: Path) -> str:
    """The portal's database into ``folder``; the file's name."""
    if portal_kind() == "sqlite":
        name = str(connection.settings_dict["NAME"])
        # Its own connection, read-only, not Django's (whose transaction may be open); the
        # tests' in-memory database is already a URI.
        source = name if name.startswith("file:") else f"file:{name}?mode=ro"
        _sqlite_backup(source, folder / PORTAL_SQLITE)
        return PORTAL_SQLITE
    _postgres_tool(
        "pg_dump", "--format=custom", "--no-owner", f"--file={private_file(folder / PORTAL_DUMP)}"
    )
    return PORTAL_DUMP


def portal_restore(source: Path) -> None:
    """``source`` (a backup's portal file) into this portal's database, which must be new
    (the caller checked)."""
    if source.name == PORTAL_SQLITE:
        if portal_kind() != "sqlite":
            raise BackupError("the backup's portal database is SQLite, this portal's is not")
        target = Path(connection.settings_dict["NAME"])
        connection.close()
        sqlite_copy(source, target)
        return
    if portal_kind() != "postgresql":
        raise BackupError("the backup's portal database is PostgreSQL, this portal's is not")
    connection.close()
    _postgres_tool("pg_restore", "--no-owner", "--clean", "--if-exists", str(source))


def portal_has_people() -> bool:
    """Whether this portal's database already holds anything of its own (then a restore
    would mix two installations)."""
    tables = connection.introspection.table_names()
    if "accounts_user" not in tables:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_user LIMIT 1")
        return cursor.fetchone() is not None


def hub_postgres_backup(url: str, target: Path) -> None:
    """The hub's PostgreSQL database at ``url`` into the file ``target`` (``pg_dump``)."""
    _postgres_tool(
        "pg_dump",
        "--format=custom",
        "--no-owner",
        f"--file={private_file(target)}",
        connection=hub_database.libpq_environment(url),
    )


def hub_postgres_restore(url: str, source: Path) -> None:
    """A ``hub_postgres_backup`` file into the hub's PostgreSQL database at ``url``, made if
    its server has none of that name (the caller checked that it holds nothing else)."""
    try:
        hub_database.database_create(url)
    except hub_database.HubDatabaseError as error:
        raise BackupError(f"the hub's database: {error}") from None
    _postgres_tool(
        "pg_restore",
        "--no-owner",
        "--clean",
        "--if-exists",
        str(source),
        connection=hub_database.libpq_environment(url),
    )


def sqlite_copy(source: Path, target: Path) -> None:
    """An SQLite database copied by the online backup API (``source`` read-only, in use or
    not): a consistent snapshot, never a torn file."""
    _sqlite_backup(f"file:{source}?mode=ro", target)


def _sqlite_backup(source_uri: str, target: Path) -> None:
    original = sqlite3.connect(source_uri, uri=True)
    copy = sqlite3.connect(private_file(target))
    try:
        original.backup(copy)
    finally:
        copy.close()
        original.close()


def _postgres_tool(tool: str, *args: str, connection: dict[str, str] | None = None) -> None:
    """``tool`` on ``connection``'s database (PG* variables), by default the portal's."""
    found = shutil.which(tool)
    if found is None:
        raise BackupError(f"{tool} is not installed (Debian: apt install postgresql-client)")
    connection = connection or _portal_connection()
    # Over the environment's own PG* variables, which libpq reads for what the URL leaves out
    # (as the hub's connection does: the chart's hub.db.password is PGPASSWORD).
    environ = {**os.environ, **connection}
    database = ["--dbname", connection["PGDATABASE"]] if tool == "pg_restore" else []
    done = subprocess.run(
        [found, *args, *database], env=environ, capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[-2000:]}")


def _portal_connection() -> dict[str, str]:
    db = connection.settings_dict
    return {
        "PGHOST": db.get("HOST") or "",
        "PGPORT": str(db.get("PORT") or ""),
        "PGUSER": db.get("USER") or "",
        "PGPASSWORD": db.get("PASSWORD") or "",
        "PGDATABASE": db["NAME"],
    }
