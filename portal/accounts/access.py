"""The one rule for "may this person use MLHub now": approved, and on the allow-list if any."""

from __future__ import annotations

from portal.accounts import allowlist
from portal.accounts.models import NOT_ALLOWED, User


def why_refused(user: User) -> str:
    """What to tell the person they may not (yet) use workspaces; empty when they may."""
    if refused := user.access_refused:
        return refused
    if not allowlist.allows_user(user):
        return NOT_ALLOWED
    return ""
