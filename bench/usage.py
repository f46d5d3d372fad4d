"""How fast the usage pages answer with 10,000 people and 1,000,000 runs over a year.

Run from the checkout: `.venv/bin/python -m bench.usage [--db sqlite|postgresql|both]
[--people 10000 --intervals 1000000 --days 365 --runs 50]` (PostgreSQL as for bench/api.py:
a role that may create databases; see bench/README.md).

For each database, in a process of its own (Django reads its settings once), the script
makes a fresh database (migrate) and seeds it in bulk, timed apart from the figures:
``--people`` approved people in ``--groups`` groups (each in one, a tenth in a second one
too), each group with a monthly CPU budget, four templates, one to three workspaces a person
(``people_plan``), and ``--intervals`` closed usage intervals spread over the last ``--days``
days (``runs_plan``), each with its owner's groups, most of them measured by the sampler,
plus ``--open`` runs going on now. The intervals and their groups go in with the driver's bulk
path (``executemany`` on SQLite, ``COPY`` on PostgreSQL), the rest with ``bulk_create``. Then
the roll-up pass runs once, timed: the first full roll-up of the whole range (``rollup_pass``,
what ``manage.py usage_rollup`` runs), and ``ANALYZE``, as autovacuum would have by then.

Then it times these reads through the portal's WSGI application, as bench/api.py does (no
socket, every middleware, ``DEBUG`` off; ``call``), logged in with a session cookie (pages,
CSV) or the person's API token (the API), ``--runs`` times each after untimed warm-ups, and
counts each one's queries once (CaptureQueriesContext):

- the person's own ``/usage/`` (the default 30 days, with their groups' budgets), for the
  person with the most runs: the worst case;
- the admins' ``/dashboard/usage/`` for the default 30 days and for a year (366 days);
- the CSV of last calendar month for every person (``/usage.csv?every=person``), read to its
  end (the response streams);
- ``/api/v1/usage/`` of that person over the default 30 days.

The target is p95 < 200 ms for the three pages on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from bench.api import (
    admin_create,
    call,
    database_fresh,
    databases_run,
    figures,
    machine,
    postgres_arguments,
    postgres_recreate,
    result_write,
    server_version,
    time_reads,
)

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 200.0  # the pages on PostgreSQL
GIB = 1024**3
SEED = 20261206
BATCH = 10_000  # rows per executemany on SQLite
BLOCK = 10  # timed requests of one read in a row, the reads taking turns
# The templates: (name, cores, memory, GPUs, share of the workspaces).
TEMPLATES = [
    ("default", 1.0, 2 * GIB, 0, 0.60),
    ("small", 0.5, 1 * GIB, 0, 0.20),
    ("large", 4.0, 16 * GIB, 0, 0.15),
    ("gpu", 4.0, 32 * GIB, 1, 0.05),
]
WEEKEND = 0.3  # a weekend day sees this share of a weekday's starts
MEDIAN_RUN = timedelta(hours=2)  # runs last a log-normal time around this...
LONGEST_RUN = timedelta(days=3)  # ...and no longer (the idle culler's doing)
MEASURED = 0.7  # share of the runs the sampler measured (the rest: a cluster without metrics)
LAST_END = timedelta(minutes=15)  # every closed run ended this long before the seeding


# The plan: who runs what when, a pure function of the seed --------------------------------


class Person(NamedTuple):
    name: str
    groups: tuple[str, ...]
    workspaces: tuple[int, ...]  # the template (index into TEMPLATES) of each workspace


class Run(NamedTuple):
    person: int  # index into the people
    workspace: int  # index into the person's workspaces
    start: datetime
    end: datetime | None  # None: going on now
    sampled_at: datetime | None  # None: never measured
    efficiency: float  # CPU used ÷ reserved, up to the last sample


def people_plan(*, people: int, groups: int, rng: random.Random) -> list[Person]:
    """Each person in one group (round robin: equal sizes), a tenth in a second one too, with
    one to three workspaces of templates drawn by their shares."""
    names = [f"group-{g:02d}" for g in range(groups)]
    shares = [share for *_, share in TEMPLATES]
    planned = []
    for i in range(people):
        mine = [names[i % groups]]
        if groups > 1 and rng.random() < 0.1:
            mine.append(names[(i + 1 + rng.randrange(groups - 1)) % groups])
        count = rng.choice((1, 1, 2, 2, 3))
        templates = rng.choices(range(len(TEMPLATES)), weights=shares, k=count)
        planned.append(Person(f"user{i:05d}", tuple(mine), tuple(templates)))
    return planned


def day_counts(*, total: int, first: date, days: int) -> list[int]:
    """``total`` runs shared out over ``days`` days from ``first``, a weekend day at
    ``WEEKEND`` of a weekday's, summing to exactly ``total``."""
    weights = [WEEKEND if (first + timedelta(d)).weekday() >= 5 else 1.0 for d in range(days)]
    scale = total / sum(weights)
    counts = [math.floor(w * scale) for w in weights]
    # What rounding down left over goes to the days it took the most from.
    largest_loss = sorted(range(days), key=lambda d: counts[d] - weights[d] * scale)
    for d in largest_loss[: total - sum(counts)]:
        counts[d] += 1
    return counts


