"""The hub's own database: which one, making it, and moving a SQLite one into PostgreSQL.

``MLHUB_HUB_DB_URL`` (or ``_FILE``) names it; unset, it is SQLite in ``$MLHUB_DATA_DIR/hub/``
(``make run``). compose and the chart give the hub a PostgreSQL database of its own. No Django
here: the hub's config reads ``configured_url``; ``prepare`` runs before the hub starts, in
the image's entrypoint and in the chart's hub pod (``python -m hubconfig.database prepare``);
``manage.py mlhub_hub_database_move`` calls ``move``.

A move copies JupyterHub's own tables, row for row, into an empty PostgreSQL database whose
schema JupyterHub's ORM made, in one transaction: users, servers, tokens (hashed), OAuth
clients, roles and groups keep their ids, so a hub started on the copy finds its running
workspaces and accepts every token it issued.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import Integer, create_engine, event, func, insert, inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from lib import env

SQLITE_NAME = "jupyterhub.sqlite"
PID_FILE = "jupyterhub.pid"
# Schemes people write for PostgreSQL: DATABASE_URL's (dj-database-url), SQLAlchemy's bare
# one, and Zero to JupyterHub's examples (psycopg2, which MLHub does not install).
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql", "postgresql+psycopg2", "postgresql+psycopg")
DRIVER = "postgresql+psycopg"  # psycopg 3 (requirements.txt)
# The libpq parameters a URL's query may carry, as the PostgreSQL tools read them from the
# environment (pg_dump, pg_restore: nothing secret goes on their command line).
LIBPQ_ENVIRONMENT = {
    "host": "PGHOST",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class HubDatabaseError(Exception):
    """A move or a preparation refused or failed; the message says why and what to do."""


def sqlite_file(data: Path | None = None) -> Path:
    """The hub's SQLite database when ``MLHUB_HUB_DB_URL`` names none."""
    return (data or env.data_dir()) / "hub" / SQLITE_NAME


def sqlalchemy_url(url: str) -> str:
    """``url`` as JupyterHub's SQLAlchemy needs it: PostgreSQL's through psycopg 3 whatever
    scheme it was written with (``postgres://`` as ``DATABASE_URL`` takes it,
    ``postgresql+psycopg2://`` from Zero to JupyterHub's examples); anything else as given."""
    scheme, separator, rest = url.strip().partition("://")
    if separator and scheme.lower() in POSTGRES_SCHEMES:
        return f"{DRIVER}://{rest}"
    return url.strip()


def configured_url() -> str:
    """The hub's database: ``MLHUB_HUB_DB_URL`` (or ``_FILE``), else SQLite in the data
    directory."""
    given = (env.env_secret("MLHUB_HUB_DB_URL") or "").strip()
    return sqlalchemy_url(given) if given else f"sqlite:///{sqlite_file()}"


def sqlite_commits_without_fsync() -> None:
    """Every SQLite connection this process opens writes ahead (WAL) and commits without
    waiting for the disk (``synchronous=NORMAL``); for the hub's SQLite database.

    The hub commits a dozen times a spawn from its one event loop, and each commit of
    SQLite's default (a rollback journal, synchronous FULL) waits for the disk: during a
    lecture's 100 claims the loop spent 9 s of 30 in those commits, and the portal's
    creates waited on it (py-spy, bench.concurrent --pool 100; docs/performance.md). In WAL
    with NORMAL a crash of the process loses nothing; a power loss may lose the latest
    commits but never corrupts the file, and the portal's sync pass puts states right. The
    portal's own SQLite writes ahead too (portal/settings.py); backups read both through the
    online backup API, which sees the WAL's commits."""
    if not event.contains(Engine, "connect", _write_ahead):  # the config may load twice
        event.listen(Engine, "connect", _write_ahead)


def _write_ahead(connection, _record) -> None:
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def is_postgresql(url: str) -> bool:
    return sqlalchemy_url(url).startswith(f"{DRIVER}://")


def redacted(url: str) -> str:
    """``url`` fit for a message or a log: no password."""
    try:
        return make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(an unreadable URL)"


def libpq_environment(url: str) -> dict[str, str]:
    """PG* variables that point the PostgreSQL tools at ``url``'s database."""
    parsed = make_url(sqlalchemy_url(url))
    found = {
        "PGHOST": parsed.host or "",
        "PGPORT": str(parsed.port or ""),
        "PGUSER": parsed.username or "",
        "PGPASSWORD": parsed.password or "",
        "PGDATABASE": parsed.database or "",
    }
    for key, value in parsed.query.items():
        if key in LIBPQ_ENVIRONMENT:
            found[LIBPQ_ENVIRONMENT[key]] = value if isinstance(value, str) else value[-1]
    return {name: value for name, value in found.items() if value}


