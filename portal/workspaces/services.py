"""Workspace life cycle: the portal's rows kept in step with the hub's named servers.

Views, the API, admin actions and tasks call these; they never talk to the hub themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from portal.accounts.models import NOT_APPROVED, User
from portal.hub.client import HubClient, HubError, hub_client
from portal.workspaces.models import Template, Workspace
from spawners.resources import ResourceError, resources_from_options, validate_workspace_name

log = logging.getLogger(__name__)
State = Workspace.State
# How long the django-q2 task waits for the hub to settle a spawn's outcome, and to stream it.
SPAWN_END_PATIENCE = 120
SPAWN_TIMEOUT = 600
# A page or API read asks the hub about a spawn without waiting for it.
READ_PEEK_TIMEOUT = 3
# How long a delete waits for the hub to remove containers, volumes and networks.
REMOVE_PATIENCE = 20


class WorkspaceError(Exception):
    """A request about a workspace that cannot be honoured; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def workspace_owner_for(*, by: User, username: str | None = None) -> User:
    """Whose a workspace that ``by`` creates is: their own, or (admins only) ``username``'s."""
    if not by.is_approved:
        raise WorkspaceError(NOT_APPROVED, 403)
    if not username or username == by.username:
        return by
    if not by.is_admin:
        raise WorkspaceError("Only administrators may create workspaces for others.", 403)
    owner = User.objects.filter(username=username).first()
    if owner is None:
        raise WorkspaceError(f"No user named {username!r}", 404)
    return owner


def workspace_create(
    *,
    by: User,
    name: str,
    template: str = "default",
    options: dict | None = None,
    owner: str | None = None,
) -> Workspace:
    """Create a workspace for ``by`` (or, admins only, for the person named ``owner``) and
    start it. Nothing is left behind when any step fails."""
    owner = workspace_owner_for(by=by, username=owner)
    try:
        name = validate_workspace_name(name)
    except ResourceError as error:
        raise WorkspaceError(str(error)) from None
    chosen = Template.objects.filter(name=template).first()
    if chosen is None:
        raise WorkspaceError(f"Unknown template {template!r}")
    try:
        resources = resources_from_options(options or {}, chosen.limits())
    except ResourceError as error:
        raise WorkspaceError(str(error)) from None
    now = timezone.now()
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(
                owner=owner,
                name=name,
                template=chosen,
                image=resources.image,
                cpu=resources.cpu,
                memory=resources.memory,
                gpus=resources.to_options()["gpus"] or "",
                shm_size=resources.shm_size,
                env=resources.env,
                created_at=now,
                expires_at=chosen.expiry_from(now),
            )
    except IntegrityError:
        raise WorkspaceError(f"You already have a workspace named {name!r}", 409) from None
    try:
        workspace_start(workspace=workspace)
    except HubError:
        _forget_in_hub(workspace)
        workspace.delete()
        raise
    return workspace


def workspace_start(*, workspace: Workspace) -> Workspace:
    """Ask the hub to start the server; state becomes ``running`` or ``starting``."""
    if workspace.state in (State.RUNNING, State.STARTING):
        raise WorkspaceError(f"Workspace {workspace.name!r} is already {workspace.state}", 409)
    hub = hub_client()
    # The hub's admin flag comes from the portal at login (the authenticator), not from
    # here: the portal's token may not grant admin rights (least privilege).
    hub.user_ensure(workspace.owner.hub_name)
    try:
        ready = hub.server_start(workspace.owner.hub_name, workspace.name, workspace.user_options())
    except HubError as error:
        if error.status == 400 and "already" in error.message:
            # The hub runs it although the portal thought otherwise: adopt the hub's view.
            return _save_state(workspace, State.STARTING, "")
        raise
    if ready:
        return _save_state(workspace, State.RUNNING, "")
    _save_state(workspace, State.STARTING, "")
    # The django-q2 cluster follows the spawn so a failure is recorded with the hub's
    # message even when nobody is looking; reads reconcile in the meantime.
    async_task("portal.workspaces.tasks.follow_spawn", workspace.pk, task_name=f"spawn {workspace}")
    return workspace


def workspace_stop(*, workspace: Workspace) -> Workspace:
    if workspace.state == State.STOPPED:
        raise WorkspaceError(f"Workspace {workspace.name!r} is already stopped", 409)
    done = hub_client().server_stop(workspace.owner.hub_name, workspace.name)
    return _save_state(workspace, State.STOPPED if done else State.STOPPING, "")


REVOKED = "Stopped: the owner's access was revoked"


def workspaces_stop_all(*, owner: User) -> int:
    """Stop every server the hub runs for this person and record it; how many were asked.

    Used when a person loses access: the hub is asked which servers run (the portal's rows
    may lag behind), files and volumes are kept for a later approval.
    """
    hub = hub_client()
    servers = (hub.user_get(owner.hub_name) or {}).get("servers") or {}
    rows = {workspace.name: workspace for workspace in owner.workspaces.all()}
    for name in servers:
        done = hub.server_stop(owner.hub_name, name)
        if name in rows:
            _save_state(rows[name], State.STOPPED if done else State.STOPPING, REVOKED)
    return len(servers)


