"""Names and labels of warm pool slots, the same for the portal (which makes slots) and the
spawner (which claims them). Pure.

A slot is a workspace made before anyone asks for one: its container (pod) runs the image's
pool waiter (deploy/workspace/pool_waiter.py) on the pool's network, with a volume of its own.
Slot names use the `<hub>--pool-...` form, which no person's objects can take: a person's
part of a name is never empty (lib/labels.py), so `<hub>--` starts no person's name.
"""

from __future__ import annotations

import secrets

from lib.env import check_hub_name
from lib.labels import LABEL_ORIGIN, label_value

LABEL_POOL = "mlhub.pool"  # the template's name: a slot, or a workspace made from one
LABEL_POOL_NETWORK = "mlhub.pool-network"
# The waiter's command in the image (deploy/workspace/pool_waiter.py), and its pipe.
WAITER = "/usr/local/bin/mlhub-pool-waiter"
CHANNEL = "/tmp/mlhub-pool/identity"
IDENTITY_ENV = "MLHUB_POOL_IDENTITY"
# Docker: a slot's own one-time key (its container's variable, which only the engine's users,
# the hub and the portal, can read) and the port its waiter takes the claim on. The claim
# joins the slot to the person's network and sends one JSON line, {"key": ..., "identity":
# ...}, to that port: no `docker exec` (a runc process, 40 ms of the host's CPU and of the
# start). The waiter answers CLAIM_TAKEN, closes the port and becomes the server; a line
# without the key is refused and it waits on. The key is nobody's token: worth nothing once
# the port is closed.
KEY_ENV = "MLHUB_POOL_KEY"
CLAIM_PORT = 8887
CLAIM_TAKEN = b"claimed\n"
CLAIM_MAX_BYTES = 1024 * 1024  # an identity is a few kB
# The claim, run in the slot by ``docker exec`` with the identity in that exec's environment:
# it writes it to the waiting pipe, and fails when no waiter's pipe is there (not a slot, or
# claimed already). A shell's printf, not a second Python: that is a tenth of a second.
CLAIM_COMMAND = [
    "sh",
    "-c",
    'test -p "$1" || { echo "no slot waits here" >&2; exit 1; }; '
    f'exec timeout 60 sh -c \'printf "%s" "${IDENTITY_ENV}" > "$1"\' claim "$1"',
    "claim",
    CHANNEL,
]
# Kubernetes: the pod exec API sets no variable, so the claim sends the identity on the exec's
# standard input, one JSON line, and this copies that line into the waiting pipe (the same
# inner write as CLAIM_COMMAND). Never an argument: arguments show in the API server's audit.
CLAIM_FROM_STDIN = [
    "sh",
    "-c",
    'test -p "$1" || { echo "no slot waits here" >&2; exit 1; }; '
    f'IFS= read -r {IDENTITY_ENV} || {{ echo "no identity came" >&2; exit 1; }}; '
    f"export {IDENTITY_ENV}; "
    f'exec timeout 60 sh -c \'printf "%s" "${IDENTITY_ENV}" > "$1"\' claim "$1"',
    "claim",
    CHANNEL,
]
# Where a slot mounts its volume: the spawners' default work_dir (a hub that moves it gets
# cold starts: the claim checks the mount, spawners/docker_claim.py).
WORK_DIR = "/home/jovyan/work"
# The option the portal adds to a new workspace's first start: the slot it claimed.
OPTION = "pool_slot"


def network_name(hub_name: str) -> str:
    """The pool's network: internal (no way out) and with no traffic between its slots. In
    Kubernetes, the name of the pool's NetworkPolicy, which denies its pods everything."""
    return f"{check_hub_name(hub_name)}--pool"


def slot_name(hub_name: str, template: str) -> str:
    """A new slot's container (pod) name: `<hub>--pool-<template>-<8 hex>`, 63 at most."""
    part = label_value(template)[:40].rstrip("-.")
    return f"{check_hub_name(hub_name)}--pool-{part}-{secrets.token_hex(4)}"


def volume_name(slot: str) -> str:
    return f"{slot}-work"


def is_slot_name(hub_name: str, name: str) -> bool:
    return name.startswith(f"{check_hub_name(hub_name)}--pool-")


def slot_labels(hub_name: str, template: str) -> dict[str, str]:
    """A slot's labels: this hub's origin and the pool's template, and no person."""
    return {LABEL_ORIGIN: check_hub_name(hub_name), LABEL_POOL: label_value(template)}


def network_labels(hub_name: str) -> dict[str, str]:
    return {LABEL_ORIGIN: check_hub_name(hub_name), LABEL_POOL_NETWORK: "1"}
