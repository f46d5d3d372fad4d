"""Cleanup: remove what outlived its person or its workspace (``users``) or its time
(``expired``).

The portal's rows are the truth: a resource labelled with this hub's origin is orphaned when
its person is no longer in the portal, when it belongs to a workspace the portal has no row
for (not even one being deleted: a delete the engine failed, found by bench/soak.py), or when
it is the container (pod) of a workspace that is neither running nor starting and that the
hub does not run either (a stopped workspace has none; one left by a hub that died while
starting it ran on with nobody to stop it). A person's network (network policy) is theirs
while they have a workspace, or while the warm pools want it made ahead
(portal/pools/networks.py). Nothing younger than ``MLHUB_CLEANUP_GRACE_SECONDS`` is touched
(a spawn may be in flight), and a part that cannot be read (the hub, the engine) removes
nothing and says so in the report. Each removal is in the audit log with its reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lib import env
from portal.accounts.models import User
from portal.audit import log as audit
from portal.cleanup.report import Outcome, Report
from portal.hub import client as hub_api
from portal.hub.client import HubError
from portal.pools import networks as pool_networks
from portal.pools import records as pool_records
from portal.workspaces import services as workspaces
from portal.workspaces.models import Workspace
from spawners.cleanup.backend import EngineUnavailable
from spawners.cleanup.docker_backend import DockerBackend

if TYPE_CHECKING:
    from spawners.cleanup.kube_backend import KubeBackend

log = logging.getLogger(__name__)


def engine_backend() -> DockerBackend | KubeBackend | None:
    """The engine's cleanup backend for this execution mode; None where there is none."""
    if settings.EXECUTION_MODE == "local":
        return DockerBackend(settings.HUB_NAME, hub_container=settings.DOCKER_HUB_CONTAINER)
    if settings.EXECUTION_MODE == "k8s":
        # Imported here: the Kubernetes client takes about 2 s to import, which every portal
        # process (gunicorn workers, the task cluster, each manage.py) paid in every mode.
        from spawners.cleanup.kube_backend import KubeBackend

        return KubeBackend(settings.HUB_NAME, env.k8s_namespace())
    return None  # process mode: no engine resources


def _young(created_at: datetime, now: datetime) -> bool:
    return created_at > now - timedelta(seconds=settings.CLEANUP_GRACE_SECONDS)


def _remove(report: Report, found: list, backend, *, dry_run: bool, by) -> None:
    """Remove each (resource, reason) of ``found`` (the engine's removals overlap), then
    report and audit each in order."""
    if dry_run:
        for resource, reason in found:
            report.add(resource.kind, resource.name, resource.user, Outcome.WOULD_REMOVE, reason)
        return
    errors = backend.remove_all([resource for resource, _ in found])
    with transaction.atomic():  # one write for all the audit entries
        _report_removals(report, found, errors, by=by)


def _report_removals(report: Report, found: list, errors: list, *, by) -> None:
    for (resource, reason), error in zip(found, errors, strict=True):
        if error is not None:  # the engine's own refusal (in use, ...): reported, go on
            report.add(
                resource.kind, resource.name, resource.user, Outcome.FAILED, f"{reason}; {error}"
            )
            continue
        report.add(resource.kind, resource.name, resource.user, Outcome.REMOVED, reason)
        audit.record(by=by, action=f"cleanup.{resource.kind}", target=resource.name, detail=reason)


# What runs a workspace: a stopped workspace has none (the spawners remove it).
RUNNING_KINDS = ("container", "pod")


def cleanup_users(*, dry_run: bool = False, by=None, backend=None, hub=None) -> Report:
    """Remove the engine resources of people and workspaces the portal no longer has, the
    containers of workspaces that do not run, and the hub accounts of people it no longer has."""
    report = Report(job="users", dry_run=dry_run)
    # The hub names, as the hub and the labels spell them (lib/usernames.py).
    people = set(User.objects.values_list("hub_name", flat=True))
    now = datetime.now(UTC)
    hub = hub or hub_api.hub_client()
    backend = backend if backend is not None else engine_backend()
    if backend is not None:
        try:
            resources = pool_records.attributed(backend.resources())
        except EngineUnavailable as error:
            report.errors.append(str(error))
            resources = []
        found = []
        orphaned = _orphaned_by_workspace(resources, people, hub, report)
        for resource in resources:
            if resource.pool:
                reason = pool_records.UNRECORDED
            elif resource.user not in people:
                reason = f"{resource.user} is not a person of this portal"
            else:
                reason = orphaned.get(resource.id)
            if not reason:
                continue  # a person's own: not even listed, there may be thousands
            if _young(resource.created_at, now):
                report.add(
                    resource.kind,
                    resource.name,
                    resource.user,
                    Outcome.KEPT,
                    "younger than the grace period (a start may be in flight)",
                )
                continue
            found.append((resource, reason))
        _remove(report, found, backend, dry_run=dry_run, by=by)
    try:
        # Every page of the hub's users: the original read one page and removed live people.
        strangers = [u["name"] for u in hub.users_list() if u["name"] not in people]
    except HubError as error:
        said = f"JupyterHub did not answer: {error.message}"
        if said not in report.errors:  # once, also when the engine's part asked it first
            report.errors.append(said)
        strangers = []
    for name in strangers:
        reason = f"{name} is a hub user with no person in the portal"
        if dry_run:
            report.add("hub user", name, name, Outcome.WOULD_REMOVE, reason)
            continue
        try:
            hub.user_delete(name)
        except HubError as error:
            report.add("hub user", name, name, Outcome.FAILED, f"{reason}; {error.message}")
            continue
        report.add("hub user", name, name, Outcome.REMOVED, reason)
        audit.record(by=by, action="cleanup.hub-user", target=name, detail=reason)
    return report


