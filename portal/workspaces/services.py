"""Workspace life cycle: the actions that change a workspace, through the hub.

Views, the API, admin actions and tasks call these; they never talk to the hub themselves.
Every action records what the hub answered. Reads never ask the hub: the states in the
database are kept in step by the hub's reports and the periodic sync (``sync.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from lib.polling import poll_until
from lib.resources import (
    ResourceError,
    gpus_text,
    resources_from_options,
    validate_workspace_name,
)
from lib.usernames import hub_form
from portal.accounts import access
from portal.accounts.models import User
from portal.audit.log import audited
from portal.budgets.limits import budget_check
from portal.errors import ServiceError, require_admin
from portal.hub import client as hub_api
from portal.hub.client import HubClient, HubError
from portal.metrics import counters
from portal.metrics.counters import refusals_counted
from portal.pools import services as pools
from portal.quotas.limits import gpu_count, gpus_reserved, quota_check
from portal.usage import services as usage
from portal.workspaces import start_queue
from portal.workspaces.models import Workspace, WorkspaceTemplate
from portal.workspaces.workspace_templates import template_for

log = logging.getLogger(__name__)
State = Workspace.State
# How long the delete task waits for the hub to remove containers, volumes and networks
# before it tries again later.
REMOVE_PATIENCE = 60


ONE_WORKSPACE = (
    "This hub gives each person one workspace (MLHUB_NAMED_WORKSPACES is off); "
    "start the one on your page."
)


def workspace_owner_for(*, by: User, username: str | None = None) -> User:
    """Whose a workspace that ``by`` creates is: their own, or (admins only) ``username``'s."""
    access.require_access(by)
    if not username or hub_form(username) == by.hub_name:
        return by
    require_admin(by, "create workspaces for others")
    owner = User.objects.named(username).filter(deleting_since__isnull=True).first()
    if owner is None:
        raise ServiceError(f"No user named {username!r}", 404)
    access.require_access_of(owner)
    return owner


def _new_workspace(kwargs: dict) -> str:
    return f"{kwargs.get('owner') or kwargs['by'].username}/{kwargs.get('name')}"


def _workspace(kwargs: dict) -> str:
    return str(kwargs["workspace"])


@refusals_counted("create")
@audited("workspace.create", _new_workspace)
def workspace_create(
    *,
    by: User,
    name: str,
    template: str | None = None,
    options: dict | None = None,
    owner: str | None = None,
    days_to_live: int | None = None,
) -> Workspace:
    """Create a workspace for ``by`` (or, admins only, for the person named ``owner``) from
    ``template`` (None: the default one) and start it. Nothing is left behind when any step
    fails."""
    owner = workspace_owner_for(by=by, username=owner)
    try:
        name = validate_workspace_name(name)
    except ResourceError as error:
        raise ServiceError(str(error)) from None
    chosen = template_for(owner=owner, name=template)
    try:
        resources = resources_from_options(options or {}, chosen.limits())
    except ResourceError as error:
        raise ServiceError(str(error)) from None
    days = _days_to_live(chosen, days_to_live, by=by)
    if not settings.NAMED_WORKSPACES and not by.is_admin:
        raise ServiceError(ONE_WORKSPACE, 403)
    with transaction.atomic():
        _one_at_a_time(owner.pk)
        quota_check(owner, adding_workspace=True)
        # Checked again by the start; here too so that a refusal leaves no row behind.
        budget_check(owner, gpus=gpus_reserved(resources.gpus, chosen.gpus_max))
        workspace = workspace_row_create(
            owner=owner, name=name, template=chosen, resources=resources, days=days
        )
    # A warm pool's slot, when one fits: the first start then takes it (portal/pools/).
    slot = pools.slot_claim(workspace)
    workspace.slot_just_claimed = slot is not None
    try:
        workspace_start(workspace=workspace, by=by)
    except ServiceError:  # refused before the hub was asked
        if slot:
            pools.slot_release(slot)
        _rows_forget([workspace])
        raise
    except HubError as error:
        if error.unsent and slot:
            pools.slot_release(slot)  # the hub never saw it: the slot is still the pool's
        if error.unsent or _forget_in_hub(workspace):
            _rows_forget([workspace])
        else:
            _start_undo_later(workspace)
        raise
    return workspace


