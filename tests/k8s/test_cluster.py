"""The test cluster does what the Kubernetes tests rely on: pods run from local images, claims
of the default StorageClass bind to a writable folder, pods reach this machine at the bridge
gateway, Service names resolve in pods (to their ready pods: there is no kube-proxy), and the
API server validates like a real one."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lib.polling import poll_until
from tests.k8s.cluster import BUSYBOX_IMAGE, REPO

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


# The cluster DNS of kube-test-cluster.sh: dnsmasq on the bridge gateway, fed with each
# Service's ready endpoint addresses by deploy/scripts/kube_dns_sync.py.
DNS_SYNC = REPO / "deploy" / "scripts" / "kube_dns_sync.py"


def web_objects() -> str:
    """A Deployment of one web pod that answers with its own name, behind the Service `web`,
    and a pod that runs but is never ready, behind the Service `never-ready`."""
    serve = "mkdir /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"
    web = {
        "name": "main",
        "image": BUSYBOX_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", serve],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    never_ready = {
        **web,
        "command": ["sleep", "3600"],
        "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1},
    }

    def service(name: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 8080, "targetPort": 8080}]},
        }

    pod_spec = {"terminationGracePeriodSeconds": 0}
    items = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {**pod_spec, "containers": [web]},
                },
            },
        },
        service("web"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "never-ready", "labels": {"app": "never-ready"}},
            "spec": {**pod_spec, "containers": [never_ready]},
        },
        service("never-ready"),
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def in_pod(kube, namespace: str, *command: str) -> subprocess.CompletedProcess:
    return kube.kubectl("exec", "-n", namespace, "client", "--", *command, check=False)


def looked_up(nslookup_output: str) -> set[str]:
    """The addresses busybox's nslookup gives for the name (not the server's own "Address")."""
    found, in_answer = set(), False
    for line in nslookup_output.splitlines():
        if line.startswith("Name:"):
            in_answer = True
        elif in_answer and line.startswith("Address:"):
            found.add(line.split()[1])
        else:
            in_answer = False
    return found


def ask_dns(server: str, name: str) -> list[tuple[str, int]]:
    """(address, ttl) of NAME's A records, asked of SERVER from this machine."""
    result = subprocess.run(
        [sys.executable, str(DNS_SYNC), "query", "--server", server, name],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode in (0, 1), result.stderr
    return [(address, int(ttl)) for address, ttl in map(str.split, result.stdout.splitlines())]


def web_pod(kube, namespace: str, not_named: str = "") -> tuple[str, str] | None:
    """(name, IP) of the ready web pod other than `not_named`, if there is one yet."""
    lines = kube.jsonpath(
        "pods",
        "-n",
        namespace,
        "-l",
        "app=web",
        path="{range .items[*]}{.metadata.name} {.status.podIP} "
        '{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
    )
    for name, ip, ready in (line.split() for line in lines.splitlines() if len(line.split()) == 3):
        if name != not_named and ready == "True":
            return name, ip
    return None


def test_a_service_name_leads_to_its_ready_pod_and_follows_it(kube, kube_namespace):
    ns = kube_namespace
    kube.kubectl("apply", "-n", ns, "-f", "-", input=web_objects())
    kube.kubectl("apply", "-n", ns, "-f", "-", input=busybox_pod("client", "exec sleep 3600"))
    wait_running(kube, ns, "client")
    name, ip = poll_until(lambda: web_pod(kube, ns), timeout=90, what="a ready web pod")
    # The kubelet gives pods the cluster's DNS and its search domains.
    resolv = in_pod(kube, ns, "cat", "/etc/resolv.conf").stdout.splitlines()
    assert f"nameserver {kube.node_gateway}" in resolv
    assert f"search {ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv

    # Short, namespace-qualified and full names, through the C library's resolver (wget's
    # getaddrinfo, as any program's) to the pod itself: the Service has a ClusterIP, but with
    # no kube-proxy only the endpoint's address routes.
    fqdn = f"web.{ns}.svc.cluster.local"
    # The records follow the Endpoints, which follow the pod's readiness: a moment after it.
    poll_until(
        lambda: ask_dns(kube.node_gateway, fqdn), timeout=10, what="web's record", max_wait=0.2
    )
    for host in ("web", f"web.{ns}", fqdn):
        fetched = in_pod(kube, ns, "wget", "-qO-", f"http://{host}:8080/")
        assert (fetched.returncode, fetched.stdout) == (0, f"{name}\n"), fetched.stderr
    assert looked_up(in_pod(kube, ns, "nslookup", fqdn).stdout) == {ip}
    cluster_ip = kube.jsonpath("service", "web", "-n", ns, path="{.spec.clusterIP}")
    assert cluster_ip and cluster_ip != ip
    assert ask_dns(kube.node_gateway, fqdn) == [(ip, 1)]  # a 1 s TTL

    kube.wait_for(
        "the never-ready pod in its Service's Endpoints, not ready",
        lambda: kube.jsonpath(
            "endpoints", "never-ready", "-n", ns, path="{.subsets[*].notReadyAddresses[*].ip}"
        ),
    )

    # The pod goes, the Deployment makes another: the name follows within a few seconds.
    kube.kubectl("delete", "pod", name, "-n", ns, "--grace-period=0", "--force")
    new_name, new_ip = poll_until(
        lambda: web_pod(kube, ns, not_named=name), timeout=90, what="a new web pod", max_wait=0.2
    )
    ready_at = time.monotonic()
    assert new_ip != ip

    def answered_by_the_new_pod() -> bool:
        fetched = in_pod(kube, ns, "wget", "-qO-", "http://web:8080/")
        return fetched.stdout == f"{new_name}\n"

    poll_until(answered_by_the_new_pod, timeout=10, what="the new pod behind `web`", max_wait=0.2)
    followed_in = time.monotonic() - ready_at
    assert followed_in < 5, f"the name followed the pod {followed_in:.1f} s after it was ready"
    assert looked_up(in_pod(kube, ns, "nslookup", fqdn).stdout) == {new_ip}

    # A Service whose pod runs but is not ready has no address: its Endpoints list the pod as
    # not ready before the web pod goes, so the records that follow the web pod know it.
    assert ask_dns(kube.node_gateway, f"never-ready.{ns}.svc.cluster.local") == []
    # Nor does any other name of the cluster's domain (not forwarded out).
    assert ask_dns(kube.node_gateway, f"nothing.{ns}.svc.cluster.local") == []


def outside_name() -> tuple[str, set[str]] | None:
    """A name this machine's own resolvers answer (asked directly: no /etc/hosts), with the
    addresses they give. The registries' names resolve wherever the cluster was installed."""
    with open("/etc/resolv.conf") as resolv:
        servers = [line.split()[1] for line in resolv if line.startswith("nameserver")]
    for name in ("deb.debian.org", "pypi.org", "registry.npmjs.org"):
        for server in servers:
            try:
                addresses = {address for address, _ in ask_dns(server, name)}
            except AssertionError:  # that server does not answer
                continue
            if addresses:
                return name, addresses
    return None


def test_other_names_go_to_this_machines_resolver(kube, kube_namespace):
    found = outside_name()
    if found is None:
        pytest.skip("this machine's resolvers answer none of the registries' names")
    name, addresses = found
    client = busybox_pod("client", "exec sleep 3600")
    kube.kubectl("apply", "-n", kube_namespace, "-f", "-", input=client)
    wait_running(kube, kube_namespace, "client")
    looked = in_pod(kube, kube_namespace, "nslookup", name)
    assert looked_up(looked.stdout) & addresses, looked.stdout + looked.stderr