def _orphaned_by_workspace(resources: list, people: set, hub, report: Report) -> dict:
    """{resource id: why} for the living people's resources that outlived their workspace:
    no row for it at all, or a container (pod) of one that neither the portal nor the hub
    says runs. The hub down: only the first (the hub may run what the portal thinks stopped)."""
    mine = [r for r in resources if r.user in people]
    if not mine:
        return {}
    rows = dict(
        ((owner, name), state)
        for owner, name, state in Workspace.objects.values_list("owner__hub_name", "name", "state")
    )
    owners = {owner for owner, _ in rows}
    hub_runs = None
    if any(r.kind in RUNNING_KINDS for r in mine):
        try:
            hub_runs = {
                (user["name"], server)
                for user in hub.users_active()
                for server in (user.get("servers") or {})
            }
        except HubError as error:
            report.errors.append(f"JupyterHub did not answer: {error.message}")
    alive = (Workspace.State.STARTING, Workspace.State.RUNNING)
    # Networks the warm pools' fill makes ahead for people who have no workspace yet.
    ahead = set(pool_networks.networks_wanted()) if any(not r.server for r in mine) else set()
    orphaned = {}
    for resource in mine:
        key = (resource.user, resource.server)
        if not resource.server:  # the person's network (policy): theirs while they have one
            if resource.user not in owners and resource.user not in ahead:
                orphaned[resource.id] = f"{resource.user} has no workspace in the portal"
        elif key not in rows:
            orphaned[resource.id] = f"no workspace {resource.user}/{resource.server} in the portal"
        elif (
            resource.kind in RUNNING_KINDS
            and hub_runs is not None
            and rows[key] not in alive
            and key not in hub_runs
        ):
            orphaned[resource.id] = (
                f"{resource.user}/{resource.server} is {rows[key]} and the hub does not run it"
            )
    return orphaned


def cleanup_expired(*, dry_run: bool = False, by=None, backend=None) -> Report:
    """Delete workspaces whose time is up (through the hub, as a person's delete), then any
    engine resource whose expiry label has passed and that no live workspace owns."""
    report = Report(job="expired", dry_run=dry_run)
    now = timezone.now()
    expired = list(
        Workspace.objects.filter(expires_at__lte=now, deleting_since=None).select_related("owner")
    )
    marked = []
    try:
        _expired_workspaces(report, expired, marked, dry_run=dry_run, by=by)
    finally:
        # One task removes all that were marked, as the admin's bulk delete: it sends every
        # DELETE and then waits once (also when the hub went down half-way).
        workspaces.deletes_finish_later(marked)
    _expired_leftovers(report, now, dry_run=dry_run, by=by, backend=backend)
    return report


def _expired_workspaces(report: Report, expired: list, marked: list, *, dry_run: bool, by) -> None:
    for workspace in expired:
        reason = f"expired {workspace.expires_at:%Y-%m-%d %H:%M} UTC"
        if dry_run:
            report.add(
                "workspace", str(workspace), workspace.owner.username, Outcome.WOULD_REMOVE, reason
            )
            continue
        try:
            workspaces.workspaces_delete(workspaces=[workspace], finish=False)
            marked.append(workspace)
        except HubError as error:
            report.errors.append(f"JupyterHub did not answer: {error.message}")
            report.add(
                "workspace",
                str(workspace),
                workspace.owner.username,
                Outcome.FAILED,
                f"{reason}; {error.message}",
            )
            break  # the hub is down: the rest wait for the next run
        report.add("workspace", str(workspace), workspace.owner.username, Outcome.REMOVED, reason)
        audit.record(by=by, action="cleanup.workspace", target=str(workspace), detail=reason)


def _expired_leftovers(report: Report, now, *, dry_run: bool, by, backend) -> None:
    backend = backend if backend is not None else engine_backend()
    if backend is None:
        return
    try:
        resources = backend.resources()
    except EngineUnavailable as error:
        report.errors.append(str(error))
        return
    # Every row, those being deleted too: their own delete (the hub) removes their resources.
    owned = set(Workspace.objects.values_list("owner__hub_name", "name"))
    found = []
    for resource in resources:
        if not resource.expires_at or resource.expires_at > now.timestamp():
            continue
        if (resource.user, resource.server) in owned:
            continue  # extended since it was labelled, or being deleted through the hub
        if _young(resource.created_at, now):
            continue
        label = datetime.fromtimestamp(resource.expires_at, UTC)
        found.append(
            (resource, f"expired {label:%Y-%m-%d %H:%M} UTC (its label) and no workspace owns it")
        )
    _remove(report, found, backend, dry_run=dry_run, by=by)
