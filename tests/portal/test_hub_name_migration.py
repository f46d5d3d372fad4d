"""The migration that stores hub names refuses to go on while two rows would be one hub
account, and lists them (portal/accounts/migrations/0004_user_hub_name.py)."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# PostgreSQL runs the migrations inside the test's transaction and rolls them back with it;
# a flush there would also drop the rows data migrations made (the default template) that
# later tests rely on. SQLite's schema editor refuses to run inside a transaction.
pytestmark = pytest.mark.django_db(transaction=connection.vendor == "sqlite")
BEFORE = [("accounts", "0003_rejection_reason_and_allowlist")]
AFTER = [("accounts", "0004_user_hub_name")]
migration = importlib.import_module("portal.accounts.migrations.0004_user_hub_name")


def migrate(targets):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # rows written in this transaction: check them
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # now, so ALTER TABLE may run
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_latest():
    """Every app at its last migration: the schema the other tests expect, left behind."""
    return migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_it_refuses_to_go_on_while_two_rows_share_a_hub_name_and_lists_them():
    old = migrate(BEFORE)
    User = old.get_model("accounts", "User")
    # Pairs that neither SQLite's nor PostgreSQL's LOWER() made one (the old constraint).
    for name in ("jürgen", "ju\u0308rgen", "ß", "ss", "alice"):
        User.objects.create(username=name, password="!")
    try:
        with pytest.raises(migration.HubNameCollision) as refused:
            migrate(AFTER)
        assert str(refused.value).startswith(
            "2 group(s) of usernames would be one hub account: ju\u0308rgen / jürgen; ss / ß. "
        )
        User.objects.filter(username__in=["ju\u0308rgen", "ss"]).delete()
        new = migrate(AFTER)
        names = new.get_model("accounts", "User").objects.values_list("username", "hub_name")
        assert sorted(names) == [("alice", "alice"), ("jürgen", "jürgen"), ("ß", "ss")]
    finally:
        migrate_latest()
        User.objects.all().delete()
