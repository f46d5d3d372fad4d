"""The hub's database (hubconfig/database.py): its URL, and moving a SQLite one into PostgreSQL.

The move with a real stack (a running workspace kept across it, a person's token still
accepted): tests/docker_mode/test_hub_database_move.py. Here: the URL, the refusals, and the
copy itself against this machine's PostgreSQL (tests/postgres.py), on databases JupyterHub's
own ORM wrote.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jupyterhub import orm
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from hubconfig import database
from hubconfig.database import HubDatabaseError
from lib.polling import poll_until
from tests.postgres import databases, psql

CLOSED = "http://127.0.0.1:9"  # nothing listens there: no hub answers


@pytest.fixture(autouse=True)
def no_hub_answers(monkeypatch):
    monkeypatch.setenv("MLHUB_HUB_URL", CLOSED)
    monkeypatch.delenv("MLHUB_BASE_URL", raising=False)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p%40w@db:5432/hub", "postgresql+psycopg://u:p%40w@db:5432/hub"),
        (
            "postgresql://u:p@db/hub?sslmode=require",
            "postgresql+psycopg://u:p@db/hub?sslmode=require",
        ),
        ("pgsql://u:p@db/hub", "postgresql+psycopg://u:p@db/hub"),
        ("postgresql+psycopg2://u@db/hub", "postgresql+psycopg://u@db/hub"),
        ("postgresql+psycopg://u@db/hub", "postgresql+psycopg://u@db/hub"),
        (" sqlite:////data/hub/jupyterhub.sqlite ", "sqlite:////data/hub/jupyterhub.sqlite"),
        ("mysql+pymysql://u@db/hub", "mysql+pymysql://u@db/hub"),
    ],
)
def test_postgresql_urls_of_every_spelling_get_psycopg_3_and_others_stay(given, used):
    assert database.sqlalchemy_url(given) == used


def test_unset_the_hub_uses_sqlite_in_the_data_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MLHUB_HUB_DB_URL", raising=False)
    monkeypatch.delenv("MLHUB_HUB_DB_URL_FILE", raising=False)
    assert database.configured_url() == f"sqlite:///{tmp_path}/hub/jupyterhub.sqlite"


def test_the_url_may_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "hub-db-url"
    secret.write_text("postgres://hub:pw@db:5432/mlhub_hub\n")
    monkeypatch.delenv("MLHUB_HUB_DB_URL", raising=False)
    monkeypatch.setenv("MLHUB_HUB_DB_URL_FILE", str(secret))
    assert database.configured_url() == "postgresql+psycopg://hub:pw@db:5432/mlhub_hub"


def test_messages_never_show_the_password():
    assert database.redacted("postgres://hub:s3cret@db:5432/x") == (
        "postgresql+psycopg://hub:***@db:5432/x"
    )


def test_the_postgresql_tools_get_the_url_in_their_variables():
    assert database.libpq_environment(
        "postgres://hub:p%40ss@db.example.org:6432/mlhub_hub?sslmode=verify-full&x=1"
    ) == {
        "PGHOST": "db.example.org",
        "PGPORT": "6432",
        "PGUSER": "hub",
        "PGPASSWORD": "p@ss",
        "PGDATABASE": "mlhub_hub",
        "PGSSLMODE": "verify-full",
    }


# Refusals that need no PostgreSQL ------------------------------------------------------------
def hub_sqlite(data: Path) -> tuple[Path, str]:
    """A hub's SQLite database as JupyterHub's ORM writes it: ada, her server "thesis"
    (running at 10.0.0.2:8888, its spawner's state), her group, a token and her encrypted
    auth state. Its path, and ada's token."""
    path = data / "hub" / "jupyterhub.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = orm.new_session_factory(f"sqlite:///{path}")()
    db.add(orm.OAuthClient(identifier="jupyterhub", secret="s", redirect_uri="/hub/oauth"))
    ada = orm.User(name="ada", encrypted_auth_state=b"\x00encrypted\xff")
    db.add(ada)
    db.commit()
    spawner = orm.Spawner(user=ada, name="thesis", state={"object_id": "c0ffee"})
    spawner.server = orm.Server(ip="10.0.0.2", port=8888, base_url="/user/ada/thesis/")
    db.add(spawner)
    group = orm.Group(name="mlhub-admins")
    group.users.append(ada)
    db.add(group)
    db.commit()
    token = ada.new_api_token(note="ada's")
    db.close()
    db.get_bind().dispose()
    return path, token


def test_the_hubs_sqlite_writes_ahead_and_commits_without_waiting_for_the_disk(tmp_path):
    database.sqlite_commits_without_fsync()
    database.sqlite_commits_without_fsync()  # the config loaded twice: one listener
    assert event.contains(Engine, "connect", database._write_ahead)
    engine = create_engine(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()


def test_a_missing_source_is_refused(tmp_path):
    with pytest.raises(HubDatabaseError, match="does not exist: there is no SQLite hub database"):
        database.move(tmp_path / "hub" / "jupyterhub.sqlite", "postgres://u:p@127.0.0.1:9/x")


def test_a_target_that_is_not_postgresql_is_refused_and_nothing_changes(tmp_path):
    source, _ = hub_sqlite(tmp_path)
    before = source.read_bytes()
    with pytest.raises(HubDatabaseError, match="moves into PostgreSQL only"):
        database.move(source, f"sqlite:///{tmp_path}/other.sqlite")
    assert source.read_bytes() == before
    assert not (tmp_path / "other.sqlite").exists()


@pytest.fixture
def process_named_jupyterhub():
    """A live process whose command line is a hub's (``jupyterhub -f ...``)."""
    process = subprocess.Popen(["bash", "-c", "exec -a jupyterhub sleep 60"])
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    poll_until(lambda: cmdline.read_bytes().startswith(b"jupyterhub\0"), timeout=10, what="exec")
    yield process
    process.kill()
    process.wait()


def test_a_running_hub_by_its_pid_file_is_refused_and_nothing_changes(
    tmp_path, process_named_jupyterhub
):
    source, _ = hub_sqlite(tmp_path)
    (source.parent / "jupyterhub.pid").write_text(str(process_named_jupyterhub.pid))
    # An address nothing listens at: the refusal comes before any connection.
    with pytest.raises(HubDatabaseError, match=r"the hub is running \(.*jupyterhub.pid names"):
        database.move(source, "postgres://u:p@127.0.0.1:9/x")
    assert source.exists()
    assert list(source.parent.glob("*.moved-*")) == []


def test_a_pid_file_a_killed_hub_left_is_no_running_hub(tmp_path):
    other = subprocess.Popen(["sleep", "60"])  # the pid is someone else's now
    try:
        (tmp_path / "jupyterhub.pid").write_text(str(other.pid))
        assert database.hub_running(tmp_path) == ""
    finally:
        other.kill()
        other.wait()
    assert database.hub_running(tmp_path) == ""  # and a pid nobody has


class HubApi(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 -- http.server's name
        body = json.dumps({"version": "6.1.1"}).encode()
        self.send_response(200 if self.path == "/mlhub/hub/api/" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_hub_whose_api_answers_is_running(tmp_path, monkeypatch):
    # A hub in another container or pod: no pid file here, but its API (under the prefix).
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("MLHUB_HUB_URL", url)
        monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub/")
        assert database.hub_running(tmp_path) == f"its API answers at {url}/mlhub/hub/api/"
    finally:
        server.shutdown()
        server.server_close()


# The copy, on this machine's PostgreSQL ------------------------------------------------------
@pytest.fixture
def postgres():
    with databases("mlhub_hubdb") as made:
        yield made


def test_a_move_keeps_every_row_id_and_token_and_the_ids_go_on_after_them(tmp_path, postgres):
    name, url = postgres
    source, token = hub_sqlite(tmp_path)
    target = url.rsplit("/", 1)[0] + f"/{name}_hub"  # a new name: the move makes it

    moved = database.move(source, target)

    assert not source.exists()
    assert moved.kept.parent == source.parent
    assert moved.kept.name.startswith("jupyterhub.sqlite.moved-")
    assert {t: n for t, n in moved.rows.items() if n} == {
        "oauth_clients": 1,
        "users": 1,
        "servers": 1,
        "spawners": 1,
        "groups": 1,
        "user_group_map": 1,
        "api_tokens": 1,
    }
    db = orm.new_session_factory(database.sqlalchemy_url(target))()  # checks alembic's head
    try:
        (ada,) = db.query(orm.User).all()
        assert (ada.id, ada.name, ada.encrypted_auth_state) == (1, "ada", b"\x00encrypted\xff")
        (spawner,) = ada._orm_spawners
        assert (spawner.name, spawner.state) == ("thesis", {"object_id": "c0ffee"})
        assert (spawner.server.ip, spawner.server.port) == ("10.0.0.2", 8888)
        assert [g.name for g in ada.groups] == ["mlhub-admins"]
        assert orm.APIToken.find(db, token).user.name == "ada"
        bob = orm.User(name="bob")
        db.add(bob)
        db.commit()
        assert bob.id == 2  # the sequence went past the copied ids
    finally:
        db.close()
        db.get_bind().dispose()


def test_a_target_with_tables_is_refused_and_nothing_changes(tmp_path, postgres):
    name, url = postgres
    psql(name, "CREATE TABLE users (name text); INSERT INTO users VALUES ('someone')")
    source, _ = hub_sqlite(tmp_path)
    before = source.read_bytes()
    with pytest.raises(HubDatabaseError, match=r"is not empty \(1 tables: users\)"):
        database.move(source, url)
    assert source.read_bytes() == before
    assert psql(name, "SELECT name FROM users") == ["someone"]
    assert psql(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == ["1"]


def test_a_copy_that_fails_leaves_the_target_empty_and_the_source_in_place(tmp_path, postgres):
    name, url = postgres
    source, _ = hub_sqlite(tmp_path)
    # SQLite keeps what PostgreSQL's varchar(255) refuses: the copy fails half-way through.
    db = orm.new_session_factory(f"sqlite:///{source}")()
    db.add(orm.User(name="x" * 300))
    db.commit()
    db.close()
    db.get_bind().dispose()
    with pytest.raises(HubDatabaseError, match=r"the copy failed \(table users\).*nothing was"):
        database.move(source, url)
    assert source.exists()
    assert psql(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == ["0"]


def test_before_a_start_on_postgresql_the_old_sqlite_database_is_moved_in_once(
    tmp_path, postgres, monkeypatch
):
    name, url = postgres
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path))
    target = url.rsplit("/", 1)[0] + f"/{name}_hub"
    monkeypatch.setenv("MLHUB_HUB_DB_URL", target)
    source, _ = hub_sqlite(tmp_path)

    first = database.prepare()

    shown = f"postgresql+psycopg://mlhub:***@127.0.0.1:5432/{name}_hub"
    assert first[0] == f"made the hub's database {shown}"
    assert first[1].startswith(f"moved {source} into {shown}: 7 rows (1 users, 1 spawners,")
    assert len(first) == 2
    assert psql(f"{name}_hub", "SELECT name FROM users") == ["ada"]
    assert database.prepare() == []  # the next start: nothing to do
    # A SQLite file that shows up later is never mixed into a database in use.
    hub_sqlite(tmp_path)
    (kept,) = database.prepare()
    assert kept.startswith(f"{source} is left as it is")
    assert psql(f"{name}_hub", "SELECT name FROM users") == ["ada"]
    assert source.exists()


def test_on_sqlite_there_is_nothing_to_prepare(tmp_path, monkeypatch):
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MLHUB_HUB_DB_URL", raising=False)
    monkeypatch.delenv("MLHUB_HUB_DB_URL_FILE", raising=False)
    hub_sqlite(tmp_path)
    assert database.prepare() == []
    assert (tmp_path / "hub" / "jupyterhub.sqlite").exists()


def test_a_missing_database_the_user_may_not_make_is_refused_saying_what_to_do(postgres):
    name, _ = postgres
    role = f"{name}_nocreate"
    psql(name, f"CREATE ROLE {role} LOGIN PASSWORD 'pw-nocreate'")
    try:
        url = f"postgres://{role}:pw-nocreate@127.0.0.1:5432/{name}_hub"
        with pytest.raises(HubDatabaseError) as refused:
            database.database_create(url)
        said = str(refused.value)
        assert said.startswith(
            f"postgresql+psycopg://{role}:***@127.0.0.1:5432/{name}_hub does not exist and "
            "could not be made (permission denied to create database): make it yourself "
            f"(CREATE DATABASE {name}_hub OWNER {role}), or point MLHUB_HUB_DB_URL at one"
        ), said
    finally:
        psql(name, f"DROP ROLE {role}")