def workspace_delete(*, workspace: Workspace) -> None:
    workspaces_delete(workspaces=[workspace])


def workspaces_delete(*, workspaces: Iterable[Workspace]) -> None:
    """Remove the servers and their resources in the hub, then forget the workspaces.

    The hub answers before it has removed a server's container, volume and network, so
    this waits until it no longer lists them: when it returns, they are gone. When the hub
    cannot be reached or is not done in time, the rows stay, so nothing is lost track of.
    """
    workspaces = list(workspaces)
    hub = hub_client()
    for workspace in workspaces:
        hub.server_stop(workspace.owner.hub_name, workspace.name, remove=True)
    _wait_until_removed(hub, workspaces)
    for workspace in workspaces:
        workspace.delete()


def _wait_until_removed(hub: HubClient, workspaces: list[Workspace]) -> None:
    deadline = time.monotonic() + REMOVE_PATIENCE
    remaining = {(w.owner.hub_name, w.name) for w in workspaces}
    while True:
        for owner in {owner for owner, _ in remaining}:
            kept = set((hub.user_get(owner, with_stopped=True) or {}).get("servers") or {})
            remaining = {(who, name) for who, name in remaining if who != owner or name in kept}
        if not remaining:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(sorted(f"{owner}/{name}" for owner, name in remaining))
            raise HubError(
                503, f"JupyterHub has not finished removing {names}; try deleting again soon"
            )
        time.sleep(0.25)


def workspaces_refresh(*, workspaces: Iterable[Workspace]) -> list[Workspace]:
    """Bring the states of these workspaces in line with the hub (one call per owner).

    When the hub is unreachable the stored states are returned unchanged.
    """
    workspaces = list(workspaces)
    by_owner: dict[str, list[Workspace]] = {}
    for workspace in workspaces:
        by_owner.setdefault(workspace.owner.hub_name, []).append(workspace)
    try:
        hub = hub_client()
        for hub_name, owned in by_owner.items():
            model = hub.user_get(hub_name) or {}
            servers = model.get("servers") or {}
            for workspace in owned:
                _apply_hub_server(workspace, servers.get(workspace.name))
    except HubError as error:
        log.warning("Workspace states not refreshed: %s", error)
    return workspaces


def workspace_follow_spawn(
    *, workspace: Workspace, patience: float = SPAWN_END_PATIENCE
) -> Workspace:
    """Wait for a pending spawn to end and record ``running``, ``stopped`` or the hub's message.

    The state is left as it is when the hub cannot tell within ``patience`` seconds.
    """
    outcome = _spawn_outcome(workspace, patience=patience, read_timeout=SPAWN_TIMEOUT)
    if outcome is None:
        return workspace
    return _save_state(workspace, *outcome)


def _spawn_outcome(
    workspace: Workspace, *, patience: float, read_timeout: float
) -> tuple[str, str] | None:
    """How the last spawn ended, as ``(state, message)``; None while the hub cannot tell."""
    hub = hub_client()
    deadline = time.monotonic() + patience
    while True:
        try:
            event = hub.server_progress(
                workspace.owner.hub_name, workspace.name, timeout=read_timeout
            )
            break
        except HubError as error:
            if error.status == 404:
                # The hub drops a stopped server unless its spawn failed (it keeps those
                # for their message): this one was stopped before it came up.
                return State.STOPPED, ""
            # 400 "not starting": a failed spawn is first stopped and cleaned up (the
            # container removed), and only then is its failure on record.
            if error.status != 400 or time.monotonic() >= deadline:
                log.info("Spawn of %s not settled yet: %s", workspace, error)
                return None
            time.sleep(0.5)
    if event.get("ready"):
        return State.RUNNING, ""
    return State.ERROR, event.get("message") or "Spawn failed"


def _apply_hub_server(workspace: Workspace, server: dict | None) -> None:
    spawn_ending = server is None or server.get("pending") == "stop"
    if workspace.state == State.STARTING and spawn_ending:
        # A spawn that fails is stopped by the hub: ask how it ended, without waiting
        # long in a page or API request (the django-q2 task waits for the answer).
        outcome = _spawn_outcome(workspace, patience=0, read_timeout=READ_PEEK_TIMEOUT)
        if outcome is not None:
            _save_state(workspace, *outcome)
        return
    if server is None:
        if workspace.state in (State.RUNNING, State.STOPPING):
            _save_state(workspace, State.STOPPED, "")
        return
    if server.get("ready"):
        new_state = State.RUNNING
    elif server.get("pending") == "stop":
        new_state = State.STOPPING
    else:
        new_state = State.STARTING
    if new_state != workspace.state:
        _save_state(workspace, new_state, "")


def _save_state(workspace: Workspace, state: str, message: str) -> Workspace:
    workspace.state = state
    workspace.message = message
    workspace.save(update_fields=["state", "message"])
    return workspace


def _forget_in_hub(workspace: Workspace) -> None:
    try:
        hub_client().server_stop(workspace.owner.hub_name, workspace.name, remove=True)
    except HubError as error:
        log.warning("Could not remove the failed server %s from the hub: %s", workspace, error)
