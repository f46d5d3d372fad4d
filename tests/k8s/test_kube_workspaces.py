"""Kubernetes mode end to end: the portal API, a real hub and proxy, MLHubKubeSpawner, and
pods of the workspace image on the real 1.20.2 API server and kubelet."""

from __future__ import annotations

import json
import time

import pytest

from lib.labels import container_name, network_name, volume_name
from lib.polling import poll_until
from tests.hub_stack import portal_login
from tests.k8s.cluster import BUSYBOX_IMAGE, kube_stack

pytestmark = [pytest.mark.k8s, pytest.mark.hub]
HUB = "mlhk"
ALICE, BOB = ("alice", "alice-pass-123"), ("bob", "bob-pass-1234")
WORK = "/home/jovyan/work"
# Allowed, but not in the node's containerd: imagePullPolicy Never cannot start it.
MISSING_IMAGE = "mlhub-missing:never"


@pytest.fixture(scope="module")
def namespace(module_namespace):
    return module_namespace


@pytest.fixture(scope="module")
def kube_hub(
    tmp_path_factory,
    kube,
    namespace,
    workspace_image_in_cluster,
    brief_image_in_cluster,
    exiting_image_in_cluster,
):
    images = [
        workspace_image_in_cluster,
        MISSING_IMAGE,
        BUSYBOX_IMAGE,
        brief_image_in_cluster,
        exiting_image_in_cluster,
    ]
    extra = {"MLHUB_GPUS_MAX": "1", "MLHUB_CPU_MAX": "1", "MLHUB_SERVER_POLL_SECONDS": "5"}
    yield from kube_stack(tmp_path_factory.mktemp("mlhub-k8s"), kube, namespace, HUB, images, extra)


@pytest.fixture(scope="module")
def tokens(kube_hub):
    kube_hub.user_create(*ALICE)
    kube_hub.user_create(*BOB)
    return {name: kube_hub.token_for(name, password) for name, password in (ALICE, BOB)}


def create(kube_hub, token: str, state: str = "running", **body) -> dict:
    response = kube_hub.api(token).post(f"{kube_hub.url}/api/v1/workspaces/", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return kube_hub.wait_for_state(token, response.json()["id"], state, timeout=180)


def cause(workspace: dict) -> str:
    """Why a start failed, as the portal recorded it: from the hub's report, or from its
    progress stream, which says "Spawn failed: " first (whichever reached the portal first)."""
    return workspace["message"].removeprefix("Spawn failed: ")


def get(kube, namespace: str, kind: str, name: str) -> dict | None:
    found = kube.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def gone(kube, namespace: str, kind: str, name: str, timeout: float = 60) -> None:
    poll_until(
        lambda: get(kube, namespace, kind, name) is None,
        timeout=timeout,
        what=f"{kind} {name} still there",
    )


def names_of(kube, namespace: str, kind: str) -> list[str]:
    found = kube.kubectl("get", kind, "-n", namespace, "-o", "json")
    return sorted(item["metadata"]["name"] for item in json.loads(found.stdout)["items"])


@pytest.fixture(scope="module")
def one(kube_hub, tokens):
    return create(kube_hub, tokens["alice"], name="one", cpu=0.5, memory="512M")


def test_the_pod_has_the_labels_resources_claim_service_and_policy(kube, namespace, one):
    pod = get(kube, namespace, "pod", container_name(HUB, "alice", "one"))
    labels = pod["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k.startswith("mlhub.")} == {
        "mlhub.origin": HUB,
        "mlhub.user": "alice",
        "mlhub.server_name": "one",
        "mlhub.expires_at": "0",
    }
    assert pod["metadata"]["annotations"]["mlhub.username"] == "alice"
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }
    claim = get(kube, namespace, "pvc", volume_name(HUB, "alice", "one"))
    assert claim["status"]["phase"] == "Bound"
    assert claim["metadata"]["labels"]["mlhub.origin"] == HUB
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["work"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    service = get(kube, namespace, "service", container_name(HUB, "alice", "one"))
    assert service["spec"]["selector"]["mlhub.user"] == "alice"
    policy = get(kube, namespace, "networkpolicy", network_name(HUB, "alice"))
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"mlhub.origin": HUB, "mlhub.user": "alice"}
    }


