"""Workspace states in the portal's database, kept in step with the hub by two writers.

Pages, the API and the admin read states from the database only. Two writers keep them right:

- **reports**: the hub's spawners tell the portal as a server starts, becomes ready, fails
  or stops (``spawners/state_reports.py`` → ``POST /api/v1/internal/hub-events/`` →
  ``state_report``). A report is applied only when it is newer than what the row holds, so
  two that cross on the way, or one that lags behind an action, change nothing.
- **the periodic sync** (``sync_pass``, a django-q2 schedule): reads the hub's active
  servers page by page and corrects every row that differs, including servers the hub no
  longer has (the hub or the Docker engine restarted, a report lost while the portal was
  down). A row written after the pass read the hub is left alone: it is newer. A server the
  portal has no workspace for was started behind its back: the pass stops it (files kept)
  and says so in the audit log.

The actions (``services.py``) also record what the hub answers them. ``synced_at`` says how
fresh a row is; ``SyncPass`` the last full pass, which vouches for every row it checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from portal.audit import log as audit
from portal.hub import client as hub_api
from portal.hub.client import HubClient, HubError
from portal.workspaces import services
from portal.workspaces.models import SyncPass, Workspace

log = logging.getLogger(__name__)
State = Workspace.State
# What the hub may report, and the state each becomes.
REPORTED_STATES = {
    "starting": State.STARTING,
    "running": State.RUNNING,
    "stopped": State.STOPPED,
    "error": State.ERROR,
}
GONE = "Stopped outside the portal: the hub no longer runs it"
START_UNFINISHED = "The start did not finish"
# The corrections that say the hub lost the server (its usage interval ends as "lost").
LOST = (GONE, START_UNFINISHED)
# Owners' names per query: well under SQLite's limit of variables.
NAMES_PER_QUERY = 500
# A server the hub runs with no workspace behind it was started outside the portal (a link to
# the hub's spawn page, a hub token): no template, quota or expiry applies to it, so the pass
# stops it. The portal writes a workspace's row before it asks the hub to start it; the grace
# spares the moment in which a create the hub refused has lost its row but not yet its
# half-made server (the portal removes both). A younger server is counted, left to a later pass.
UNKNOWN_SERVER_GRACE = timedelta(minutes=2)
UNKNOWN_STOPPED = (
    "The hub ran this server without a workspace in the portal (it was started outside the "
    "portal): stopped, its files kept"
)


class UnknownWorkspace(Exception):
    """A report about a server the portal has no workspace for."""


def state_report(
    *, user: str, server: str, state: str, message: str = "", at: datetime
) -> tuple[Workspace, bool]:
    """Record the hub's report; the workspace and whether the report changed it.

    A report older than the row's last write is ignored (returned ``False``): the row
    already says something newer.
    """
    workspace = (
        Workspace.objects.select_related("owner").filter(owner__hub_name=user, name=server).first()
    )
    if workspace is None:
        raise UnknownWorkspace(f"No workspace {user}/{server}")
    newer = Q(synced_at__isnull=True) | Q(synced_at__lt=at)
    new_state = REPORTED_STATES[state]
    # A start waiting in the start queue was never asked of the hub: a report can only be
    # about an earlier run, which the portal already saw end.
    applied = (
        Workspace.objects.filter(newer, pk=workspace.pk, start_queued_at__isnull=True).update(
            state=new_state, message=message, synced_at=at
        )
        == 1
    )
    if applied:
        was = workspace.state
        workspace.state, workspace.message, workspace.synced_at = new_state, message, at
        log.info("Hub reports %s is %s", workspace, new_state)
        services.state_written(workspace, at=at)
        if was != new_state:
            _record_change(workspace, was, message)
    return workspace, applied


@dataclass
class SyncResult:
    checked: int = 0
    corrected: int = 0
    unknown_servers: int = 0
    unknown_stopped: int = 0
    hub_calls: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.checked} checked, {self.corrected} corrected, "
            f"{self.unknown_servers} unknown to the portal ({self.unknown_stopped} stopped), "
            f"{self.hub_calls} hub calls "
            f"in {self.seconds:.2f} s"
        )


def sync_pass(*, hub: HubClient | None = None) -> SyncResult:
    """Compare every workspace with the hub's active servers and correct those that differ.

    Raises ``HubError`` when the hub cannot be read: then nothing is changed and the rows
    go stale, which pages and the API show.
    """
    started = timezone.now()
    hub = hub or hub_api.hub_client()
    calls_before = hub.calls
    active: dict[tuple[str, str], dict] = {}
    for user in hub.users_active():
        for name, server in (user.get("servers") or {}).items():
            active[(user["name"], name)] = server
    result = SyncResult(hub_calls=hub.calls - calls_before)
    seen: set[tuple[str, str]] = set()
    for workspace in _rows_to_check(active):
        key = (workspace.owner.hub_name, workspace.name)
        seen.add(key)
        result.checked += 1
        if workspace.deleting_since is not None:
            continue  # its delete's task has it: the hub lists it until that is done
        if workspace.start_queued_at is not None:
            continue  # waiting in the start queue: the hub has not been asked, rightly
        if workspace.synced_at and workspace.synced_at >= started:
            continue  # written after the hub was read: newer than this pass knows
        correction = state_from_hub(workspace, active.get(key))
        if correction is None:
            continue
        if correction == "ask":
            correction = _spawn_ended_how(workspace, key in active, hub, result)
            if correction is None:
                continue
        if _correct(workspace, *correction, read_at=started):
            result.corrected += 1
    unknown = sorted(set(active) - seen)
    result.unknown_servers = len(unknown)
    if unknown:
        log.warning("The hub runs %s servers the portal has no workspace for", len(unknown))
        calls = hub.calls
        result.unknown_stopped = _unknown_servers_stop(unknown, active, hub, read_at=started)
        result.hub_calls += hub.calls - calls
    _deletes_resume(older_than=started - timedelta(seconds=services.REMOVE_PATIENCE * 2))
    result.seconds = (timezone.now() - started).total_seconds()
    SyncPass.objects.update_or_create(
        pk=1,
        defaults={
            "started_at": started,
            "finished_at": timezone.now(),
            "hub_calls": result.hub_calls,
            "corrected": result.corrected,
            "unknown_servers": result.unknown_servers,
        },
    )
    return result


def state_from_hub(workspace: Workspace, server: dict | None) -> tuple[str, str] | str | None:
    """What the row should become given the hub's server model (None: not active).

    ``None`` when it is right as it is; ``"ask"`` when only the spawn's outcome can tell
    (a start that is no longer pending ended either ready or failed).
    """
    spawn_ending = server is None or server.get("pending") == "stop"
    if workspace.state == State.STARTING and spawn_ending:
        # A spawn that fails is stopped by the hub before its failure is on record.
        return "ask"
    if server is None:
        if workspace.state in (State.RUNNING, State.STOPPING):
            return State.STOPPED, "" if workspace.state == State.STOPPING else GONE
        return None
    if server.get("ready"):
        wanted = State.RUNNING
    elif server.get("pending") == "stop":
        wanted = State.STOPPING
    else:
        wanted = State.STARTING
    if wanted == workspace.state:
        return None
    return wanted, ""


def _spawn_ended_how(workspace, still_listed: bool, hub: HubClient, result: SyncResult):
    calls = hub.calls
    outcome = services.spawn_outcome(workspace, patience=0, hub=hub)
    result.hub_calls += hub.calls - calls
    if outcome is None and not still_listed:
        # The hub has no such server and cannot say how its start ended (the hub was
        # restarted); the hub's own report, if one comes, is newer and wins.
        return State.STOPPED, START_UNFINISHED
    return outcome


def stale_after() -> timedelta:
    """A state not confirmed for two sync intervals may be out of date."""
    return timedelta(seconds=2 * settings.WORKSPACE_SYNC_SECONDS)


def is_stale(synced_at: datetime | None, now: datetime | None = None) -> bool:
    return synced_at is None or (now or timezone.now()) - synced_at > stale_after()


def _rows_to_check(active: dict[tuple[str, str], dict]):
    """Every row the portal thinks alive, and every row of the owners the hub runs servers of."""
    # Unordered: sorting every live row by its owner's name made PostgreSQL scan them all.
    alive = Workspace.objects.alive().select_related("owner").order_by()
    yield from alive.iterator(chunk_size=1000)
    owners = sorted({owner for owner, _ in active})
    for first in range(0, len(owners), NAMES_PER_QUERY):
        names = owners[first : first + NAMES_PER_QUERY]
        yield from (
            Workspace.objects.exclude(state__in=Workspace.ALIVE)
            .select_related("owner")
            .filter(owner__hub_name__in=names)
        )


def _unknown_servers_stop(
    unknown: list[tuple[str, str]], active: dict, hub: HubClient, *, read_at: datetime
) -> int:
    """Stop the servers (owner's hub name, server name) the portal has no workspace for,
    except those younger than ``UNKNOWN_SERVER_GRACE``; how many. Each stop is audited."""
    stopped = 0
    for owner, name in unknown:
        if _younger_than_grace(active[(owner, name)], read_at) or _portal_has(owner, name):
            continue
        try:
            hub.server_stop(owner, name)
        except HubError as error:
            log.warning("Could not stop %s/%s, unknown to the portal: %s", owner, name, error)
            if error.is_outage:
                break  # the next pass tries again
            continue
        log.warning("Stopped %s/%s: %s", owner, name, UNKNOWN_STOPPED)
        audit.record(
            by=None,
            action="workspace.unknown-stopped",
            target=f"{owner}/{name}",
            detail=UNKNOWN_STOPPED,
        )
        stopped += 1
    return stopped


def _younger_than_grace(server: dict, read_at: datetime) -> bool:
    """Whether the hub started this server within the grace; a server whose start time the
    hub does not give is old enough."""
    try:
        started_at = datetime.fromisoformat(server["started"])
    except (KeyError, TypeError, ValueError):
        return False
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)  # the hub's times are UTC
    return started_at > read_at - UNKNOWN_SERVER_GRACE


def _portal_has(owner: str, name: str) -> bool:
    """Whether any workspace (any state, being deleted too) is this hub server: the pass read
    only some rows. One query per unknown server past the grace."""
    return Workspace.objects.filter(owner__hub_name=owner, name=name).exists()


def _correct(workspace: Workspace, state: str, message: str, *, read_at: datetime) -> bool:
    """Write the correction unless the row changed since the hub was read."""
    unchanged_since = Q(synced_at__isnull=True) | Q(synced_at__lt=read_at)
    changed = Workspace.objects.filter(unchanged_since, pk=workspace.pk).update(
        state=state, message=message, synced_at=read_at
    )
    if changed:
        log.info("Sync: %s was %s, the hub says %s", workspace, workspace.state, state)
        was, workspace.state = workspace.state, state
        services.state_written(workspace, at=read_at, lost=message in LOST)
        _record_change(workspace, was, message)
    return changed == 1


def _record_change(workspace: Workspace, was: str, message: str) -> None:
    """A state the hub changed by itself (a spawn ended, a container died): in the log."""
    detail = f"{was} → {workspace.state}" + (f": {message}" if message else "")
    audit.record(
        by=None, action=f"workspace.{workspace.state}", target=str(workspace), detail=detail
    )


def _deletes_resume(*, older_than: datetime) -> None:
    """Deletes whose task died or gave up (the hub was down) are tried again."""
    stuck = list(
        Workspace.objects.filter(deleting_since__lt=older_than).values_list("pk", flat=True)
    )
    if stuck:
        async_task("portal.workspaces.tasks.finish_deletes", stuck, task_name="delete (resumed)")
