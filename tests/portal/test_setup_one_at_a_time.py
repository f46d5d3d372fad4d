"""`mlhub_setup --migrate`: the chart's portal replicas start together and take turns."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections

from portal.one_at_a_time import lock_key, one_at_a_time


def held_elsewhere(name: str) -> bool:
    """Whether another connection (another replica) could not take ``name`` now."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)])
            (taken,) = cursor.fetchone()
            if taken:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])
        return not taken
    finally:
        other.close()


@pytest.mark.django_db
def test_the_lock_is_held_for_the_block_and_released_after_it():
    if connection.vendor != "postgresql":
        pytest.skip("an advisory lock is PostgreSQL's; SQLite has one replica")
    with one_at_a_time("setup"):
        assert held_elsewhere("setup")
        assert not held_elsewhere("something else")
    assert not held_elsewhere("setup")


@pytest.mark.django_db
def test_a_second_process_waits_until_the_first_is_done():
    if connection.vendor != "postgresql":
        pytest.skip("an advisory lock is PostgreSQL's; SQLite has one replica")
    order: list[str] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(5)
        with one_at_a_time("setup"):
            order.append("second in")
        connection.close()  # this thread's own connection

    waiting = threading.Thread(target=second)
    waiting.start()
    with one_at_a_time("setup"):
        inside.set()
        waiting.join(timeout=1)
        assert waiting.is_alive()  # it waits for the lock
        order.append("first out")
    waiting.join(timeout=10)
    assert order == ["first out", "second in"]


@pytest.mark.django_db
def test_setup_with_migrate_migrates_and_sets_up_and_releases_the_lock(monkeypatch):
    ran: list[str] = []
    real = call_command

    def recorded(name, *args, **options):
        ran.append(name)
        return real(name, *args, **options)

    monkeypatch.setattr("portal.accounts.management.commands.mlhub_setup.call_command", recorded)
    out = StringIO()
    call_command("mlhub_setup", "--migrate", stdout=out)
    assert ran == ["migrate"]
    assert "Hub OAuth2 client:" in out.getvalue()
    if connection.vendor == "postgresql":
        assert not held_elsewhere("setup")
