"""The Helm chart installed for real on the test cluster serves a person end to end.

`helm install` of the MLHub image (imported into the node) with PostgreSQL (a pod of the
PostgreSQL image made for compose, in the release's namespace) and two portal replicas, its
hub on SQLite as releases had it before the hub moved to PostgreSQL (`hub.db.type=sqlite-pvc`):
the `helm upgrade` with the chart's defaults moves the hub's database into PostgreSQL while a
lab stays open; beside it, in a namespace of its own, a second release with the SQLite trial
values. Each proxy's pod
is reached through a local relay (tests/k8s/tcp_relay.py) as http://localhost:<port>, so
each person's workspaces are on http://<name>.localhost:<port>, as in a browser anywhere. The
test cluster has no kube-proxy: the chart's pods reach the API server at its advertised
address (KUBERNETES_SERVICE_HOST), and Service names through the harness's DNS
(docs/kubernetes-test-cluster.md). NetworkPolicy is not enforced there: the policy objects
are asserted, isolation is not claimed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.labels import annotations, container_name, labels, network_name, volume_name
from tests.browser.conftest import browser, playwright_driver  # noqa: F401
from tests.browser.test_scenarios import new_context, open_in_jupyterlab  # noqa: F401
from tests.browser.test_workspace_pages import log_in, submit_new_workspace
from tests.docker_engine import docker_client, engine_held, require_image  # noqa: F401
from tests.helm.test_chart import CHART, HELM
from tests.hub_stack import (
    RunningHub,
    free_port,
    portal_login,
    resolve_localhost_subdomains,
)
from tests.k8s.cluster import BUSYBOX_IMAGE
from tests.k8s.conftest import WORKSPACE_IMAGE
from tests.k8s.tcp_relay import TcpRelay
from tests.pod_security import violations

pytestmark = [pytest.mark.k8s, pytest.mark.browser]

RELEASE = "mlhub"
HUB = "mlhub"  # the chart's default mlhub.hubName
# Another tag (MLHUB_TEST_IMAGE, as tests/deploy/mlhub_image.py) runs this checkout's image
# beside an engine's mlhub:latest that others use.
MLHUB_IMAGE = os.environ.get("MLHUB_TEST_IMAGE", "mlhub:latest")
POSTGRES_IMAGE = "mlhub-postgres:15"  # make postgres-image (deploy/compose/postgres)
PERSON = ("ines", "ines-pass-5821")
START_MS = 180_000
# A workspace pod of someone the portal never had: what the cleanup running in the cluster
# (the task cluster's schedule, CLEANUP_INTERVAL_SECONDS below) must remove.
LEFTOVER = ("gone", "old")
TRIAL_BASE_URL = "/mlhub/"  # the SQLite trial release's path prefix (mlhub.baseUrl)
TESTS_OWN = {"mlhub-test": "postgres"}  # the release's database, the test's not the chart's


@dataclass
class Release(RunningHub):
    """The installed release, as the tests of a local stack see one (tests/hub_stack.py)."""

    namespace: str = ""
    kube: object = None
    relay: TcpRelay | None = None
    database_url: str = ""  # the release's values: PostgreSQL's, or "" for SQLite's

    def logs(self, lines: int = 40) -> str:
        out = []
        for component in ("hub", "portal", "tasks", "proxy"):
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


def values(
    kube, port: int, database_url: str = "", base_url: str = "/", hub_db_type: str = ""
) -> list[str]:
    """The release's values: the SQLite trial's, or with ``database_url`` PostgreSQL, two
    portal replicas and the cleanup schedule every minute; under the path ``base_url``;
    ``hub_db_type``: the hub's database's (hub.db.type), the chart's default if empty."""
    api = kube.jsonpath(
        "endpoints", "kubernetes", "-n", "default", path="{.subsets[0].addresses[0].ip}"
    )
    repository, tag = MLHUB_IMAGE.rsplit(":", 1)
    settings = {
        "image.repository": repository,
        "image.tag": tag,
        "mlhub.publicUrl": f"http://localhost:{port}",
        "mlhub.baseUrl": base_url,
        "image.pullPolicy": "Never",  # imported into the node; no registry
        "singleuser.image.pullPolicy": "Never",
        "singleuser.storage.capacity": "1Gi",  # the test cluster's volumes are 1Gi
        # No kube-proxy: the API server's own address, not the ClusterIP the pods are given.
        "mlhub.env.KUBERNETES_SERVICE_HOST": api,
        "mlhub.env.KUBERNETES_SERVICE_PORT": "6443",
        # Cleanup may take any leftover at once (test_the_cleanup_running_in_the_cluster_...).
        "mlhub.env.MLHUB_CLEANUP_GRACE_SECONDS": "0",
    }
    if database_url:
        settings |= {
            "postgresql.url": database_url,
            "mlhub.env.CLEANUP_INTERVAL_SECONDS": "60",
        }
    if hub_db_type:
        settings["hub.db.type"] = hub_db_type
    numbers = ["--set", "portal.replicas=2"] if database_url else []
    strings = [
        arg for name, value in settings.items() for arg in ("--set-string", f"{name}={value}")
    ]
    return strings + numbers


