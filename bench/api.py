"""How fast the portal answers its read paths with 10,000 people and 20,000 workspaces.

Run from the checkout: `.venv/bin/python -m bench.api [--db sqlite|postgres|both]`
(PostgreSQL needs a role that may create databases; see bench/README.md).

For each database the script makes a fresh one (migrate), seeds it with bulk inserts, then
times the reads below through the portal's own WSGI application (`portal.wsgi.application`,
what gunicorn calls), in this process: no HTTP socket, no gunicorn, no hub. The time of a
request runs from the call into the application until its body has been read and closed
(`request_finished`), so it is the server's time for the request, middleware and all.

No hub is configured (MLHUB_HUB_API_TOKEN is empty): the reads answer from the database.
(Older code that still asked the hub from a read fails that call before any I/O and serves
the stored state; the log line it writes is silenced here.)

Each read is also run once under CaptureQueriesContext for its number of SQL queries, which
must not grow with the size of the tables or of the page.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import git_commit

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgres://mlhub:mlhub-tests@127.0.0.1:5432/mlhub_bench"
HOST = "localhost:8000"  # the default public URL's host: the portal, not a workspace origin
TARGET_P95_MS = 50.0  # the API reads on PostgreSQL
PAGE_SIZE = 100  # portal.api.pagination.Pagination.page_size
BLOCK = 50  # timed requests of one read in a row
# A realistic mix: most workspaces are stopped at any time (the rest of the 20,000).
STATES = {"running": 200, "starting": 10, "stopping": 5, "error": 40}


@dataclass(frozen=True)
class Read:
    name: str
    who: str  # "admin" or "user" with an API token; "admin-session" logged in to the admin
    path: str
    target: bool  # one of the API reads held to p95 < 50 ms on PostgreSQL


def reads_for(workspaces: int, retrieve_id: int) -> list[Read]:
    deep = max(1, -(-workspaces // PAGE_SIZE) * 3 // 4)  # page 150 of 200 for 20,000
    api, admin = "/api/v1/workspaces/", "/admin/workspaces/workspace/"
    return [
        Read("API admin list, page 1", "admin", api, True),
        Read(f"API admin list, page {deep}", "admin", f"{api}?page={deep}", True),
        Read("API admin list, ?state=running", "admin", f"{api}?state=running", True),
        Read("API admin list, ?page_size=1000", "admin", f"{api}?page_size=1000", False),
        Read("API user's own list", "user", api, True),
        Read("API user's retrieve", "user", f"{api}{retrieve_id}/", True),
        Read("admin changelist", "admin-session", admin, False),
        Read("admin changelist, running", "admin-session", f"{admin}?state__exact=running", False),
    ]


# The environment of one database's run, set before Django reads its settings ------------------


def portal_environment(db: str, data_dir: Path, postgres_url: str) -> None:
    """The portal's settings from a clean environment: nothing of the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("MLHUB_") or name in ("DATABASE_URL", "ALLOWED_HOSTS", "DEBUG"):
            del os.environ[name]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        SECRET_KEY="bench-only-not-a-secret",
        DEBUG="false",
        MLHUB_DATA_DIR=str(data_dir),
        MLHUB_PUBLIC_URL=f"http://{HOST}",
        MLHUB_HUB_API_TOKEN="",  # no hub: the reads must not need one
    )
    if db == "postgres":
        os.environ["DATABASE_URL"] = postgres_url
    # else SQLite in the data directory, the portal's default (WAL, as settings.py sets it)


def _maintenance_url(url: str) -> tuple[str, str]:
    """The URL of the server's `postgres` database, and the name of the one in ``url``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def postgres_recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    maintenance, name = _maintenance_url(url)
    database = sql.Identifier(name)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(database))


# Seeding ------------------------------------------------------------------------------------


def admin_create(*, password: str, now) -> None:
    """The admin every benchmark's reads are made as (an approved superuser)."""
    from portal.accounts.models import User

    User.objects.create(
        username="admin",
        password=password,
        is_staff=True,
        is_superuser=True,
        approval=User.Approval.APPROVED,
        approved_at=now,
    )


