"""Warm pools: keep each template's slots made and waiting, and hand one to a new workspace.

``pools_fill`` (a task: on a schedule, after each claim and after a template's pool changes)
brings each template's pool to its size: it removes the slots that no longer fit the template
(its image, CPU or memory changed) or are too many, makes the missing ones a few at a time
while the host has memory to spare, and watches those warming until they are ready.
``slot_claim`` takes a ready slot for a workspace being created; the first start then names
it to the hub (``Workspace.user_options``), whose spawner makes the slot the workspace
(spawners/docker_claim.py). Slots belong to nobody and count toward nobody's quota.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task
from django_q.tasks import schedule as q_schedule

from lib import env, pools
from lib.host import memory_available
from portal.audit import log as audit
from portal.errors import require_admin
from portal.pools import networks as people_networks
from portal.pools.models import PoolSlot
from portal.workspaces.models import Workspace, WorkspaceTemplate
from spawners.cleanup.backend import EngineUnavailable
from spawners.pool.docker_pool import DockerPool, SlotSpec

if TYPE_CHECKING:
    from spawners.pool.kube_pool import KubePool

log = logging.getLogger(__name__)
State = PoolSlot.State

# A template whose slot failed makes no new one for this long (a broken image is not
# retried every minute); the failed slot is shown meanwhile, then removed.
FAILED_BACKOFF = timedelta(minutes=10)
# A slot planned this long ago and still not made: its pass died (a restart); it is removed.
MAKING_PATIENCE = timedelta(minutes=10)
# How long one fill pass watches its slots warm up (a slot takes about 1-2 s alone).
WATCH_SECONDS = 60
WATCH_INTERVAL = 0.5
# What one waiting slot holds of the host's memory (measured: 87 MB resident, 91 MB in its
# cgroup; docs/performance.md "Warm pools"), with room.
SLOT_FOOTPRINT = 160 * 1024**2


# Execution modes with warm pools: Docker ("local") and Kubernetes. Process mode has none.
POOL_MODES = ("local", "k8s")


def pools_on() -> bool:
    """Whether this execution mode keeps warm pools (asked without importing a client)."""
    return settings.EXECUTION_MODE in POOL_MODES


def pool_engine() -> DockerPool | KubePool | None:
    """The engine's pool adapter for this execution mode; None where there are no pools."""
    if settings.EXECUTION_MODE == "local":
        return DockerPool(settings.HUB_NAME)
    if settings.EXECUTION_MODE == "k8s":
        # Imported here, as cleanup's: the Kubernetes client takes about 2 s to import.
        from spawners.pool.kube_pool import KubePool

        return KubePool(settings.HUB_NAME, env.k8s_namespace())
    return None


def pool_size(template: WorkspaceTemplate, now=None) -> int:
    """How many slots the template's pool holds now: its own size, or a schedule's that is
    on and larger."""
    now = now or timezone.now()
    sizes = [schedule.size for schedule in template.pool_schedules.all() if schedule.on_at(now)]
    return min(max([template.pool_size, *sizes]), settings.POOL_SIZE_MAX)


def _fits(slot: PoolSlot, template: WorkspaceTemplate) -> bool:
    return (slot.image, slot.cpu, slot.memory) == (
        template.image,
        template.cpu_default,
        template.memory_default,
    )


@dataclass
class Plan:
    make: list[PoolSlot] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    short: int = 0  # slots still missing after this pass


def _plan(now, at_once: int, room: int) -> Plan:
    """Inside one transaction, templates locked: which slots go and which are made (their
    rows written as ``making``, so that a second fill at once counts them and leaves them
    alone)."""
    plan = Plan()
    templates = WorkspaceTemplate.objects.select_for_update().order_by("pk")
    for template in templates.prefetch_related("pool_schedules"):
        slots = list(template.pool_slots.pooled().order_by("created_at", "pk"))
        failed = [slot for slot in slots if slot.state == State.FAILED]
        backing_off = any(slot.created_at > now - FAILED_BACKOFF for slot in failed)
        if not backing_off:
            plan.remove += [slot.name for slot in failed]
        # A slot still being made by another pass is left to it (removed now, its container
        # would be made after), unless that pass died: then it goes.
        stuck = [
            s for s in slots if s.state == State.MAKING and s.created_at < now - MAKING_PATIENCE
        ]
        making = [s for s in slots if s.state == State.MAKING and s not in stuck]
        made = [s for s in slots if s.state in (State.WARMING, State.READY)]
        plan.remove += [slot.name for slot in stuck]
        plan.remove += [slot.name for slot in made if not _fits(slot, template)]
        made = [slot for slot in made if _fits(slot, template)]
        # Too many: the warming ones go first, then the newest.
        made.sort(key=lambda slot: (slot.state == State.WARMING, slot.created_at), reverse=True)
        size = pool_size(template, now)
        surplus = max(0, len(made) + len(making) - size)
        plan.remove += [slot.name for slot in made[:surplus]]
        live = making + made[surplus:]
        missing = 0 if backing_off else max(0, size - len(live))
        to_make = max(0, min(missing, at_once - len(plan.make), room - len(plan.make)))
        plan.make += [
            PoolSlot(
                template=template,
                name=pools.slot_name(settings.HUB_NAME, template.name),
                image=template.image,
                cpu=template.cpu_default,
                memory=template.memory_default,
                state=State.MAKING,
                created_at=now,
            )
            for _ in range(to_make)
        ]
        plan.short += missing - to_make
    PoolSlot.objects.filter(name__in=plan.remove).delete()
    PoolSlot.objects.bulk_create(plan.make)
    return plan


