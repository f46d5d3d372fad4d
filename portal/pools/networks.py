"""People's Docker networks made ahead, beside the warm pools (issue 26).

A start in Docker mode needs its person's network, and the engine makes networks one at a
time: in a lecture's storm of 100 claims each waited about 7 s for its network, and making
one costs the host about 45 ms of CPU (iptables), which a storm on two cores has no room
for (bench/concurrent.py's CPU split). So while warm pools exist, the fill pass also makes
the networks of the people most likely to start next, before they ask:

- who: the people the access rule lets in (approved, active, allowed), most recently seen
  first (last login, then the newest accounts: a course's roster before its first lecture),
  as many as all pools hold now (their sizes and schedules);
- when: only while the hub has fewer than MLHUB_START_CONCURRENCY starts in flight, as the
  slots (their making is CPU starts need), and never for a person whose workspace is
  starting or running (their start makes it);
- the network is the one a start would make (spawners/docker.py): the same name, driver and
  labels. The start finds it and checks it as its own; nothing else changes.

Docker's duplicate check is not atomic: two passes at once, or a pass and a start, can make
one name twice. The pass then removes the empty surplus, as a start that finds its network's
name ambiguous does (spawners/docker_spec.py ``surplus_networks``).

The pass also removes the networks nobody needs: those of people it no longer wants whose
workspaces are all stopped and who have no container (a start's network is otherwise removed
by the stop of its last workspace). The portal's rows are read again just before each
removal, and the engine refuses to remove a network with anything running on it. Cleanup
keeps the networks this pass wants (portal/cleanup/service.py).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import F

from portal.accounts import access
from portal.accounts.models import APPROVED, User
from portal.workspaces.models import Workspace, WorkspaceTemplate
from spawners.cleanup.backend import EngineUnavailable

log = logging.getLogger(__name__)


def networks_wanted(now=None) -> list[str]:
    """The hub names of the people whose networks are made ahead now (Docker mode only)."""
    from portal.pools.services import pool_size  # the one size rule; services imports us

    if settings.EXECUTION_MODE != "local":
        return []  # Kubernetes' NetworkPolicy per person is cheap to make at the start
    templates = WorkspaceTemplate.objects.prefetch_related("pool_schedules")
    size = sum(pool_size(template, now) for template in templates)
    if not size:
        return []
    people = User.objects.filter(APPROVED).order_by(
        F("last_login").desc(nulls_last=True), "-date_joined", "pk"
    )
    wanted: list[str] = []
    for person in people.iterator():
        if not access.why_refused(person):
            wanted.append(person.hub_name)
            if len(wanted) == size:
                break
    return wanted


def _no_workspace_alive(person: str) -> bool:
    return not Workspace.objects.filter(owner__hub_name=person, state__in=Workspace.ALIVE).exists()


def networks_ahead(engine, *, room: bool) -> str:
    """One pass: make the wanted networks that are missing and remove the unwanted idle
    ones, while ``room`` (the hub not busy with starts); what it did, for the fill's result."""
    if not room:
        return "networks: later (the hub is busy with starts)"
    wanted = networks_wanted()
    try:
        have = engine.person_networks()
        made = 0
        for person in wanted:
            # A start of theirs makes it itself (two makers at once can make two).
            if person not in have and _no_workspace_alive(person):
                engine.person_network_make(person)
                made += 1
        removed = 0
        for person, (network, in_use) in have.items():
            if person and not in_use and person not in wanted and _no_workspace_alive(person):
                removed += engine.person_network_remove(network)
        # Two passes at once (or a pass and a start) may still have made a name twice.
        removed += engine.person_networks_deduplicate() if made else 0
    except EngineUnavailable as error:
        log.warning("People's networks not made ahead: %s", error)
        return f"networks: engine unavailable: {error}"
    return f"networks: {made} made ahead, {removed} removed"
