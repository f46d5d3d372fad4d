"""A real Kubernetes 1.20.2 (deploy/scripts/kube-test-cluster.sh) or, locally, a skip.

`kube` answers for the whole session; `kube_namespace` gives each test its own namespace;
`workspace_image_in_cluster` puts the Docker-built workspace image into the node.
"""

from __future__ import annotations

import io
import secrets

import pytest

from tests.docker_engine import docker_client, engine_held, require_image  # noqa: F401 -- a fixture
from tests.k8s.cluster import UP_COMMAND, Kube, admin_kubeconfig, cluster_status
from tests.parts import require

WORKSPACE_IMAGE = "mlhub-workspace:latest"
# The workspace image with a command that runs a few seconds, never listens, and exits 0:
# Kubernetes sees its pod Running first, which ends kubespawner's own wait.
BRIEF_IMAGE = "mlhub-brief:test"
# The workspace image (its user, 1000: the restricted pod security lets it run) with a
# command that ends at once.
EXITING_IMAGE = "mlhub-exits:test"


@pytest.fixture(scope="session")
def kube() -> Kube:
    up, detail = cluster_status()
    require(up, f"no Kubernetes test cluster answers ({detail}); run `{UP_COMMAND}` as root")
    cluster = Kube(kubeconfig=admin_kubeconfig())
    # Claims deleted by earlier sessions leave their volumes Released, not reusable.
    cluster.recycle_volumes()
    return cluster


@pytest.fixture
def kube_namespace(kube: Kube):
    name = f"mlt-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("label", "namespace", name, "mlhub-test=true")
    # Pods are refused until the controller manager has made the namespace's default account.
    kube.wait_for(
        f"the default service account of {name}",
        lambda: (
            kube.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode
            == 0
        ),
    )
    yield name
    # Forced: the 1.20 kubelet confirms a pod's end on a 10 s timer; nobody needs to wait.
    kube.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", check=False)
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def workspace_image_in_cluster(kube: Kube, docker_client) -> str:  # noqa: F811
    with engine_held():  # the soak may restart the engine beside these tests (Makefile)
        require_image(docker_client, WORKSPACE_IMAGE)
        kube.import_image(WORKSPACE_IMAGE)
    return WORKSPACE_IMAGE


def _workspace_image_running(kube: Kube, docker_client, tag: str, command: str) -> str:  # noqa: F811
    dockerfile = f"FROM {WORKSPACE_IMAGE}\nENTRYPOINT []\nCMD {command}\n"
    with engine_held():
        docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        kube.import_image(tag)
    return tag


@pytest.fixture(scope="session")
def brief_image_in_cluster(kube: Kube, docker_client, workspace_image_in_cluster) -> str:  # noqa: F811
    return _workspace_image_running(kube, docker_client, BRIEF_IMAGE, '["sleep", "4"]')


@pytest.fixture(scope="session")
def exiting_image_in_cluster(kube: Kube, docker_client, workspace_image_in_cluster) -> str:  # noqa: F811
    return _workspace_image_running(kube, docker_client, EXITING_IMAGE, '["true"]')


@pytest.fixture(scope="module")
def module_namespace(kube: Kube):
    """A namespace for one test module's hub and its workspaces, removed afterwards."""
    name = f"mlk-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", check=False)
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)