def _start_undo_later(workspace: Workspace) -> None:
    """A start the hub may have begun, its answer lost (the hub died meanwhile), undone as a
    delete once the hub answers: the row is hidden at once, its name taken until then, and the
    delete's task removes the server with its container and volume, then the row. (The row
    deleted at once left them behind with nobody to remove them: found by bench/soak.py.)"""
    _mark_deleting([workspace])
    deletes_finish_later([workspace])


def _one_at_a_time(owner_id: int) -> None:
    """Inside a transaction: hold the person until it ends, so that two of their creates or
    starts at once cannot both pass a quota. PostgreSQL locks the person's row; SQLite's
    transactions take the database's write lock as they begin (IMMEDIATE, settings.py)."""
    list(User.objects.select_for_update().filter(pk=owner_id).values_list("pk"))


def workspace_row_create(
    *, owner: User, name: str, template: WorkspaceTemplate, resources, days: int
) -> Workspace:
    """The row of a new, stopped workspace; a 409 when the name is taken (or still being
    deleted). Callers have checked everything else."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return Workspace.objects.create(
                owner=owner,
                name=name,
                template=template,
                image=resources.image,
                cpu=resources.cpu,
                memory=resources.memory,
                gpus=gpus_text(resources.gpus),
                shm_size=resources.shm_size,
                env=resources.env,
                created_at=now,
                expires_at=template.expiry_from(now, days),
            )
    except IntegrityError:
        if Workspace.objects.filter(owner=owner, name=name, deleting_since__isnull=False):
            raise ServiceError(
                f"The workspace {name!r} is still being deleted; try again in a minute", 409
            ) from None
        raise ServiceError(f"You already have a workspace named {name!r}", 409) from None


def _days_to_live(template: WorkspaceTemplate, days: int | None, *, by: User) -> int:
    """How many days a new or extended workspace gets: within the template's maximum, except
    for admins. 0 means it never expires, allowed only where there is no maximum."""
    if days is None:
        return template.days_to_live_default
    most = template.days_to_live_max
    if days < 0 or (most and not by.is_admin and not 0 < days <= most):
        limit = f"1 to {most}" if most else "0 (never expires) or more"
        raise ServiceError(
            f"days_to_live must be {limit} for the template {template.name!r}; got {days}."
        )
    return days


@audited(
    "workspace.expiry",
    _workspace,
    detail=lambda kwargs, workspace: f"expires {workspace.expires_at or 'never'}",
)
def workspace_expiry_set(*, workspace: Workspace, by: User, expires_at) -> Workspace:
    """Set the expiry to any moment, past ones included (admins only; None: never). A past
    one makes the next ``expired`` cleanup remove the workspace."""
    require_admin(by, "set an expiry directly; use extend")
    _refuse_if_deleting(workspace)
    workspace.expires_at = expires_at
    workspace.save(update_fields=["expires_at"])
    return workspace


@audited(
    "workspace.extend",
    _workspace,
    detail=lambda kwargs, workspace: f"expires {workspace.expires_at:%Y-%m-%d %H:%M} UTC",
)
def workspace_extend(*, workspace: Workspace, by: User, days: int) -> Workspace:
    """Move the expiry to ``days`` from now (never earlier than it was); people up to their
    template's maximum, admins beyond it."""
    _require_may_act(by, workspace, "extend")
    _refuse_if_deleting(workspace)
    if workspace.expires_at is None:
        raise ServiceError(f"Workspace {workspace.name!r} never expires.", 409)
    if days < 1:
        raise ServiceError(f"days must be 1 or more; got {days}.")
    days = _days_to_live(workspace.template, days, by=by)
    workspace.expires_at = max(workspace.expires_at, timezone.now() + timedelta(days=days))
    workspace.save(update_fields=["expires_at"])
    return workspace


