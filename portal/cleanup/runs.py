"""Running a job and keeping its report: the schedule, the command and the API all come here."""

from __future__ import annotations

from django.utils import timezone
from django_q.tasks import async_task

from portal.cleanup import service
from portal.cleanup.models import CleanupRun
from portal.cleanup.report import Outcome
from portal.errors import require_admin

JOBS = {"users": service.cleanup_users, "expired": service.cleanup_expired}


def run_now(*, job: str, dry_run: bool = False, by=None) -> CleanupRun:
    """Run ``job`` here and now (the schedule's task, the command); its stored run."""
    run = CleanupRun.objects.create(job=job, dry_run=dry_run, asked_by=by)
    return _finish(run)


def run_later(*, job: str, dry_run: bool, by) -> CleanupRun:
    """Queue ``job`` for the task cluster (the API: no request waits for the engine)."""
    require_admin(by, "run cleanup")
    run = CleanupRun.objects.create(job=job, dry_run=dry_run, asked_by=by)
    async_task("portal.cleanup.tasks.run_queued", run.pk, task_name=f"cleanup {job} #{run.pk}")
    return run


def run_queued(run_id: int) -> str:
    run = CleanupRun.objects.select_related("asked_by").get(pk=run_id)
    return _finish(run).summary


def _finish(run: CleanupRun) -> CleanupRun:
    try:
        report = JOBS[run.job](dry_run=run.dry_run, by=run.asked_by)
    except Exception as error:
        # A bug, not an outage (those are in the report): the run says so, and the task fails.
        run.summary = f"{run.job}: failed: {error!r}"[:500]
        run.finished_at = timezone.now()
        run.save(update_fields=["summary", "finished_at"])
        raise
    run.report = report.to_dict()
    run.summary = report.summary[:500]
    run.removed = report.count(Outcome.REMOVED)
    run.finished_at = timezone.now()
    run.save(update_fields=["report", "summary", "removed", "finished_at"])
    return run
