"""The Helm chart installed for real on the test cluster serves a person end to end.

`helm install` of the MLHub image (imported into the node) with the SQLite trial values; the
proxy's pod reached through a local relay (tests/k8s/tcp_relay.py) as http://localhost:<port>, so
each person's workspaces are on http://<name>.localhost:<port>, as in a browser anywhere. The
test cluster has no kube-proxy: the chart's pods reach the API server at its advertised
address (KUBERNETES_SERVICE_HOST), and Service names through the harness's DNS
(docs/kubernetes-test-cluster.md). NetworkPolicy is not enforced there: the policy objects
are asserted, isolation is not claimed.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.labels import container_name, network_name, volume_name
from tests.browser.conftest import browser, playwright_driver  # noqa: F401
from tests.browser.test_scenarios import new_context, open_in_jupyterlab  # noqa: F401
from tests.browser.test_workspace_pages import log_in, submit_new_workspace
from tests.docker_engine import docker_client, require_image  # noqa: F401
from tests.helm.test_chart import CHART, HELM
from tests.hub_stack import RunningHub, free_port, resolve_localhost_subdomains
from tests.k8s.conftest import WORKSPACE_IMAGE
from tests.k8s.tcp_relay import TcpRelay
from tests.pod_security import violations

pytestmark = [pytest.mark.k8s, pytest.mark.browser]

RELEASE = "mlhub"
HUB = "mlhub"  # the chart's default mlhub.hubName
MLHUB_IMAGE = "mlhub:latest"
PERSON = ("ines", "ines-pass-5821")
START_MS = 180_000


@dataclass
class Release(RunningHub):
    """The installed release, as the tests of a local stack see one (tests/hub_stack.py)."""

    namespace: str = ""
    kube: object = None

    def logs(self, lines: int = 40) -> str:
        out = []
        for component in ("hub", "portal", "proxy"):
            found = self.kube.kubectl(
                "logs",
                "-n",
                self.namespace,
                f"deploy/{RELEASE}-{component}",
                "--all-containers",
                f"--tail={lines}",
                check=False,
            )
            out.append(f"--- {component}\n{found.stdout}{found.stderr}")
        return "\n".join(out)


def helm(kube, namespace: str, *args: str) -> str:
    result = subprocess.run(
        [str(HELM), *args, "--namespace", namespace, "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def values(kube, port: int) -> list[str]:
    api = kube.jsonpath(
        "endpoints", "kubernetes", "-n", "default", path="{.subsets[0].addresses[0].ip}"
    )
    settings = {
        "mlhub.publicUrl": f"http://localhost:{port}",
        "image.pullPolicy": "Never",  # imported into the node; no registry
        "singleuser.image.pullPolicy": "Never",
        "singleuser.storage.capacity": "1Gi",  # the test cluster's volumes are 1Gi
        # No kube-proxy: the API server's own address, not the ClusterIP the pods are given.
        "mlhub.env.KUBERNETES_SERVICE_HOST": api,
        "mlhub.env.KUBERNETES_SERVICE_PORT": "6443",
        # Cleanup may take any leftover at once (test_cleanup_in_the_cluster_...).
        "mlhub.env.MLHUB_CLEANUP_GRACE_SECONDS": "0",
    }
    return [arg for name, value in settings.items() for arg in ("--set-string", f"{name}={value}")]


@pytest.fixture(scope="module")
def release(kube, module_namespace, docker_client):  # noqa: F811
    for image in (MLHUB_IMAGE, WORKSPACE_IMAGE):
        require_image(docker_client, image)
        kube.import_image(image)
    namespace, port = module_namespace, free_port()
    kube.recycle_volumes()  # earlier modules' claims are gone; their volumes serve again
    helm(
        kube,
        namespace,
        "install",
        RELEASE,
        str(CHART),
        *values(kube, port),
        "--wait",
        "--timeout",
        "5m",
    )
    (proxy,) = pods_in(kube, namespace, "mlhub.component=proxy")
    relay = TcpRelay(port, (proxy["status"]["podIP"], 8000))
    resolve_localhost_subdomains()
    password = base64.b64decode(
        kube.jsonpath(
            "secret", f"{RELEASE}-secrets", "-n", namespace, path="{.data.MLHUB_ADMIN_PASSWORD}"
        )
    ).decode()
    installed = Release(
        url=f"http://localhost:{port}",
        hub_api="",
        hub_token="",
        admin_token="",
        stack=None,
        namespace=namespace,
        kube=kube,
    )
    installed.admin_token = installed.token_for("admin", password)
    installed.user_create(*PERSON)
    try:
        yield installed
    finally:
        relay.close()
        # Uninstalled already when the last test passed; the namespace goes with its objects.
        subprocess.run(
            [
                str(HELM),
                "uninstall",
                RELEASE,
                "-n",
                namespace,
                "--kubeconfig",
                str(kube.kubeconfig),
            ],
            capture_output=True,
            timeout=300,
        )


def pods_in(kube, namespace: str, selector: str) -> list[dict]:
    found = kube.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    return json.loads(found.stdout)["items"]


def pods(release: Release, selector: str) -> list[dict]:
    return pods_in(release.kube, release.namespace, selector)


def workspace_objects(release: Release, username: str, name: str) -> dict[str, dict | None]:
    def get(kind: str, object_name: str) -> dict | None:
        found = release.kube.kubectl(
            "get", kind, object_name, "-n", release.namespace, "-o", "json", check=False
        )
        return json.loads(found.stdout) if found.returncode == 0 else None

    pod = container_name(HUB, username, name)
    return {
        "pod": get("pod", pod),
        "service": get("service", pod),
        "pvc": get("pvc", volume_name(HUB, username, name)),
        "policy": get("networkpolicy", network_name(HUB, username)),
    }


def run_code(lab: Page, code: str) -> str:
    """A new notebook runs ``code``; its first output. A run asked for before the kernel's
    connection is up is dropped by JupyterLab, so the run is asked again until it shows."""
    lab.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    editor = lab.locator(".jp-Notebook .jp-Cell .cm-content").first
    expect(editor).to_be_visible(timeout=START_MS)
    editor.click()
    lab.keyboard.type(code)
    output = lab.locator(".jp-OutputArea-output").first
    for _ in range(12):
        lab.get_by_role("menuitem", name="Run", exact=True).click()
        lab.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            expect(output).to_be_visible(timeout=10_000)
            return output.inner_text().strip()
        except AssertionError:
            continue
    lab.screenshot(path="/tmp/lab-k8s.png")
    raise AssertionError("the notebook's cell never ran")


def test_every_pod_of_the_chart_is_ready_and_restricted(release):
    chart_pods = pods(release, f"app.kubernetes.io/instance={RELEASE}")
    components = sorted(pod["metadata"]["labels"]["mlhub.component"] for pod in chart_pods)
    assert components == ["hub", "portal", "proxy"]
    for pod in chart_pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"]
        assert ready == "True", pod["metadata"]["name"]
        assert violations(pod["spec"]) == [], pod["metadata"]["name"]


def test_a_person_opens_jupyterlab_on_their_origin_and_a_kernel_runs_code(release, new_context):  # noqa: F811
    username, password = PERSON
    page = new_context().new_page()
    log_in(page, release, username, password)
    submit_new_workspace(page, "notes")
    token = release.token_for(username, password)
    (notes,) = (
        release.api(token).get(f"{release.url}/api/v1/workspaces/", timeout=30).json()["results"]
    )
    release.wait_for_state(token, notes["id"], "running", timeout=START_MS / 1000)
    page.reload()
    expect(page.locator('[data-workspace="notes"] .state')).to_have_text("Running")
    lab = open_in_jupyterlab(page, release, username, "notes")
    assert re.fullmatch(rf"http://{username}\.localhost:\d+/user/{username}/notes/lab.*", lab.url)
    assert run_code(lab, "print(6 * 7)") == "42"

    made = workspace_objects(release, username, "notes")
    assert all(made.values()), {kind: bool(found) for kind, found in made.items()}
    labels = made["pod"]["metadata"]["labels"]
    assert {key: labels[key] for key in ("mlhub.origin", "mlhub.user", "mlhub.server_name")} == {
        "mlhub.origin": HUB,
        "mlhub.user": username,
        "mlhub.server_name": "notes",
    }
    assert made["pod"]["metadata"]["annotations"]["mlhub.username"] == username
    assert violations(made["pod"]["spec"]) == []
    claim = made["pod"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == made["pvc"]["metadata"]["name"]
    assert made["pvc"]["status"]["phase"] == "Bound"


def workspace_answers(release: Release, workspace: dict, bearer: dict) -> int:
    """The status of the workspace's own API through the proxy (0: no answer)."""
    try:
        reply = requests.get(workspace["url"] + "api/status", headers=bearer, timeout=5)
    except requests.RequestException:
        return 0
    return reply.status_code


