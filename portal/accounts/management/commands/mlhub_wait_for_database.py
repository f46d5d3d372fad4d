"""Wait for the database to answer, and nothing else: the start of a container that runs the
task cluster without the portal, whose set-up (``mlhub_setup --wait-for-database``) waits
in the same way (portal/database_wait.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from portal.database_wait import database_wait, wait_seconds


class Command(BaseCommand):
    help = "Wait up to SECONDS for the database to answer; fail with its last error."

    def add_arguments(self, parser):
        parser.add_argument("seconds", type=wait_seconds, metavar="SECONDS")

    def handle(self, *args, seconds: float, **options):
        database_wait(seconds)
