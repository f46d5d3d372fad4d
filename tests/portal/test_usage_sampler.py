"""The usage sampler with our own engine adapters scripted (DockerBackend and KubeBackend
subclasses that replace only their calls to the engine): counters add up, a counter that goes
down is a new container, a container gone between listing and stats is left out, a closed run
is never written, and a cluster without metrics says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from docker.errors import NotFound
from kubernetes_asyncio.client.rest import ApiException

from lib.labels import container_name
from portal.pools.models import PoolSlot
from portal.usage import services
from portal.usage.models import SamplePass, UsageInterval
from portal.usage.sampler import NO_ENGINE, measured_use_unavailable, usage_sample
from spawners.cleanup.backend import EngineUnavailable, Reading
from spawners.cleanup.docker_backend import DockerBackend
from spawners.cleanup.kube_backend import METRICS_REFUSED, NO_METRICS, KubeBackend

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
GIB = 2**30
NS = 1_000_000_000  # the stats API counts CPU time in nanoseconds


def stats(cpu_seconds: float, usage: int, max_usage: int | None = None) -> dict:
    """One answer of the engine's stats API (its fields the sampler reads)."""
    memory = {"usage": usage, **({"max_usage": max_usage} if max_usage else {})}
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": int(cpu_seconds * NS)}},
        "memory_stats": memory,
    }


class ScriptedDocker(DockerBackend):
    """The real backend's readings with the engine's listing and stats replaced by dicts
    (container name → (id, stats); a stats of None: gone between the listing and its stats)."""

    def __init__(self, containers: dict[str, tuple[str, dict | None]]):
        super().__init__("mlhub", client=None)
        self.containers = containers
        self.stats_calls = 0

    def _running(self) -> list[dict]:
        return [{"Id": cid, "Names": [f"/{name}"]} for name, (cid, _) in self.containers.items()]

    def _stats(self, container_id: str) -> dict:
        self.stats_calls += 1
        found = {cid: answer for cid, answer in self.containers.values()}[container_id]
        if found is None:
            raise NotFound(f"No such container: {container_id}")
        return found


class ScriptedCluster(KubeBackend):
    """The real backend's readings with the pod metrics call replaced."""

    def __init__(self, items: list[dict] | None = None, status: int | None = None):
        super().__init__("mlhub", "mlhub-ns")
        self.items, self.status = items or [], status

    async def _pod_metrics(self) -> list[dict]:
        if self.status:
            raise ApiException(status=self.status, reason="Not Found")
        return self.items


class EngineDown(DockerBackend):
    def __init__(self):
        super().__init__("mlhub", client=None)

    def readings(self) -> list[Reading]:
        raise EngineUnavailable("the Docker engine did not answer: connection refused")


@pytest.fixture
def docker_mode(settings):
    settings.EXECUTION_MODE = "local"
    settings.HUB_NAME = "mlhub"


@pytest.fixture
def running(alice, workspace_of):
    """alice's workspace "thesis", running since T0, with its open interval."""
    workspace = workspace_of(alice, state="running", cpu=2)
    services.interval_open(workspace=workspace, at=T0)
    return workspace


def thesis() -> str:
    return container_name("mlhub", "alice", "thesis")


def measured() -> tuple:
    return UsageInterval.objects.values_list("cpu_used_seconds", "memory_peak", "sampled_at").get()


def test_a_sample_records_the_counter_and_the_next_adds_what_it_grew_by(docker_mode, running):
    engine = ScriptedDocker({thesis(): ("c1", stats(30.0, GIB, max_usage=2 * GIB))})
    done = usage_sample(backend=engine, now=T0 + 5 * MINUTE)
    assert (done.running, done.sampled, done.unavailable) == (1, 1, "")
    assert measured() == (30.0, 2 * GIB, T0 + 5 * MINUTE)

    engine.containers[thesis()] = ("c1", stats(90.0, GIB, max_usage=2 * GIB))
    usage_sample(backend=engine, now=T0 + 10 * MINUTE)
    assert measured() == (90.0, 2 * GIB, T0 + 10 * MINUTE)
    assert engine.stats_calls == 2  # one per container per pass


def test_a_counter_that_goes_down_is_a_new_container_and_is_added(docker_mode, running):
    engine = ScriptedDocker({thesis(): ("c1", stats(100.0, GIB))})
    usage_sample(backend=engine, now=T0 + 5 * MINUTE)
    engine.containers[thesis()] = ("c1", stats(30.0, GIB))  # restarted: counting from zero
    usage_sample(backend=engine, now=T0 + 10 * MINUTE)
    assert measured()[0] == 130.0
    # Another container already past the old one's count: still a new one, all of it added.
    engine.containers[thesis()] = ("c2", stats(150.0, GIB))
    usage_sample(backend=engine, now=T0 + 15 * MINUTE)
    assert measured()[0] == 280.0


def test_without_a_high_water_mark_the_highest_usage_seen_is_the_peak(docker_mode, running):
    # cgroup v2: the stats API has no max_usage.
    engine = ScriptedDocker({thesis(): ("c1", stats(1.0, 3 * GIB))})
    usage_sample(backend=engine, now=T0 + 5 * MINUTE)
    engine.containers[thesis()] = ("c1", stats(2.0, GIB))
    usage_sample(backend=engine, now=T0 + 10 * MINUTE)
    assert measured()[1] == 3 * GIB


def test_a_container_gone_between_listing_and_stats_is_left_alone(docker_mode, running):
    engine = ScriptedDocker({thesis(): ("c1", None)})
    done = usage_sample(backend=engine, now=T0 + 5 * MINUTE)
    assert (done.running, done.sampled) == (1, 0)
    assert measured() == (None, None, None)