@pytest.fixture(scope="module")
def lab(release):
    """A running workspace of the person's, and a token of theirs for its API."""
    token = release.token_for(*PERSON)
    created = release.api(token).post(
        f"{release.url}/api/v1/workspaces/", json={"name": "lab", "cpu": 0.5}, timeout=30
    )
    assert created.status_code == 201, created.text
    running = release.wait_for_state(token, created.json()["id"], "running", timeout=180)
    issued = release.api(token).post(
        f"{release.url}/api/v1/workspaces/{running['id']}/token/", json={"lifetime": 3600}
    )
    assert issued.status_code == 200, issued.text
    return {
        **running,
        "token": token,
        "bearer": {"Authorization": f"token {issued.json()['token']}"},
    }


def pod_uid(release: Release, name: str) -> str:
    return release.kube.jsonpath("pod", name, "-n", release.namespace, path="{.metadata.uid}")


def test_the_hub_pod_deleted_while_a_lab_is_open_keeps_the_lab_answering(release, lab):
    workspace_pod = container_name(HUB, PERSON[0], "lab")
    before = pod_uid(release, workspace_pod)
    answers: Counter = Counter()
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            answers[workspace_answers(release, lab, lab["bearer"])] += 1
            time.sleep(0.2)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        time.sleep(1)
        release.kube.kubectl(
            "delete", "pod", "-n", release.namespace, "-l", "mlhub.component=hub", "--wait=true"
        )
        release.kube.kubectl(
            "wait",
            "-n",
            release.namespace,
            "--for=condition=Ready",
            "pod",
            "-l",
            "mlhub.component=hub",
            "--timeout=180s",
        )
        time.sleep(2)
    finally:
        done.set()
        asking.join()
    assert set(answers) == {200}, answers  # every request, during and after
    assert answers[200] > 20
    assert pod_uid(release, workspace_pod) == before  # nothing was re-created
    state = release.api(lab["token"]).get(f"{release.url}/api/v1/workspaces/{lab['id']}/")
    assert state.json()["state"] == "running"


