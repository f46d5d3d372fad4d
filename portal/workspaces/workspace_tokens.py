"""Hub tokens for one workspace: scripts and SSH set-up reach that one server, nothing else.

The token is the owner's hub token (the hub knows no other way to open their server), with
the single scope ``access:servers!server=<owner>/<name>`` and a short, bounded life. The
portal hands it out once and keeps no copy; the hub lists it among the owner's tokens, and
revoking the owner's access ends it with their others.
"""

from __future__ import annotations

from django.conf import settings

from portal.accounts import access
from portal.accounts.models import User
from portal.audit.log import audited
from portal.errors import ServiceError
from portal.hub import client as hub_api
from portal.hub.client import HubToken
from portal.workspaces.models import Workspace
from portal.workspaces.services import _refuse_if_deleting, _require_may_act

DEFAULT_LIFETIME = 3600
MIN_LIFETIME = 60


def _workspace(kwargs: dict) -> str:
    return str(kwargs["workspace"])


def _given(kwargs: dict, token: HubToken) -> str:
    # What was given out, never the token itself.
    return f"hub token {token.id}, ends {token.expires_at.isoformat()}"


@audited("workspace.token", _workspace, _given)
def workspace_token_create(
    *, workspace: Workspace, by: User, lifetime: int | None = None
) -> HubToken:
    """A hub token that opens only ``workspace``'s server, for ``lifetime`` seconds.

    Owners get one for their own workspaces, admins for anyone's (it is the owner's token:
    the server sees the owner). The lifetime is ``DEFAULT_LIFETIME`` unless given, between
    ``MIN_LIFETIME`` and ``MLHUB_WORKSPACE_TOKEN_MAX_SECONDS``. Two hub calls; the token is
    never logged or recorded, only its id and end.
    """
    _require_may_act(by, workspace, "get a token for")
    _refuse_if_deleting(workspace)
    owner = workspace.owner
    # The hub token would be revoked with the owner's others within a minute anyway.
    access.require_access_of(owner)
    longest = settings.WORKSPACE_TOKEN_MAX_SECONDS
    lifetime = min(DEFAULT_LIFETIME, longest) if lifetime is None else lifetime
    if not MIN_LIFETIME <= lifetime <= longest:
        raise ServiceError(
            f"The lifetime must be between {MIN_LIFETIME} and {longest} seconds.", 400
        )
    hub = hub_api.hub_client()
    # A hub that has lost the owner (a reset database) would refuse with a 403, which reads
    # as our own token refused: an outage. Make sure it knows them first.
    hub.user_ensure(owner.hub_name)
    return hub.token_create(
        owner.hub_name,
        scopes=[workspace.access_scope],
        expires_in=lifetime,
        note=f"MLHub portal: token for workspace {workspace}, asked by {by.username}",
    )
