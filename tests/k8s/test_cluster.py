"""The test cluster does what the Kubernetes tests rely on: pods run from local images, claims
of the default StorageClass bind to a writable folder, pods reach this machine at the bridge
gateway, and the API server validates like a real one."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.k8s.cluster import BUSYBOX_IMAGE

pytestmark = pytest.mark.k8s


def busybox_pod(name: str, script: str, **spec) -> str:
    container = {
        "name": "main",
        "image": BUSYBOX_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
    }
    container.update(spec.pop("container", {}))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0, **spec},
    }
    return json.dumps(pod)


def wait_running(kube, namespace: str, pod: str) -> None:
    kube.kubectl("wait", "-n", namespace, "--for=condition=Ready", f"pod/{pod}", "--timeout=90s")
    assert kube.jsonpath("pod", pod, "-n", namespace, path="{.status.phase}") == "Running"


@pytest.fixture
def host_server():
    """An HTTP server on all of this machine's addresses that records who called it."""
    callers: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            callers.append(self.client_address[0])
            body = b"hello-from-the-host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], callers
    server.shutdown()
    server.server_close()


def test_a_pod_reaches_the_host_at_the_bridge_gateway(kube, kube_namespace, host_server):
    port, callers = host_server
    url = f"http://{kube.node_gateway}:{port}/"
    pod = busybox_pod("caller", f"wget -qO- {url}; echo; exec sleep 3600")
    kube.kubectl("apply", "-n", kube_namespace, "-f", "-", input=pod)
    wait_running(kube, kube_namespace, "caller")

    def answered() -> bool:
        return kube.kubectl("logs", "-n", kube_namespace, "caller").stdout != ""

    kube.wait_for("the pod's wget to finish", answered, seconds=30)
    assert kube.kubectl("logs", "-n", kube_namespace, "caller").stdout == "hello-from-the-host\n"
    pod_ip = kube.jsonpath("pod", "caller", "-n", kube_namespace, path="{.status.podIP}")
    assert callers == [pod_ip]


def test_a_claim_binds_to_a_folder_the_workspace_user_can_write(kube, kube_namespace):
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "home"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(claim))

    def bound() -> bool:
        return kube.jsonpath("pvc", "home", "-n", kube_namespace, path="{.status.phase}") == "Bound"

    kube.wait_for("the claim to bind", bound, seconds=30)
    claim_class = kube.jsonpath(
        "pvc", "home", "-n", kube_namespace, path="{.spec.storageClassName}"
    )
    assert claim_class == "mlhub-test"  # the default class, though the claim names none
    volume = kube.jsonpath("pvc", "home", "-n", kube_namespace, path="{.spec.volumeName}")
    folder = Path(kube.jsonpath("pv", volume, path="{.spec.hostPath.path}"))

    # The workspace image runs as 1000:1000; the folder must take its files.
    pod = busybox_pod(
        "writer",
        "echo saved-by-1000 > /home/jovyan/note && exec sleep 3600",
        securityContext={"runAsUser": 1000, "runAsGroup": 1000},
        container={"volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]},
        volumes=[{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}],
    )
    kube.kubectl("apply", "-n", kube_namespace, "-f", "-", input=pod)
    wait_running(kube, kube_namespace, "writer")
    kube.wait_for("the note on the host", (folder / "note").exists, seconds=15)
    assert (folder / "note").read_text() == "saved-by-1000\n"
    assert ((folder / "note").stat().st_uid, (folder / "note").stat().st_gid) == (1000, 1000)


def test_the_api_refuses_an_invalid_pod_name(kube, kube_namespace):
    pod = busybox_pod("Bad_Name", "true")
    result = kube.kubectl("create", "-n", kube_namespace, "-f", "-", "-v=6", input=pod, check=False)
    assert result.returncode == 1
    assert " 422 Unprocessable Entity " in result.stderr
    assert (
        'Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
    ) in result.stderr
    pods = kube.kubectl("get", "pods", "-n", kube_namespace, "-o", "name").stdout
    assert pods == ""
