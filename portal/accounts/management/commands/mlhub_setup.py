"""Idempotent first-run set-up: the first admin, the hub's OAuth2 client, the schedules, the
out-of-the-box workspace templates.

With ``--migrate`` the database's migrations first, both under one lock across processes: the
chart's portal replicas run this in their init containers at once (portal/one_at_a_time.py).
``--collectstatic`` and ``--wait-for-database`` make it the whole of a start's set-up in one
process (``make run``, the image's entry point): each Django process's start is 1–2 s.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.oauth import hub_oauth_client_ensure
from portal.accounts.services import admin_ensure
from portal.accounts.tasks import access_check_schedule_ensure
from portal.audit.retention import retention_schedule_ensure
from portal.budgets.tasks import budget_schedule_ensure
from portal.cleanup.tasks import cleanup_schedule_ensure
from portal.database_wait import database_wait, wait_seconds
from portal.one_at_a_time import one_at_a_time
from portal.pools.tasks import fill_schedule_ensure
from portal.usage.tasks import rollup_schedule_ensure, sample_schedule_ensure
from portal.workspaces.tasks import (
    expiry_schedule_ensure,
    start_queue_schedule_ensure,
    sync_schedule_ensure,
)
from portal.workspaces.workspace_templates import templates_first_ensure


class Command(BaseCommand):
    help = "Create the first admin (once) and the hub's OAuth2 client. Safe to run every start."

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="Apply the database's migrations first; processes doing so at once take turns.",
        )
        parser.add_argument(
            "--collectstatic",
            action="store_true",
            help="Collect the static files first (no database needed).",
        )
        parser.add_argument(
            "--wait-for-database",
            type=wait_seconds,
            default=0,
            metavar="SECONDS",
            help="Wait this long at most for the database to answer (PostgreSQL starting beside).",
        )

    def handle(
        self,
        *args,
        admin_username: str,
        migrate: bool,
        collectstatic: bool,
        wait_for_database: float,
        **options,
    ):
        if collectstatic:
            call_command("collectstatic", interactive=False, verbosity=0)
        if wait_for_database:
            database_wait(wait_for_database)
        with one_at_a_time("setup"):
            if migrate:
                call_command("migrate", interactive=False, verbosity=0)
            self.set_up(admin_username)

    def set_up(self, admin_username: str) -> None:
        # First: a secret it refuses is one line and nothing else is done yet.
        try:
            oauth_client = hub_oauth_client_ensure()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        password = admin_ensure(username=admin_username)
        if password:
            self.stdout.write(
                self.style.WARNING(
                    f"Created the admin {admin_username!r} with the password: {password}\n"
                    "It is shown only this once (set MLHUB_ADMIN_PASSWORD to choose it)."
                )
            )
        self.stdout.write(f"Hub OAuth2 client: {oauth_client}")
        self.stdout.write(f"Workspace templates: {templates_first_ensure()}")
        self.stdout.write(f"Workspace states sync: {sync_schedule_ensure()}")
        self.stdout.write(f"Expiry warnings: {expiry_schedule_ensure()}")
        self.stdout.write(f"Start queue: {start_queue_schedule_ensure()}")
        self.stdout.write(f"Cleanup: {cleanup_schedule_ensure()}")
        self.stdout.write(f"Audit log: {retention_schedule_ensure()}")
        self.stdout.write(f"Allow-list check: {access_check_schedule_ensure()}")
        self.stdout.write(f"Usage roll-up: {rollup_schedule_ensure()}")
        self.stdout.write(f"Usage sampler: {sample_schedule_ensure()}")
        self.stdout.write(f"Budgets: {budget_schedule_ensure()}")
        self.stdout.write(f"Warm pools: {fill_schedule_ensure()}")