def test_a_closed_interval_is_never_touched(docker_mode, running):
    services.intervals_close(workspace_ids=[running.pk], at=T0 + MINUTE, how="stopped")
    # The row still says running (the state is written after the hub's answer): the closed
    # run is read by nobody and written by nobody.
    before = UsageInterval.objects.values().get()
    engine = ScriptedDocker({thesis(): ("c1", stats(30.0, GIB))})
    assert usage_sample(backend=engine, now=T0 + 5 * MINUTE).sampled == 0
    assert UsageInterval.objects.values().get() == before


def test_a_run_closed_between_its_read_and_its_write_is_not_written(
    docker_mode, running, monkeypatch
):
    from portal.usage import sampler

    def closed_meanwhile(run, reading, now):
        services.intervals_close(workspace_ids=[running.pk], at=T0 + MINUTE, how="stopped")
        return real(run, reading, now)

    real = sampler.sampled
    monkeypatch.setattr(sampler, "sampled", closed_meanwhile)
    engine = ScriptedDocker({thesis(): ("c1", stats(30.0, GIB))})
    assert usage_sample(backend=engine, now=T0 + 5 * MINUTE).sampled == 0
    assert measured() == (None, None, None)


def test_only_running_workspaces_are_measured_and_other_containers_ignored(
    docker_mode, running, bob, workspace_of
):
    stopped = workspace_of(bob, "idle", state="stopped")
    engine = ScriptedDocker(
        {
            thesis(): ("c1", stats(5.0, GIB)),
            container_name("mlhub", "bob", "idle"): ("c2", stats(7.0, GIB)),
            "someone-elses": ("c3", stats(9.0, GIB)),
        }
    )
    assert usage_sample(backend=engine, now=T0 + 5 * MINUTE).sampled == 1
    assert not UsageInterval.objects.filter(workspace=stopped).exists()


def test_kubernetes_adds_the_metrics_rate_over_the_time_since_the_last_sample(settings, running):
    settings.EXECUTION_MODE, settings.HUB_NAME = "k8s", "mlhub"
    pod = {
        "metadata": {"name": thesis()},
        "containers": [{"name": "notebook", "usage": {"cpu": "500m", "memory": "1Gi"}}],
    }
    usage_sample(backend=ScriptedCluster([pod]), now=T0 + 10 * MINUTE)  # half a core, 10 min
    # SQLite's julianday keeps times to about a microsecond.
    assert measured() == (pytest.approx(300.0, abs=1e-3), GIB, T0 + 10 * MINUTE)
    pod["containers"][0]["usage"] = {"cpu": "250000000n", "memory": "512Mi"}
    usage_sample(backend=ScriptedCluster([pod]), now=T0 + 20 * MINUTE)
    assert measured() == (pytest.approx(450.0, abs=1e-3), GIB, T0 + 20 * MINUTE)


def test_a_pod_made_from_a_warm_slot_is_measured_under_the_slots_name(settings, running):
    settings.EXECUTION_MODE, settings.HUB_NAME = "k8s", "mlhub"
    slot = "mlhub--pool-default-0a1b2c3d"  # a pod cannot be renamed at its claim
    PoolSlot.objects.create(
        template=running.template,
        name=slot,
        image=running.image,
        cpu=running.cpu,
        memory=running.memory,
        state=PoolSlot.State.CLAIMED,
        workspace=running,
    )
    pod = {
        "metadata": {"name": slot},
        "containers": [{"name": "notebook", "usage": {"cpu": "500m", "memory": "1Gi"}}],
    }
    usage_sample(backend=ScriptedCluster([pod]), now=T0 + 10 * MINUTE)
    assert measured() == (pytest.approx(300.0, abs=1e-3), GIB, T0 + 10 * MINUTE)


def test_a_cluster_without_the_metrics_api_records_nothing_and_says_so(settings, running):
    settings.EXECUTION_MODE = "k8s"
    done = usage_sample(backend=ScriptedCluster(status=404), now=T0 + 5 * MINUTE)
    assert (done.sampled, done.unavailable) == (0, NO_METRICS)
    assert done.summary == "measured use unavailable: the cluster serves no metrics API"
    assert measured() == (None, None, None)
    assert measured_use_unavailable() == NO_METRICS
    # A later pass that measures clears it.
    usage_sample(backend=ScriptedCluster([]), now=T0 + 10 * MINUTE)
    assert measured_use_unavailable() is None


def test_an_account_the_metrics_api_refuses_is_said_so(settings, running):
    settings.EXECUTION_MODE = "k8s"
    done = usage_sample(backend=ScriptedCluster(status=403), now=T0 + 5 * MINUTE)
    assert (done.sampled, done.unavailable) == (0, METRICS_REFUSED)
    assert measured() == (None, None, None)
    assert measured_use_unavailable() == METRICS_REFUSED


def test_an_engine_that_does_not_answer_writes_nothing(docker_mode, running):
    done = usage_sample(backend=EngineDown(), now=T0 + 5 * MINUTE)
    assert done.unavailable == "the Docker engine did not answer: connection refused"
    assert measured() == (None, None, None)


def test_local_process_workspaces_are_reserved_only_and_say_so(running):
    assert usage_sample(now=T0 + 5 * MINUTE).unavailable == NO_ENGINE
    assert measured_use_unavailable() == NO_ENGINE


def test_the_command_runs_one_pass(docker_mode, running, monkeypatch, capsys):
    engine = ScriptedDocker({thesis(): ("c1", stats(12.0, GIB))})
    monkeypatch.setattr("portal.usage.sampler.engine_backend", lambda: engine)
    call_command("usage_sample")
    assert capsys.readouterr().out.startswith("1 of 1 running workspaces measured in ")
    assert measured()[0] == 12.0
    assert SamplePass.objects.get().sampled == 1
