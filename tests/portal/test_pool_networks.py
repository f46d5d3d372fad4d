"""People's networks made ahead beside the warm pools (portal/pools/networks.py): whose, how
many, never while the hub is busy with starts, the idle unwanted ones removed, and cleanup keeps
the wanted. The engine is a double of our own adapter (DockerPool); the Docker side runs for
real in tests/docker_mode/test_warm_pools.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts.models import AllowListEntry
from portal.cleanup import service as cleanup
from portal.pools import networks, services
from portal.workspaces.models import Workspace, WorkspaceTemplate
from spawners.cleanup.backend import EngineUnavailable
from spawners.pool.docker_pool import DockerPool, SlotState
from tests.portal.scripted_hub import ScriptedHub
from tests.portal.test_cleanup import ScriptedEngine, made

pytestmark = pytest.mark.django_db
GIB = 1024**3


class Engine(DockerPool):
    """DockerPool with its engine calls replaced by a dict (same methods, same signatures)."""

    def __init__(self, have: dict[str, tuple[str, bool]] | None = None, down: bool = False):
        super().__init__("mlhub", client=None)
        self.have = dict(have or {})
        self.made: list[str] = []
        self.removed: list[str] = []
        self.slots: list[str] = []
        self.deduplicated = 0
        self.down = down

    def person_networks(self) -> dict[str, tuple[str, bool]]:
        if self.down:
            raise EngineUnavailable("the Docker engine did not answer: connection refused")
        return dict(self.have)

    def person_network_make(self, person: str) -> None:
        self.made.append(person)
        self.have[person] = (f"mlhub-{person}", False)

    def person_network_remove(self, name: str) -> bool:
        self.removed.append(name)
        return True

    def person_networks_deduplicate(self) -> int:
        self.deduplicated += 1
        return 0

    # The fill's slot side: slots are only counted here (tests/portal/test_pools.py).
    def make(self, name: str, spec) -> None:
        self.slots.append(name)

    def states(self, names_: list[str], *, ready=frozenset()) -> dict:
        return {name: SlotState(name, "ready") for name in names_}

    def remove(self, name: str) -> None:
        self.slots.remove(name)


@pytest.fixture(autouse=True)
def docker_mode(settings):
    settings.EXECUTION_MODE = "local"


@pytest.fixture
def pool_of():
    def size(count: int) -> None:
        WorkspaceTemplate.objects.filter(name="default").update(pool_size=count)

    return size


@pytest.fixture
def seen(alice, bob, make_person):
    """alice seen an hour ago, bob two, dave never (joined today), erin pending."""
    now = timezone.now()
    alice.last_login = now - timedelta(hours=1)
    alice.save()
    bob.last_login = now - timedelta(hours=2)
    bob.save()
    make_person("dave")
    make_person("erin", approval="pending")


def test_the_people_most_recently_seen_as_many_as_the_pools_hold(seen, pool_of):
    pool_of(2)
    assert networks.networks_wanted() == ["alice", "bob"]
    pool_of(5)  # everyone the access rule lets in, the never-seen last; erin is pending
    assert networks.networks_wanted() == ["alice", "bob", "dave"]
    pool_of(0)
    assert networks.networks_wanted() == []


def test_someone_the_allow_list_refuses_gets_no_network_ahead(seen, pool_of):
    pool_of(5)
    AllowListEntry.objects.create(kind="username", value="bob")
    assert networks.networks_wanted() == ["bob"]


def test_kubernetes_makes_no_networks_ahead(seen, pool_of, settings):
    pool_of(5)
    settings.EXECUTION_MODE = "k8s"
    assert networks.networks_wanted() == []


def test_a_pass_makes_the_missing_and_removes_only_the_idle_unwanted(
    seen, pool_of, make_person, workspace_of
):
    pool_of(2)
    starting = make_person("frank", last_login=timezone.now() - timedelta(days=9))
    workspace_of(starting, state=Workspace.State.STARTING)
    engine = Engine(
        {
            "bob": ("mlhub-bob", False),  # wanted, there
            "zed": ("mlhub-zed", False),  # nobody of the portal's now: idle, unwanted
            "eve": ("mlhub-eve", True),  # a container of hers is on it
            "frank": ("mlhub-frank", False),  # his workspace is starting
        }
    )
    said = networks.networks_ahead(engine, room=True)
    assert engine.made == ["alice"]
    assert engine.removed == ["mlhub-zed"]
    assert said == "networks: 1 made ahead, 1 removed"


def test_a_person_whose_start_is_under_way_makes_their_own(seen, alice, pool_of, workspace_of):
    pool_of(5)
    workspace_of(alice, "now", state=Workspace.State.STARTING)
    engine = Engine()
    # room=True: the fill's own check said the hub was not busy a moment before.
    assert networks.networks_ahead(engine, room=True) == "networks: 2 made ahead, 0 removed"
    assert engine.made == ["bob", "dave"] and engine.deduplicated == 1


def test_nothing_is_made_or_removed_while_the_hub_is_busy_with_starts(
    seen, alice, bob, make_person, pool_of, workspace_of, monkeypatch, settings
):
    settings.START_CONCURRENCY = 2
    pool_of(3)
    engine = Engine({"zed": ("mlhub-zed", False)})
    monkeypatch.setattr(services, "memory_available", lambda: 64 * GIB)
    carl = make_person("carl")
    starting = [workspace_of(carl, f"now{i}", state=Workspace.State.STARTING) for i in (1, 2)]
    said = services.pools_fill(engine=engine, watch_seconds=0)
    assert (engine.made, engine.removed) == ([], [])
    assert said.endswith("networks: later (the hub is busy with starts)")
    starting[0].delete()  # one start in flight, under the concurrency: room again
    said = services.pools_fill(engine=engine, watch_seconds=0)
    # carl, the newest, is wanted too, but his start under way makes his own.
    assert engine.made == ["alice", "bob"] and engine.removed == ["mlhub-zed"]
    assert said.endswith("networks: 2 made ahead, 1 removed")
    assert len(engine.slots) == 3  # the pool's own slots, as before


def test_an_engine_that_does_not_answer_is_said_and_changes_nothing(seen, pool_of):
    pool_of(2)
    engine = Engine(down=True)
    said = networks.networks_ahead(engine, room=True)
    assert said.startswith("networks: engine unavailable: the Docker engine did not answer")
    assert (engine.made, engine.removed, engine.deduplicated) == ([], [], 0)


def test_cleanup_keeps_a_network_made_ahead_and_removes_it_once_unwanted(seen, pool_of, hub_double):
    hub_double(ScriptedHub())
    pool_of(1)
    engine = ScriptedEngine([made("network", person, server="") for person in ("alice", "bob")])
    cleanup.cleanup_users(backend=engine)
    assert engine.removed == ["network-bob-"]  # bob has no workspace and is not wanted
    pool_of(0)
    cleanup.cleanup_users(backend=engine)
    assert engine.removed == ["network-bob-", "network-alice-"]
