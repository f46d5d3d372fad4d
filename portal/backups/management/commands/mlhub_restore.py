"""``manage.py mlhub_restore SRC``: an ``mlhub_backup`` put back (portal/backups/)."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from portal.backups.archive import restore
from portal.backups.files import BackupError


class Command(BaseCommand):
    help = (
        "Put the backup in SRC back into this MLHub's data directory and database, which must "
        "be new; then migrate it to this version and collect the static files. Start MLHub "
        "afterwards: its sync pass takes the workspaces still running over again."
    )
    # The checks would open the database before the backup's copy is in place.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("src", type=Path, help="a folder mlhub_backup wrote")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="overwrite the people, databases and secrets this MLHub has already",
        )

    def handle(self, *args, src: Path, replace: bool, **options):
        try:
            manifest = restore(src.resolve(), replace=replace)
        except BackupError as error:
            raise CommandError(str(error)) from None
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(
            f"Restored the backup of {manifest.created} ({len(manifest.files)} files) and "
            "migrated it to this version. Start MLHub now."
        )
