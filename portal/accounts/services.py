"""People: creation, approval and removal, kept in step with the hub."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
)

from portal.accounts import access, allowlist
from portal.accounts.models import ADMINS, APPROVED, NOT_ALLOWED, User
from portal.audit.log import audited
from portal.errors import ServiceError, forbidden, invalid_is_refused, require_admin
from portal.hub import client as hub_api
from portal.workspaces.models import Workspace
from portal.workspaces.services import (
    workspaces_delete,
    workspaces_delete_finish,
    workspaces_stop_all,
)

log = logging.getLogger(__name__)
HUB_REVOKE_TASK = "portal.accounts.tasks.hub_access_revoke"


@audited("user.create", lambda kwargs: kwargs["username"])
def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    is_staff: bool = False,
    approved: bool = False,
    by: User,
) -> User:
    """Create a portal user (the hub learns of them at their first login or workspace)."""
    require_admin(by, "create people")
    user = User(username=username, email=email, is_staff=is_staff)
    with invalid_is_refused():
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


SIGNUP_CLOSED = "Sign-up is closed on this hub; ask an administrator for an account."


class SignupRefused(ServiceError):
    """Sign-up is closed, or the person is not on the allow-list."""

    def __init__(self, message: str):
        super().__init__(message, 403, "signup_refused")


@audited("user.signup", lambda kwargs: kwargs["username"])
def user_signup(*, username: str, email: str, password: str) -> User:
    """Someone new signs up; they wait for an admin's approval (by is nobody: themselves)."""
    if not settings.SIGNUP_ENABLED:
        raise SignupRefused(SIGNUP_CLOSED)
    if not allowlist.allows(username=username, email=email):
        raise SignupRefused(NOT_ALLOWED)
    user = User(username=username, email=email)
    with invalid_is_refused():
        validate_password(password, user)
        user.set_password(password)
        user.full_clean(exclude=["password"])
    user.save()
    log.info("%s signed up and waits for approval", username)
    return user


def _person(kwargs: dict) -> str:
    return kwargs["user"].username


@audited("user.password", _person)
def user_password_change(*, user: User, by: User, password: str) -> User:
    """A new password, checked against the site's rules; people change only their own."""
    if by.pk != user.pk:
        raise forbidden("People change only their own password.")
    with invalid_is_refused():
        validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


@audited("user.approve", _person)
def user_approve(*, user: User, by: User) -> User:
    require_admin(by, "approve people")
    user.approval = User.Approval.APPROVED
    user.approved_at = timezone.now()
    user.rejection_reason = ""
    user.save(update_fields=["approval", "approved_at", "rejection_reason"])
    return user


@audited("user.update", _person)
def user_update(*, user: User, by: User) -> User:
    """Save an admin's edit of a person (the Django admin's form); if it took their access
    away (rejected, deactivated, an e-mail the allow-list does not name), revoke what they
    could still use."""
    require_admin(by, "change people")
    had_access = not access.why_refused(User.objects.get(pk=user.pk))
    user.save()
    if had_access and access.why_refused(user):
        user_access_revoke(user=user)
    return user


@audited("user.unlock", _person)
def user_login_unlock(*, user: User, by: User) -> int:
    """End ``user``'s login lock: forget their failed sign-ins, from any address.

    Returns how many attempt records were removed. A lock on a client address (failures for
    several names from one place) stays: an admin deletes those in the admin's "Access
    attempts" list.
    """
    require_admin(by, "unlock logins")
    return AxesProxyHandler.reset_attempts(username=user.hub_name)  # as lockout.account_of


@audited("user.reject", _person, detail=lambda kwargs, _: kwargs.get("reason", ""))
def user_reject(*, user: User, by: User, reason: str = "") -> User:
    """Refuse the person: they keep a portal login that says so (and ``reason``), nothing else."""
    require_admin(by, "reject people")
    if user == by:
        raise forbidden("You cannot reject your own account.")
    user.approval = User.Approval.REJECTED
    user.approved_at = None
    user.rejection_reason = reason.strip()[:500]
    user.save(update_fields=["approval", "approved_at", "rejection_reason"])
    user_access_revoke(user=user)
    return user


def user_access_revoke(*, user: User) -> None:
    """End every way in but the portal's own pages, within a minute.

    At once in the portal: the hub's OAuth tokens for the person (so the hub's next check,
    every ``MLHUB_AUTH_REFRESH_SECONDS``, logs them out) and their API tokens. Then a task
    stops their servers (files kept) and deletes their hub tokens, retrying while the hub
    is down (``portal.accounts.tasks``).
    """
    _portal_tokens_delete(user)
    log.info("Access of %s revoked in the portal; the hub follows", user.username)
    async_task(HUB_REVOKE_TASK, user.pk, task_name=f"revoke {user.username}")


