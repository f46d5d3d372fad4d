"""Kubernetes mode with a storage class that does not exist: a workspace's claim never binds,
and its start fails with the cause instead of waiting for the start timeout, leaving nothing
in the namespace (the real API server, scheduler and kubelet)."""

from __future__ import annotations

import json

import pytest

from lib.labels import container_name, volume_name
from tests.k8s.cluster import kube_stack

pytestmark = [pytest.mark.k8s, pytest.mark.hub]
HUB = "mlhs"
ALICE = ("alice", "alice-pass-123")


@pytest.fixture(scope="module")
def namespace(module_namespace):
    return module_namespace


@pytest.fixture(scope="module")
def storage_hub(tmp_path_factory, kube, namespace, workspace_image_in_cluster):
    """A stack of its own: its storage class does not exist, so no workspace of it starts
    (the shared one, tests/k8s/test_kube_workspaces.py, needs volumes that bind)."""
    extra = {"MLHUB_K8S_STORAGE_CLASS": "no-such-class", "MLHUB_K8S_VOLUME_BIND_SECONDS": "5"}
    data = tmp_path_factory.mktemp("mlhub-k8s-storage")
    yield from kube_stack(data, kube, namespace, HUB, [workspace_image_in_cluster], extra)


def test_a_claim_that_cannot_bind_fails_the_start_with_the_cause_and_leaves_nothing(
    kube, storage_hub, namespace
):
    storage_hub.user_create(*ALICE)
    token = storage_hub.token_for(*ALICE)
    response = storage_hub.api(token).post(
        f"{storage_hub.url}/api/v1/workspaces/",
        json={"name": "thesis", "memory": "512M"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    failed = storage_hub.wait_for_state(token, response.json()["id"], "error", timeout=120)
    claim = volume_name(HUB, "alice", "thesis")
    assert failed["message"].removeprefix("Spawn failed: ") == (
        f"the workspace's volume claim {claim} did not bind in 5 s (0/1 nodes are available: "
        "1 pod has unbound immediate PersistentVolumeClaims.); check the storage class "
        "(no-such-class, MLHUB_K8S_STORAGE_CLASS) and that it can provision volumes"
    ), failed

    def left(kind: str) -> list[str]:
        found = json.loads(kube.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)
        return [item["metadata"]["name"] for item in found["items"]]

    kube.wait_for("the pod and the claim removed", lambda: not left("pod") and not left("pvc"))
    assert container_name(HUB, "alice", "thesis") not in left("pod")
