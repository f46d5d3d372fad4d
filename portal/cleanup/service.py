"""Cleanup: remove what outlived its person (``users``) or its time (``expired``).

The portal's people are the truth: a resource labelled with this hub's origin whose person is
no longer in the portal is orphaned; one whose person exists is never touched. Nothing
younger than ``MLHUB_CLEANUP_GRACE_SECONDS`` is touched (a spawn may be in flight), and a part
that cannot be read (the hub, the engine) removes nothing and says so in the report.
Each removal is in the audit log with its reason.
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


def cleanup_users(*, dry_run: bool = False, by=None, backend=None, hub=None) -> Report:
    """Remove the engine resources and hub accounts of people the portal no longer has."""
    report = Report(job="users", dry_run=dry_run)
    # The hub names, as the hub and the labels spell them (lib/usernames.py).
    people = set(User.objects.values_list("hub_name", flat=True))
    now = datetime.now(UTC)
    backend = backend if backend is not None else engine_backend()
    if backend is not None:
        try:
            resources = backend.resources()
        except EngineUnavailable as error:
            report.errors.append(str(error))
            resources = []
        found = []
        for resource in resources:
            if resource.user in people:
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
            found.append((resource, f"{resource.user} is not a person of this portal"))
        _remove(report, found, backend, dry_run=dry_run, by=by)
    hub = hub or hub_api.hub_client()
    try:
        # Every page of the hub's users: the original read one page and removed live people.
        strangers = [u["name"] for u in hub.users_list() if u["name"] not in people]
    except HubError as error:
        report.errors.append(f"JupyterHub did not answer: {error.message}")
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
