"""The one rule for "may this person use MLHub now": approved, and on the allow-list if any.

Every action that needs it asks here, through ``require_access`` (services, the API's
permission) or ``why_refused`` (pages that show the reason, the hub's ``/api/v1/me/``, the SSH
gateway's lookup): nothing else checks approval or the allow-list for this.
"""

from __future__ import annotations

from portal.accounts import allowlist
from portal.accounts.models import NOT_ALLOWED, User
from portal.errors import ServiceError


class AccessRefused(ServiceError):
    """The person may not use MLHub now (waiting, rejected, inactive, off the allow-list): a
    403 with the reason in their words."""

    def __init__(self, message: str):
        super().__init__(message, 403, "access_refused")


def why_refused(user: User) -> str:
    """What to tell the person they may not (yet) use workspaces; empty when they may.

    Admins are never refused. The allow-list's file is read again at every call.
    """
    if refused := user.access_refused:
        return refused
    if not allowlist.allows_user(user):
        return NOT_ALLOWED
    return ""


def require_access(user: User) -> None:
    """Raise ``AccessRefused`` unless ``user`` may use MLHub now."""
    if refused := why_refused(user):
        raise AccessRefused(refused)


def require_access_of(owner: User) -> None:
    """The same rule for the person an admin acts for (their workspace, key or token):
    ``AccessRefused`` naming them, in the admin's words."""
    if why_refused(owner):
        raise AccessRefused(
            f"{owner.username} may not use MLHub (not approved, or not on the allow-list)."
        )
