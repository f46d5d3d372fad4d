"""Names, labels and annotations of a workspace's engine objects, the same for Docker and
Kubernetes. Pure: the spawners put them on what they create, cleanup lists by them.

Names are `<hub>-<user>` (a person's network or network policy) and `<hub>-<user>--<server>`
(container or pod and Service; the volume or PVC adds `-work`). Each part is kept as typed when
it is a plain DNS label and replaced by `<slug>-x<16 hex of sha256>` otherwise, so names stay
DNS-safe (63 characters at most) and two different people or workspaces never share a name,
which would share a network or a volume.

Label values must be valid for Kubernetes too (63 characters of `[A-Za-z0-9._-]`, alphanumeric
at both ends): a username like `a.b@c` is not. The `mlhub.user` label holds the person's name
made label-safe the same injective way (`label_value`), for selectors; the raw name is kept in
`mlhub.username` (a Kubernetes annotation; a plain label in Docker, which takes any text), and
`owner_of` reads it back. Objects labelled before `mlhub.username` existed carry the raw name in
`mlhub.user`: `owner_of` falls back to it.
"""

from __future__ import annotations

import hashlib
import re

from lib.env import check_hub_name

LABEL_ORIGIN = "mlhub.origin"
LABEL_USER = "mlhub.user"
LABEL_SERVER_NAME = "mlhub.server_name"
LABEL_EXPIRES_AT = "mlhub.expires_at"
ANNOTATION_USERNAME = "mlhub.username"

# A part kept as typed: lowercase DNS label characters, no "--" (the user/server separator),
# and not ending like a hashed part (so a user cannot pick another user's hashed name).
_PLAIN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_HASHED_SUFFIX = re.compile(r"(^|-)x[0-9a-f]{16}$")
# Kubernetes label values (and names) may use these, 63 at most.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
LABEL_VALUE_MAX = 63
# hub (5) + "-" + user (25) + "--" + server (30) = 63, the DNS label limit.
USER_PART_MAX = 25
SERVER_PART_MAX = 30


def _hashed(text: str, max_length: int) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[: max_length - 18].strip("-")
    return f"{slug}-x{digest}" if slug else f"x{digest}"


def safe_part(text: str, max_length: int) -> str:
    """`text` if it is a plain DNS label of at most max_length, else slug + hash (injective)."""
    if len(text) <= max_length and _PLAIN.match(text) and not _HASHED_SUFFIX.search(text):
        return text
    return _hashed(text, max_length)


def _fits_label(text: str) -> bool:
    return not text or (len(text) <= LABEL_VALUE_MAX and bool(_LABEL_VALUE.match(text)))


def label_value(text: str) -> str:
    """`text` if it is a valid Kubernetes label value, else slug + hash (injective)."""
    if _fits_label(text) and not _HASHED_SUFFIX.search(text):
        return text
    return _hashed(text, LABEL_VALUE_MAX)


def network_name(hub_name: str, username: str) -> str:
    """A person's Docker network, and their NetworkPolicy in Kubernetes."""
    return f"{check_hub_name(hub_name)}-{safe_part(username, USER_PART_MAX)}"


def container_name(hub_name: str, username: str, server_name: str) -> str:
    """`mlhub-alice--ws1` (container, pod, Service); the default server is `mlhub-alice`."""
    base = network_name(hub_name, username)
    if not server_name:
        return base
    return f"{base}--{safe_part(server_name, SERVER_PART_MAX)}"


def volume_name(hub_name: str, username: str, server_name: str) -> str:
    """The workspace's Docker volume or Kubernetes PVC."""
    return f"{container_name(hub_name, username, server_name)}-work"


def user_labels(hub_name: str, username: str) -> dict[str, str]:
    """Labels of what belongs to a person rather than one workspace (network, policy)."""
    return {LABEL_ORIGIN: check_hub_name(hub_name), LABEL_USER: label_value(username)}


def labels(hub_name: str, username: str, server_name: str, expires_at: int) -> dict[str, str]:
    """Labels on every object of a workspace; cleanup deletes only what carries its origin."""
    return {
        **user_labels(hub_name, username),
        # Workspace names are checked label-safe (WORKSPACE_NAME_PATTERN): kept as typed, so
        # cleanup can match them with the portal's rows.
        LABEL_SERVER_NAME: server_name if _fits_label(server_name) else label_value(server_name),
        LABEL_EXPIRES_AT: str(int(expires_at)),  # epoch seconds, 0 = never
    }


def annotations(username: str) -> dict[str, str]:
    """The raw names, which labels may not hold (Docker puts them in labels too)."""
    return {ANNOTATION_USERNAME: username}


def owner_of(labels_: dict[str, str], annotations_: dict[str, str] | None = None) -> str:
    """The raw username an object belongs to; "" when it cannot be known (cleanup then keeps
    it: a made-safe label is not a name to compare with the portal's people)."""
    for found in (annotations_ or {}, labels_):
        if found.get(ANNOTATION_USERNAME):
            return found[ANNOTATION_USERNAME]
    user = labels_.get(LABEL_USER, "")
    return "" if _HASHED_SUFFIX.search(user) else user