def database_create(url: str) -> bool:
    """Make ``url``'s database when its server has none of that name: compose's and the
    chart's hub at their first start, and at the first start of an install made before the
    hub moved to PostgreSQL. True: it was made. The user needs CREATEDB for that (compose's
    and the test clusters' have it); otherwise make it yourself."""
    target = make_url(sqlalchemy_url(url))
    name = target.database
    if not name:
        raise HubDatabaseError(f"{redacted(url)} names no database")
    engine = create_engine(target)
    try:
        with engine.connect():
            return False
    except SQLAlchemyError as error:
        refused = error
    finally:
        engine.dispose()
    # Ask the server's own database whether ours is there: a refusal for another reason
    # (the network, a password) is that refusal, said as it is.
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        try:
            connection = server.connect()
        except SQLAlchemyError:
            raise HubDatabaseError(f"cannot open {redacted(url)}: {_reason(refused)}") from None
        with connection:
            there = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if there:
                raise HubDatabaseError(f"cannot open {redacted(url)}: {_reason(refused)}")
            quoted = connection.dialect.identifier_preparer.quote(name)
            try:
                connection.execute(text(f"CREATE DATABASE {quoted}"))
            except SQLAlchemyError as error:
                raise HubDatabaseError(
                    f"{redacted(url)} does not exist and could not be made ({_reason(error)}): "
                    f"make it yourself (CREATE DATABASE {quoted} OWNER "
                    f"{target.username or '<the hub user>'}), or point MLHUB_HUB_DB_URL at one "
                    "that exists"
                ) from None
    finally:
        server.dispose()
    return True


def _reason(error: SQLAlchemyError) -> str:
    said = str(getattr(error, "orig", None) or error)
    return " ".join(said.split())[:500]


def tables_in(url: str) -> list[str]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        return sorted(inspect(engine).get_table_names())
    except SQLAlchemyError as error:
        raise HubDatabaseError(f"cannot open {redacted(url)}: {_reason(error)}") from None
    finally:
        engine.dispose()


def hub_running(hub_dir: Path) -> str:
    """What shows that a hub runs on this data directory ("" for nothing): its pid file
    naming a live JupyterHub process, or its API answering at ``MLHUB_HUB_URL``."""
    pid_file = hub_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        command = []
    # A pid file a killed hub left behind may name another process by now.
    if any(Path(part.decode(errors="replace")).name == "jupyterhub" for part in command[:2]):
        return f"{pid_file} names process {pid}"
    api = f"{env.hub_url()}{env.base_url()}hub/api/"
    try:
        answer = requests.get(api, timeout=3)
    except requests.RequestException:
        return ""
    if answer.status_code == 200 and "version" in answer.text:
        return f"its API answers at {api}"
    return ""


@dataclass
class Moved:
    rows: dict[str, int]  # table: rows copied
    kept: Path  # the SQLite file, renamed so that no hub opens it again by mistake

    def summary(self) -> str:
        counted = ", ".join(
            f"{self.rows.get(t, 0)} {t}" for t in ("users", "spawners", "api_tokens")
        )
        return f"{sum(self.rows.values())} rows ({counted})"