def seed(*, users: int, workspaces: int) -> dict:
    """Bulk inserts in one transaction: the admin, ``users`` people, ``workspaces`` rows of the
    default template (made by migration 0002), owners drawn at random with a fixed seed, and
    the sync pass's row, as a portal that has run for a while has them."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from portal.accounts.models import User
    from portal.workspaces.models import SyncPass, Workspace, WorkspaceTemplate

    rng = random.Random(20261126)
    now = timezone.now()
    password = make_password("bench-pass-1234")  # hashed once, shared: hashing 10,000 is minutes
    approved = User.Approval.APPROVED
    started = time.perf_counter()
    with transaction.atomic():
        admin_create(password=password, now=now)
        User.objects.bulk_create(
            (
                User(
                    username=f"user{i:05d}",
                    email=f"user{i:05d}@example.org",
                    password=password,
                    approval=approved,
                    approved_at=now,
                    date_joined=now - timedelta(days=rng.uniform(0, 730)),
                )
                for i in range(users)
            ),
            batch_size=1000,
        )
        owners = list(User.objects.filter(is_staff=False).values_list("pk", flat=True))
        template = WorkspaceTemplate.objects.get(name="default")
        states = [s for s, n in STATES.items() for _ in range(n)]
        states = (states + ["stopped"] * workspaces)[:workspaces]
        rng.shuffle(states)
        per_owner: dict[int, int] = {}
        rows = []
        for state in states:
            owner = rng.choice(owners)
            per_owner[owner] = per_owner.get(owner, 0) + 1
            rows.append(
                Workspace(
                    owner_id=owner,
                    name=f"ws-{per_owner[owner]}",
                    template=template,
                    state=state,
                    message="Spawn failed: image pull timed out" if state == "error" else "",
                    image=template.image,
                    cpu=template.cpu_default,
                    memory=template.memory_default,
                    created_at=now - timedelta(days=rng.uniform(0, 365)),
                    # Last confirmed by the hub's report of a start or a stop.
                    synced_at=now - timedelta(days=rng.uniform(0, 30)),
                )
            )
        Workspace.objects.bulk_create(rows, batch_size=1000)
        # The periodic sync ran half a minute ago: the reads read this row too.
        synced = now - timedelta(seconds=30)
        SyncPass.objects.create(pk=1, started_at=synced, finished_at=synced + timedelta(seconds=2))
    # What autovacuum (PostgreSQL) would have done by now; SQLite's planner uses it too.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds = time.perf_counter() - started
    # The person who sees their own list: the one with the most workspaces (the worst case).
    busiest = max(per_owner, key=per_owner.get)
    return {"seconds": seconds, "user_pk": busiest, "user_workspaces": per_owner[busiest]}


# Requests through the WSGI application -----------------------------------------------------


def environ_for(path: str, headers: dict[str, str]) -> dict:
    """What gunicorn hands the application for ``GET path`` from the proxy on loopback."""
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": HOST,
        "HTTP_X_FORWARDED_FOR": "127.0.0.1",
        "HTTP_ACCEPT": "application/json" if path.startswith("/api/") else "text/html",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    environ.update(headers)
    return environ


def call(
    application: Callable, path: str, headers: dict[str, str]
) -> tuple[str, bytes, float, float]:
    """One request: its status, its body, and the seconds the application took, on the clock
    and of this thread's CPU (which the rest of a busy machine does not inflate)."""
    environ = environ_for(path, headers)
    answer: list[str] = []

    def start_response(status, response_headers, exc_info=None):
        answer.append(status)

    started, cpu = time.perf_counter(), time.thread_time()
    result = application(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # request_finished, as under gunicorn
    return answer[0], body, time.perf_counter() - started, time.thread_time() - cpu


@dataclass
class Clocks:
    """Where one request's time went: the database driver, the collector, the CPU."""

    sql: float = 0.0  # seconds in cursor.execute (on SQLite rows are made later, as fetched)
    gc: float = 0.0  # seconds in the garbage collector, any generation
    full_gc: int = 0  # collections of the oldest generation: the long pauses
    cpu: float = 0.0  # seconds of this thread's CPU: the portal's own work, waits excluded


@contextmanager
def clocked(clocks: Clocks) -> Iterator[None]:
    """Add the time spent in the database driver and in the garbage collector to ``clocks``."""
    from django.db import connection

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            clocks.sql += time.perf_counter() - started

    collecting = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            collecting[0] = time.perf_counter()
        else:
            clocks.gc += time.perf_counter() - collecting[0]
            clocks.full_gc += info["generation"] == 2

    gc.callbacks.append(on_gc)
    try:
        with connection.execute_wrapper(wrapper):
            yield
    finally:
        gc.callbacks.remove(on_gc)


def percentiles(seconds: list[float]) -> dict:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
        "min_ms": min(ms),
        "max_ms": max(ms),
        "samples_ms": [round(m, 3) for m in ms],
    }


def database_fresh(db: str, postgres_url: str, prefix: str) -> Path:
    """The portal's environment for ``db`` ("sqlite" or "postgres"), that database made
    anew (PostgreSQL's dropped and created; SQLite's a file in a new data folder, returned)."""
    if db == "postgres":
        import psycopg

        try:
            postgres_recreate(postgres_url)
        except psycopg.Error as error:
            raise SystemExit(
                f"PostgreSQL: {error}\nThe role in --postgres-url must be able to create "
                "databases; bench/README.md says how to make one."
            ) from None
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    portal_environment(db, data_dir, postgres_url)
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no static root
    return data_dir


