"""People: creation, approval and removal, kept in step with the hub."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from portal.accounts.models import User
from portal.hub.client import hub_client
from portal.workspaces.services import workspaces_delete


def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    is_staff: bool = False,
    approved: bool = False,
) -> User:
    """Create a portal user (the hub learns of them at their first login or workspace)."""
    user = User(username=username, email=email, is_staff=is_staff)
    if password:
        validate_password(password, user)  # the site's password rules, as the admin applies
        user.set_password(password)
    else:
        user.set_unusable_password()
    if approved:
        user.approval = User.Approval.APPROVED
        user.approved_at = timezone.now()
    user.full_clean(exclude=["password"])
    user.save()
    return user


def user_approve(*, user: User) -> User:
    user.approval = User.Approval.APPROVED
    user.approved_at = timezone.now()
    user.save(update_fields=["approval", "approved_at"])
    return user


def user_delete(*, user: User) -> None:
    """Remove the person from the hub first (stopping their servers), then from the portal.

    If the hub cannot be reached, nothing is deleted: the portal must not forget people
    whose workspaces are still running.
    """
    workspaces_delete(workspaces=user.workspaces.select_related("owner"))
    hub_client().user_delete(user.hub_name)
    with transaction.atomic():
        user.delete()


def admin_ensure(*, username: str) -> str | None:
    """Create the first admin unless any admin exists; the generated password, if any.

    The password is ``MLHUB_ADMIN_PASSWORD`` when set (then None is returned), else a
    random one returned so the caller can print it once.
    """
    if User.objects.filter(is_superuser=True).exists():
        return None
    given = os.environ.get("MLHUB_ADMIN_PASSWORD")
    password = given or secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    return None if given else password