def _require_may_act(by: User, workspace: Workspace, doing: str) -> None:
    """Owners act on their own workspaces, admins on anyone's; nobody who may not use MLHub
    (``access.require_access``: not approved, or off the allow-list).

    Views and the API show people only what they may see (404 otherwise); this is the rule
    itself, for every caller.
    """
    access.require_access(by)
    if workspace.owner_id != by.pk and not by.is_admin:
        raise ServiceError(f"Only its owner or an administrator may {doing} {workspace}.", 403)


@refusals_counted("start")
@audited(
    "workspace.start",
    _workspace,
    detail=lambda kwargs, workspace: "queued" if workspace.start_queued_at else "",
)
def workspace_start(*, workspace: Workspace, by: User) -> Workspace:
    """Ask the hub to start the server; the state becomes ``starting``, and the spawn's end
    (followed by a task, or reported by the spawner) makes it ``running`` or says why not.

    With ``MLHUB_START_CONCURRENCY`` starts in flight (or others waiting), it waits in the
    start queue instead (``start_queue.py``): ``starting`` with ``start_queued_at`` set, the
    hub not asked yet; a 503 when it would wait longer than the queue's limit."""
    _require_may_act(by, workspace, "start")
    _refuse_if_deleting(workspace)
    before, room = _reserve_start(workspace)
    if workspace.start_queued_at is not None:
        if room > 0:  # room, but others waited before it: their dispatcher may not have run
            start_queue.advance_later()
        return workspace
    try:
        running_already = hub_server_start(workspace)
    except BaseException:
        _release_start(workspace, before)
        start_queue.advance_if_waiting()  # its room, for another that came meanwhile
        raise
    return start_followed(workspace, running_already=running_already)


def start_followed(workspace: Workspace, *, running_already: bool) -> Workspace:
    """Record the hub's yes to a start and follow the spawn (a task)."""
    if running_already:
        # The hub runs it although the portal thought otherwise: adopt the hub's view.
        return _save_state(workspace, State.STARTING, "")
    workspace.progress_message = "Asked JupyterHub to start it"
    workspace.save(update_fields=["progress_message"])
    _save_state(workspace, State.STARTING, "")
    # The django-q2 cluster follows the spawn so a failure is recorded with the hub's
    # message even when nobody is looking; reads reconcile in the meantime. "running" comes
    # from there or the spawner's report, both after the proxy has the route.
    async_task("portal.workspaces.tasks.follow_spawn", workspace.pk, task_name=f"spawn {workspace}")
    return workspace


# What a start changes before it asks the hub, and puts back when the hub refuses.
RESERVED_FIELDS = [
    "state",
    "message",
    "progress",
    "progress_message",
    "start_asked_at",
    "start_queued_at",
]
ASKING = "Asking JupyterHub to start it"


def _reserve_start(workspace: Workspace) -> tuple[dict, int]:
    """Check the running limits and mark the row ``starting`` in one transaction, so that
    two starts at once cannot both pass them: asked of the hub now (``start_asked_at``), or
    queued (``start_queued_at``) when the start queue says so. What the row said before, to
    undo with, and the room the queue had."""
    with transaction.atomic():
        _one_at_a_time(workspace.owner_id)
        workspace.refresh_from_db(fields=[*RESERVED_FIELDS, "deleting_since"])
        _refuse_if_deleting(workspace)
        if workspace.state in (State.RUNNING, State.STARTING):
            raise ServiceError(f"Workspace {workspace.name!r} is already {workspace.state}", 409)
        quota_check(workspace.owner, starting=workspace)
        budget_check(workspace.owner, gpus=gpu_count(workspace))
        room = start_queue.reserve(workspace)
        before = {field: getattr(workspace, field) for field in RESERVED_FIELDS}
        now = timezone.now()
        workspace.state, workspace.message, workspace.progress = State.STARTING, "", 0
        if room is None:
            workspace.progress_message, workspace.start_asked_at = ASKING, now
            workspace.start_queued_at = None
        else:
            workspace.progress_message, workspace.start_asked_at = start_queue.WAITING, None
            workspace.start_queued_at = now
        workspace.save(update_fields=RESERVED_FIELDS)
    return before, room or 0


