"""The "user hub" mode (``MLHUB_NAMED_WORKSPACES=false``): one workspace a person.

Each approved person gets a workspace named ``MLHUB_DEFAULT_WORKSPACE_NAME`` from the
default template when they first log in (or open their page), started by a task so the
login never waits for the hub. People cannot create more; admins still can, for anyone.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django_q.tasks import async_task

from lib.resources import resources_from_options
from portal.accounts import access
from portal.audit.log import audited
from portal.errors import ServiceError
from portal.metrics.counters import refusals_counted
from portal.quotas.limits import quota_check
from portal.workspaces.models import Workspace
from portal.workspaces.services import workspace_row_create
from portal.workspaces.workspace_templates import template_for

log = logging.getLogger(__name__)


@refusals_counted("create")
@audited("workspace.create", lambda kwargs: f"{kwargs['owner']}/{settings.DEFAULT_WORKSPACE_NAME}")
def _default_workspace_create(*, owner, by=None):
    template = template_for(owner=owner, name=None)
    quota_check(owner, adding_workspace=True)
    resources = resources_from_options({}, template.limits())
    return workspace_row_create(
        owner=owner,
        name=settings.DEFAULT_WORKSPACE_NAME,
        template=template,
        resources=resources,
        days=template.days_to_live_default,
    )


def default_workspace_ensure(owner):
    """In user-hub mode, the person's one workspace: made (and started) if they have none.

    None when the mode is off, the person may not use workspaces, or they already have one.
    A failure (no default template open to them, a quota of 0) is logged, never raised: the
    page still shows, with the reason in the audit log.
    """
    if settings.NAMED_WORKSPACES or access.why_refused(owner) or owner.workspaces.exists():
        return None
    try:
        workspace = _default_workspace_create(owner=owner)
    except ServiceError as error:
        log.warning("No default workspace for %s: %s", owner, error.message)
        return None
    # Marked so the page shows it starting (and follows it) until the task has asked the hub.
    workspace.progress_message = Workspace.QUEUED
    workspace.save(update_fields=["progress_message"])
    async_task(
        "portal.workspaces.tasks.start_default", workspace.pk, task_name=f"start {workspace}"
    )
    return workspace


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    default_workspace_ensure(user)
