"""The self-service pages: "My workspaces"."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.timesince import timeuntil
from django.views.decorators.http import require_POST

from portal.accounts import access
from portal.errors import ServiceError
from portal.hub.client import HubError
from portal.sshkeys.gateway import ssh_alias, ssh_config
from portal.workspaces import services, user_hub
from portal.workspaces.forms import WorkspaceCreateForm
from portal.workspaces.models import SyncPass, Workspace
from portal.workspaces.start_queue import QueueReading
from portal.workspaces.sync import is_stale

BUSY = {Workspace.State.STARTING, Workspace.State.STOPPING}
ACTIONS = {
    "start": services.workspace_start,
    "stop": services.workspace_stop,
    "delete": services.workspace_delete,
    "extend": services.workspace_extend,
}


@login_required
def workspace_list(request, form: WorkspaceCreateForm | None = None):
    # From the database only: the hub keeps it in step (portal/workspaces/sync.py).
    user_hub.default_workspace_ensure(request.user)
    found = list(Workspace.objects.visible_to(request.user).filter(owner=request.user))
    queue = QueueReading()
    for workspace in found:
        workspace.ssh_config = ssh_config(workspace, request.user)
        workspace.ssh_alias = ssh_alias(workspace, request.user)
        workspace.queue_text = queue.text(workspace)
    refused = access.why_refused(request.user)
    last_sync = SyncPass.last_started_at()
    synced = [w.synced_as_of(last_sync) for w in found]
    oldest = None if None in synced else min(synced, default=None)
    may_create = not refused and (settings.NAMED_WORKSPACES or request.user.is_admin)
    return render(
        request,
        "workspaces/list.html",
        {
            "workspaces": found,
            "stale": bool(found) and is_stale(oldest),
            "synced_at": oldest,
            "form": (form or WorkspaceCreateForm(user=request.user)) if may_create else None,
            "busy": any(w.state in BUSY for w in found),
            "approved": not refused,
            "not_approved": refused,
            "api_url": f"{settings.SITE_URL}/api/v1",
        },
    )


@login_required
@require_POST
def workspace_create(request):
    form = WorkspaceCreateForm(request.POST, user=request.user)
    if not form.is_valid():
        return workspace_list(request, form)
    owner = form.cleaned_data.get("owner")
    try:
        workspace = services.workspace_create(
            by=request.user,
            owner=owner.username if owner else None,
            name=form.cleaned_data["name"],
            template=form.cleaned_data["template"].name,
            options=form.options(),
            days_to_live=form.cleaned_data.get("days_to_live"),
        )
    except (ServiceError, HubError) as error:
        messages.error(request, _describe(error))
        return workspace_list(request, form)
    if workspace.owner_id != request.user.pk:
        messages.success(
            request, f"Workspace {workspace} is starting; {workspace.owner} finds it on their page."
        )
    else:
        messages.success(request, f"Workspace {workspace.name} is starting.")
    return redirect("my-workspaces")


@login_required
@require_POST
def workspace_action(request, pk: int, verb: str):
    if verb not in ACTIONS:
        raise Http404("No such action")
    workspace = get_object_or_404(Workspace.objects.filter(owner=request.user), pk=pk)
    try:
        if verb == "extend":
            days = _days(request.POST.get("days"))
            services.workspace_extend(workspace=workspace, by=request.user, days=days)
            messages.success(
                request, f"{workspace.name} now expires in {timeuntil(workspace.expires_at)}."
            )
        else:
            ACTIONS[verb](workspace=workspace, by=request.user)
    except (ServiceError, HubError) as error:
        messages.error(request, _describe(error))
    return redirect("my-workspaces")


def _days(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise ServiceError("Days must be a whole number, like 7.") from None


def server_not_running(request, rest: str):
    """The proxy had no route for this workspace: let the hub say so (or offer to start it).

    The hub answers browsers with its "not running" page and API clients with a 424, which
    JupyterLab's polling relies on.
    """
    if request.method != "GET":
        return JsonResponse({"detail": "This workspace is not running."}, status=424)
    query = request.META.get("QUERY_STRING")
    # Absolute: on a workspace's own origin the hub is at the public host, not this one.
    target = f"{settings.SITE_URL}/hub/user/{rest}"
    return HttpResponseRedirect(target + (f"?{query}" if query else ""))


def _describe(error: Exception) -> str:
    if isinstance(error, HubError):
        if error.is_outage:
            return f"JupyterHub is unavailable, please try again shortly ({error.message})."
        return f"JupyterHub refused: {error.message}"
    return str(error)