def test_a_file_survives_stop_and_start_and_delete_removes_pod_service_and_claim(release, lab):
    api, url = release.api(lab["token"]), f"{release.url}/api/v1/workspaces/{lab['id']}/"
    contents = lab["url"] + "api/contents/kept.txt"
    body = {"type": "file", "format": "text", "content": "written before the stop"}
    assert requests.put(contents, json=body, headers=lab["bearer"], timeout=30).status_code == 201
    assert api.post(url + "stop/", timeout=30).status_code == 200
    release.wait_for_state(lab["token"], lab["id"], "stopped", timeout=120)
    assert api.post(url + "start/", timeout=30).status_code == 200
    release.wait_for_state(lab["token"], lab["id"], "running", timeout=180)
    kept = requests.get(contents, headers=lab["bearer"], timeout=30)
    assert kept.status_code == 200 and kept.json()["content"] == "written before the stop"

    assert api.delete(url, timeout=30).status_code == 204
    release.kube.wait_for(
        "the workspace's pod, Service and claim to go",
        lambda: (
            not any(
                found
                for kind, found in workspace_objects(release, PERSON[0], "lab").items()
                if kind != "policy"  # the person's, kept while they have workspaces ("notes")
            )
        ),
        seconds=120,
    )


def test_an_upgrade_restarts_the_hub_and_the_portal_and_keeps_workspaces_running(release):
    notes = workspace_objects(release, PERSON[0], "notes")["pod"]  # the browser test's
    assert notes is not None
    proxy_before = {pod["metadata"]["uid"] for pod in pods(release, "mlhub.component=proxy")}
    hub_before = {pod["metadata"]["uid"] for pod in pods(release, "mlhub.component=hub")}
    token = release.token_for(*PERSON)
    (workspace,) = [
        w
        for w in release.api(token).get(f"{release.url}/api/v1/workspaces/").json()["results"]
        if w["name"] == "notes"
    ]
    issued = release.api(token).post(
        f"{release.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 3600}
    )
    bearer = {"Authorization": f"token {issued.json()['token']}"}
    answers: Counter = Counter()
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            answers[workspace_answers(release, workspace, bearer)] += 1
            time.sleep(0.2)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        port = release.url.rsplit(":", 1)[1]
        brand = ("--set-string", "mlhub.env.MLHUB_BRAND_NAME=Course Lab")
        helm(
            release.kube,
            release.namespace,
            "upgrade",
            RELEASE,
            str(CHART),
            *values(release.kube, int(port)),
            *brand,
            "--wait",
            "--timeout",
            "5m",
        )
    finally:
        done.set()
        asking.join()
    assert set(answers) == {200}, answers  # the workspace answered throughout
    assert {pod["metadata"]["uid"] for pod in pods(release, "mlhub.component=proxy")} == (
        proxy_before
    )
    assert not {pod["metadata"]["uid"] for pod in pods(release, "mlhub.component=hub")} & hub_before
    after = workspace_objects(release, PERSON[0], "notes")["pod"]
    assert after["metadata"]["uid"] == notes["metadata"]["uid"]
    release.kube.wait_for(
        "the portal to answer with the new brand",
        lambda: "Course Lab" in requests.get(f"{release.url}/accounts/login/", timeout=10).text,
        seconds=120,
    )
    state = release.api(token).get(f"{release.url}/api/v1/workspaces/{workspace['id']}/")
    assert state.json()["state"] == "running"


def test_uninstall_leaves_only_the_workspaces_objects(release):
    helm(release.kube, release.namespace, "uninstall", RELEASE, "--wait")
    left = release.kube.kubectl(
        "get",
        "deployments,pods,services,pvc,secrets,configmaps,networkpolicies,"
        "serviceaccounts,roles,rolebindings",
        "-n",
        release.namespace,
        "-o",
        "json",
    )
    names = {
        f"{item['kind']}/{item['metadata']['name']}"
        for item in json.loads(left.stdout)["items"]
        if item["metadata"].get("labels", {}).get("mlhub.origin") != HUB
    }
    # Only what Kubernetes makes in every namespace, besides the workspaces' objects.
    assert {
        name
        for name in names
        if not re.match(
            r"(Secret/default-token-|ServiceAccount/default$|ConfigMap/kube-root-ca)", name
        )
    } == set()
    kept = workspace_objects(release, PERSON[0], "notes")
    assert all(kept.values()), {kind: bool(found) for kind, found in kept.items()}
