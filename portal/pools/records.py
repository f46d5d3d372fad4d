"""Whose a pool slot's engine objects are, from the portal's records (cleanup's view).

A slot's container and volume keep the pool's labels after a workspace claimed them (Docker
labels cannot change). The claimed rows say which workspace took each: its volume, and its
container (renamed to the workspace's name at the claim), are that workspace's. The pool's
own slots are nobody's orphans; anything else with a pool label is.
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from lib.labels import container_name
from portal.pools.models import PoolSlot
from spawners.cleanup.backend import Resource

UNRECORDED = "a warm pool slot's, and the portal has no record of it"


def attributed(resources: list[Resource]) -> list[Resource]:
    """``resources`` with each claimed slot's objects as its workspace's, the pool's own left
    out, and the rest as they are (cleanup removes a pool object nobody records)."""
    if not any(resource.pool for resource in resources):
        return resources
    claimed: dict[str, tuple[str, str]] = {}
    for name, owner, server in PoolSlot.objects.filter(
        state=PoolSlot.State.CLAIMED, workspace__isnull=False
    ).values_list("name", "workspace__owner__hub_name", "workspace__name"):
        slot = PoolSlot(name=name)
        for object_name in (name, slot.volume, container_name(settings.HUB_NAME, owner, server)):
            claimed[object_name] = (owner, server)
    pooled = set()
    for name in PoolSlot.objects.pooled().values_list("name", flat=True):
        pooled |= {name, PoolSlot(name=name).volume}
    found = []
    for resource in resources:
        if not resource.pool:
            found.append(resource)
        elif resource.name in claimed:
            user, server = claimed[resource.name]
            found.append(replace(resource, user=user, server=server, pool=""))
        elif resource.name not in pooled:
            found.append(resource)
    return found
