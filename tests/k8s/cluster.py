"""The Kubernetes test cluster of deploy/scripts/kube-test-cluster.sh, as the tests see it.

Everything goes through the script (state, volumes, images) or through kubectl with the
admin kubeconfig, so the tests and the script never disagree about where things live.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from lib.polling import poll_until
from tests.hub_stack import free_port, running_stack

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "scripts" / "kube-test-cluster.sh"
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
UP_COMMAND = "bash deploy/scripts/kube-test-cluster.sh up"
API_URL = "https://127.0.0.1:6443"
# The pod bridge's address on this machine: the way pods reach a hub bound on 0.0.0.0.
NODE_GATEWAY = "10.244.0.1"
# Made by deploy/scripts/kube_image_tar.py from Debian's busybox-static, imported at node start.
BUSYBOX_IMAGE = "local/busybox:1"


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl call whose message carries kubectl's own explanation."""

    def __str__(self) -> str:
        command = " ".join(str(part) for part in self.cmd[3:])  # after --kubeconfig PATH
        return f"kubectl {command} failed (exit {self.returncode}): {self.stderr.strip()}"


def run_script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


def cluster_status() -> tuple[bool, str]:
    """(True, "") when the API server answers and the node is Ready, else (False, why)."""
    if not KUBECTL.exists():
        return False, f"no kubectl at {KUBECTL} (make setup unpacks it)"
    try:
        result = run_script("status", timeout=30)
    except subprocess.TimeoutExpired:
        return False, "the cluster's status check took over 30 s"
    return result.returncode == 0, (result.stdout + result.stderr).strip()


@dataclass(frozen=True)
class Kube:
    kubeconfig: Path
    api_url: str = API_URL
    node_gateway: str = NODE_GATEWAY

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        command = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, command, result.stdout, result.stderr)
        return result

    def recycle_volumes(self) -> None:
        """Make the Released volumes of the pool (claims deleted by earlier tests) usable again."""
        _script_or_fail("recycle-volumes")

    def import_image(self, image: str) -> None:
        """Copy a Docker image into the node's containerd (quick when already there)."""
        _script_or_fail("import-image", image)

    def wait_for(self, what: str, check, seconds: float = 60) -> None:
        """Poll `check()` until it is true; fail with `what` when it never is."""
        poll_until(check, timeout=seconds, what=f"not yet: {what}")

    def jsonpath(self, *args: str, path: str) -> str:
        return self.kubectl("get", *args, "-o", f"jsonpath={path}").stdout


def _script_or_fail(*args: str) -> None:
    result = run_script(*args)
    if result.returncode != 0:
        raise RuntimeError(
            f"kube-test-cluster.sh {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        )


def admin_kubeconfig() -> Path:
    return Path(run_script("kubeconfig", timeout=10).stdout.strip())


def kube_stack(data, kube: Kube, namespace: str, hub_name: str, images: list[str], extra: dict):
    """A real MLHub stack in Kubernetes mode on the host, spawning into ``namespace``."""
    hub_port = free_port()
    yield from running_stack(
        data,
        "k8s",
        hub_name,
        {
            "KUBECONFIG": str(kube.kubeconfig),
            "MLHUB_K8S_NAMESPACE": namespace,
            # Pods reach the hub (bound on 0.0.0.0) at the pod bridge's address.
            "MLHUB_HUB_CONNECT_URL": f"http://{kube.node_gateway}:{hub_port}",
            "MLHUB_K8S_IMAGE_PULL_POLICY": "Never",  # images are imported, no registry
            "MLHUB_K8S_STORAGE_CAPACITY": "1Gi",  # the test cluster's volumes are 1Gi
            "MLHUB_WORKSPACE_IMAGES": ",".join(images),
            "MLHUB_MEMORY_MAX": "1G",
            "MLHUB_START_TIMEOUT": "180",
            "CLEANUP_INTERVAL_SECONDS": "-1",
            **extra,
        },
        hub_port=hub_port,
    )
