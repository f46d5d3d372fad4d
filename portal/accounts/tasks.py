"""django-q2 tasks of people: thin wrappers that load rows and call one service."""

from __future__ import annotations

import logging

from portal.accounts import access, services
from portal.accounts.models import User
from portal.hub.client import HubError
from portal.schedules import retry_later, schedule_every

log = logging.getLogger(__name__)
# While the hub is down a revocation is tried again (portal/schedules.py retry_later); the
# hub's own check of the person, every MLHUB_AUTH_REFRESH_SECONDS, keeps them out meanwhile.


def hub_access_revoke(user_id: int) -> str:
    user = User.objects.filter(pk=user_id).first()
    if user is None or not access.why_refused(user):
        return "nothing to revoke"  # gone, or may use MLHub again
    try:
        return services.hub_access_revoke(user=user)
    except HubError as error:
        if not error.is_outage:
            raise
        return _retry_later("hub_access_revoke", user, error)


ACCESS_CHECK_SCHEDULE = "allow-list check"


def access_lost_check() -> str:
    """The periodic check for people the allow-list no longer lets in (its schedule:
    ``access_check_schedule_ensure``)."""
    revoked = services.access_lost_check()
    return f"revoked: {', '.join(revoked)}" if revoked else "nobody to revoke"


def access_check_schedule_ensure() -> str:
    """Every minute: a removal from the dynamic whitelist file is a file edit the portal
    learns of only by looking."""
    schedule_every(ACCESS_CHECK_SCHEDULE, "portal.accounts.tasks.access_lost_check", 1)
    return "every 1 min"


def user_delete_finish(user_id: int) -> str:
    user = User.objects.filter(pk=user_id, deleting_since__isnull=False).first()
    if user is None:
        return "nothing to delete"
    try:
        services.user_delete_finish(user=user)
    except HubError as error:
        return _retry_later("user_delete_finish", user, error)
    return f"{user.username} deleted"


def _retry_later(task: str, user: User, error: HubError) -> str:
    log.warning("%s of %s failed, retrying: %s", task, user.username, error)
    return retry_later(f"portal.accounts.tasks.{task}", user.pk, f"{task} {user.username}")
