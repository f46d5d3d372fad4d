"""django-q2 tasks: thin wrappers that load rows and call one service."""

from __future__ import annotations

from portal.workspaces import services
from portal.workspaces.models import Workspace


def follow_spawn(workspace_id: int) -> str:
    workspace = Workspace.objects.select_related("owner").filter(pk=workspace_id).first()
    if workspace is None or workspace.state != Workspace.State.STARTING:
        return "nothing to follow"
    return services.workspace_follow_spawn(workspace=workspace).state
