"""Kubernetes mode with a storage class that does not exist: a workspace's claim never binds,
and its start fails with the cause instead of waiting for the start timeout, leaving nothing
in the namespace (the real API server, scheduler and kubelet)."""

from __future__ import annotations

import json
import secrets

import pytest

from lib.labels import container_name, volume_name
from tests.hub_stack import free_port, running_stack

pytestmark = [pytest.mark.k8s, pytest.mark.hub]
HUB = "mlhs"
ALICE = ("alice", "alice-pass-123")


@pytest.fixture(scope="module")
def namespace(kube):
    name = f"mls-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", check=False)
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def storage_hub(tmp_path_factory, kube, namespace, workspace_image_in_cluster):
    hub_port = free_port()
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-k8s-storage"),
        "k8s",
        HUB,
        {
            "KUBECONFIG": str(kube.kubeconfig),
            "MLHUB_K8S_NAMESPACE": namespace,
            "MLHUB_HUB_CONNECT_URL": f"http://{kube.node_gateway}:{hub_port}",
            "MLHUB_K8S_IMAGE_PULL_POLICY": "Never",
            "MLHUB_K8S_STORAGE_CLASS": "no-such-class",
            "MLHUB_K8S_STORAGE_CAPACITY": "1Gi",
            "MLHUB_K8S_VOLUME_BIND_SECONDS": "5",
            "MLHUB_WORKSPACE_IMAGES": workspace_image_in_cluster,
            "MLHUB_MEMORY_MAX": "1G",
            "MLHUB_START_TIMEOUT": "180",
            "CLEANUP_INTERVAL_SECONDS": "-1",
        },
        hub_port=hub_port,
    )


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