def runs_plan(
    *,
    people: list[Person],
    intervals: int,
    days: int,
    now: datetime,
    running: list[int],
    rng: random.Random,
) -> Iterator[Run]:
    """``intervals`` closed runs over the ``days`` days up to ``now``, in the order of their
    starts (as a portal writes them), then a run going on now of the first workspace of each
    person in ``running``. Some people use much more than others (log-normal weights); a run
    lasts a log-normal time around ``MEDIAN_RUN``, at most ``LONGEST_RUN``, and ends at least
    ``LAST_END`` before ``now``, so the first roll-up holds every closed run."""
    cumulative = list(_running_sum(rng.lognormvariate(0, 0.8) for _ in people))
    latest = now - LAST_END
    first = datetime.combine((latest - timedelta(days=days - 1)).date(), datetime.min.time(), UTC)
    counts = day_counts(total=intervals, first=first.date(), days=days)
    mu = math.log(MEDIAN_RUN.total_seconds())
    for d, count in enumerate(counts):
        day_start = first + timedelta(days=d)
        day_seconds = min(86_400.0, (latest - day_start).total_seconds())
        starts = sorted(rng.uniform(0, day_seconds) for _ in range(count))
        owners = rng.choices(range(len(people)), cum_weights=cumulative, k=count)
        for offset, person in zip(starts, owners, strict=True):
            start = day_start + timedelta(seconds=offset)
            seconds = min(rng.lognormvariate(mu, 1.0), LONGEST_RUN.total_seconds())
            end = min(start + timedelta(seconds=seconds), latest)
            sampled = None
            if rng.random() < MEASURED and end > start:
                # The last sample came up to 5 minutes before the end (the sampler's period).
                sampled = max(start, end - timedelta(seconds=rng.uniform(0, 300)))
            workspace = rng.randrange(len(people[person].workspaces))
            yield Run(person, workspace, start, end, sampled, rng.random() ** 2)
    for person in running:
        start = now - timedelta(hours=rng.uniform(0.1, 48))
        yield Run(person, 0, start, None, now - timedelta(minutes=2), rng.random() ** 2)


