"""Warm pools in the portal: the fill keeps each template's pool at its size, a create takes a
ready slot and names it to the hub, cleanup reads the claimed slots from the portal's record.
The engine is a double of our own adapter (spawners/pool/docker_pool.py); the Docker side
runs for real in tests/docker_mode/test_warm_pools.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from lib import pools as names
from portal.cleanup import service as cleanup
from portal.hub.client import HubError
from portal.pools import records, services
from portal.pools.models import PoolSlot
from portal.quotas.models import Quota
from portal.workspaces import services as workspaces
from portal.workspaces.models import Workspace, WorkspaceTemplate
from spawners.cleanup.backend import EngineUnavailable, Resource
from spawners.pool.docker_pool import SlotState
from tests.portal.scripted_hub import ScriptedHub

pytestmark = pytest.mark.django_db
State = PoolSlot.State
GIB = 1024**3


class Engine:
    """The pool adapter's double: the same methods and arguments as DockerPool."""

    def __init__(self, *, fail_make: bool = False, exits: bool = False):
        self.slots: dict[str, str] = {}  # name: state as the engine would report it
        self.made: list[str] = []
        self.removed: list[str] = []
        self.fail_make, self.exits = fail_make, exits

    def make(self, name, spec) -> None:
        if self.fail_make:
            raise EngineUnavailable(f"could not make pool slot {name}: no such image")
        self.made.append(name)
        self.slots[name] = "failed" if self.exits else "ready"

    def states(self, names_: list[str], *, ready=frozenset()) -> dict[str, SlotState]:
        return {
            name: SlotState(name, self.slots.get(name, "gone"), "exited: boom") for name in names_
        }

    def remove(self, name: str) -> None:
        self.removed.append(name)
        self.slots.pop(name, None)


@pytest.fixture
def engine(settings, monkeypatch):
    settings.EXECUTION_MODE = "local"
    settings.POOL_FILL_AT_ONCE = 8
    settings.POOL_MEMORY_RESERVE = GIB
    double = Engine()
    monkeypatch.setattr(services, "pool_engine", lambda: double)
    monkeypatch.setattr(services, "memory_available", lambda: 64 * GIB)
    queued = []
    monkeypatch.setattr(services, "async_task", lambda *args, **kwargs: queued.append(args[0]))
    double.queued = queued
    return double


@pytest.fixture
def template():
    template = WorkspaceTemplate.objects.get(name="default")
    template.pool_size = 3
    template.save()
    return template


def fill(engine) -> str:
    return services.pools_fill(engine=engine, watch_seconds=0)


def test_a_fill_makes_the_pool_ready_and_a_second_makes_nothing(engine, template):
    assert fill(engine) == "3 made, 3 ready, 0 removed, 0 short"
    slots = PoolSlot.objects.filter(template=template)
    assert [slot.state for slot in slots] == [State.READY] * 3
    assert all(names.is_slot_name("mlhub", slot.name) for slot in slots)
    assert {(s.image, s.cpu, s.memory) for s in slots} == {
        (template.image, template.cpu_default, template.memory_default)
    }
    assert fill(engine) == "0 made, 0 ready, 0 removed, 0 short"
    assert len(engine.made) == 3


def test_a_smaller_pool_removes_the_surplus_and_a_changed_template_its_old_slots(engine, template):
    fill(engine)
    template.pool_size = 1
    template.save()
    assert fill(engine) == "0 made, 0 ready, 2 removed, 0 short"
    assert PoolSlot.objects.count() == 1
    template.memory_default = GIB
    template.save()
    assert fill(engine) == "1 made, 1 ready, 1 removed, 0 short"
    assert PoolSlot.objects.get().memory == GIB


def test_a_fill_makes_a_few_at_once_and_queues_the_next_pass(engine, template, settings):
    settings.POOL_FILL_AT_ONCE = 2
    assert fill(engine) == "2 made, 2 ready, 0 removed, 1 short"
    assert engine.queued == ["portal.pools.tasks.fill"]


def test_no_slot_is_made_while_the_hub_is_busy_with_peoples_starts(
    engine, template, alice, workspace_of, settings
):
    settings.START_CONCURRENCY = 2
    for name in ("a", "b"):
        workspace_of(alice, name=name, state="starting")
    assert fill(engine) == "0 made, 0 ready, 0 removed, 3 short"
    workspace_of(alice, name="c", state="running")
    alice.workspaces.filter(name="a").update(state="running")
    assert fill(engine) == "3 made, 3 ready, 0 removed, 0 short"


def test_no_slot_is_made_while_the_host_has_no_memory_to_spare(engine, template, monkeypatch):
    monkeypatch.setattr(services, "memory_available", lambda: GIB + services.SLOT_FOOTPRINT)
    assert fill(engine) == "1 made, 1 ready, 0 removed, 2 short"
    assert engine.queued == []  # no pass after it: the next scheduled one looks again


