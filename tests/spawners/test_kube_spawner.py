"""MLHubKubeSpawner without a cluster: the objects it would create, from its checked options,
each valid for Kubernetes 1.20; upstream methods called on their own."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient, V1OwnerReference
from tornado.web import HTTPError

from spawners.kubernetes import MLHubKubeSpawner, StartFailed
from tests.pod_security import violations

G = 1024**3
KUBERNETES = "1.20.0"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: not-a-real-one}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


@pytest.fixture(autouse=True)
def _no_cluster(tmp_path, monkeypatch):
    # kubespawner loads a client configuration when a spawner is made; nothing is called.
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    # The client reads KUBECONFIG once, when it is imported.
    monkeypatch.setattr(
        "kubernetes_asyncio.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(config)
    )
    monkeypatch.delenv("MLHUB_WORKSPACE_IMAGES", raising=False)
    monkeypatch.setenv("MLHUB_K8S_NAMESPACE", "mlhub-test")


@pytest.fixture(autouse=True)
def loop():
    # kubespawner makes its API client on the running loop when a spawner is made. The loop
    # runs in a thread of its own: Playwright's sync API may keep one running in this one.
    made = asyncio.new_event_loop()
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.set_event_loop, made).result()
        made.thread = thread
        yield made
        pending = thread.submit(asyncio.all_tasks, made).result()  # kubespawner's closers
        for task in pending:
            made.call_soon_threadsafe(task.cancel)
        gather = asyncio.gather(*pending, return_exceptions=True) if pending else None
        if gather is not None:
            thread.submit(made.run_until_complete, gather).result()
        thread.submit(made.close).result()


LOOP: list = []


@pytest.fixture(autouse=True)
def _current(loop):
    LOOP.append(loop)
    yield
    LOOP.clear()


def run(coroutine):
    loop = LOOP[-1]
    return loop.thread.submit(loop.run_until_complete, coroutine).result()


def spawner(user="a.b@c", server="ws1", options=None, **traits) -> MLHubKubeSpawner:
    async def make():
        return MLHubKubeSpawner(
            _mock=True,
            user=SimpleNamespace(name=user, id=7, url=f"/user/{user}/"),
            orm_spawner=SimpleNamespace(name=server, server=None),
            hub_name="mlhub",
            cpu_max=4,
            memory_max=8 * G,
            gpus_max=2,
            **traits,
        )

    made = run(make())
    made.user_options = options or {}
    return made


def as_dict(model) -> dict:
    """The manifest as the API server receives it (camelCase JSON)."""

    async def sanitize():
        async with ApiClient() as client:
            return client.sanitize_for_serialization(model)

    return run(sanitize())


def pod_of(made: MLHubKubeSpawner) -> dict:
    return as_dict(run(made.get_pod_manifest()))


def test_the_pod_carries_the_checked_resources_as_requests_and_limits():
    pod = pod_of(spawner(options={"cpu": "500m", "memory": "2Gi", "gpus": 1}))
    container = pod["spec"]["containers"][0]
    assert container["resources"] == {
        "limits": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    assert container["image"] == "mlhub-workspace:latest"
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)


def test_the_pod_meets_the_restricted_pod_security_standard():
    pod = pod_of(spawner(options={"shm_size": "256M"}))
    assert violations(pod["spec"]) == []
    assert pod["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_pod_security_check_would_see_a_workspace_running_as_root():
    pod = pod_of(spawner(uid=0, container_security_context={"runAsNonRoot": False}))
    assert "notebook: runAsUser: 0" in violations(pod["spec"])


def test_the_pod_is_named_and_labelled_by_mlhub_with_the_raw_name_annotated():
    made = spawner(options={"expires_at": 1900000000})
    pod = pod_of(made)
    assert pod["metadata"]["name"] == "mlhub-a-b-c-x945547706971458a--ws1"
    labels = pod["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k.startswith("mlhub.")} == {
        "mlhub.origin": "mlhub",
        "mlhub.user": "a-b-c-x945547706971458a",
        "mlhub.server_name": "ws1",
        "mlhub.expires_at": "1900000000",
    }
    assert pod["metadata"]["annotations"]["mlhub.username"] == "a.b@c"
    assert made.namespace == "mlhub-test"


def test_the_workspace_claim_is_mounted_at_the_work_dir():
    made = spawner(options={"shm_size": "256M"})
    pod = pod_of(made)
    assert pod["spec"]["volumes"] == [
        {
            "name": "work",
            "persistentVolumeClaim": {"claimName": "mlhub-a-b-c-x945547706971458a--ws1-work"},
        },
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
    ]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "work", "mountPath": "/home/jovyan/work"},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]


def test_the_claim_is_labelled_sized_and_in_the_configured_class(monkeypatch):
    monkeypatch.setenv("MLHUB_K8S_STORAGE_CLASS", "fast")
    monkeypatch.setenv("MLHUB_K8S_STORAGE_CAPACITY", "5Gi")
    claim = as_dict(spawner().get_pvc_manifest())
    assert claim["metadata"]["name"] == "mlhub-a-b-c-x945547706971458a--ws1-work"
    assert claim["metadata"]["labels"]["mlhub.user"] == "a-b-c-x945547706971458a"
    assert claim["metadata"]["annotations"]["mlhub.username"] == "a.b@c"
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"] == {"requests": {"storage": "5Gi"}}
    kubernetes_validate.validate(claim, KUBERNETES, strict=True)


def test_the_service_selects_the_pod_and_carries_the_owner():
    made = spawner()
    pod_of(made)  # the labels are this start's
    owner = V1OwnerReference(api_version="v1", kind="Pod", name=made.pod_name, uid="u-1")
    service = as_dict(made.get_service_manifest(owner, 8888))
    service.update(apiVersion="v1", kind="Service")  # the client's call says what it is
    assert service["metadata"]["name"] == made.pod_name
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8888, "targetPort": 8888},
        {"name": "ssh", "port": 2222, "targetPort": 2222},
    ]
    assert service["spec"]["selector"]["mlhub.user"] == "a-b-c-x945547706971458a"
    assert service["metadata"]["annotations"]["mlhub.username"] == "a.b@c"
    kubernetes_validate.validate(service, KUBERNETES, strict=True)


def test_deployment_labels_and_volumes_are_kept_beside_ours():
    made = spawner(
        extra_labels={"team": "ml"},
        volumes=[{"name": "data", "configMap": {"name": "shared"}}],
    )
    pod = pod_of(made)
    pod = pod_of(made)  # twice: ours are not added again
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["data", "work"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"gpus": "0,1"},
            "gpus '0,1' is not a number: Kubernetes assigns GPUs itself, ask for a count such as 1",
        ),
        ({"gpus": 3}, "gpus 3 is above the maximum of 2"),
        (
            {"image": "evil:latest"},
            "image 'evil:latest' is not allowed; allowed images: mlhub-workspace:latest, "
            "mlhub-workspace-ds:latest",
        ),
        ({"cpu": 8}, "cpu 8 is above the maximum of 4 cores"),
    ],
)
def test_bad_options_are_a_400_with_the_reason_before_anything_is_made(options, message):
    with pytest.raises(HTTPError) as caught:
        pod_of(spawner(options=options))
    assert caught.value.status_code == 400
    assert caught.value.jupyterhub_message == message


def test_a_hub_name_starting_with_a_digit_is_refused_service_names_need_a_letter():
    made = spawner()
    made.hub_name = "1hub"
    with pytest.raises(HTTPError) as caught:
        made._check_names()
    assert caught.value.status_code == 500
    assert "must start with a letter in Kubernetes mode" in caught.value.jupyterhub_message


def test_the_proxy_connects_to_the_pod_ip_not_the_service_by_default():
    made = spawner()
    pod = {
        "metadata": {"name": made.pod_name},
        "status": {"podIP": "10.244.0.9"},
        "spec": {"containers": [{"ports": [{"name": "notebook-port", "containerPort": 8888}]}]},
    }
    # Through kubespawner's public get_pod_url hook, read by its own (private) caller.
    assert made.get_pod_url(made, pod) == "http://10.244.0.9:8888"
    assert made._get_pod_url(pod) == "http://10.244.0.9:8888"
    assert made.services_enabled is True
    # Asked for: kubespawner's own choice, the Service's DNS name.
    by_service = spawner(connect_to_service=True)
    assert by_service.get_pod_url is None
    assert by_service._get_pod_url(pod) == (
        f"http://{by_service.pod_name}.mlhub-test.svc.cluster.local:8888"
    )
    # An IPv6 pod address is bracketed.
    assert made.get_pod_url(made, {"status": {"podIP": "fd00::9"}}) == "http://[fd00::9]:8888"


def unschedulable(message: str) -> dict:
    """A pending pod the scheduler could not place, and why."""
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    return {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [condition]}}


UNBOUND = unschedulable(
    "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
)


def test_a_claim_that_does_not_bind_in_time_fails_the_start_with_the_storage_class(loop):
    made = spawner(volume_bind_timeout=0.2, storage_class="missing")
    made._starting_since = time.monotonic()
    assert made.is_pod_running(UNBOUND) is False  # a provisioner may still be at work
    time.sleep(0.3)
    with pytest.raises(StartFailed) as failed:
        made.is_pod_running(UNBOUND)
    assert str(failed.value) == (
        "the workspace's volume claim mlhub-a-b-c-x945547706971458a--ws1-work did not bind in "
        "0.2 s (0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.); "
        "check the storage class (missing, MLHUB_K8S_STORAGE_CLASS) and that it can provision "
        "volumes"
    )


def test_a_pod_no_node_has_room_for_fails_the_start_with_the_schedulers_reason(loop):
    full = unschedulable("0/1 nodes are available: 1 Insufficient cpu.")
    made = spawner(schedule_timeout=0.2)
    made._starting_since = time.monotonic()
    assert made.is_pod_running(full) is False  # another workspace may stop, a node be added
    time.sleep(0.3)
    with pytest.raises(StartFailed) as failed:
        made.is_pod_running(full)
    assert str(failed.value) == (
        "no node had room for the workspace in 0.2 s (0/1 nodes are available: 1 Insufficient "
        "cpu.); ask for less CPU or memory, stop another workspace, or ask an admin for more "
        "nodes"
    )
    # A claim that does not bind is the volume's timer's, not this one's.
    unbound = spawner(schedule_timeout=0.2, volume_bind_timeout=60)
    unbound._starting_since = time.monotonic() - 1
    unbound._unscheduled.since = time.monotonic() - 1
    assert unbound.is_pod_running(UNBOUND) is False


def test_a_failing_pod_is_only_a_start_failure_while_starting(loop):
    made = spawner()
    exited = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.3",
            "containerStatuses": [
                {"ready": False, "state": {"terminated": {"reason": "Error", "exitCode": 1}}}
            ],
        },
    }
    assert made.is_pod_running(exited) is False  # poll() of a running server: upstream's answer
    made._starting_since = time.monotonic()
    with pytest.raises(StartFailed, match=r"exited while starting \(Error, exit code 1\)"):
        made.is_pod_running(exited)


def test_the_owners_ssh_keys_reach_the_pods_environment():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    pod = pod_of(spawner(options={"ssh_keys": [key]}))
    env = {item["name"]: item.get("value") for item in pod["spec"]["containers"][0]["env"]}
    assert env["MLHUB_SSH_AUTHORIZED_KEYS"] == key


def test_a_hub_restarted_mid_start_is_told_the_running_pods_address(monkeypatch):
    """Upstream's get_url hook: the record's address from before the pod had one gives way to
    the pod's, as a start would have given it; no pod yet, the record stands."""
    from jupyterhub import orm

    made = spawner()
    # The hub's record of a start under way: its address from before the pod had one.
    record = orm.Server(proto="http", ip="vm", port=44525, base_url="/user/a.b@c/ws1/")
    record.cookie_name = "jupyterhub-user-a.b%40c"
    made.orm_spawner = SimpleNamespace(name="ws1", server=record)
    pods: dict = {}
    reflector = property(lambda _: SimpleNamespace(pods=pods))  # what upstream's watch sees
    monkeypatch.setattr(MLHubKubeSpawner, "pod_reflector", reflector)
    assert run(made.get_url()) == "http://vm:44525/user/a.b@c/ws1/"
    pods[f"{made.namespace}/{made.pod_name}"] = {"status": {"podIP": "10.244.0.9"}}
    assert run(made.get_url()) == "http://10.244.0.9:8888/user/a.b@c/ws1/"
