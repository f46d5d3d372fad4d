"""``manage.py mlhub_hub_database_move``: the hub's SQLite database into PostgreSQL
(hubconfig/database.py; docs/operations.md, "The hub's database")."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hubconfig import database
from lib import env


class Command(BaseCommand):
    help = (
        "Copy the hub's SQLite database into an empty PostgreSQL database (made if its server "
        "has none of that name), with the hub stopped; then start the hub with "
        "MLHUB_HUB_DB_URL set to it. Its workspaces may keep running meanwhile."
    )
    # Nothing of the portal's database is needed.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--to",
            metavar="URL",
            default="",
            help="the PostgreSQL database, postgresql://user:password@host:5432/name "
            "(default: MLHUB_HUB_DB_URL, when it names PostgreSQL)",
        )
        parser.add_argument(
            "--from",
            dest="source",
            metavar="PATH",
            type=Path,
            default=None,
            help="the SQLite file (default: $MLHUB_DATA_DIR/hub/jupyterhub.sqlite)",
        )

    def handle(self, *args, to: str, source: Path | None, **options):
        configured = database.configured_url()
        target = to or (configured if database.is_postgresql(configured) else "")
        if not target:
            raise CommandError(
                "say where to: --to postgresql://user:password@host:5432/name "
                "(MLHUB_HUB_DB_URL names no PostgreSQL database)"
            )
        try:
            moved = database.move(source or database.sqlite_file(), target)
        except (database.HubDatabaseError, env.ConfigError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Moved the hub's database into {database.redacted(target)}: {moved.summary()}. "
            f"The SQLite file is kept as {moved.kept}."
        )
        if database.sqlalchemy_url(target) != configured:
            self.stdout.write(
                "Now set MLHUB_HUB_DB_URL to that URL where the hub gets its settings, "
                "then start it."
            )
        else:
            self.stdout.write("Start the hub now.")