def test_a_slot_that_fails_is_shown_then_retried_only_after_the_back_off(engine, template):
    engine.exits = True
    assert fill(engine).startswith("3 made, 0 ready")
    failed = PoolSlot.objects.filter(state=State.FAILED)
    assert failed.count() == 3 and failed.first().detail == "exited: boom"
    assert sorted(engine.removed) == sorted(engine.made)  # the engine's part goes at once
    engine.exits = False
    assert fill(engine) == "0 made, 0 ready, 0 removed, 0 short"  # backing off
    PoolSlot.objects.update(created_at=timezone.now() - services.FAILED_BACKOFF)
    assert fill(engine) == "3 made, 3 ready, 3 removed, 0 short"
    assert list(PoolSlot.objects.values_list("state", flat=True)) == [State.READY] * 3


def test_a_ready_slot_whose_container_went_is_replaced(engine, template):
    fill(engine)
    gone = PoolSlot.objects.first().name
    engine.slots.pop(gone)
    assert fill(engine) == "1 made, 1 ready, 1 removed, 0 short"
    assert gone not in set(PoolSlot.objects.values_list("name", flat=True))
    assert PoolSlot.objects.filter(state=State.READY).count() == 3


def test_an_image_the_engine_cannot_run_fails_its_slots(engine, template):
    engine.fail_make = True
    assert fill(engine) == "0 made, 0 ready, 0 removed, 0 short"
    assert PoolSlot.objects.filter(state=State.FAILED).count() == 3
    assert "no such image" in PoolSlot.objects.first().detail


def test_no_pools_where_the_mode_has_none(settings, template):
    settings.EXECUTION_MODE = "process"
    assert services.pools_fill() == "no warm pools in this execution mode"
    assert not PoolSlot.objects.exists()


@pytest.fixture
def hub(hub_double):
    return hub_double(ScriptedHub())


def test_a_create_takes_a_ready_slot_and_names_it_to_the_hub(engine, template, alice, hub):
    fill(engine)
    first = PoolSlot.objects.order_by("ready_at", "pk").first()
    workspace = workspaces.workspace_create(by=alice, name="thesis")
    slot = PoolSlot.objects.get(workspace=workspace)
    assert slot == first and slot.state == State.CLAIMED and slot.claimed_at
    assert workspace.user_options()[names.OPTION] == slot.name
    assert PoolSlot.objects.live().count() == 2
    # The pool refills half a minute on, in one pass for every claim meanwhile.
    (refill,) = Schedule.objects.filter(name=services.REFILL)
    assert refill.func == "portal.pools.tasks.fill" and refill.schedule_type == Schedule.ONCE
    due = refill.next_run - timezone.now()
    assert timedelta(seconds=25) < due <= timedelta(seconds=30)  # MLHUB_POOL_REFILL_SECONDS
    second = workspaces.workspace_create(by=alice, name="notes")
    assert PoolSlot.objects.get(workspace=second) != slot
    assert Schedule.objects.filter(name=services.REFILL).count() == 1


def test_with_no_refill_delay_each_claim_refills_at_once(engine, template, alice, hub, settings):
    settings.POOL_REFILL_SECONDS = 0
    fill(engine)
    workspaces.workspace_create(by=alice, name="thesis")
    assert engine.queued == ["portal.pools.tasks.fill"]
    assert not Schedule.objects.filter(name=services.REFILL).exists()


def test_a_create_without_a_ready_slot_starts_cold(engine, template, alice, hub):
    workspace = workspaces.workspace_create(by=alice, name="thesis")
    assert names.OPTION not in workspace.user_options()


def test_a_create_that_loses_slots_to_creates_at_once_tries_on_until_one_is_left(
    engine, template, alice, bob, workspace_of, monkeypatch, settings
):
    template.pool_size = settings.POOL_FILL_AT_ONCE = 12
    template.save()
    fill(engine)
    real_take = services._slot_take
    others = iter(workspace_of(bob, f"other{i}") for i in range(11))

    def another_create_first(pk, workspace):  # each slot tried was just taken by bob
        other = next(others, None)
        if other is not None:
            assert real_take(pk, other)
        return real_take(pk, workspace)

    monkeypatch.setattr(services, "_slot_take", another_create_first)
    mine = workspace_of(alice, "mine")
    taken = services.slot_claim(mine)
    assert taken is not None and taken.workspace == mine  # the twelfth, after eleven lost
    assert PoolSlot.objects.filter(state=State.CLAIMED).count() == 12
    # And with none left, no slot and no endless loop.
    assert services.slot_claim(workspace_of(alice, "late")) is None