def test_only_alice_reaches_her_workspace_through_the_proxy(kube_hub, tokens, one):
    url = kube_hub.url.replace("://", "://alice.") + "/user/alice/one/"  # her own origin
    alice = portal_login(kube_hub.url, *ALICE)
    assert alice.get(url + "lab", timeout=30).status_code == 200
    status = alice.get(url + "api/status", timeout=30)
    assert status.status_code == 200 and "started" in status.json()
    bob = portal_login(kube_hub.url, *BOB)
    assert bob.get(url + "lab", timeout=30).status_code == 403


def exec_in(kube, namespace: str, pod: str, code: str) -> str:
    return kube.kubectl("exec", "-n", namespace, pod, "--", "python3", "-c", code).stdout


def test_stop_keeps_the_claim_and_its_files_and_start_brings_them_back(
    kube, kube_hub, namespace, tokens, one
):
    pod = container_name(HUB, "alice", "one")
    exec_in(kube, namespace, pod, f"open('{WORK}/keep.txt', 'w').write('still here')")
    api = kube_hub.api(tokens["alice"])
    base = f"{kube_hub.url}/api/v1/workspaces/{one['id']}/"
    assert api.post(base + "stop/", timeout=30).status_code == 200
    kube_hub.wait_for_state(tokens["alice"], one["id"], "stopped", timeout=120)
    gone(kube, namespace, "pod", pod)
    assert get(kube, namespace, "pvc", volume_name(HUB, "alice", "one")) is not None
    assert api.post(base + "start/", timeout=30).status_code == 200
    kube_hub.wait_for_state(tokens["alice"], one["id"], "running", timeout=180)
    assert exec_in(kube, namespace, pod, f"print(open('{WORK}/keep.txt').read())") == (
        "still here\n"
    )


def test_delete_removes_pod_service_claim_and_the_last_policy(kube, kube_hub, namespace, tokens):
    two = create(kube_hub, tokens["bob"], name="two", memory="512M")
    pod = container_name(HUB, "bob", "two")
    assert get(kube, namespace, "networkpolicy", network_name(HUB, "bob")) is not None
    response = kube_hub.api(tokens["bob"]).delete(
        f"{kube_hub.url}/api/v1/workspaces/{two['id']}/", timeout=60
    )
    assert response.status_code == 204
    gone(kube, namespace, "pod", pod)
    gone(kube, namespace, "pvc", volume_name(HUB, "bob", "two"))
    gone(kube, namespace, "service", pod)  # owned by the pod: the garbage collector's
    gone(kube, namespace, "networkpolicy", network_name(HUB, "bob"))


def test_an_image_not_on_the_node_fails_fast_with_the_cause_and_leaves_nothing(
    kube, kube_hub, namespace, tokens
):
    before = {kind: names_of(kube, namespace, kind) for kind in ("pod", "pvc")}
    broken = create(
        kube_hub, tokens["alice"], "error", name="noimage", image=MISSING_IMAGE, memory="512M"
    )
    assert cause(broken).startswith(
        "the workspace cannot start: its image is not on the node (imagePullPolicy Never) "
        "(ErrImageNeverPull)"
    ), broken
    assert MISSING_IMAGE in broken["message"]
    gone(kube, namespace, "pod", container_name(HUB, "alice", "noimage"))
    gone(kube, namespace, "pvc", volume_name(HUB, "alice", "noimage"))
    assert {kind: names_of(kube, namespace, kind) for kind in ("pod", "pvc")} == before


def test_a_container_that_exits_fails_within_seconds_not_the_start_timeout(
    kube, kube_hub, namespace, tokens, exiting_image_in_cluster
):
    # Its command ends at once: the server never listens.
    began = time.monotonic()
    broken = create(
        kube_hub,
        tokens["alice"],
        "error",
        name="exits",
        image=exiting_image_in_cluster,
        memory="512M",
    )
    assert cause(broken) == "the workspace exited while starting (Completed, exit code 0)", broken
    # Noticed from the pod's status, not after the start timeout (180 s here).
    assert time.monotonic() - began < 90
    gone(kube, namespace, "pod", container_name(HUB, "alice", "exits"))
    gone(kube, namespace, "pvc", volume_name(HUB, "alice", "exits"))


def test_an_image_that_runs_as_root_is_refused_at_once_with_the_reason(
    kube, kube_hub, namespace, tokens
):
    # The restricted pod security (runAsNonRoot), which the kubelet applies: busybox's user
    # is root.
    broken = create(
        kube_hub, tokens["alice"], "error", name="root", image=BUSYBOX_IMAGE, memory="512M"
    )
    assert cause(broken).startswith(
        "the workspace cannot start: its container could not be configured "
        "(CreateContainerConfigError) container has runAsNonRoot and image will run as root"
    ), broken
    gone(kube, namespace, "pod", container_name(HUB, "alice", "root"))


