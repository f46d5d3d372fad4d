"""Two dispatchers, or two starts, at once never count the same room in flight: each takes it
holding the start queue's lock (PostgreSQL: an advisory lock until the transaction ends;
SQLite serializes whole transactions, so these run on PostgreSQL only, as CI's pass does)."""

from __future__ import annotations

import threading

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from portal.workspaces import start_queue
from portal.workspaces.models import Workspace, WorkspaceTemplate
from tests.portal.scripted_hub import ScriptedHub

State = Workspace.State
# Committed rows, so that the threads' own connections see them (as tests/portal/test_quotas.py).
AT_ONCE = pytest.mark.django_db(
    transaction=True, available_apps=[app.name for app in apps.get_app_configs()]
)


def at_once(monkeypatch, action, count: int = 2) -> list:
    """Run ``action`` in ``count`` threads whose reads of the queue wait for each other:
    without the lock all read the same room before any has written. What each returned."""
    if connection.vendor != "postgresql":
        pytest.skip("an advisory lock is PostgreSQL's; SQLite serializes whole transactions")
    all_reading = threading.Barrier(count, timeout=2)
    real_order = start_queue.queue_order

    def slow_order(*args, **kwargs):
        order = real_order(*args, **kwargs)
        try:  # with the lock, the next gets here only after the first committed
            all_reading.wait()
        except threading.BrokenBarrierError:
            pass
        return order

    monkeypatch.setattr(start_queue, "queue_order", slow_order)
    outcomes: list = []

    def run() -> None:
        try:
            outcomes.append(action())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.fixture
def default_template(settings):
    settings.START_CONCURRENCY = 2
    settings.QUOTA_DEFAULTS = dict.fromkeys(["workspaces", "running", "cpu", "memory", "gpus"])
    # An earlier transactional test's flush on this worker empties every table.
    WorkspaceTemplate.objects.update_or_create(name="default", defaults={"is_default": True})


@AT_ONCE
def test_two_dispatchers_at_once_fill_the_room_once(
    bob, workspace_of, hub_double, monkeypatch, default_template
):
    for name in ("b1", "b2", "b3", "b4"):
        workspace_of(bob, name, state=State.STARTING, start_queued_at=timezone.now())
    hub_double(ScriptedHub)

    assert at_once(monkeypatch, start_queue.start_queue_advance) == [0, 2]
    assert Workspace.objects.starts_in_flight().count() == 2
    assert Workspace.objects.start_queued().count() == 2


@AT_ONCE
def test_two_starts_at_once_with_room_for_one_ask_the_hub_once(
    alice, bob, workspace_of, hub_double, monkeypatch, default_template
):
    from portal.workspaces import services

    workspace_of(bob, "busy", state=State.STARTING, start_asked_at=timezone.now())
    rows = iter([workspace_of(alice, "one"), workspace_of(bob, "two")])
    lock = threading.Lock()
    hub_double(ScriptedHub)

    def start_next() -> bool:
        with lock:
            workspace = next(rows)
        started = services.workspace_start(workspace=workspace, by=workspace.owner)
        return started.start_queued_at is not None

    assert at_once(monkeypatch, start_next) == [False, True]  # one asked, one queued
    assert Workspace.objects.starts_in_flight().count() == 2
