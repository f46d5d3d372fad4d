"""How long one pass of the workspace states sync takes against a real hub with 10,000 users.

Run from the checkout: `.venv/bin/python -m bench.sync [--db sqlite|postgres|both]`
(needs the Node proxy; PostgreSQL needs a role that may create databases; see
bench/README.md). Target: a pass in under 5 s.

The real stack (gunicorn portal, django-q2, JupyterHub, Node proxy) runs in process mode with
a hub override (bench/hub_override.py, through MLHUB_USER_CONFIG as an admin's file would)
that makes every server the tiny one of bench/tiny_spawner.py: 200 "running" servers that are
one small HTTP server of this script, so they cost no memory. The hub still keeps a server
model, a token and a proxy route for each, and reports their states to the portal.

The hub gets 10,000 users (its bulk `POST /hub/api/users`), the portal's database the same
10,000 people with two workspaces each (bulk inserts); 200 of the workspaces are started in
the hub. Then, in rounds, some rows of the portal are made wrong (running servers marked
stopped, stopped ones marked running or starting) and `sync_pass()` runs in this process,
with Django set up against the stack's own database and hub: a pass that corrects them, then
a pass that finds nothing to do (the steady state, what every scheduled pass costs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from bench.common import git_commit
from bench.tiny_spawner import tiny_server_start
from lib.polling import poll_until
from tests.hub_stack import running_stack

HUB = "mlhs"  # this benchmark's own hub name
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
OVERRIDE = Path(__file__).resolve().parent / "hub_override.py"
POSTGRES_URL = "postgres://mlhub:mlhub-tests@127.0.0.1:5432/mlhub_bench_sync"
TARGET_SECONDS = 5.0
HUB_USERS_PER_REQUEST = 1000
SERVER = "ws-1"  # the workspace of each person that runs; "ws-2" never does


def username(i: int) -> str:
    return f"user{i:05d}"


# What is wrong in the portal before a correcting pass -------------------------------------


def plan(users: int, running: int, wrong: int, asks: int) -> dict[str, list[tuple[str, str]]]:
    """Which (owner, workspace) run in the hub and which rows the portal gets wrong.

    The running servers are spread over the users (every ``users // running``-th one); the
    wrongly running and starting rows belong to people the hub runs nothing for, so the pass
    reaches them through the portal's own alive rows only.
    """
    step = users // running
    if step < 4 or wrong > running or asks > running:
        raise SystemExit("--users must be at least 4 x --running, --wrong and --asks at most it")
    runs = [(username(i * step), SERVER) for i in range(running)]
    return {
        "running": runs,
        "stopped_but_running": runs[:wrong],
        "running_but_stopped": [(username(i * step + 1), "ws-2") for i in range(wrong)],
        "starting_but_gone": [(username(i * step + 2), "ws-2") for i in range(asks)],
    }


# The environment of one database's run ------------------------------------------------------


def postgres_recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    database = sql.Identifier(parts.path.lstrip("/"))
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(database))


def django_setup(environ: dict[str, str]) -> None:
    """Django in this process, configured exactly as the stack's portal (its environment)."""
    os.environ.update(environ)  # this process's own environment plus the stack's settings
    import django

    django.setup()
    # One INFO line per corrected row would fill the terminal; the qcluster logs them.
    logging.getLogger("portal.workspaces.sync").setLevel(logging.WARNING)


# Seeding ------------------------------------------------------------------------------------


def portal_seed(users: int) -> float:
    """``users`` approved people with two stopped workspaces each, in bulk; seconds taken."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from portal.accounts.models import User
    from portal.workspaces.models import Workspace, WorkspaceTemplate

    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        User.objects.bulk_create(
            (
                User(
                    username=username(i),
                    email=f"{username(i)}@example.org",
                    password=make_password(None),  # nobody logs in: no hashing
                    approval=User.Approval.APPROVED,
                    approved_at=now,
                )
                for i in range(users)
            ),
            batch_size=1000,
        )
        owners = User.objects.filter(username__startswith="user").values_list("pk", flat=True)
        template = WorkspaceTemplate.objects.get(name="default")
        Workspace.objects.bulk_create(
            (
                Workspace(
                    owner_id=owner,
                    name=name,
                    template=template,
                    state=Workspace.State.STOPPED,
                    image=template.image,
                    cpu=template.cpu_default,
                    memory=template.memory_default,
                    created_at=now,
                )
                for owner in owners
                for name in ("ws-1", "ws-2")
            ),
            batch_size=1000,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum would have done by now
    return time.perf_counter() - started


def hub_users_create(session: requests.Session, hub_api: str, users: int) -> float:
    """The same people in the hub, through its bulk API; seconds taken."""
    started = time.perf_counter()
    for first in range(0, users, HUB_USERS_PER_REQUEST):
        names = [username(i) for i in range(first, min(users, first + HUB_USERS_PER_REQUEST))]
        response = session.post(f"{hub_api}/users", json={"usernames": names}, timeout=600)
        assert response.status_code == 201, response.text[:300]
    return time.perf_counter() - started


def servers_start(session: requests.Session, hub_api: str, servers: list[tuple[str, str]]):
    """Start the servers in the hub (as the portal does: an empty options body)."""

    def start(server: tuple[str, str]) -> None:
        user, name = server
        response = session.post(f"{hub_api}/users/{user}/servers/{name}", json={}, timeout=60)
        assert response.status_code in (201, 202), response.text[:300]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(start, servers))


def servers_ready(hub) -> int:
    return sum(
        bool(server.get("ready"))
        for user in hub.users_active()
        for server in (user.get("servers") or {}).values()
    )


def rows(pairs: list[tuple[str, str]]):
    from django.db.models import Q

    from portal.workspaces.models import Workspace

    owners_of: dict[str, list[str]] = {}
    for owner, name in pairs:
        owners_of.setdefault(name, []).append(owner)
    match = Q(pk__in=[])
    for name, owners in owners_of.items():  # one term per name: SQLite limits the depth
        match |= Q(name=name, owner__username__in=owners)
    return Workspace.objects.filter(match)


def portal_make_wrong(wrongs: dict[str, list[tuple[str, str]]]) -> int:
    """Put the planned wrong states in the portal, written an hour ago; how many rows."""
    from django.utils import timezone

    from portal.workspaces.models import Workspace

    state = Workspace.State
    an_hour_ago = timezone.now() - timedelta(hours=1)
    changed = 0
    for key, wrong_state in (
        ("stopped_but_running", state.STOPPED),
        ("running_but_stopped", state.RUNNING),
        ("starting_but_gone", state.STARTING),
    ):
        changed += rows(wrongs[key]).update(state=wrong_state, message="", synced_at=an_hour_ago)
    return changed


def portal_make_right(wrongs: dict[str, list[tuple[str, str]]]) -> None:
    """Every row as the hub has it (the running ones running), written an hour ago."""
    from django.utils import timezone

    from portal.workspaces.models import Workspace

    an_hour_ago = timezone.now() - timedelta(hours=1)
    Workspace.objects.update(state=Workspace.State.STOPPED, message="", synced_at=an_hour_ago)
    rows(wrongs["running"]).update(state=Workspace.State.RUNNING, synced_at=an_hour_ago)


def portal_states() -> dict[str, int]:
    from django.db.models import Count

    from portal.workspaces.models import Workspace

    counts = Workspace.objects.values("state").annotate(n=Count("pk")).order_by("state")
    return {row["state"]: row["n"] for row in counts}


# Timing -------------------------------------------------------------------------------------


def timed_pass() -> dict:
    """One ``sync_pass()`` with a fresh hub client (as each scheduled task makes one)."""
    from django.conf import settings

    from portal.hub.client import HubClient
    from portal.workspaces.sync import sync_pass

    hub = HubClient(settings.HUB_API_URL, settings.HUB_API_TOKEN)
    started, cpu = time.perf_counter(), time.thread_time()
    result = sync_pass(hub=hub)
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.thread_time() - cpu,
        "checked": result.checked,
        "corrected": result.corrected,
        "unknown": result.unknown_servers,
        "hub_calls": result.hub_calls,
    }


def hub_read_seconds() -> float:
    """The pass's first step alone: every active user from the hub, page by page."""
    from django.conf import settings

    from portal.hub.client import HubClient

    hub = HubClient(settings.HUB_API_URL, settings.HUB_API_TOKEN)
    started = time.perf_counter()
    list(hub.users_active())
    return time.perf_counter() - started


def queries_of_pass() -> list[dict]:
    """The SQL of one pass, each with its seconds (as Django's debug cursor measures them)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        timed_pass()
    return [{"seconds": float(q["time"]), "sql": q["sql"][:300]} for q in captured]


def run_one(db: str, args: argparse.Namespace) -> dict:
    wrongs = plan(args.users, args.running, args.wrong, args.asks)
    wrong_rows = sum(len(v) for k, v in wrongs.items() if k != "running")
    extra = {"MLHUB_USER_CONFIG": str(OVERRIDE)}
    if db == "postgres":
        postgres_recreate(args.postgres_url)
        extra["DATABASE_URL"] = args.postgres_url
    tiny, extra["BENCH_TINY_URL"] = tiny_server_start()
    try:
        with tempfile.TemporaryDirectory(prefix="mlhub-bench-sync-") as data:
            stack = running_stack(Path(data), "process", HUB, extra)
            hub = next(stack)
            try:
                return measure(db, args, hub, wrongs, wrong_rows)
            except BaseException:
                print(hub.logs(30))
                raise
            finally:
                stack.close()
    finally:
        tiny.shutdown()
        if db == "postgres":
            postgres_recreate(args.postgres_url, drop_only=True)


def measure(db, args, hub, wrongs, wrong_rows) -> dict:
    django_setup(hub.stack.environ)
    import jupyterhub
    from django.conf import settings
    from django.db import connection
    from django_q.models import Schedule

    from portal.hub.client import HubClient
    from portal.workspaces.tasks import SYNC_SCHEDULE

    # The cluster's own scheduled passes would correct the rows between ours.
    Schedule.objects.filter(name=SYNC_SCHEDULE).delete()
    seeded = portal_seed(args.users)
    print(f"[{db}] portal seeded in {seeded:.1f} s", flush=True)
    session = requests.Session()
    session.headers["Authorization"] = f"token {hub.hub_token}"
    hub_seeded = hub_users_create(session, hub.hub_api, args.users)
    print(f"[{db}] {args.users:,} hub users created in {hub_seeded:.1f} s", flush=True)
    started = time.perf_counter()
    servers_start(session, hub.hub_api, wrongs["running"])
    client = HubClient(settings.HUB_API_URL, settings.HUB_API_TOKEN)
    poll_until(
        lambda: servers_ready(client) == args.running,
        timeout=300,
        what=f"{args.running} servers not ready in the hub",
    )
    ready = time.perf_counter() - started
    # Their reports reach the portal as they happen; some may be lost on the way (the hub
    # logs each): counted here, and the rows are then set right by hand.
    try:
        poll_until(
            lambda: portal_states().get("running") == args.running,
            timeout=30,
            what="reports",
        )
    except TimeoutError:
        pass
    reported = portal_states()
    hub_log = (hub.stack.log_dir / "hub.log").read_text(errors="replace")
    lost = hub_log.count("The portal refused the ") + hub_log.count("The portal did not take ")
    queue = hub_log.count("Timeout in request queue")
    print(
        f"[{db}] {args.running} servers ready in the hub after {ready:.1f} s; the portal "
        f"then had {reported}; {lost} reports lost ({queue} 'Timeout in request queue')",
        flush=True,
    )
    portal_make_right(wrongs)

    correcting, steady, hub_reads = [], [], []
    for i in range(args.rounds):
        assert portal_make_wrong(wrongs) == wrong_rows
        correcting.append(timed_pass())
        steady.append(timed_pass())
        hub_reads.append(hub_read_seconds())
        assert correcting[-1]["corrected"] == wrong_rows, correcting[-1]
        assert steady[-1]["corrected"] == 0, steady[-1]
        print(
            f"[{db}] round {i + 1}/{args.rounds}: correcting pass "
            f"{correcting[-1]['seconds']:.3f} s, steady pass {steady[-1]['seconds']:.3f} s",
            flush=True,
        )
    states = portal_states()
    assert states.get("running") == args.running and not states.get("starting"), states
    portal_make_wrong(wrongs)
    queries = {"correcting": queries_of_pass(), "steady": queries_of_pass()}

    # What an admin runs: the management command, Django's start-up included.
    portal_make_wrong(wrongs)
    started = time.perf_counter()
    command = subprocess.run(
        [sys.executable, "manage.py", "sync_workspaces"],
        cwd=ROOT,
        env=hub.stack.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    command_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()" if db == "sqlite" else "SHOW server_version")
        version = cursor.fetchone()[0]
    connection.close()
    return {
        "engine": db,
        "version": version,
        "jupyterhub": jupyterhub.__version__,
        "portal_seed_seconds": seeded,
        "hub_users_seconds": hub_seeded,
        "wrong_rows": wrong_rows,
        "servers_ready_seconds": ready,
        "portal_states_after_reports": reported,
        "reports_lost": lost,
        "reports_timeout_in_queue": queue,
        "correcting": correcting,
        "steady": steady,
        "hub_read_seconds": hub_reads,
        "queries": queries,
        "command": {"output": command.stdout.strip().splitlines()[-1], "seconds": command_seconds},
        "final_states": states,
    }


# Report -------------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def report(result: dict) -> None:
    m = result["machine"]
    print(f"\n{m['cpus']} CPUs, {m['platform']}, Python {m['python']}, commit {m['commit']}")
    print(
        f"{result['users']:,} users in the hub and the portal, {result['users'] * 2:,} "
        f"workspaces, {result['running']} running (tiny servers); {result['rounds']} rounds; "
        "seconds: median (min–max)"
    )
    for db in result["databases"].values():
        print(
            f"\n{db['engine']} {db['version']}, JupyterHub {db['jupyterhub']} (portal seeded in "
            f"{db['portal_seed_seconds']:.1f} s, hub users in {db['hub_users_seconds']:.1f} s)"
        )
        print(
            f"{'pass':12}{'seconds':>24}{'CPU':>8}{'hub calls':>11}{'queries':>9}{'SQL':>7}"
            f"{'checked':>9}{'corrected':>11}"
        )
        for kind in ("correcting", "steady"):
            passes = db[kind]
            seconds = [p["seconds"] for p in passes]
            over = "  over the target" if statistics.median(seconds) >= TARGET_SECONDS else ""
            print(
                f"{kind:12}{spread(seconds):>24}{statistics.median(p['cpu'] for p in passes):8.3f}"
                f"{passes[-1]['hub_calls']:11}{len(db['queries'][kind]):9}"
                f"{sum(q['seconds'] for q in db['queries'][kind]):7.3f}"
                f"{passes[-1]['checked']:9}{passes[-1]['corrected']:11}{over}"
            )
        print(
            f"{result['running']} servers started at once: ready in the hub after "
            f"{db['servers_ready_seconds']:.1f} s; {db['reports_lost']} of their reports lost "
            f"({db['reports_timeout_in_queue']} 'Timeout in request queue')"
        )
        print(f"{'hub read':12}{spread(db['hub_read_seconds']):>24}   (GET /users?state=active)")
        print(
            f"manage.py sync_workspaces: {db['command']['seconds']:.2f} s, says: "
            f"{db['command']['output']}"
        )
    print(
        "\nCPU: this process's CPU in the pass (the portal's side). queries, SQL: the SQL"
        "\nqueries of one pass and their seconds, from an extra pass of each kind. hub read: the"
        "\npass's first step alone. The command's time includes Django's start-up."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--users", type=int, default=10_000, help="(default 10,000)")
    parser.add_argument("--running", type=int, default=200, help="servers (default 200)")
    parser.add_argument(
        "--wrong", type=int, default=50, help="rows wrong each way per round (default 50)"
    )
    parser.add_argument(
        "--asks", type=int, default=10, help="rows 'starting' whose server is gone (default 10)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="(default 5)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL),
        help="the database to drop and create (default $BENCH_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    plan(args.users, args.running, args.wrong, args.asks)  # refuses impossible sizes

    if args.child_output:
        Path(args.child_output).write_text(json.dumps(run_one(args.db, args)))
        return

    # Django's settings are read once per process: each database gets its own process.
    databases = {}
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-sync-") as scratch:
        for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
            out = Path(scratch) / f"{db}.json"
            child = [sys.executable, "-m", "bench.sync", *sys.argv[1:], "--db", db]
            subprocess.run([*child, "--child-output", str(out)], cwd=ROOT, check=True)
            databases[db] = json.loads(out.read_text())

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": git_commit(),
    }
    result = {"when": stamp, "machine": machine, "users": args.users, "running": args.running}
    result |= {"rounds": args.rounds, "target_seconds": TARGET_SECONDS, "databases": databases}
    report(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sync-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