def run_one(db: str, args: argparse.Namespace) -> dict:
    """Fresh database, seed, warm up, time: this process's whole run for one database."""
    data_dir = database_fresh(db, args.postgres_url, "mlhub-bench-api-")
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from portal.accounts.models import User
        from portal.api.services import api_token_create
        from portal.wsgi import application

        # Older code logs a warning per read when it cannot reach the hub; axes logs the
        # admin's session login.
        logging.getLogger("portal.workspaces.services").setLevel(logging.ERROR)
        logging.getLogger("axes").setLevel(logging.WARNING)
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrate_seconds = time.perf_counter() - started
        seeded = seed(users=args.users, workspaces=args.workspaces)
        print(
            f"[{db}] migrated in {migrate_seconds:.1f} s; seeded {args.users:,} people and "
            f"{args.workspaces:,} workspaces in {seeded['seconds']:.1f} s",
            flush=True,
        )

        admin = User.objects.get(username="admin")
        user = User.objects.get(pk=seeded["user_pk"])
        browser = Client()
        browser.force_login(admin, backend="portal.accounts.backends.LocalPasswords")

        session = browser.cookies[settings.SESSION_COOKIE_NAME].value
        headers = {
            "admin": {"HTTP_AUTHORIZATION": f"Token {api_token_create(user=admin, by=admin)[1]}"},
            "user": {"HTTP_AUTHORIZATION": f"Token {api_token_create(user=user, by=user)[1]}"},
            "admin-session": {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session}"},
        }
        retrieve_id = user.workspaces.order_by("name").values_list("pk", flat=True)[0]
        reads = reads_for(args.workspaces, retrieve_id)

        for _ in range(args.warmup):
            for read in reads:
                status, body, *_ = call(application, read.path, headers[read.who])
                if not status.startswith("200"):
                    raise SystemExit(f"[{db}] {read.path} as {read.who}: {status}\n{body[:500]!r}")
        if args.gc_freeze:
            # What a worker could do once it has served its first requests: move every object
            # it holds by then out of the collector's sight, so full collections walk less.
            gc.collect()
            gc.freeze()
        # Untimed, once warm (no first-request caches): count each read's queries, which
        # needs a debug cursor, and check what it answers.
        checks = {}
        for read in reads:
            with CaptureQueriesContext(connection) as captured:
                status, body, *_ = call(application, read.path, headers[read.who])
            rows = None
            if read.path.startswith("/api/"):
                data = json.loads(body)
                rows = data.get("count", 1)
            checks[read.name] = {
                "queries": len(captured.captured_queries),
                "sql": [q["sql"] for q in captured.captured_queries],
                "rows": rows,
            }

        load_before = os.getloadavg()[0]
        seconds, clocks = time_reads(
            application, reads, headers, requests=args.requests, block=BLOCK, label=db
        )
        version = server_version()
        results = {}
        for read in reads:
            results[read.name] = {
                **figures(read, checks[read.name], seconds[read.name], clocks[read.name]),
                "full_gc_requests": sum(c.full_gc > 0 for c in clocks[read.name]),
                "gc_ms": [round(c.gc * 1000, 3) for c in clocks[read.name]],
                "sql_ms": [round(c.sql * 1000, 3) for c in clocks[read.name]],
                "cpu_ms": [round(c.cpu * 1000, 3) for c in clocks[read.name]],
            }
        connection.close()
        return {
            "engine": db,
            "version": version,
            "migrate_seconds": migrate_seconds,
            "seed_seconds": seeded["seconds"],
            "user_workspaces": seeded["user_workspaces"],
            # The machine's 1-minute load average as the timing began and ended: other work.
            "load": [load_before, os.getloadavg()[0]],
            "reads": results,
        }
    finally:
        if db == "postgres" and not args.keep:
            postgres_recreate(args.postgres_url, drop_only=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def time_reads(
    application: Callable, reads: list, headers: dict, *, requests: int, block: int, label: str
) -> tuple[dict[str, list[float]], dict[str, list[Clocks]]]:
    """Each read ``requests`` times (each ``read`` has ``name``, ``who`` and ``path``), with
    its seconds and Clocks. Blocks of one read, taking turns: the collections a read's
    garbage sets off mostly land on that read (a 1,000-row page would otherwise tax every
    other), while noise from the rest of the machine still spreads over all of them."""
    seconds: dict[str, list[float]] = {read.name: [] for read in reads}
    clocks: dict[str, list[Clocks]] = {read.name: [] for read in reads}
    done = 0
    while done < requests:
        size = min(block, requests - done)
        for read in reads:
            for _ in range(size):
                spent = Clocks()
                with clocked(spent):
                    status, _, took, cpu = call(application, read.path, headers[read.who])
                assert status.startswith("200"), (read.path, status)
                seconds[read.name].append(took)
                spent.cpu = cpu
                clocks[read.name].append(spent)
        done += size
        print(f"[{label}] {done}/{requests} requests of each read", flush=True)
    return seconds, clocks


def figures(read, check: dict, seconds: list[float], clocks: list[Clocks]) -> dict:
    """One read's result: what it is, its ``check`` (queries...), percentiles, SQL and CPU."""
    return {
        "who": read.who,
        "path": read.path,
        "target": read.target,
        **check,
        **percentiles(seconds),
        "sql_p50_ms": statistics.median(c.sql for c in clocks) * 1000,
        "cpu_p50_ms": statistics.median(c.cpu for c in clocks) * 1000,
    }


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        sqlite = connection.vendor == "sqlite"
        cursor.execute("SELECT sqlite_version()" if sqlite else "SHOW server_version")
        return cursor.fetchone()[0]


# Report ----------------------------------------------------------------------------------


def machine() -> dict:
    import django

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "commit": git_commit(),
    }


