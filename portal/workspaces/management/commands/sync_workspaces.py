"""One pass of the workspace states sync now, instead of waiting for its schedule."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.hub.client import HubError
from portal.workspaces.sync import sync_pass


class Command(BaseCommand):
    help = "Compare every workspace with the hub's active servers and correct those that differ."

    def handle(self, *args, **options):
        try:
            result = sync_pass()
        except HubError as error:
            raise CommandError(f"Not synced: {error}") from None
        self.stdout.write(str(result))
