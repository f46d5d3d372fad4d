"""PostgreSQL databases of a test's own, on this machine's server
(deploy/scripts/postgres-test-db.sh: Debian's PostgreSQL, started if it is not; root only).

Without it a test skips locally and fails under CI (tests/parts.py). Every name carries a
random part: parallel workers and other test runs on the machine share the server.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from lib.stack import ROOT
from tests.parts import require

SCRIPT = ROOT / "deploy" / "scripts" / "postgres-test-db.sh"
# The script makes its role when the server has none: one caller at a time.
LOCK = "/tmp/mlhub-postgres-test-db.lock"


def database_new(prefix: str) -> tuple[str, str]:
    """A new, empty database; its name and its URL (postgres://mlhub:…@127.0.0.1:5432/…)."""
    require(
        os.geteuid() == 0 and shutil.which("su") is not None,
        "a PostgreSQL of the tests' own needs root (deploy/scripts/postgres-test-db.sh)",
    )
    name = f"{prefix}_{secrets.token_hex(4)}"
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = subprocess.run(
            ["bash", str(SCRIPT)],
            env={**os.environ, "PG_DB": name},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert made.returncode == 0, made.stderr[-2000:]
    return name, made.stdout.strip().splitlines()[-1]


def database_drop(name: str) -> None:
    subprocess.run(
        ["su", "postgres", "-c", f"dropdb --if-exists --force {name}"],
        capture_output=True,
        timeout=60,
    )


def psql(name: str, query: str) -> list[str]:
    """``query``'s rows in database ``name``, one line each (fields joined by |)."""
    done = subprocess.run(
        ["su", "postgres", "-c", f"psql -d {name} -tAc {shlex.quote(query)}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@contextmanager
def databases(prefix: str) -> Iterator[tuple[str, str]]:
    """``database_new``'s, and at the end it and what was made beside it (``<name>_hub``)."""
    name, url = database_new(prefix)
    try:
        yield name, url
    finally:
        database_drop(name)
        database_drop(f"{name}_hub")