def _release_start(workspace: Workspace, before: dict) -> None:
    """Undo a reservation the hub did not take, unless a report changed the row since."""
    Workspace.objects.filter(pk=workspace.pk, state=State.STARTING).update(**before)
    for field, value in before.items():
        setattr(workspace, field, value)


def hub_server_start(workspace: Workspace) -> bool:
    """Ask the hub to start the server; True when it was running already."""
    hub = hub_api.hub_client()
    owner, options = workspace.owner.hub_name, workspace.user_options()
    try:
        try:
            hub.server_start(owner, workspace.name, options)
        except HubError as error:
            if error.status != 404:
                raise
            # Not in the hub yet (a first start): made then, not asked before every start
            # (a lecture's hundred starts paid a hundred extra hub calls). The hub's admin
            # flag comes from the portal at login (the authenticator), not from here: the
            # portal's token may not grant admin rights (least privilege).
            hub.user_ensure(owner)
            hub.server_start(owner, workspace.name, options)
    except HubError as error:
        if error.status == 400 and "already" in error.message:
            return True
        raise
    return False


@audited("workspace.stop", _workspace)
def workspace_stop(*, workspace: Workspace, by: User) -> Workspace:
    _require_may_act(by, workspace, "stop")
    return _stop(workspace, "")


@audited("workspace.stop", _workspace, detail=lambda kwargs, _: kwargs["reason"])
def workspace_stop_by_system(*, workspace: Workspace, reason: str) -> Workspace:
    """The stop a policy makes (a used-up budget), by nobody: ``reason`` is in the audit log
    and on the workspace's card."""
    return _stop(workspace, reason)


def _stop(workspace: Workspace, message: str) -> Workspace:
    _refuse_if_deleting(workspace)
    if workspace.state == State.STOPPED:
        raise ServiceError(f"Workspace {workspace.name!r} is already stopped", 409)
    if workspace.state == State.STARTING and start_queue.leave(workspace, message):
        return workspace  # it only left the start queue: the hub never heard of it
    done = hub_api.hub_client().server_stop(workspace.owner.hub_name, workspace.name)
    return _save_state(workspace, State.STOPPED if done else State.STOPPING, message)


REVOKED = "Stopped: the owner's access was revoked"


def workspaces_stop_all(*, owner: User) -> int:
    """Stop every server the hub runs for this person and record it; how many were asked.

    Used when a person loses access: the hub is asked which servers run (the portal's rows
    may lag behind), files and volumes are kept for a later approval.
    """
    hub = hub_api.hub_client()
    servers = (hub.user_get(owner.hub_name) or {}).get("servers") or {}
    for queued in owner.workspaces.start_queued():
        start_queue.leave(queued, REVOKED)
    rows = {workspace.name: workspace for workspace in owner.workspaces.all()}
    for name in servers:
        done = hub.server_stop(owner.hub_name, name)
        if name in rows:
            _save_state(rows[name], State.STOPPED if done else State.STOPPING, REVOKED)
    return len(servers)


# What an admin may ask of many workspaces at once (``workspaces_act``), by its name.
BULK_ACTIONS = {"start": workspace_start, "stop": workspace_stop}


