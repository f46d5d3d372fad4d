"""People who log in with their organisation's identity (OpenID Connect, LDAP): one rule for
both providers.

- The name the provider gives must be a name here (lib/usernames.py) and is looked up by its
  hub form, as a typed one is.
- The first login makes the person (just in time), waiting for approval as after sign-up,
  if the allow-list lets them in; members of ``MLHUB_AUTO_APPROVE_GROUPS`` are approved.
- A provider never takes over an account it did not make: a local account (or another
  provider's) of the same name refuses the login, with a message an admin can act on
  (hand it over in the admin: its "login provider").
- The provider's groups become portal groups at every login, so templates and quotas follow
  the organisation; groups an admin gave in the portal stay.
- Everything else is the access rule's (portal/accounts/access.py): a rejected person logs
  in and is told so, whichever way they come.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from lib import usernames
from portal.accounts import allowlist
from portal.accounts.models import NOT_ALLOWED, User
from portal.audit.log import record
from portal.errors import ServiceError

log = logging.getLogger(__name__)
GROUP_NAME_MAX = 150  # auth.Group.name


class LoginRefused(ServiceError):
    """The provider vouched for the person, but MLHub will not log them in as that name."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message, status, "login_refused")


def provider_label(provider: str) -> str:
    if provider == User.LoginProvider.OIDC:
        return settings.OIDC.name if settings.OIDC else "OpenID Connect"
    return settings.LDAP.name if settings.LDAP else "the directory"


def person_for(*, provider: str, username: str, email: str = "") -> User:
    """The account this provider's person logs in to: theirs, or a new one (unsaved, pk None).
    ``LoginRefused`` when the name cannot be anyone's, belongs to another login, or the
    allow-list does not let a newcomer in."""
    if refused := usernames.refusal(username):
        raise LoginRefused(
            f"{provider_label(provider)} names you {username!r}, which cannot be a username "
            f"here: {refused} Ask an administrator."
        )
    user = User.objects.named(username).first()
    if user is None:
        if not allowlist.allows(username=username, email=email):
            raise LoginRefused(NOT_ALLOWED)
        user = User(username=username, email=email, login_provider=provider)
        user.set_unusable_password()
        return user
    if user.login_provider != provider:
        raise LoginRefused(
            f"An account named {user.username!r} already exists here and logs in "
            f"{_how(user.login_provider)}, so {provider_label(provider)} cannot log in to it. "
            "An administrator can hand it over (its login provider, in the admin)."
        )
    return user


def _how(provider: str) -> str:
    return "with a local password" if not provider else f"through {provider_label(provider)}"


def logged_in(*, user: User, groups: Iterable[str]) -> User:
    """After the provider vouched for ``user`` (saved): their groups follow the provider's,
    and a waiting member of an auto-approve group is approved."""
    names = {name.strip() for name in groups if isinstance(name, str)}
    names = {name for name in names if name and len(name) <= GROUP_NAME_MAX}
    with transaction.atomic():
        _groups_follow(user, names)
        _approve_if_member(user, names)
    return user


def _groups_follow(user: User, names: set[str]) -> None:
    previous = set(user.provider_groups)
    if names == previous and user.groups.filter(name__in=names).count() == len(names):
        return
    left = previous - names
    if left:
        user.groups.remove(*Group.objects.filter(name__in=left))
    user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(names)))
    user.provider_groups = sorted(names)
    user.save(update_fields=["provider_groups"])
    joined = names - previous
    if joined or left:
        changes = [f"+{name}" for name in sorted(joined)] + [f"-{name}" for name in sorted(left)]
        record(by=None, action="user.groups", target=user.username, detail=" ".join(changes))


def _approve_if_member(user: User, names: set[str]) -> None:
    if user.approval != User.Approval.PENDING:
        return  # a rejected person stays rejected; only an admin changes that
    member_of = sorted(names & settings.AUTO_APPROVE_GROUPS)
    if not member_of:
        return
    user.approval = User.Approval.APPROVED
    user.approved_at = timezone.now()
    user.save(update_fields=["approval", "approved_at"])
    detail = f"a member of {member_of[0]} (MLHUB_AUTO_APPROVE_GROUPS)"
    record(by=None, action="user.approve", target=user.username, detail=detail)
    log.info("%s approved at login: %s", user.username, detail)


def joined(user: User, provider: str) -> None:
    """Record a person the provider's first login made."""
    record(by=None, action="user.join", target=user.username, detail=provider_label(provider))
    log.info("%s joined through %s", user.username, provider)


def oidc_person(claims: dict) -> User:
    """The person an OpenID provider's verified claims name, made or found and brought up to
    date (``LoginRefused`` as ``person_for``)."""
    config = settings.OIDC
    username = claims.get(config.username_claim)
    if not isinstance(username, str) or not username.strip():
        raise LoginRefused(
            f"{config.name} did not say who you are (no {config.username_claim!r} claim). "
            "Ask an administrator to check MLHUB_OIDC_USERNAME_CLAIM."
        )
    groups = claims.get(config.groups_claim, []) if config.groups_claim else []
    if isinstance(groups, str):
        groups = [groups]
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    if claims.get("email_verified") is False:
        # Not the person's, as far as the provider knows: no allow-listed domain lets them in.
        email = ""
    provider = User.LoginProvider.OIDC
    with transaction.atomic():
        user = person_for(provider=provider, username=username.strip(), email=email)
        new = user.pk is None
        if email:
            user.email = email
        for field, claim in (("first_name", "given_name"), ("last_name", "family_name")):
            if isinstance(claims.get(claim), str):
                setattr(user, field, claims[claim][:150])
        user.save()
        if new:
            joined(user, provider)
        return logged_in(user=user, groups=groups)
