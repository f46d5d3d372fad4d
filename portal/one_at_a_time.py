"""A lock across every process on one database: the portal's replicas starting together (the
chart's `portal.replicas`) migrate and set up one after another, not into each other.

On PostgreSQL a session advisory lock, held by this connection until released (migrations'
own transactions do not end it). SQLite needs none: one file, one replica (the chart refuses
more), and SQLite serializes writers itself.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def lock_key(name: str) -> int:
    """PostgreSQL's advisory locks take a 64-bit key: the name's CRC-32, stable across runs."""
    return zlib.crc32(f"mlhub:{name}".encode())


@contextmanager
def one_at_a_time(name: str) -> Iterator[None]:
    """Waits until no other process holds ``name``, then holds it for the block."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_key(name)])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])


def one_at_a_time_until_commit(name: str) -> None:
    """Inside a transaction: wait until no other transaction holds ``name``, then hold it until
    this one ends (commit or rollback). PostgreSQL: a transaction-level advisory lock. SQLite:
    nothing to do, each transaction takes the database's write lock as it begins (IMMEDIATE,
    portal/settings.py), so two such transactions never overlap."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])