def workspaces_act_later(*, action: str, workspaces: Iterable[Workspace], by: User) -> int:
    """Queue ``action`` on each of these workspaces as ``by`` (``workspaces_act``, a task):
    hundreds of hub calls do not hold an admin's request. How many were queued."""
    if action not in BULK_ACTIONS:
        raise ServiceError(f"Unknown action {action!r}; one of {', '.join(BULK_ACTIONS)}.")
    require_admin(by, f"{action} many workspaces at once")
    ids = [workspace.pk for workspace in workspaces]
    if ids:
        async_task(
            "portal.workspaces.tasks.act_on_each",
            action,
            ids,
            by.pk,
            task_name=f"{action} {len(ids)} workspaces",
        )
    return len(ids)


def workspaces_act(*, action: str, workspaces: Iterable[Workspace], by: User) -> dict[str, int]:
    """Do ``action`` on each workspace in turn, as ``by``; how many ended how ("done",
    "refused", "failed", "not tried"). Each one tried, allowed or not, is in the audit log
    with its reason. A hub that is down ends the round: the rest would wait for it in turn."""
    service = BULK_ACTIONS[action]
    outcomes = {"done": 0, "refused": 0, "failed": 0, "not tried": 0}
    hub_down = False
    for workspace in workspaces:
        if hub_down:
            outcomes["not tried"] += 1
            continue
        try:
            service(workspace=workspace, by=by)
            outcomes["done"] += 1
        except HubError as error:
            outcomes["failed"] += 1
            hub_down = error.is_outage
        except ServiceError:
            outcomes["refused"] += 1
    return outcomes


DELETING = "Being deleted: the hub is removing its container, volume and network"


@audited("workspace.delete", _workspace)
def workspace_delete(*, workspace: Workspace, by: User, finish: bool = True) -> None:
    """Delete it as ``by``; ``finish=False``: the caller queues ``deletes_finish_later`` once
    for many (the admin's bulk delete)."""
    _require_may_act(by, workspace, "delete")
    workspaces_delete(workspaces=[workspace], finish=finish)


def workspaces_delete(*, workspaces: Iterable[Workspace], finish: bool = True) -> None:
    """Delete these workspaces: gone for people at once, removed by a task.

    The request only marks the rows (hidden, ``deleting_since`` set, their names still taken):
    a task asks the hub to stop and remove the servers and forgets the rows once the hub's
    spawner has removed the containers, volumes and networks (``workspaces_delete_finish``),
    so a delete never waits for Docker, and an admin's delete of hundreds is one update. A hub
    that cannot be reached refuses the delete: nothing is marked.
    """
    workspaces = list(workspaces)
    if not workspaces:
        return
    hub_api.hub_client().version()
    _mark_deleting(workspaces)
    if finish:
        deletes_finish_later(workspaces)


def _mark_deleting(workspaces: list[Workspace]) -> None:
    """Hide them as being deleted (their names still taken) until the delete's task is done."""
    now = timezone.now()
    # A queued start leaves the queue with it; the delete's task still asks the hub, which
    # may keep a server of an earlier run (its container and volume).
    Workspace.objects.filter(pk__in=[workspace.pk for workspace in workspaces]).update(
        deleting_since=now,
        state=State.STOPPING,
        message=DELETING,
        synced_at=now,
        start_queued_at=None,
    )
    for workspace in workspaces:
        workspace.deleting_since, workspace.synced_at = now, now
        workspace.start_queued_at = None
        workspace.state, workspace.message = State.STOPPING, DELETING


def workspaces_delete_each(
    *, workspaces: Iterable[Workspace], by: User
) -> tuple[list[Workspace], list[tuple[Workspace, HubError]]]:
    """The admin's bulk delete: each through ``workspace_delete`` (checked, audited), then one
    task removes all that were marked, also when a later one fails. (deleted, not deleted).

    A hub that is down ends the round, as in ``workspaces_act``: each of the rest would wait
    for it in turn, inside the admin's request; they are not deleted, with the same reason."""
    deleted: list[Workspace] = []
    failed: list[tuple[Workspace, HubError]] = []
    outage: HubError | None = None
    try:
        for workspace in workspaces:
            if outage:
                failed.append((workspace, outage))
                continue
            try:
                workspace_delete(workspace=workspace, by=by, finish=False)
                deleted.append(workspace)
            except HubError as error:
                failed.append((workspace, error))
                outage = error if error.is_outage else None
    finally:
        deletes_finish_later(deleted)
    return deleted, failed


