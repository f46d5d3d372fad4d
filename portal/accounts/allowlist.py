"""Who may join: the allow-list in the database and the seed's dynamic whitelist file.

Neither list is active until it has an entry (or the file is enabled): then only people on
one of them may sign up or use MLHub at all (``access.why_refused``). Admins are never
locked out. The file (``DYNAMIC_WHITELIST_ENABLED``; one username a line, ``#`` comments) is read
again at every check, so editing it takes effect at the next login, as in the original MLHub;
someone taken off it loses what they still hold (tokens, running servers) at the next
periodic check, within a minute (``portal.accounts.tasks.access_lost_check``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings

from lib import usernames
from lib.usernames import hub_form
from portal.accounts.models import AllowListEntry
from portal.audit.log import audited
from portal.errors import ServiceError, require_admin

log = logging.getLogger(__name__)
Kind = AllowListEntry.Kind
# A domain of labels with at least one dot.
DOMAIN = re.compile(r"(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def file_names() -> set[str] | None:
    """The names in the dynamic whitelist file, in their hub form; None when it is not enabled."""
    if not settings.DYNAMIC_WHITELIST_ENABLED:
        return None
    path = Path(settings.DYNAMIC_WHITELIST_FILE)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        # Enabled but not written yet: an empty list, which lets nobody but admins in.
        log.warning("Dynamic whitelist %s does not exist: only admins may join", path)
        return set()
    except (OSError, UnicodeDecodeError) as error:
        # Unreadable (in the image the portal is mlhub-web, not root): closed, and said,
        # rather than a server error at every sign-up.
        log.error("Dynamic whitelist %s cannot be read (%s): only admins may join", path, error)
        return set()
    return {hub_form(name) for line in lines if (name := line.split("#", 1)[0].strip())}


def is_active() -> bool:
    return settings.DYNAMIC_WHITELIST_ENABLED or AllowListEntry.objects.exists()


def allows(*, username: str, email: str = "", is_admin: bool = False) -> bool:
    """Whether someone of this name and e-mail may join (always, while no list is active)."""
    if is_admin:
        return True
    names = file_names()
    entries = AllowListEntry.objects.all()
    if names is None and not entries.exists():
        return True
    username = hub_form(username)
    if names and username in names:
        return True
    domain = email.rpartition("@")[2].lower() if "@" in email else None
    wanted = [{"kind": Kind.USERNAME, "value": username}]
    if domain:
        wanted.append({"kind": Kind.DOMAIN, "value": domain})
    return any(entries.filter(**match).exists() for match in wanted)


def allows_user(user) -> bool:
    return allows(username=user.username, email=user.email, is_admin=user.is_admin)


def normalized(kind: str, value: str) -> str:
    """The stored form of an entry (lower case, no leading @); a bad one is a 400."""
    value = value.strip().removeprefix("@")
    if kind == Kind.USERNAME:
        if refused := usernames.refusal(value):
            raise ServiceError(f"{value!r} is not a username: {refused}")
        return usernames.hub_form(value)
    value = value.lower()
    if kind == Kind.DOMAIN and not DOMAIN.fullmatch(value):
        raise ServiceError(f"{value!r} is not an e-mail domain (like example.org).")
    return value


def _entry(kwargs: dict) -> str:
    entry = kwargs.get("entry")
    return str(entry) if entry else f"{kwargs['kind']}:{kwargs['value']}"


@audited("allowlist.add", _entry)
def allowlist_add(*, kind: str, value: str, note: str = "", by) -> AllowListEntry:
    """Let a username, or everyone with an e-mail in a domain, join (admins only).

    The first entry (while no file is enabled) makes the list active: everyone else who is
    not an admin loses access then, revoked as a rejection revokes
    (``services.access_lost_revoked``)."""
    from portal.accounts import services  # services imports this module

    require_admin(by, "change the allow-list")
    value = normalized(kind, value)
    if AllowListEntry.objects.filter(kind=kind, value=value).exists():
        raise ServiceError(f"{value!r} is already on the allow-list.", 409)
    if is_active():  # another entry on an active list takes nobody's access away
        return AllowListEntry.objects.create(kind=kind, value=value, note=note)
    with services.access_lost_revoked(by=by):
        return AllowListEntry.objects.create(kind=kind, value=value, note=note)


@audited("allowlist.remove", _entry)
def allowlist_remove(*, entry: AllowListEntry, by) -> None:
    """Take an entry off. While a list is active, the people it named, unless another entry
    names them, keep their accounts and files but lose access at once, as a rejection
    revokes it (``services.access_lost_revoked``: API and OAuth tokens deleted, a task stops
    their servers and deletes their hub tokens)."""
    from portal.accounts import services  # services imports this module

    require_admin(by, "change the allow-list")
    with services.access_lost_revoked(by=by):
        entry.delete()
