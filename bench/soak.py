"""A soak: many people using MLHub for a long time while its parts are broken under them.

Run from the checkout (needs a Docker engine, the image mlhub-workspace:latest and root to
restart the engine; see bench/README.md):

    .venv/bin/python -m bench.soak                    # 20 people, 30 minutes
    .venv/bin/python -m bench.soak --minutes 3 --people 8 --strict   # CI's short one

It starts the real stack in Docker mode (hub name ``mlsk``) in a temporary folder. ``--people``
simulated people (bench/soak_people.py) create, open, stop, start and delete workspaces at
random through the REST API, while the injector (bench/soak_faults.py) SIGKILLs the hub, the
portal, the task cluster, the proxy and a workspace container at random intervals, and
restarts the Docker engine once; a supervisor starts what was killed again. Then the faults
and the people stop, the workspaces settle, one sync and one cleanup pass run, and the end
is checked (bench/soak_checks.py): nothing leaked, every running workspace answers, every
file written before a stop is there. It prints a table (operations, faults, failures by
cause, leaks, memory of each process at the start, middle and end) and writes it to
bench/results/soak-<UTC time>.json. ``--strict``: exit 1 on a leak, a lost file or a failure
that was not a fault's own.

Traffic goes to this machine only; the run is bounded by ``--minutes`` plus the end's waits.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import docker

from bench import soak_checks
from bench.common import git_commit
from bench.soak_faults import Injector, Supervisor, engine_restartable
from bench.soak_ledger import Ledger
from bench.soak_memory import MemorySampler
from bench.soak_people import Person
from tests.docker_engine import remove_everything_of
from tests.hub_stack import running_stack

HUB = "mlsk"  # this benchmark's own hub name: nothing else on the engine carries it
IMAGE = "mlhub-workspace:latest"
RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "soak-person-pass-1"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long (default 30)")
    parser.add_argument("--people", type=int, default=20, help="simulated people (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="for the same choices again")
    parser.add_argument(
        "--no-engine", action="store_true", help="leave the Docker engine alone (no root)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on a leak, a lost file or a failure"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the result (bench/results/)"
    )
    return parser.parse_args()


def main() -> int:
    args = arguments()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    engine = not args.no_engine
    if engine and (why := engine_restartable()):
        print(f"soak: {why} (or --no-engine)", file=sys.stderr)
        return 2
    client = docker.from_env(timeout=60)
    client.images.get(IMAGE)  # ImageNotFound: build it first (make workspace-image)
    remove_everything_of(client, HUB)
    progress(f"{args.people} people, {args.minutes:g} min, seed {seed}: starting the stack")
    with tempfile.TemporaryDirectory(prefix="mlhub-soak-") as folder:
        stack_run = running_stack(Path(folder) / "stack", "local", HUB, extra=STACK_SETTINGS)
        hub = next(stack_run)
        progress(f"the stack is up at {hub.url}; the people begin")
        try:
            result = soak(hub, args, seed, engine)
        finally:
            stack_run.close()
            remove_everything_of(client, HUB)
        path = report(result, args.json)
        bad = any(result[k] for k in ("leaked", "lost files", "unexplained failures"))
        if bad or result["not answering"] or result["unplanned exits"]:
            # The stack's logs, to find each finding in (the folder goes with the run).
            kept = path.with_name(path.stem + "-logs")
            shutil.copytree(Path(folder) / "stack" / "logs", kept, dirs_exist_ok=True)
            print(f"the stack's logs: {kept}")
    return 1 if args.strict and bad else 0


# Production's settings but for: the cleanup only when the soak runs it (at the end), with no
# grace (its resources are minutes old), and the hub polls servers every 10 s (30 s default):
# a killed container is noticed sooner, so the fault's window is shorter.
STACK_SETTINGS = {
    "MLHUB_WORKSPACE_IMAGES": IMAGE,
    "CLEANUP_INTERVAL_SECONDS": "-1",
    "MLHUB_CLEANUP_GRACE_SECONDS": "0",
    "MLHUB_SERVER_POLL_SECONDS": "10",
}


def soak(hub, args, seed: int, engine: bool) -> dict:
    rng = random.Random(seed)
    ledger = Ledger()
    people = [
        Person(name, token, hub.url, ledger, random.Random(rng.random()))
        for name, token in people_make(hub, args.people)
    ]
    seconds = args.minutes * 60
    supervisor = Supervisor(hub.stack, ledger)
    injector = Injector(
        supervisor, ledger, HUB, random.Random(rng.random()), seconds, engine, progress
    )
    memory = MemorySampler(hub.stack)
    stop_people, stop_rest = threading.Event(), threading.Event()
    using = [threading.Thread(target=p.run, args=(stop_people,), daemon=True) for p in people]
    supervising = threading.Thread(target=supervisor.run, args=(stop_rest,), daemon=True)
    sampling = threading.Thread(target=memory.run, args=(stop_rest,), daemon=True)
    faults = threading.Thread(target=injector.run, args=(stop_rest,), daemon=True)
    started = time.monotonic()
    for thread in [*using, supervising, sampling, faults]:
        thread.start()
    try:
        faults.join(seconds + 600)  # the plan ends with the time; a recovery may overrun it
        stop_people.wait(max(0.0, seconds - (time.monotonic() - started)))
        progress("the time is up: the people finish what they are doing")
        stop_people.set()
        for thread in using:
            thread.join(300)
        took = time.monotonic() - started
        supervisor.revive()
        supervisor.all_answer()
        progress("the workspaces settle; then one sync and one cleanup pass")
        soak_checks.portal_orm(hub.stack)
        progress(f"the workspaces {soak_checks.settle()}")
        passes = soak_checks.passes(hub.stack)
        progress(f"sync and cleanup passed; the workspaces {soak_checks.settle()}")
        progress("counting leaks; every workspace opened, its files read")
        leaked = soak_checks.leaks(hub.stack, HUB, hub.hub_api, hub.hub_token)
        not_answering = end_check(people)
        stop_rest.set()
        memory.sample()  # the end, after the end's checks
        return {
            "commit": git_commit(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": seed,
            "people": args.people,
            "minutes": round(took / 60, 1),
            "operations": dict(ledger.operations),
            "faults": dict(ledger.fault_counts()),
            "longest recovery s": {k: round(v, 1) for k, v in ledger.recovery_seconds().items()},
            "failures during faults": joined(ledger.during_faults),
            "unexplained failures": joined(ledger.failures),
            "examples": joined(ledger.examples),
            "unexplained, first": ledger.unexplained,
            "unplanned exits": dict(ledger.unplanned_exits),
            "unplanned exits, how": ledger.unplanned_ends,
            "passes": passes,
            "leaked": {kind: names for kind, names in leaked.items() if names},
            "not answering": not_answering,
            "lost files": ledger.lost_files,
            "memory MB": memory.table(),
        }
    finally:
        # Nothing may start a process again once the stack stops after an error or ^C: the
        # supervisor would leave what it started running after the run (found 2026-12-07).
        stop_people.set()
        stop_rest.set()
        supervising.join(30)


def joined(counts: dict) -> dict:
    """``{(operation, cause): value}`` as JSON can keep it: ``{"operation: cause": value}``."""
    return {f"{op}: {cause}": value for (op, cause), value in counts.items()}


def people_make(hub, count: int) -> list[tuple[str, str]]:
    made = []
    for i in range(1, count + 1):
        name = f"soak{i:02d}"
        hub.user_create(name, PASSWORD, approved=True)
        made.append((name, hub.token_for(name, PASSWORD)))
    return made


def end_check(people: list[Person]) -> list[str]:
    """Every workspace the portal says is running answers, with every file written before a
    stop; a stopped one is started to be read (each person's at once, as they would). Those
    that do not answer, by name."""
    not_answering: list[str] = []

    def check(person: Person) -> None:
        person.time_up = threading.Event()  # the run's is set: these waits are the end's
        for workspace in list(person.workspaces.values()):
            person.refresh(workspace)
            try:
                if workspace.state == "running":
                    person.open(workspace)
                elif workspace.files:
                    person.start(workspace)
            except Exception as error:  # noqa: BLE001 -- reported by name
                not_answering.append(f"{person.username}/{workspace.name}: {error}"[:300])

    with ThreadPoolExecutor(max_workers=len(people) or 1) as pool:
        list(pool.map(check, people))
    return not_answering


START = time.monotonic()


def progress(message: str) -> None:
    elapsed = int(time.monotonic() - START)
    print(f"soak {elapsed // 60:02d}:{elapsed % 60:02d} {message}", flush=True)


def report(result: dict, path: Path | None) -> Path:
    if path is None:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(
        f"\nSoak at {result['commit']}: {result['people']} people, {result['minutes']} min, "
        f"seed {result['seed']}"
    )
    for title in (
        "operations",
        "faults",
        "longest recovery s",
        "failures during faults",
        "unexplained failures",
        "unexplained, first",
        "unplanned exits",
        "unplanned exits, how",
        "passes",
        "leaked",
        "not answering",
        "lost files",
    ):
        values = result[title]
        print(f"\n{title}: {'none' if not values else ''}")
        items = values.items() if isinstance(values, dict) else enumerate(values, 1)
        for key, value in items:
            print(f"  {key:<40} {value}")
    print("\nmemory (MB, RSS of each process with its children):")
    print(f"  {'process':<10} {'start':>8} {'middle':>8} {'end':>8} {'growth/h':>9}  restarts")
    for role, row in result["memory MB"].items():
        print(
            f"  {role:<10} {row['start']:>8} {row['middle']:>8} {row['end']:>8} "
            f"{row['growth per hour']:>9}  {row['restarts']}"
        )
    print(f"\nwritten to {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