def deletes_finish_later(workspaces: list[Workspace]) -> None:
    """One task removes these marked workspaces from the hub (``workspaces_delete_finish``):
    it sends every DELETE and then waits once, where a task each would wait in turn."""
    if not workspaces:
        return
    async_task(
        "portal.workspaces.tasks.finish_deletes",
        [workspace.pk for workspace in workspaces],
        task_name=f"delete {workspaces[0]}" + (" and more" if len(workspaces) > 1 else ""),
    )


def workspaces_delete_finish(
    *, workspaces: Iterable[Workspace], patience: float | None = None
) -> int:
    """Ask the hub to stop and remove these servers (again, if an earlier try got that far:
    the hub takes it as the same request), wait until it no longer lists them, then forget
    them; how many.

    Raises ``HubError`` when the hub cannot be asked or is not done within ``patience``:
    the rows stay for the next try.
    """
    workspaces = [w for w in workspaces if w.deleting_since is not None]
    patience = REMOVE_PATIENCE if patience is None else patience
    hub = hub_api.hub_client()
    for workspace in workspaces:
        hub.server_stop(workspace.owner.hub_name, workspace.name, remove=True)
    remaining = {(w.owner.hub_name, w.name) for w in workspaces}

    def removed() -> bool:
        nonlocal remaining
        for owner in {owner for owner, _ in remaining}:
            kept = set((hub.user_get(owner, with_stopped=True) or {}).get("servers") or {})
            remaining = {(who, name) for who, name in remaining if who != owner or name in kept}
        return not remaining

    try:
        poll_until(removed, timeout=patience, what="JupyterHub has not removed them")
    except TimeoutError:
        names = ", ".join(sorted(f"{owner}/{name}" for owner, name in remaining))
        raise HubError(503, f"JupyterHub has not finished removing {names}") from None
    _workspace_tokens_revoke(hub, workspaces)
    _rows_forget(workspaces)
    return len(workspaces)


def _rows_forget(workspaces: list[Workspace]) -> None:
    """Delete the rows of workspaces the hub no longer has: a run still open (a report may
    have come between) ends now, as deleted, and is kept."""
    ids = [workspace.pk for workspace in workspaces]
    usage.workspaces_deleted(workspace_ids=ids, at=timezone.now())
    Workspace.objects.filter(pk__in=ids).delete()


def _workspace_tokens_revoke(hub: HubClient, workspaces: list[Workspace]) -> None:
    """End the hub tokens made for these workspaces (``workspace_token_create``): a new
    workspace of the same name must not open to them."""
    scopes = {w.access_scope for w in workspaces}
    for owner in {w.owner.hub_name for w in workspaces}:
        for token in hub.tokens_list(owner):
            if scopes & set(token.get("scopes") or []):
                hub.token_delete(owner, token["id"])


def workspace_follow_spawn(*, workspace: Workspace, patience: float | None = None) -> Workspace:
    """Wait for a pending spawn to end and record ``running``, ``stopped`` or the hub's message.

    The state is left as it is when the hub cannot tell within ``patience`` seconds (default
    ``settings.SPAWN_END_PATIENCE``). The hub's own report usually got there first; this is
    the fallback when it was lost.
    """
    if patience is None:
        patience = settings.SPAWN_END_PATIENCE
    outcome = spawn_outcome(workspace, patience=patience)
    if outcome is None:
        return workspace
    return _save_state(workspace, *outcome)