def test_a_container_seen_running_that_exits_before_it_listens_fails_from_its_status(
    kube, kube_hub, namespace, tokens, brief_image_in_cluster
):
    # Its pod is Running for 4 s, which ends kubespawner's wait; it never listens. The hub's
    # own check would wait its http_timeout and say "didn't respond in 60 seconds".
    broken = create(
        kube_hub,
        tokens["alice"],
        "error",
        name="brief",
        image=brief_image_in_cluster,
        memory="512M",
    )
    assert cause(broken) == "the workspace exited while starting (Completed, exit code 0)", broken
    gone(kube, namespace, "pod", container_name(HUB, "alice", "brief"))
    gone(kube, namespace, "pvc", volume_name(HUB, "alice", "brief"))


def test_a_gpu_on_a_cluster_without_gpus_fails_with_the_cause(kube, kube_hub, namespace, tokens):
    admin = kube_hub.api()
    template = {"name": "gpu", "image": "mlhub-workspace:latest", "gpus_max": 1}
    response = admin.post(f"{kube_hub.url}/api/v1/templates/", json=template, timeout=30)
    assert response.status_code == 201, response.text
    broken = create(
        kube_hub, tokens["alice"], "error", name="gpu", template="gpu", gpus=1, memory="512M"
    )
    assert cause(broken) == (
        "no node has the GPUs asked for (nvidia.com/gpu): 0/1 nodes are available: 1 "
        "Insufficient nvidia.com/gpu.; ask for fewer GPUs or none"
    ), broken
    gone(kube, namespace, "pod", container_name(HUB, "alice", "gpu"))
    gone(kube, namespace, "pvc", volume_name(HUB, "alice", "gpu"))


def test_a_namespace_quota_refusal_is_the_api_servers_message_and_leaves_nothing(
    kube, kube_hub, namespace, tokens
):
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "small"},
        "spec": {"hard": {"requests.memory": "100Mi"}},
    }
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(quota))
    try:
        kube.wait_for(
            "the quota's usage is counted",
            lambda: kube.jsonpath("resourcequota", "small", "-n", namespace, path="{.status.hard}"),
        )
        broken = create(kube_hub, tokens["alice"], "error", name="quota", memory="512M")
        assert cause(broken).startswith(
            "the Kubernetes API refused the workspace: pods "
            f'"{container_name(HUB, "alice", "quota")}" is forbidden: exceeded quota: small'
        ), broken
        gone(kube, namespace, "pvc", volume_name(HUB, "alice", "quota"))
        assert get(kube, namespace, "pod", container_name(HUB, "alice", "quota")) is None
    finally:
        kube.kubectl("delete", "resourcequota", "small", "-n", namespace)


def test_someone_elses_policy_under_a_persons_name_refuses_the_start_with_why(
    kube, kube_hub, namespace
):
    """A NetworkPolicy named like carol's that MLHub did not make (it could let others in):
    her start is refused in the spawner's own start(), and the portal says why."""
    kube_hub.user_create("carol", "carol-pass-123")
    carol = kube_hub.token_for("carol", "carol-pass-123")
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": network_name(HUB, "carol")},
        "spec": {"podSelector": {}, "ingress": [{}]},
    }
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(policy))
    try:
        refused = create(kube_hub, carol, "error", name="first", cpu=0.5, memory="512M")
        assert cause(refused) == (
            f"Kubernetes NetworkPolicy {network_name(HUB, 'carol')} exists but is not this "
            "hub's policy for carol; remove it or change HUB_NAME"
        ), refused
        assert get(kube, namespace, "pod", container_name(HUB, "carol", "first")) is None
        assert get(kube, namespace, "pvc", volume_name(HUB, "carol", "first")) is None
        # The other policy is left as it was (the API server adds its defaults).
        left = get(kube, namespace, "networkpolicy", network_name(HUB, "carol"))
        assert (left["spec"]["podSelector"], left["spec"]["ingress"]) == ({}, [{}])
        assert "mlhub.origin" not in (left["metadata"].get("labels") or {})
    finally:
        kube.kubectl("delete", "networkpolicy", network_name(HUB, "carol"), "-n", namespace)