@audited("user.access_lost", _person, detail=lambda kwargs, _: kwargs["reason"])
def user_access_lost(*, user: User, reason: str, by: User | None = None) -> None:
    """``user`` is still approved but may no longer use MLHub (the allow-list no longer
    names them): revoke as a rejection does (``user_access_revoke``), with ``reason``
    (``access.why_refused``) in the audit log. ``by`` is the admin whose change did it, or
    None for the periodic check."""
    user_access_revoke(user=user)


def _people_who_could_lose_access():
    """Everyone a change of the allow-list can lock out: active, approved, not admins."""
    return User.objects.filter(APPROVED).exclude(ADMINS)


@contextmanager
def access_lost_revoked(*, by: User | None) -> Iterator[None]:
    """Around a change of the allow-list: afterwards revoke everyone who could use MLHub
    before it and no longer can (each ``user_access_lost``), within the request.

    Asks ``access.why_refused`` twice per approved person (the rule is the one place that
    compares names): a few queries each.
    """
    had_access = [user for user in _people_who_could_lose_access() if not access.why_refused(user)]
    yield
    for user in had_access:
        if reason := access.why_refused(user):
            user_access_lost(user=user, reason=reason, by=by)


def access_lost_check() -> list[str]:
    """Revoke approved people the allow-list no longer lets in who still have a way in: API
    or OAuth tokens, or a workspace starting or running. The periodic check that notices
    removals from the dynamic whitelist file (and changes made outside the services); the
    names of those revoked.

    People whose revocation waits for the hub (a retry is scheduled) are left to it.
    """
    if not allowlist.is_active():
        return []
    waiting = {
        args.strip("(,)")
        for args in Schedule.objects.filter(func=HUB_REVOKE_TASK).values_list("args", flat=True)
    }
    with_a_way_in = (
        _people_who_could_lose_access()
        .filter(
            Q(auth_token_set__isnull=False)
            | Q(oauth2_provider_accesstoken__isnull=False)
            | Q(oauth2_provider_refreshtoken__isnull=False)
            | Q(workspaces__state__in=[Workspace.State.STARTING, Workspace.State.RUNNING])
        )
        .distinct()
    )
    revoked = []
    for user in with_a_way_in:
        if str(user.pk) in waiting:
            continue
        if reason := access.why_refused(user):
            user_access_lost(user=user, reason=reason)
            revoked.append(user.username)
    return revoked


def _portal_tokens_delete(user: User) -> None:
    with transaction.atomic():
        for model in (get_access_token_model(), get_refresh_token_model(), get_grant_model()):
            model.objects.filter(user=user).delete()
        user.auth_token_set.all().delete()


def hub_access_revoke(*, user: User) -> str:
    """Stop the person's servers and delete their hub tokens (raises ``HubError``)."""
    stopped = workspaces_stop_all(owner=user)
    hub = hub_api.hub_client()
    tokens = hub.tokens_list(user.hub_name)
    for token in tokens:
        hub.token_delete(user.hub_name, token["id"])
    return f"{stopped} servers stopped, {len(tokens)} hub tokens revoked"


@audited("user.delete", _person)
def user_delete(*, user: User, by: User) -> None:
    """Remove the person: gone from the portal's lists and logins at once, their servers
    and hub account removed by a task (``user_delete_finish``), then their row.

    The hub is asked to remove every server first: if it cannot be reached, nothing changes
    (the portal must not forget people whose workspaces still run).
    """
    require_admin(by, "delete people")
    if user == by:
        raise forbidden("You cannot delete your own account here.")
    # Ask the hub first, even for someone without workspaces: unreachable, nothing changes.
    hub_api.hub_client().user_get(user.hub_name)
    workspaces_delete(workspaces=user.workspaces.select_related("owner"), finish=False)
    user.is_active = False
    user.deleting_since = timezone.now()
    user.save(update_fields=["is_active", "deleting_since"])
    _portal_tokens_delete(user)
    async_task(
        "portal.accounts.tasks.user_delete_finish", user.pk, task_name=f"delete {user.username}"
    )


def user_delete_finish(*, user: User) -> None:
    """Once the hub has removed their servers: their hub account, then the person.

    Raises ``HubError`` when the hub cannot be asked or is not done; the task tries again.
    """
    workspaces_delete_finish(workspaces=user.workspaces.select_related("owner"))
    hub_api.hub_client().user_delete(user.hub_name)
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