def pools_fill(*, engine=None, watch_seconds: float = WATCH_SECONDS) -> str:
    """One pass of keeping every pool at its size; what it did, for the task's result."""
    engine = engine if engine is not None else pool_engine()
    if engine is None:
        return "no warm pools in this execution mode"
    try:
        lost = _ready_check(engine)
    except EngineUnavailable as error:
        log.warning("Warm pools not filled: %s", error)
        return f"engine unavailable: {error}"
    room = max(0, (memory_available() - settings.POOL_MEMORY_RESERVE) // SLOT_FOOTPRINT)
    # People's starts first: a slot's warming and a network's making are CPU they need.
    busy = _starts_in_flight() >= max(settings.START_CONCURRENCY, 1)
    if busy:
        room = 0
    networks = (
        people_networks.networks_ahead(engine, room=not busy)
        if isinstance(engine, DockerPool)
        else ""
    )
    with transaction.atomic():
        plan = _plan(timezone.now(), settings.POOL_FILL_AT_ONCE, room)
    plan.remove += lost
    try:
        for name in plan.remove:
            engine.remove(name)
        made = _make(engine, plan.make)
        ready = _watch(engine, watch_seconds)
    except EngineUnavailable as error:
        log.warning("Warm pools not filled: %s", error)
        return f"engine unavailable: {error}"
    if plan.short and made and room > len(plan.make):
        pools_fill_soon()  # the next few, after these warmed up
    elif plan.short:
        log.info("Warm pools %s slot(s) short: the host is busy or its memory taken", plan.short)
    done = f"{made} made, {ready} ready, {len(plan.remove)} removed, {plan.short} short"
    return f"{done}; {networks}" if networks else done


def _starts_in_flight() -> int:
    """Starts the hub is working on now (not those waiting in the start queue)."""
    return Workspace.objects.filter(
        state=Workspace.State.STARTING, start_queued_at=None, deleting_since=None
    ).count()


def _ready_check(engine) -> list[str]:
    """Forget the ready slots whose container stopped or went (the engine restarted, someone
    removed it): the fill replaces them, and no create is handed one. Their names, to remove."""
    ready = dict(PoolSlot.objects.filter(state=State.READY).values_list("name", "pk"))
    if not ready:
        return []
    lost = [
        name
        for name, found in engine.states(list(ready), ready=frozenset(ready)).items()
        if found.state != "ready"
    ]
    PoolSlot.objects.filter(name__in=lost, state=State.READY).delete()
    return lost


def _make(engine, slots: list[PoolSlot]) -> int:
    made = 0
    for slot in slots:
        spec = SlotSpec(
            template=slot.template.name,
            image=slot.image,
            cpu=slot.cpu,
            memory=slot.memory,
            work_dir=pools.WORK_DIR,
        )
        try:
            engine.make(slot.name, spec)
        except EngineUnavailable as error:
            _failed(slot.pk, str(error))
            continue
        made += PoolSlot.objects.filter(pk=slot.pk, state=State.MAKING).update(state=State.WARMING)
    return made


def _failed(pk: int, detail: str) -> None:
    PoolSlot.objects.filter(pk=pk).update(state=State.FAILED, detail=detail[-2000:])


def _watch(engine, seconds: float) -> int:
    """Follow the warming slots until each is ready or failed, or ``seconds`` pass; how many
    became ready."""
    deadline = time.monotonic() + seconds
    ready = 0
    while True:
        warming = dict(PoolSlot.objects.filter(state=State.WARMING).values_list("name", "pk"))
        if not warming:
            return ready
        for name, found in engine.states(list(warming)).items():
            if found.state == "ready":
                ready += PoolSlot.objects.filter(pk=warming[name], state=State.WARMING).update(
                    state=State.READY, ready_at=timezone.now()
                )
            elif found.state == "failed":
                log.warning("Pool slot %s failed: %s", name, found.detail)
                _failed(warming[name], found.detail)
                engine.remove(name)
            elif found.state == "gone":
                PoolSlot.objects.filter(pk=warming[name], state=State.WARMING).delete()
        if time.monotonic() > deadline:
            return ready
        time.sleep(WATCH_INTERVAL)


def pools_fill_soon() -> None:
    """Queue a fill pass (a pool's size or template changed)."""
    if pools_on():
        async_task("portal.pools.tasks.fill", task_name="fill warm pools")


REFILL = "warm pools refill"


def pools_refill_later() -> None:
    """After a claim: one fill pass, ``MLHUB_POOL_REFILL_SECONDS`` on (the task cluster's
    scheduler looks once a minute), unless one is due already: a lecture's hundred claims
    are not slowed by a hundred passes making their replacements at once. 0: a pass now
    (the test stacks, whose claims come one at a time)."""
    if not pools_on():
        return
    if not settings.POOL_REFILL_SECONDS:
        pools_fill_soon()
        return
    if Schedule.objects.filter(name=REFILL).exists():
        return
    q_schedule(
        "portal.pools.tasks.fill",
        name=REFILL,
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + timedelta(seconds=settings.POOL_REFILL_SECONDS),
    )


def slots_remove_later(names: list[str]) -> None:
    """Queue the removal of slots whose rows are gone (their template was deleted)."""
    if names and pools_on():
        async_task("portal.pools.tasks.remove", names, task_name=f"remove {len(names)} slots")


def slots_remove(names: list[str], *, engine=None) -> int:
    engine = engine if engine is not None else pool_engine()
    for name in names:
        engine.remove(name)
    return len(names)


def slot_claim(workspace: Workspace) -> PoolSlot | None:
    """A ready slot of the workspace's template for it (recorded as claimed), or None: it
    starts cold. Only a workspace without GPUs or its own shared memory size, of the
    template's image, fits: a running container takes neither (and in Kubernetes, only one
    of the template's default CPU and memory)."""
    if not pools_on() or workspace.gpus or workspace.shm_size is not None:
        return None
    candidates = PoolSlot.objects.filter(
        template=workspace.template, state=State.READY, image=workspace.image
    )
    if settings.EXECUTION_MODE == "k8s":
        # Kubernetes 1.20 cannot change a running pod's resources: only the slot's own fit.
        candidates = candidates.filter(cpu=workspace.cpu, memory=workspace.memory)
    candidates = candidates.order_by("ready_at", "pk")
    # Until one is taken or none is left: a lecture's hundred creates at once all read the
    # same first few, and a create that gave up after three went cold (2-4 of 100 did). Each
    # slot lost to another create is no longer ready, so every round reads fewer.
    first_round = True
    while ready := list(candidates.values_list("pk", flat=True)[:CLAIM_ROUND]):
        if not first_round:  # the oldest first; after losses, creates at once spread out
            random.shuffle(ready)
        first_round = False
        for pk in ready:
            if _slot_take(pk, workspace):
                pools_refill_later()
                return PoolSlot.objects.get(pk=pk)
    return None


# Ready slots one create reads at a time, and tries in a random order.
CLAIM_ROUND = 8


def _slot_take(pk: int, workspace: Workspace) -> bool:
    """One UPDATE decides: of two creates at once, only one takes a slot."""
    return bool(
        PoolSlot.objects.filter(pk=pk, state=State.READY).update(
            state=State.CLAIMED, claimed_at=timezone.now(), workspace=workspace
        )
    )


def slot_release(slot: PoolSlot) -> None:
    """Put back a slot whose workspace was refused before the hub was asked."""
    PoolSlot.objects.filter(pk=slot.pk, state=State.CLAIMED).update(
        state=State.READY, claimed_at=None, workspace=None
    )


def schedules_save(formset, *, by) -> None:
    """Save a template's pool schedules from the admin's inline (each form checked by
    ``PoolSchedule.clean``), audited, and let the pools follow at once."""
    require_admin(by, "change pool schedules")
    formset.save()
    changed = [*formset.new_objects, *(schedule for schedule, _ in formset.changed_objects)]
    for schedule in changed:
        audit.record(
            by=by, action="pool.schedule", target=schedule.template.name, detail=str(schedule)
        )
    for schedule in formset.deleted_objects:
        audit.record(
            by=by,
            action="pool.schedule",
            target=schedule.template.name,
            detail=f"removed: {schedule}",
        )
    pools_fill_soon()
