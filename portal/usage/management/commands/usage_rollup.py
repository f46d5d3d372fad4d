"""One roll-up pass now; ``--since`` recomputes every day from then (after a restore, say)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from portal.usage.rollup import rollup_pass


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since must be a date such as 2026-11-01, not {value!r}") from None


class Command(BaseCommand):
    help = "Recompute the daily usage roll-ups of the days touched since the last pass."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", type=_date, help="Also recompute every day from this date (YYYY-MM-DD)"
        )

    def handle(self, *args, since: date | None = None, **options):
        done = rollup_pass(since=since)
        closed = f"{done.mark:%Y-%m-%d %H:%M:%S} UTC"
        self.stdout.write(f"Days recomputed: {done.days}; runs closed before {closed} rolled up")