def move(source: Path, url: str, *, check_running: bool = True) -> Moved:
    """Copy the hub's SQLite database ``source`` into the empty PostgreSQL database ``url``
    (made when its server has none of that name), then rename ``source`` aside.

    Refused, with nothing changed, when ``source`` is missing, ``url`` is not PostgreSQL,
    the hub runs (``check_running``: the caller may know it cannot), or ``url``'s database
    has tables. The copy is one transaction: a failure leaves the database empty.
    """
    url = sqlalchemy_url(url)
    if not is_postgresql(url):
        raise HubDatabaseError(
            f"the hub's database moves into PostgreSQL only, and {redacted(url)} is not "
            "(postgresql://user:password@host:5432/database)"
        )
    if not source.is_file():
        raise HubDatabaseError(f"{source} does not exist: there is no SQLite hub database to move")
    if check_running:
        running = hub_running(source.parent)
        if running:
            raise HubDatabaseError(
                f"the hub is running ({running}): stop it first (the workspaces keep running), "
                "then move its database"
            )
    database_create(url)
    found = tables_in(url)
    if found:
        raise HubDatabaseError(
            f"{redacted(url)} is not empty ({len(found)} tables: {', '.join(found[:5])}"
            f"{', …' if len(found) > 5 else ''}): move into a new, empty database"
        )
    with tempfile.TemporaryDirectory(prefix="mlhub-hub-move-") as folder:
        snapshot = Path(folder) / SQLITE_NAME
        _sqlite_snapshot(source, snapshot)
        schema_upgrade(f"sqlite:///{snapshot}")
        rows = _copy(f"sqlite:///{snapshot}", url)
    kept = source.with_name(f"{source.name}.moved-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    source.rename(kept)
    return Moved(rows=rows, kept=kept)


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """SQLite's online backup, ``source`` opened read-only: a consistent copy to upgrade."""
    original = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        original.backup(copy)
    except sqlite3.Error as error:
        raise HubDatabaseError(f"{source} cannot be read as SQLite: {error}") from None
    finally:
        copy.close()
        original.close()


def schema_upgrade(url: str) -> None:
    """Bring the database at ``url`` to this JupyterHub's schema (``jupyterhub upgrade-db``'s
    migrations, run here): a database an older hub wrote copies into today's tables."""
    import alembic.command
    import alembic.config
    from jupyterhub import dbutil, orm

    engine = create_engine(url)
    try:
        orm.check_db_revision(engine)
        return
    except orm.DatabaseSchemaMismatch:
        pass
    finally:
        engine.dispose()
    with tempfile.TemporaryDirectory() as folder:
        ini = str(Path(folder) / "alembic.ini")
        dbutil.write_alembic_ini(ini, url)
        alembic.command.upgrade(alembic.config.Config(ini), "head")


def _copy(source_url: str, target_url: str) -> dict[str, int]:
    """JupyterHub's tables from ``source_url`` into ``target_url``, whose schema the ORM makes
    and stamps with alembic's head, parents before children; then PostgreSQL's id sequences
    go past the copied ids. One transaction on the target."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from jupyterhub import dbutil, orm

    source, target = create_engine(source_url), create_engine(target_url)
    rows: dict[str, int] = {}
    table = None
    try:
        with source.connect() as read, target.begin() as write:
            orm.Base.metadata.create_all(write)
            MigrationContext.configure(write).stamp(ScriptDirectory(dbutil.ALEMBIC_DIR), "head")
            for table in orm.Base.metadata.sorted_tables:
                rows[table.name] = 0
                result = read.execution_options(yield_per=500).execute(select(table))
                for part in result.mappings().partitions():
                    write.execute(insert(table), [dict(row) for row in part])
                    rows[table.name] += len(part)
                copied = write.execute(select(func.count()).select_from(table)).scalar_one()
                if copied != rows[table.name]:
                    raise HubDatabaseError(
                        f"{table.name}: {rows[table.name]} rows read, {copied} written"
                    )
            table = None
            quote = write.dialect.identifier_preparer.quote
            for each in orm.Base.metadata.sorted_tables:
                (*others, key) = each.primary_key.columns
                if others or not isinstance(key.type, Integer):
                    continue
                write.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence(:table, :column), "
                        f"COALESCE(MAX({quote(key.name)}), 0) + 1, false) FROM {quote(each.name)}"
                    ),
                    {"table": each.name, "column": key.name},
                )
    except SQLAlchemyError as error:
        where = f" (table {table.name})" if table is not None else ""
        raise HubDatabaseError(
            f"the copy failed{where}: {_reason(error)}; nothing was written to "
            f"{redacted(target_url)}"
        ) from None
    finally:
        source.dispose()
        target.dispose()
    return rows


def prepare(url: str | None = None, data: Path | None = None) -> list[str]:
    """Before the hub starts (the image's entrypoint, the chart's hub pod): its PostgreSQL
    database made if missing, and a SQLite database the hub used before moved into it while
    it is empty (an install from before compose and the chart moved the hub to
    PostgreSQL). Nothing to do on SQLite. What was done, one line each."""
    url = sqlalchemy_url(url) if url else configured_url()
    if not is_postgresql(url):
        return []
    done = []
    if database_create(url):
        done.append(f"made the hub's database {redacted(url)}")
    source = sqlite_file(data)
    if source.is_file():
        if tables_in(url):
            done.append(
                f"{source} is left as it is: the hub's database is {redacted(url)}, which has "
                "tables already"
            )
        else:
            # No hub runs: this runs before it starts, in its container or pod.
            moved = move(source, url, check_running=False)
            done.append(
                f"moved {source} into {redacted(url)}: {moved.summary()}; the file is kept as "
                f"{moved.kept.name}"
            )
    return done


def main(argv: list[str]) -> int:
    if argv != ["prepare"]:
        print("usage: python -m hubconfig.database prepare", file=sys.stderr)
        return 2
    try:
        for line in prepare():
            print(f"mlhub: {line}", flush=True)
    except (HubDatabaseError, env.ConfigError) as error:
        print(f"mlhub: error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
