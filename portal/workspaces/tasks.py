"""django-q2 tasks: thin wrappers that load rows and call one service."""

from __future__ import annotations

import logging

from django.conf import settings

from portal.accounts.models import User
from portal.audit.log import from_source
from portal.audit.models import AuditEntry
from portal.errors import ServiceError
from portal.hub.client import HubError
from portal.schedules import minutes_of, retry_later, schedule_every
from portal.workspaces import expiry, services, start_queue, sync
from portal.workspaces.models import Workspace

log = logging.getLogger(__name__)


def follow_spawn(workspace_id: int) -> str:
    workspace = Workspace.objects.select_related("owner").filter(pk=workspace_id).first()
    if workspace is None or workspace.state != Workspace.State.STARTING:
        return "nothing to follow"
    return services.workspace_follow_spawn(workspace=workspace).state


def finish_deletes(workspace_ids: list[int]) -> str:
    workspaces = Workspace.objects.select_related("owner").filter(
        pk__in=workspace_ids, deleting_since__isnull=False
    )
    try:
        return f"{services.workspaces_delete_finish(workspaces=workspaces)} deleted"
    except HubError as error:
        log.warning("Delete of %s not finished, retrying: %s", workspace_ids, error)
        return retry_later(
            "portal.workspaces.tasks.finish_deletes", workspace_ids, f"delete {workspace_ids[:3]}"
        )


def act_on_each(action: str, workspace_ids: list[int], by_id: int) -> str:
    """An admin's start or stop of many (``services.workspaces_act_later``)."""
    by = User.objects.filter(pk=by_id, is_active=True).first()
    if by is None:
        return "nothing done: the admin who asked is gone"
    workspaces = (
        Workspace.objects.select_related("owner", "template")
        .filter(pk__in=workspace_ids, deleting_since__isnull=True)
        .order_by("pk")
    )
    # In the audit log as the admin's, from the admin site, whoever runs the task.
    with from_source(AuditEntry.Source.ADMIN):
        outcomes = services.workspaces_act(action=action, workspaces=workspaces, by=by)
    return ", ".join(f"{count} {outcome}" for outcome, count in outcomes.items())


def sync_states() -> str:
    """The periodic sync (its schedule: ``sync_schedule_ensure``)."""
    try:
        return str(sync.sync_pass())
    except HubError as error:
        if not error.is_outage:
            raise
        log.warning("Workspace states not synced: %s", error)
        return f"hub unavailable: {error}"


SYNC_SCHEDULE = "workspace states sync"


def sync_schedule_ensure() -> str:
    """Create or update the sync's schedule from ``MLHUB_SYNC_INTERVAL_SECONDS``."""
    minutes = minutes_of(settings.WORKSPACE_SYNC_SECONDS)
    schedule_every(SYNC_SCHEDULE, "portal.workspaces.tasks.sync_states", minutes)
    return f"every {minutes} min"


def start_queue_advance() -> str:
    """The start queue's dispatcher, queued when a start ends (``services.state_written``)."""
    return f"{start_queue.start_queue_advance()} asked of the hub"


def start_queue_pass() -> str:
    """The start queue's minute: starts that waited too long end, then the dispatcher."""
    return start_queue.start_queue_pass()


START_QUEUE_SCHEDULE = "start queue"


def start_queue_schedule_ensure() -> str:
    """Create the start queue's schedule (every minute), or remove it when
    ``MLHUB_START_CONCURRENCY`` is 0 or less (no queue)."""
    on = start_queue.enabled()
    minutes = 1 if on else None
    schedule_every(START_QUEUE_SCHEDULE, "portal.workspaces.tasks.start_queue_pass", minutes)
    if not on:
        return "off"
    return (
        f"{settings.START_CONCURRENCY} starts at once, the rest wait at most "
        f"{minutes_of(settings.START_QUEUE_WAIT_SECONDS)} min"
    )


def start_default(workspace_id: int) -> str:
    """Start a person's user-hub workspace just made at their login (as them)."""
    workspace = Workspace.objects.select_related("owner").filter(pk=workspace_id).first()
    if workspace is None or workspace.state != Workspace.State.STOPPED:
        return "nothing to start"
    try:
        return services.workspace_start(workspace=workspace, by=workspace.owner).state
    except (HubError, ServiceError) as error:  # a ServiceError, or the owner lost access
        # Left stopped: the page offers Start, and says why it failed.
        Workspace.objects.filter(pk=workspace.pk).update(
            message=f"Not started: {error}", progress_message=""
        )
        return f"not started: {error}"


def expiry_warnings() -> str:
    """The periodic expiry warnings (its schedule: ``expiry_schedule_ensure``)."""
    return expiry.expiry_warnings_send()


EXPIRY_SCHEDULE = "workspace expiry warnings"
# Warnings go out at most this late after a workspace enters the window; a pass with
# nothing due is one indexed query.
EXPIRY_MINUTES = 15


def expiry_schedule_ensure() -> str:
    """Create or update the expiry warnings' schedule, or remove it when
    ``MLHUB_EXPIRY_WARNING_HOURS`` is 0."""
    on = bool(settings.EXPIRY_WARNING_HOURS)
    schedule_every(
        EXPIRY_SCHEDULE, "portal.workspaces.tasks.expiry_warnings", EXPIRY_MINUTES if on else None
    )
    if not on:
        return "off"
    return f"{settings.EXPIRY_WARNING_HOURS} h before expiry, checked every {EXPIRY_MINUTES} min"
