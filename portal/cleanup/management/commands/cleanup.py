from django.core.management.base import BaseCommand

from portal.audit.log import Source, from_source
from portal.cleanup import runs


class Command(BaseCommand):
    help = "Remove what outlived its person (users) or its time (expired); both by default."

    def add_arguments(self, parser):
        parser.add_argument("job", nargs="?", choices=["users", "expired"])
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be removed, remove nothing"
        )

    def handle(self, *args, job=None, dry_run=False, **options):
        failed = False
        with from_source(Source.COMMAND):
            for name in [job] if job else ["users", "expired"]:
                run = runs.run_now(job=name, dry_run=dry_run)
                self._table(run.report)
                failed = failed or bool(run.report["errors"])
        if failed:
            raise SystemExit(1)  # a part could not be checked: say so to scripts too

    def _table(self, report: dict) -> None:
        lines = report["lines"]
        widths = [max([len(h)] + [len(str(line[h])) for line in lines]) for h in HEADERS]
        self.stdout.write("  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)))
        for line in lines:
            self.stdout.write(
                "  ".join(str(line[h]).ljust(w) for h, w in zip(HEADERS, widths, strict=True))
            )
        self.stdout.write(report["summary"])
        for error in report["errors"]:
            self.stderr.write(f"not checked: {error}")


HEADERS = ["kind", "name", "owner", "outcome", "reason"]