def postgres_in(kube, namespace: str) -> str:
    """PostgreSQL in a pod of ``namespace`` (its data in the pod: gone with it); its URL."""
    password = secrets.token_hex(12)
    name = "postgres"
    selector = {"app": name, **TESTS_OWN}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": TESTS_OWN},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": name,
                            "image": POSTGRES_IMAGE,
                            "imagePullPolicy": "Never",
                            "env": [
                                {"name": "POSTGRES_USER", "value": "mlhub"},
                                {"name": "POSTGRES_DB", "value": "mlhub"},
                                {"name": "POSTGRES_PASSWORD", "value": password},
                            ],
                            "ports": [{"containerPort": 5432}],
                            "readinessProbe": {
                                "exec": {"command": ["pg_isready", "-U", "mlhub", "-d", "mlhub"]},
                                "periodSeconds": 2,
                            },
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql/data"}
                            ],
                        }
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": TESTS_OWN},
        "spec": {"selector": selector, "ports": [{"port": 5432, "targetPort": 5432}]},
    }
    manifest = {"apiVersion": "v1", "kind": "List", "items": [deployment, service]}
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    kube.kubectl(
        "rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s", timeout=150
    )
    return f"postgres://mlhub:{password}@{name}.{namespace}.svc.cluster.local:5432/mlhub"


def leftover_pod(kube, namespace: str) -> str:
    """A workspace pod, labelled as the hub labels one, of a person the portal never had."""
    username, server = LEFTOVER
    name = container_name(HUB, username, server)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels(HUB, username, server, 0),
            "annotations": annotations(username),
        },
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "notebook",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                }
            ],
        },
    }
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    return name


def installed(
    kube, namespace: str, port: int, database_url: str = "", base_url: str = "/"
) -> Release:
    """The release's proxy behind a relay on ``port``, and its admin's token."""
    (proxy,) = pods_in(kube, namespace, "mlhub.component=proxy")
    relay = TcpRelay(port, (proxy["status"]["podIP"], 8000))
    password = base64.b64decode(
        kube.jsonpath(
            "secret", f"{RELEASE}-secrets", "-n", namespace, path="{.data.MLHUB_ADMIN_PASSWORD}"
        )
    ).decode()
    release = Release(
        url=f"http://localhost:{port}{base_url.rstrip('/')}",
        hub_api="",
        hub_token="",
        admin_token="",
        stack=None,
        namespace=namespace,
        kube=kube,
        relay=relay,
        database_url=database_url,
    )
    # Ready pods are in the Service's endpoints a moment later (here: the test DNS, within a
    # second; on a real cluster: kube-proxy's rules), so the proxy's first requests may not
    # reach the portal yet: as a person would, wait until the login page answers.
    kube.wait_for(
        "the portal to answer through the proxy",
        lambda: requests.get(f"{release.url}/accounts/login/", timeout=10).status_code == 200,
        seconds=60,
    )
    try:
        release.admin_token = release.token_for("admin", password)
    except AssertionError as refused:  # the pods' own words say why
        relay.close()
        raise AssertionError(f"{refused}\n{release.logs()}") from None
    return release