def spawn_outcome(
    workspace: Workspace, *, patience: float, hub: HubClient | None = None
) -> tuple[str, str] | None:
    """How the last spawn ended, as ``(state, message)``; None while the hub cannot tell."""
    hub = hub or hub_api.hub_client()

    def ask() -> tuple[dict | None, HubError | None] | None:
        try:
            return hub.server_progress(
                workspace.owner.hub_name,
                workspace.name,
                timeout=settings.SPAWN_FOLLOW_SECONDS,
                on_event=lambda event: _progress_save(workspace, event),
            ), None
        except HubError as error:
            # 400 "not starting": a failed spawn is first stopped and cleaned up (the
            # container removed), and only then is its failure on record: ask again. No
            # answer (the hub restarting): ask again too, while patience lasts.
            return None if error.status == 400 or error.reachable is False else (None, error)

    try:
        event, error = poll_until(ask, timeout=patience, what="spawn not settled")
    except TimeoutError:
        log.info("Spawn of %s not settled within %s s", workspace, patience)
        return None
    if error is not None:
        if error.status == 404:
            # The hub drops a stopped server unless its spawn failed (it keeps those
            # for their message): this one was stopped before it came up.
            return State.STOPPED, ""
        log.info("Spawn of %s not settled yet: %s", workspace, error)
        return None
    if event.get("ready"):
        return State.RUNNING, ""
    # The progress stream says "Spawn failed: <why>", the hub's report just <why>: one text,
    # whichever reaches the portal first.
    why = (event.get("message") or "").removeprefix("Spawn failed: ").strip()
    return State.ERROR, why or "Spawn failed"


def _progress_save(workspace: Workspace, event: dict) -> None:
    """One event of the hub's progress stream, for the page to show while it starts."""
    Workspace.objects.filter(pk=workspace.pk, state=State.STARTING).update(
        progress=min(max(int(event.get("progress") or 0), 0), 100),
        progress_message=str(event.get("message") or "")[:300],
    )


def _refuse_if_deleting(workspace: Workspace) -> None:
    if workspace.deleting_since is not None:
        raise ServiceError(f"Workspace {workspace.name!r} is being deleted", 409)


def _save_state(workspace: Workspace, state: str, message: str) -> Workspace:
    """Record what the hub just answered: the row is as fresh as it gets."""
    workspace.state = state
    workspace.message = message
    workspace.synced_at = timezone.now()
    workspace.save(update_fields=["state", "message", "synced_at"])
    state_written(workspace, at=workspace.synced_at)
    return workspace


def state_written(workspace: Workspace, *, at, lost: bool = False) -> None:
    """Every writer of a state calls this after it, with the time of the hub's word (an
    answer's, a report's, the sync pass's read): a start waiting for the state it now has
    (running, error, stopped) ended then, counted for ``/metrics`` and timed for the start
    queue's estimate; a run began or ended then, for usage (``lost``: the hub no longer has
    the server). A start that ended left room in flight: with starts waiting, a task runs the
    start queue's dispatcher (a stop's ``stopping`` waits for its ``stopped``; a start the
    hub began by itself, never counted, waits for the dispatcher's minute)."""
    ended = None
    if workspace.state in (State.RUNNING, State.ERROR, State.STOPPED):
        ended = counters.start_ended(workspace_id=workspace.pk, state=workspace.state, at=at)
        workspace.start_asked_at = None
        if ended is not None and workspace.state == State.RUNNING:
            start_queue.start_timed(ended, at=at)
    usage.state_written(workspace=workspace, at=at, lost=lost)
    if ended is not None:
        start_queue.advance_if_waiting()


def _forget_in_hub(workspace: Workspace) -> bool:
    """Ask the hub to remove the server of a failed start; whether it took the request."""
    try:
        hub_api.hub_client().server_stop(workspace.owner.hub_name, workspace.name, remove=True)
    except HubError as error:
        log.warning("Could not remove the failed server %s from the hub: %s", workspace, error)
        return False
    return True
