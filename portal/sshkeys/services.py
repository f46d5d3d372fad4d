"""Adding and removing people's SSH public keys; who may do it is decided here."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from lib.usernames import hub_form
from portal.accounts import access
from portal.accounts.models import User
from portal.audit.log import audited
from portal.errors import ServiceError, forbidden, require_admin
from portal.sshkeys.models import KEYS_PER_PERSON, SshKey
from portal.sshkeys.parse import KeyRefused, parse_public_key

NAME_LENGTH = SshKey._meta.get_field("name").max_length
# Says neither who has the key nor whether it is the caller: a public key is public, anyone
# may paste someone else's to ask.
DUPLICATE = (
    "This key is already registered on MLHub; a key can belong to one person only. "
    "Make a new key pair for this account, or remove the key where it was added first."
)


def _owner_name(kwargs: dict) -> str:
    owner = kwargs.get("owner") or kwargs["by"]
    return owner if isinstance(owner, str) else owner.username


def _new_key(kwargs: dict) -> str:
    # Read again for the log only; the text itself is never recorded (it may be a private key).
    try:
        fingerprint = parse_public_key(kwargs["text"]).fingerprint
    except KeyRefused:
        fingerprint = "(not a valid public key)"
    return f"{_owner_name(kwargs)}: {fingerprint}"


def _key(kwargs: dict) -> str:
    key = kwargs["key"]
    return f"{key.owner.username}: {key.fingerprint}"


def _owner_for(by: User, owner: User | str | None) -> User:
    """Whose a key that ``by`` adds is: their own, or (admins only) ``owner``'s."""
    access.require_access(by)
    username = owner.username if isinstance(owner, User) else owner
    if not username or hub_form(username) == by.hub_name:
        return by
    require_admin(by, "add SSH keys for someone else")
    if not isinstance(owner, User):
        owner = User.objects.named(username).filter(deleting_since__isnull=True).first()
        if owner is None:
            raise ServiceError(f"No user named {username!r}.", 404)
    access.require_access_of(owner)
    return owner


def _label(name: str) -> str:
    """A name fit for a list: printable, one line, trimmed."""
    return "".join(ch for ch in name if ch.isprintable()).strip()


@audited(
    "sshkey.add",
    _new_key,
    detail=lambda kwargs, key: f"{key.get_key_type_display()} {key.name}".strip(),
)
def ssh_key_add(*, by: User, text: str, name: str = "", owner: User | str | None = None) -> SshKey:
    """Add the public key in ``text`` for ``by``, or (admins only) for ``owner``.

    ``name`` defaults to the key's comment. Refused with ``ServiceError``: a text that is not
    an accepted public key (400), a key anyone already added (409), more than
    ``KEYS_PER_PERSON`` keys (400). The person must be allowed to use MLHub
    (``access.AccessRefused``, 403).
    """
    owner = _owner_for(by, owner)
    name = _label(name)
    if len(name) > NAME_LENGTH:
        raise ServiceError(f"The name may have at most {NAME_LENGTH} characters.")
    try:
        key = parse_public_key(text)
    except KeyRefused as refused:
        raise ServiceError(refused.message) from None
    try:
        with transaction.atomic():
            # Holding the owner's row makes two adds at once count each other's key.
            User.objects.select_for_update().filter(pk=owner.pk).first()
            if owner.ssh_keys.count() >= KEYS_PER_PERSON:
                whose = "You have" if owner == by else f"{owner.username} has"
                raise ServiceError(
                    f"{whose} {KEYS_PER_PERSON} SSH keys, the most one person may have; "
                    "remove one first."
                )
            if SshKey.objects.filter(fingerprint=key.fingerprint).exists():
                raise ServiceError(DUPLICATE, 409)
            return SshKey.objects.create(
                owner=owner,
                name=name or _label(key.comment)[:NAME_LENGTH],
                key_type=key.type,
                public_key=key.openssh,
                fingerprint=key.fingerprint,
            )
    except IntegrityError:  # the same key added by someone else a moment ago
        raise ServiceError(DUPLICATE, 409) from None


@audited("sshkey.remove", _key)
def ssh_key_remove(*, key: SshKey, by: User) -> None:
    """Remove one key at once: the gateway no longer lets it in. Its owner or an admin."""
    if key.owner_id != by.pk and not by.is_admin:
        raise forbidden("Only its owner or an administrator may remove this SSH key.")
    key.delete()