def helm_install(
    kube,
    namespace: str,
    port: int,
    database_url: str = "",
    base_url: str = "/",
    hub_db_type: str = "",
) -> subprocess.Popen:
    """`helm install --wait`, started: the caller waits (`finished`)."""
    command = [str(HELM), "install", RELEASE, str(CHART)]
    command += values(kube, port, database_url, base_url, hub_db_type)
    command += ["--wait", "--timeout", "5m", "--namespace", namespace]
    command += ["--kubeconfig", str(kube.kubeconfig)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(install: subprocess.Popen) -> None:
    out, _ = install.communicate(timeout=600)
    assert install.returncode == 0, out


def uninstall(kube, namespace: str) -> None:
    subprocess.run(
        [str(HELM), "uninstall", RELEASE, "-n", namespace, "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def images_in_the_node(kube, docker_client):  # noqa: F811
    with engine_held():  # the soak may restart the engine beside these tests (Makefile)
        for image in (MLHUB_IMAGE, WORKSPACE_IMAGE, POSTGRES_IMAGE):
            require_image(docker_client, image)
            kube.import_image(image)
    kube.recycle_volumes()  # earlier modules' claims are gone; their volumes serve again
    resolve_localhost_subdomains()


@pytest.fixture(scope="module")
def trial_install(kube, images_in_the_node):
    """The SQLite trial release under a path prefix, installing in a namespace of its own
    while the PostgreSQL release installs (test_the_sqlite_trial_release_...)."""
    namespace, port = f"mlk-trial-{secrets.token_hex(3)}", free_port()
    kube.kubectl("create", "namespace", namespace)
    install = helm_install(kube, namespace, port, base_url=TRIAL_BASE_URL)
    try:
        yield namespace, port, install
    finally:
        install.kill()
        install.communicate()
        uninstall(kube, namespace)
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def release(kube, module_namespace, images_in_the_node):
    namespace, port = module_namespace, free_port()
    database_url = postgres_in(kube, namespace)
    # Its hub on SQLite, as before the chart moved it to PostgreSQL: the upgrade moves it
    # (test_an_upgrade_restarts_the_hub_...).
    finished(helm_install(kube, namespace, port, database_url, hub_db_type="sqlite-pvc"))
    leftover_pod(kube, namespace)
    release = installed(kube, namespace, port, database_url)
    release.user_create(*PERSON)
    try:
        yield release
    finally:
        release.relay.close()
        uninstall(kube, namespace)  # already, when the last test passed


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


def assert_ready_and_restricted(chart_pods: list[dict]) -> None:
    for pod in chart_pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"]
        assert ready == "True", pod["metadata"]["name"]
        assert violations(pod["spec"]) == [], pod["metadata"]["name"]


def components_of(chart_pods: list[dict]) -> list[str]:
    return sorted(pod["metadata"]["labels"]["mlhub.component"] for pod in chart_pods)


def test_the_sqlite_trial_release_under_a_path_prefix_serves_a_workspace(
    kube, trial_install, release
):
    # `release` first: the PostgreSQL release installs while the trial's `helm install` runs.
    namespace, port, install = trial_install
    finished(install)
    trial = installed(kube, namespace, port, base_url=TRIAL_BASE_URL)
    try:
        chart_pods = pods_in(kube, namespace, f"app.kubernetes.io/instance={RELEASE}")
        assert components_of(chart_pods) == ["hub", "portal", "proxy"]
        (portal,) = [
            p for p in chart_pods if p["metadata"]["labels"]["mlhub.component"] == "portal"
        ]
        assert [c["name"] for c in portal["spec"]["containers"]] == ["portal", "tasks"]
        assert_ready_and_restricted(chart_pods)
        # The trial's hub keeps SQLite on its volume.
        assert hub_has_file(kube, namespace, "/data/hub/jupyterhub.sqlite")
        claims = kube.kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout
        assert {
            c["metadata"]["name"]: c["status"]["phase"] for c in json.loads(claims)["items"]
        } == {
            f"{RELEASE}-hub-data": "Bound",
            f"{RELEASE}-portal-data": "Bound",
        }
        # The admin's token came from its password (installed), under the prefix; the root
        # leads there.
        me = trial.api(trial.admin_token).get(f"{trial.url}/api/v1/me/", timeout=30)
        assert me.status_code == 200 and me.json()["username"] == "admin", me.text
        root = requests.get(f"http://localhost:{port}/", allow_redirects=False, timeout=10)
        assert (root.status_code, root.headers["Location"]) == (302, TRIAL_BASE_URL)
        # A workspace runs and answers on its owner's origin, under the prefix.
        username, password = PERSON
        trial.user_create(username, password)
        token = trial.token_for(username, password)
        made = trial.api(token).post(
            f"{trial.url}/api/v1/workspaces/", json={"name": "trial", "cpu": 0.5}, timeout=30
        )
        assert made.status_code == 201, made.text
        running = trial.wait_for_state(token, made.json()["id"], "running", timeout=180)
        assert running["url"] == f"http://{username}.localhost:{port}/mlhub/user/{username}/trial/"
        issued = trial.api(token).post(
            f"{trial.url}/api/v1/workspaces/{running['id']}/token/", json={"lifetime": 600}
        )
        bearer = {"Authorization": f"token {issued.json()['token']}"}
        status = requests.get(running["url"] + "api/status", headers=bearer, timeout=30)
        assert status.status_code == 200 and "started" in status.json(), status.text
        gone = trial.api(token).delete(f"{trial.url}/api/v1/workspaces/{running['id']}/")
        assert gone.status_code == 204, gone.text
    finally:
        trial.relay.close()
        uninstall(kube, namespace)
        # Its pods' CPU is the other release's now (the test node has two cores).
        kube.kubectl(
            "delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--force", check=False
        )


def test_every_pod_of_the_postgresql_release_is_ready_and_restricted(release):
    chart_pods = pods(release, f"app.kubernetes.io/instance={RELEASE}")
    # Two portal replicas; the task cluster in its own pod, one.
    assert components_of(chart_pods) == ["hub", "portal", "portal", "proxy", "tasks"]
    assert_ready_and_restricted(chart_pods)


def measured(capsys, what: str, answers: Counter) -> None:
    """The interruption seen, in the run's output whether the test passes or fails."""
    with capsys.disabled():
        print(f"\n  measured, {what}: {dict(answers)}")


def test_a_portal_replica_deleted_while_people_read_loses_no_request(release, capsys):
    """Every request of a client reading the API in a loop, and of a person's logged-in
    session reading a page, is answered by one replica or the other while one is deleted."""
    token = release.token_for(*PERSON)
    api = release.api(token)
    session = portal_login(release.url, *PERSON)  # one session, served by both replicas
    answers: Counter = Counter()
    done = threading.Event()

    def read(what: str, get, url: str) -> None:
        while not done.is_set():
            try:
                answers[what, get(url, timeout=10, allow_redirects=False).status_code] += 1
            except requests.RequestException as error:
                answers[what, type(error).__name__] += 1
            time.sleep(0.05)

    readers = [
        threading.Thread(target=read, args=("api", api.get, f"{release.url}/api/v1/workspaces/")),
        # A 302 to the login page would be a session one replica did not know.
        threading.Thread(target=read, args=("page", session.get, f"{release.url}/")),
    ]
    for reader in readers:
        reader.start()
    try:
        time.sleep(1)
        victim = pods(release, "mlhub.component=portal")[0]["metadata"]["name"]
        release.kube.kubectl("delete", "pod", victim, "-n", release.namespace, "--wait=true")
        release.kube.kubectl(
            "rollout",
            "status",
            f"deployment/{RELEASE}-portal",
            "-n",
            release.namespace,
            "--timeout=180s",
            timeout=200,
        )
        time.sleep(2)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    measured(capsys, "a portal replica deleted (reader, status: count)", answers)
    assert set(answers) == {("api", 200), ("page", 200)}, answers
    assert min(answers.values()) > 20


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
    # The page reloads itself once the start settles (portal/static/mlhub/workspaces.js): a
    # reload of ours raced it and was aborted ("frame was detached", CI 2026-12-06).
    expect(page.locator('[data-workspace="notes"] .state')).to_have_text("Running", timeout=30_000)
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


def test_the_hub_pod_deleted_while_a_lab_is_open_keeps_the_lab_answering(release, lab, capsys):
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
    measured(capsys, "the hub's pod deleted (the lab's status: count)", answers)
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


def test_an_upgrade_restarts_the_hub_and_the_portal_and_keeps_workspaces_running(release, capsys):
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
    portal: Counter = Counter()  # PostgreSQL, two replicas: rolled one at a time
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            answers[workspace_answers(release, workspace, bearer)] += 1
            try:
                read = release.api(token).get(f"{release.url}/api/v1/workspaces/", timeout=10)
                portal[read.status_code] += 1
            except requests.RequestException as error:
                portal[type(error).__name__] += 1
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
            # The same values but the chart's default hub.db (its database moves to
            # PostgreSQL: test_after_the_upgrade_the_hub_keeps_...), and:
            *values(release.kube, int(port), release.database_url),
            *brand,
            "--wait",
            "--timeout",
            "5m",
        )
    finally:
        done.set()
        asking.join()
    measured(capsys, "helm upgrade (the lab's status: count)", answers)
    measured(capsys, "helm upgrade (the portal API's status: count)", portal)
    assert set(answers) == {200}, answers  # the workspace answered throughout
    assert set(portal) == {200}, portal  # and the portal
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
    assert state.status_code == 200, state.text
    assert state.json()["state"] == "running"


def test_after_the_upgrade_the_hub_keeps_its_state_in_its_own_postgresql_database(release):
    # The upgrade's hub pod moved the SQLite database of the release's first hub into the
    # database beside the portal's, named after it, and runs on it.
    (hub,) = pods(release, "mlhub.component=hub")
    assert [c["name"] for c in hub["spec"]["initContainers"]] == ["hub-database"]
    said = release.kube.kubectl(
        "logs", "-n", release.namespace, hub["metadata"]["name"], "-c", "hub-database"
    ).stdout
    assert "mlhub: made the hub's database postgresql+psycopg://mlhub:***@postgres." in said
    assert "mlhub: moved /data/hub/jupyterhub.sqlite into" in said
    assert not hub_has_file(release.kube, release.namespace, "/data/hub/jupyterhub.sqlite")
    assert hub_has_file(release.kube, release.namespace, "/data/hub/jupyterhub.sqlite.moved-*")
    assert PERSON[0] in psql_in(release, "mlhub_hub", "SELECT name FROM users")
    assert psql_in(release, "mlhub_hub", "SELECT name FROM spawners WHERE name = 'notes'") == [
        "notes"
    ]
    # What the hub does from now on is written there: the server's row goes with a stop and
    # comes back with a start.
    server = "SELECT server_id IS NOT NULL FROM spawners WHERE name = 'notes'"
    assert psql_in(release, "mlhub_hub", server) == ["t"]
    token = release.token_for(*PERSON)
    (notes,) = [
        w
        for w in release.api(token).get(f"{release.url}/api/v1/workspaces/").json()["results"]
        if w["name"] == "notes"
    ]
    url = f"{release.url}/api/v1/workspaces/{notes['id']}/"
    assert release.api(token).post(url + "stop/", timeout=30).status_code == 200
    release.wait_for_state(token, notes["id"], "stopped", timeout=120)
    assert psql_in(release, "mlhub_hub", server) == ["f"]
    assert release.api(token).post(url + "start/", timeout=30).status_code == 200
    release.wait_for_state(token, notes["id"], "running", timeout=180)
    assert psql_in(release, "mlhub_hub", server) == ["t"]


def hub_has_file(kube, namespace: str, pattern: str) -> bool:
    found = kube.kubectl(
        "exec",
        "-n",
        namespace,
        f"deploy/{RELEASE}-hub",
        "-c",
        "hub",
        "--",
        "sh",
        "-c",
        f"ls {pattern}",
        check=False,
    )
    return found.returncode == 0


def psql_in(release: Release, database: str, query: str) -> list[str]:
    """``query``'s rows in ``database`` of the release's PostgreSQL pod, one line each."""
    found = release.kube.kubectl(
        "exec",
        "-n",
        release.namespace,
        "deploy/postgres",
        "--",
        "psql",
        "-U",
        "mlhub",
        "-d",
        database,
        "-tAc",
        query,
    )
    return found.stdout.splitlines()


def test_the_cleanup_running_in_the_cluster_removed_the_leftover_pod(release):
    # Made right after the install; the task cluster's schedule runs every minute.
    name = container_name(HUB, *LEFTOVER)

    def gone() -> bool:
        found = release.kube.kubectl("get", "pod", name, "-n", release.namespace, check=False)
        return found.returncode != 0 and "NotFound" in found.stderr

    release.kube.wait_for(f"the cleanup schedule to remove {name}", gone, seconds=180)
    assert workspace_objects(release, PERSON[0], "notes")["pod"] is not None  # a person's stays
    reports = release.api(release.admin_token).get(f"{release.url}/api/v1/cleanup/runs/")
    assert reports.status_code == 200, reports.text
    assert any(name in json.dumps(run) for run in reports.json()["results"]), reports.json()


def test_uninstall_leaves_only_the_workspaces_objects(release):
    helm(release.kube, release.namespace, "uninstall", RELEASE, "--wait")
    # `--wait` waits for the Deployments; their pods end a moment later (the portal's after
    # its stop delay).
    release.kube.wait_for(
        "the chart's pods to end",
        lambda: not pods(release, f"app.kubernetes.io/instance={RELEASE}"),
        seconds=90,
    )
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
        and not TESTS_OWN.items() <= item["metadata"].get("labels", {}).items()
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