def _running_sum(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


# Seeding --------------------------------------------------------------------------------------


@dataclass
class Seeded:
    seconds: float  # people, workspaces, intervals and ANALYZE
    intervals: int  # closed and open
    groups_rows: int  # UsageGroup rows
    person: str  # whose page is read: the one with the most runs
    person_runs: int
    rollup_seconds: float = 0.0
    rollup_days: int = 0
    usage_days: int = 0  # UsageDay rows after the roll-up


def seed(*, people: int, groups: int, intervals: int, days: int, open_runs: int) -> Seeded:
    """Everyone and their workspaces with ``bulk_create``; the intervals and their groups with
    the driver's bulk path (``_bulk_insert``); then ANALYZE."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from portal.accounts.models import User
    from portal.budgets.models import Budget
    from portal.usage.models import UsageGroup, UsageInterval
    from portal.workspaces.models import Workspace, WorkspaceTemplate

    rng = random.Random(SEED)
    now = timezone.now()
    password = make_password("bench-pass-1234")  # hashed once, shared: hashing 10,000 is minutes
    approved = User.Approval.APPROVED
    started = time.perf_counter()
    plan = people_plan(people=people, groups=groups, rng=rng)
    running = rng.sample(range(people), min(open_runs, people))
    with transaction.atomic():
        admin_create(password=password, now=now)
        users = User.objects.bulk_create(
            (
                User(username=p.name, password=password, approval=approved, approved_at=now)
                for p in plan
            ),
            batch_size=1000,
        )
        named = {
            name: Group.objects.create(name=name)
            for name in sorted({g for p in plan for g in p.groups})
        }
        membership = User.groups.through
        membership.objects.bulk_create(
            (
                membership(user_id=user.pk, group_id=named[g].pk)
                for user, p in zip(users, plan, strict=True)
                for g in p.groups
            ),
            batch_size=5000,
        )
        # A calendar month's CPU budget per group: the person's page shows use against it.
        Budget.objects.bulk_create(
            Budget(group=group, cpu_hours=200.0 * (1 + n % 5), period="month")
            for n, group in enumerate(named.values())
        )
        templates = []
        for name, cpu, memory, gpus, _ in TEMPLATES:
            found, _ = WorkspaceTemplate.objects.get_or_create(name=name)  # default: migration
            found.cpu_default, found.cpu_max = cpu, max(cpu, 2.0)
            found.memory_default, found.memory_max = memory, max(memory, 4 * GIB)
            found.gpus_max = gpus
            found.save()
            templates.append(found)
        on = set(running)
        workspaces = Workspace.objects.bulk_create(
            (
                Workspace(
                    owner_id=user.pk,
                    name=f"ws-{w + 1}",
                    template=templates[t],
                    state="running" if w == 0 and i in on else "stopped",
                    image=templates[t].image,
                    cpu=TEMPLATES[t][1],
                    memory=TEMPLATES[t][2],
                )
                for i, (user, p) in enumerate(zip(users, plan, strict=True))
                for w, t in enumerate(p.workspaces)
            ),
            batch_size=1000,
        )
        made = iter(workspaces)
        workspace_ids = [[next(made).pk for _ in p.workspaces] for p in plan]
        runs = runs_plan(
            people=plan, intervals=intervals, days=days, now=now, running=running, rng=rng
        )
        owners = array("l")  # each interval's owner, by id - 1: its groups' rows come after
        rows = interval_rows(
            runs,
            plan=plan,
            user_ids=[u.pk for u in users],
            workspace_ids=workspace_ids,
            template_ids=[t.pk for t in templates],
            owners=owners,
        )
        _bulk_insert(UsageInterval._meta.db_table, INTERVAL_COLUMNS, rows)
        group_rows = (
            (interval, name)
            for interval, person in enumerate(owners, start=1)
            for name in plan[person].groups
        )
        groups_rows = _bulk_insert(UsageGroup._meta.db_table, ("interval_id", "name"), group_rows)
        _sequences_reset()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counted = [0] * people
    for person in owners:
        counted[person] += 1
    busiest = max(range(people), key=counted.__getitem__)
    return Seeded(
        seconds=time.perf_counter() - started,
        intervals=len(owners),
        groups_rows=groups_rows,
        person=plan[busiest].name,
        person_runs=counted[busiest],
    )


# Each interval's columns, in the order of interval_rows' tuples (ids from 1: the table is new).
INTERVAL_COLUMNS = (
    "id",
    "workspace_id",
    "workspace_name",
    "owner_id",
    "owner_name",
    "template_id",
    "template_name",
    "cpu",
    "memory",
    "gpus",
    "started_at",
    "ended_at",
    "ended_how",
    "closed_at",
    "cpu_used_seconds",
    "memory_peak",
    "sampled_at",
    "cpu_counter",
    "engine_run",
)


def interval_rows(
    runs: Iterable[Run],
    *,
    plan: list[Person],
    user_ids: list[int],
    workspace_ids: list[list[int]],
    template_ids: list[int],
    owners: array,
) -> Iterator[tuple]:
    """One row of ``INTERVAL_COLUMNS`` per run, as the portal writes them: closed ones
    stopped and closed 5 s after their end, measured ones with CPU used as ``efficiency``
    of what they reserved up to their last sample. Appends each run's owner to ``owners``."""
    for pk, run in enumerate(runs, start=1):
        person = plan[run.person]
        t = person.workspaces[run.workspace]
        template, cpu, memory, gpus, _ = TEMPLATES[t]
        used = peak = None
        if run.sampled_at is not None:
            used = cpu * (run.sampled_at - run.start).total_seconds() * run.efficiency
            peak = int(memory * (0.1 + 0.8 * run.efficiency))
        closed = run.end + timedelta(seconds=5) if run.end else None
        owners.append(run.person)
        yield (
            pk,
            workspace_ids[run.person][run.workspace],
            f"ws-{run.workspace + 1}",
            user_ids[run.person],
            person.name,
            template_ids[t],
            template,
            cpu,
            memory,
            gpus,
            run.start,
            run.end,
            "stopped" if run.end else "",
            closed,
            used,
            peak,
            run.sampled_at,
            used,
            "",
        )


def _bulk_insert(table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """Insert ``rows`` with the driver's fastest path: COPY on PostgreSQL, executemany in
    batches on SQLite (datetimes as Django writes them there). How many rows."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = ", ".join(columns)
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        adapt = connection.ops.adapt_datetimefield_value
        marks = ", ".join(["%s"] * len(columns))
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        batch: list[tuple] = []
        for row in rows:
            batch.append(tuple(adapt(v) if isinstance(v, datetime) else v for v in row))
            if len(batch) == BATCH:
                cursor.executemany(insert, batch)
                count, batch = count + len(batch), []
        if batch:
            cursor.executemany(insert, batch)
            count += len(batch)
    return count


def _sequences_reset() -> None:
    """Rows inserted with their ids leave PostgreSQL's sequences behind: the next insert
    would collide."""
    from django.core.management.color import no_style
    from django.db import connection

    from portal.usage.models import UsageGroup, UsageInterval

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [UsageInterval, UsageGroup]):
            cursor.execute(statement)


def rollup(seeded: Seeded) -> None:
    """The first roll-up pass over everything seeded, timed, then ANALYZE."""
    from django.db import connection

    from portal.usage.models import UsageDay
    from portal.usage.rollup import rollup_pass

    started = time.perf_counter()
    done = rollup_pass()
    seeded.rollup_seconds = time.perf_counter() - started
    seeded.rollup_days = done.days
    seeded.usage_days = UsageDay.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# The reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    name: str
    who: str  # "person" or "admin", with a session; "person-token" with an API token
    path: str
    target: bool  # one of the pages held to p95 < 200 ms on PostgreSQL


def reads_for(today: date) -> list[Read]:
    year = today - timedelta(days=365)
    month_end = today.replace(day=1) - timedelta(days=1)  # last calendar month, rolled up
    month = f"since={month_end.replace(day=1)}&until={month_end}"
    return [
        Read("person's /usage/, 30 days", "person", "/usage/", True),
        Read("admins' /dashboard/usage/, 30 days", "admin", "/dashboard/usage/", True),
        Read(
            "admins' /dashboard/usage/, 366 days",
            "admin",
            f"/dashboard/usage/?since={year}&until={today}",
            True,
        ),
        Read("CSV, every person, a month", "admin", f"/usage.csv?every=person&{month}", False),
        Read("API person's usage, 30 days", "person-token", "/api/v1/usage/", False),
    ]


def run_one(db: str, args: argparse.Namespace) -> dict:
    """Fresh database, seed, roll up, warm up, time: this process's whole run for one database."""
    engine = "postgres" if db == "postgresql" else db  # bench/api.py's name for it
    data_dir = database_fresh(engine, args.postgres_url, "mlhub-bench-usage-")
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from portal.accounts.models import User
        from portal.api.services import api_token_create
        from portal.wsgi import application

        logging.getLogger("axes").setLevel(logging.WARNING)
        call_command("migrate", verbosity=0)
        seeded = seed(
            people=args.people,
            groups=args.groups,
            intervals=args.intervals,
            days=args.days,
            open_runs=args.open,
        )
        print(
            f"[{db}] seeded {args.people:,} people, {seeded.intervals:,} intervals and "
            f"{seeded.groups_rows:,} of their groups in {seeded.seconds:.1f} s",
            flush=True,
        )
        rollup(seeded)
        print(
            f"[{db}] first roll-up: {seeded.rollup_days} days, {seeded.usage_days:,} rows, "
            f"in {seeded.rollup_seconds:.1f} s",
            flush=True,
        )

        cookie = settings.SESSION_COOKIE_NAME
        headers = {}
        person = User.objects.get(username=seeded.person)
        for who, user in (("person", person), ("admin", User.objects.get(username="admin"))):
            browser = Client()
            browser.force_login(user, backend="portal.accounts.backends.LocalPasswords")
            headers[who] = {"HTTP_COOKIE": f"{cookie}={browser.cookies[cookie].value}"}
        token = api_token_create(user=person, by=person)[1]
        headers["person-token"] = {"HTTP_AUTHORIZATION": f"Token {token}"}
        reads = reads_for(timezone.now().date())

        for _ in range(args.warmup):
            for read in reads:
                status, body, *_ = call(application, read.path, headers[read.who])
                if not status.startswith("200"):
                    raise SystemExit(f"[{db}] {read.path} as {read.who}: {status}\n{body[:500]!r}")
        checks = {}
        for read in reads:  # untimed, once warm: the queries, and the size of the answer
            with CaptureQueriesContext(connection) as captured:
                status, body, *_ = call(application, read.path, headers[read.who])
            checks[read.name] = {
                "queries": len(captured.captured_queries),
                "sql": [q["sql"] for q in captured.captured_queries],
                "bytes": len(body),
                "lines": body.count(b"\n") if ".csv" in read.path else None,
            }

        load_before = os.getloadavg()[0]
        seconds, clocks = time_reads(
            application, reads, headers, requests=args.runs, block=BLOCK, label=db
        )
        version = server_version()
        results = {
            read.name: figures(read, checks[read.name], seconds[read.name], clocks[read.name])
            for read in reads
        }
        connection.close()
        return {
            "engine": db,
            "version": version,
            "seeded": asdict(seeded),
            "load": [load_before, os.getloadavg()[0]],
            "reads": results,
        }
    finally:
        if db == "postgresql" and not args.keep:
            postgres_recreate(args.postgres_url, drop_only=True)
        shutil.rmtree(data_dir, ignore_errors=True)


# Report ----------------------------------------------------------------------------------


def report(result: dict) -> None:
    m = result["machine"]
    print(
        f"\n{m['cpus']} CPUs, {m['platform']}, Python {m['python']}, Django {m['django']}, "
        f"commit {m['commit']}"
    )
    print(
        f"{result['people']:,} people, {result['intervals']:,} intervals over "
        f"{result['days']} days; {result['runs']} timed requests of each read after "
        f"{result['warmup']} warm-up rounds; milliseconds, in-process WSGI"
    )
    for db in result["databases"].values():
        s = db["seeded"]
        print(
            f"\n{db['engine']} {db['version']}: seeded in {s['seconds']:.1f} s; first roll-up "
            f"{s['rollup_seconds']:.1f} s ({s['rollup_days']} days, {s['usage_days']:,} rows); "
            f"{s['person']} has {s['person_runs']} runs; load average "
            f"{db['load'][0]:.1f} → {db['load'][1]:.1f}"
        )
        print(
            f"{'read':38}{'queries':>8}{'p50':>9}{'p95':>9}{'max':>9}{'SQL p50':>9}{'CPU p50':>9}"
        )
        for name, r in db["reads"].items():
            verdict = ""
            if db["engine"] == "postgresql" and r["target"]:
                met = r["p95_ms"] < TARGET_P95_MS
                verdict = f"  {'within' if met else 'OVER'} {TARGET_P95_MS:.0f} ms"
            print(
                f"{name:38}{r['queries']:8}{r['p50_ms']:9.1f}{r['p95_ms']:9.1f}{r['max_ms']:9.1f}"
                f"{r['sql_p50_ms']:9.1f}{r['cpu_p50_ms']:9.1f}{verdict}"
            )
    print(
        "\nSQL p50: time in cursor.execute (on SQLite rows are made as they are fetched, after"
        "\nit). CPU p50: the portal process's CPU per request, which other work on the machine"
        "\ndoes not inflate."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--people", type=int, default=10_000, help="(default 10,000)")
    parser.add_argument("--groups", type=int, default=50, help="(default 50)")
    parser.add_argument(
        "--intervals", type=int, default=1_000_000, help="closed runs (default 1,000,000)"
    )
    parser.add_argument("--days", type=int, default=365, help="they spread over (default 365)")
    parser.add_argument("--open", type=int, default=200, help="runs going on now (default 200)")
    parser.add_argument("--runs", type=int, default=50, help="timed requests of each read")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds of every read")
    postgres_arguments(parser)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 2 or args.people < 1 or args.groups < 1 or args.days < 1:
        parser.error("--runs must be at least 2; --people, --groups and --days at least 1")

    if args.child_output:
        Path(args.child_output).write_text(json.dumps(run_one(args.db, args)))
        return

    both = ("sqlite", "postgresql")
    databases = databases_run("bench.usage", both if args.db == "both" else (args.db,))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {"when": stamp, "machine": machine(), "people": args.people}
    result |= {"intervals": args.intervals, "days": args.days, "open": args.open}
    result |= {"runs": args.runs, "warmup": args.warmup, "target_p95_ms": TARGET_P95_MS}
    result["databases"] = databases
    report(result)
    result_write(f"usage-{stamp}", result)


if __name__ == "__main__":
    main()