def report(result: dict) -> None:
    m = result["machine"]
    print(
        f"\n{m['cpus']} CPUs, {m['platform']}, Python {m['python']}, Django {m['django']}, "
        f"commit {m['commit']}"
    )
    print(
        f"{result['users']:,} people, {result['workspaces']:,} workspaces; "
        f"{result['requests']} timed requests of each read after {result['warmup']} warm-up "
        "rounds; milliseconds, in-process WSGI"
        + ("; gc.freeze() after the warm-up" if result["gc_freeze"] else "")
    )
    for db in result["databases"].values():
        print(
            f"\n{db['engine']} {db['version']} (seeded in {db['seed_seconds']:.1f} s; "
            f"the user has {db['user_workspaces']} workspaces; load average "
            f"{db['load'][0]:.1f} → {db['load'][1]:.1f})"
        )
        print(
            f"{'read':34}{'queries':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
            f"{'SQL p50':>9}{'CPU p50':>9}{'full GC':>9}{'rows':>8}"
        )
        for name, r in db["reads"].items():
            over = ""
            if db["engine"] == "postgres" and r["target"] and r["p95_ms"] >= TARGET_P95_MS:
                over = f"  p95 over {TARGET_P95_MS:.0f} ms"
            rows = "" if r["rows"] is None else f"{r['rows']:,}"
            print(
                f"{name:34}{r['queries']:8}{r['p50_ms']:8.1f}{r['p95_ms']:8.1f}"
                f"{r['p99_ms']:8.1f}{r['max_ms']:8.1f}{r['sql_p50_ms']:9.1f}{r['cpu_p50_ms']:9.1f}"
                f"{r['full_gc_requests']:9}{rows:>8}{over}"
            )
    print(
        "\nSQL p50: time in cursor.execute (on SQLite, rows are made as they are fetched, after"
        "\nit). CPU p50: the portal process's CPU per request, which other work on the machine"
        "\ndoes not inflate. full GC: timed requests that a collection of the oldest generation"
        "\nran in. rows: the list's count, all pages."
    )


def postgres_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL),
        help="the database to drop and create (default $BENCH_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database (to EXPLAIN queries)"
    )


def databases_run(module: str, databases: tuple[str, ...]) -> dict[str, dict]:
    """Each database's run in a process of its own (Django reads its settings once): this
    script again with ``--db`` and ``--child-output``; their results by database."""
    found = {}
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-") as scratch:
        for db in databases:
            out = Path(scratch) / f"{db}.json"
            child = [sys.executable, "-m", module, *sys.argv[1:], "--db", db]
            if subprocess.run([*child, "--child-output", str(out)], cwd=ROOT).returncode:
                raise SystemExit(f"the {db} run failed")
            found[db] = json.loads(out.read_text())
    return found


def result_write(name: str, result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--users", type=int, default=10_000, help="people (default 10,000)")
    parser.add_argument("--workspaces", type=int, default=20_000, help="(default 20,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed, of each read")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds of every read")
    postgres_arguments(parser)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after the warm-up: what that would change for a worker",
    )
    # Internal: one database's run in a child process, its result written to this file.
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests < 2 or args.workspaces < 1 or args.users < 1:
        parser.error("--requests must be at least 2, --users and --workspaces at least 1")

    if args.child_output:
        Path(args.child_output).write_text(json.dumps(run_one(args.db, args)))
        return

    databases = databases_run(
        "bench.api", ("sqlite", "postgres") if args.db == "both" else (args.db,)
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {"when": stamp, "machine": machine(), "users": args.users}
    result |= {"workspaces": args.workspaces, "requests": args.requests, "warmup": args.warmup}
    result |= {"gc_freeze": args.gc_freeze, "target_p95_ms": TARGET_P95_MS}
    result["databases"] = databases
    report(result)
    result_write(f"api-{stamp}", result)


if __name__ == "__main__":
    main()
