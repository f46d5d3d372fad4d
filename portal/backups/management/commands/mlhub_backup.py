"""``manage.py mlhub_backup DEST``: a consistent copy of MLHub's state (portal/backups/)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backups.archive import backup
from portal.backups.files import BackupError


class Command(BaseCommand):
    help = (
        "Write a consistent copy of the portal's and the hub's databases and MLHub's secrets "
        "to the new folder DEST (readable by you alone), while MLHub runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("dest", type=Path, help="a new folder, or an empty private one")

    def handle(self, *args, dest: Path, **options):
        try:
            manifest = backup(dest.resolve())
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Backed up {len(manifest.files)} files to {dest.resolve()}")
        for note in manifest.not_included:
            self.stdout.write(f"  not included: {note}")