def test_a_workspace_with_gpus_never_takes_a_slot(engine, template, alice, workspace_of):
    fill(engine)
    assert services.slot_claim(workspace_of(alice, gpus="count:1")) is None
    assert services.slot_claim(workspace_of(alice, name="shm", shm_size=GIB)) is None
    assert services.slot_claim(workspace_of(alice, name="other", image="x:1")) is None
    assert PoolSlot.objects.filter(state=State.READY).count() == 3


def test_in_kubernetes_only_a_workspace_of_the_slots_own_cpu_and_memory_takes_one(
    engine, template, alice, workspace_of, settings
):
    fill(engine)
    settings.EXECUTION_MODE = "k8s"  # a running pod's resources cannot change on 1.20
    cpu, memory = template.cpu_default, template.memory_default
    assert services.slot_claim(workspace_of(alice, name="more", cpu=cpu * 2)) is None
    assert services.slot_claim(workspace_of(alice, name="less", memory=memory // 2)) is None
    assert PoolSlot.objects.filter(state=State.READY).count() == 3
    taken = services.slot_claim(workspace_of(alice, name="same", cpu=cpu, memory=memory))
    assert taken is not None and taken.state == State.CLAIMED
    settings.EXECUTION_MODE = "local"  # Docker changes them on the running container
    assert services.slot_claim(workspace_of(alice, name="docker", cpu=cpu * 2)) is not None


def test_a_refused_create_puts_its_slot_back(engine, template, alice, hub):
    fill(engine)
    Quota.objects.create(user=alice, running=0)
    with pytest.raises(workspaces.ServiceError):
        workspaces.workspace_create(by=alice, name="thesis")
    assert PoolSlot.objects.filter(state=State.READY).count() == 3
    assert hub.paths == []


def test_slots_count_toward_nobodys_quota(engine, template, alice, hub):
    Quota.objects.create(user=alice, running=1, workspaces=1)
    fill(engine)
    workspace = workspaces.workspace_create(by=alice, name="thesis")
    assert workspace.pool_slot_name()
    assert PoolSlot.objects.live().count() == 2  # three slots and one workspace: all fine


def resource(kind: str, name: str, *, pool: str = "default", user: str = "", server: str = ""):
    return Resource(kind, name, "mlhub", name, user, server, timezone.now(), 0, pool)


def test_cleanup_reads_claimed_slots_from_the_record_and_leaves_the_pool_alone(
    engine, template, alice, hub, workspace_of
):
    fill(engine)
    workspace = workspaces.workspace_create(by=alice, name="thesis")
    claimed = PoolSlot.objects.get(workspace=workspace)
    pooled = PoolSlot.objects.live().first()
    renamed = "mlhub-alice--thesis"
    found = records.attributed(
        [
            resource("container", renamed),
            resource("volume", claimed.volume),
            resource("container", pooled.name),
            resource("volume", pooled.volume),
            resource("container", "mlhub--pool-default-0badc0de"),
            resource("volume", "mlhub-bob--x-work", pool="", user="bob", server="x"),
        ]
    )
    assert [(r.name, r.user, r.server, r.pool) for r in found] == [
        (renamed, "alice", "thesis", ""),
        (claimed.volume, "alice", "thesis", ""),
        ("mlhub--pool-default-0badc0de", "", "", "default"),
        ("mlhub-bob--x-work", "bob", "x", ""),
    ]


class Backend:
    def __init__(self, resources):
        self._resources = resources
        self.removed: list[str] = []

    def resources(self):
        return self._resources

    def remove_all(self, resources):
        self.removed += [resource.name for resource in resources]
        return [None] * len(resources)


def test_cleanup_removes_a_pool_object_nobody_records_and_keeps_a_claimed_one(
    engine, template, alice, hub, settings
):
    settings.CLEANUP_GRACE_SECONDS = 0
    fill(engine)
    workspace = workspaces.workspace_create(by=alice, name="thesis")
    workspace.state = workspace.State.RUNNING
    workspace.save()
    claimed = PoolSlot.objects.get(workspace=workspace)
    stray = "mlhub--pool-default-0badc0de"
    backend = Backend(
        [
            resource("volume", claimed.volume),
            resource("container", PoolSlot.objects.live().first().name),
            resource("container", stray),
        ]
    )
    report = cleanup.cleanup_users(backend=backend, hub=hub)
    assert backend.removed == [stray]
    assert [line.reason for line in report.lines] == [records.UNRECORDED]


def test_deleting_a_template_removes_its_slots(engine, template, carol):
    from portal.workspaces.workspace_templates import template_delete

    fill(engine)
    slots = sorted(PoolSlot.objects.values_list("name", flat=True))
    other = WorkspaceTemplate.objects.create(name="spare", image=template.image, pool_size=0)
    template.workspaces.all().delete()
    template.is_default = False
    template.save()
    other.is_default = True
    other.save()
    template_delete(template=template, by=carol)
    assert not PoolSlot.objects.exists()
    assert engine.queued[-1] == "portal.pools.tasks.remove"
    assert services.slots_remove(slots, engine=engine) == 3
    assert sorted(engine.removed) == slots


def test_the_pools_api_shows_sizes_and_slots_to_admins_only(engine, template, api, alice, carol):
    fill(engine)
    PoolSlot.objects.filter(pk=PoolSlot.objects.first().pk).update(
        state=State.FAILED, detail="exited (1): no waiter", created_at=timezone.now()
    )
    api.force_authenticate(alice)
    assert api.get("/api/v1/pools/").status_code == 403
    api.force_authenticate(carol)
    answer = api.get("/api/v1/pools/").json()
    assert answer["available"] is True
    (pool,) = answer["pools"]
    assert {k: pool[k] for k in ("template", "size", "ready", "warming", "failed")} == {
        "template": "default",
        "size": 3,
        "ready": 2,
        "warming": 0,
        "failed": 1,
    }
    assert pool["last_error"] == "exited (1): no waiter"
    assert [slot["state"] for slot in pool["slots"]] == ["ready", "ready", "failed"]


def test_an_admin_sets_a_pool_size_within_its_maximum(engine, template, api, carol, settings):
    settings.POOL_SIZE_MAX = 100
    api.force_authenticate(carol)
    url = f"/api/v1/templates/{template.pk}/"
    response = api.patch(url, {"pool_size": 101}, format="json")
    assert response.status_code == 400
    assert "pool size 101 is above the maximum of 100" in response.json()["detail"]
    response = api.patch(url, {"pool_size": 100}, format="json")
    assert response.status_code == 200 and response.json()["pool_size"] == 100
    assert engine.queued[-1] == "portal.pools.tasks.fill"
    template.refresh_from_db()
    assert template.pool_size == 100


def test_a_new_templates_pool_size_defaults_to_the_setting(monkeypatch):
    monkeypatch.setenv("MLHUB_POOL_SIZE", "7")
    assert WorkspaceTemplate.objects.create(name="lecture").pool_size == 7


def test_a_create_that_claims_a_slot_skips_the_start_queue(
    engine, template, alice, bob, hub, settings
):
    settings.START_CONCURRENCY = 1
    template.pool_size = 1
    template.save()
    fill(engine)
    WorkspaceTemplate.objects.create(name="nopool", image=template.image, pool_size=0)
    first = workspaces.workspace_create(by=bob, name="first", template="nopool")
    second = workspaces.workspace_create(by=bob, name="second", template="nopool")
    warm = workspaces.workspace_create(by=alice, name="warm")
    assert first.start_asked_at and first.start_queued_at is None
    assert second.start_queued_at is not None  # one start in flight already: it waits
    assert warm.pool_slot_name() and warm.start_queued_at is None and warm.start_asked_at


def test_the_dashboard_shows_the_pools(engine, template, client, carol):
    fill(engine)
    client.force_login(carol)
    page = client.get("/dashboard/").content.decode()
    assert '<tr data-pool="default"><td>default</td><td>3</td><td>3</td><td>0</td>' in page


def test_a_second_fill_leaves_the_slots_a_first_is_still_making(engine, template):
    with transaction.atomic():
        plan = services._plan(timezone.now(), 8, 100)  # the first pass, before its makes
    assert [slot.state for slot in plan.make] == [State.MAKING] * 3
    assert fill(engine) == "0 made, 0 ready, 0 removed, 0 short"  # a second pass meanwhile
    assert engine.made == [] and PoolSlot.objects.filter(state=State.MAKING).count() == 3
    assert services._make(engine, plan.make) == 3  # the first pass goes on
    assert services._watch(engine, 0) == 3
    assert PoolSlot.objects.filter(state=State.READY).count() == 3


def test_a_slot_whose_fill_died_while_making_it_is_removed(engine, template):
    with transaction.atomic():
        plan = services._plan(timezone.now() - services.MAKING_PATIENCE, 8, 100)
    assert fill(engine) == "3 made, 3 ready, 3 removed, 0 short"
    assert sorted(engine.removed) == sorted(slot.name for slot in plan.make)


def test_a_create_the_hub_never_got_puts_its_slot_back(engine, template, alice, hub_double):
    fill(engine)
    hub_double(ScriptedHub(down=True))
    with pytest.raises(HubError):
        workspaces.workspace_create(by=alice, name="thesis")
    assert not Workspace.objects.exists()
    assert PoolSlot.objects.filter(state=State.READY).count() == 3
