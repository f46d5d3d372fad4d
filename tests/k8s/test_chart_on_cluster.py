"""The Helm chart against the real Kubernetes 1.20.2 API server of kube-test-cluster.sh.

Every render goes through the server's own admission and validation (`kubectl apply
--dry-run=server`: nothing is stored; kubectl 1.30 against the 1.20.2 server works for this).
The hub's ServiceAccount, Role and RoleBinding are applied for real, and the API server's
authorizer is asked what that account may do. A real `helm install` and `helm upgrade` show
the generated secrets kept, and the SQLite pod, run with busybox in place of the MLHub image,
shows which container holds the account's token.
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
import yaml

from tests.helm.test_chart import CHART, DATABASE_URL, FAKE_CERT, FAKE_KEY, HELM, ROLE_RULES
from tests.k8s.cluster import BUSYBOX_IMAGE, KUBECTL
from tests.parts import require

pytestmark = pytest.mark.k8s

RELEASE = "mlhub"
ACCOUNT = f"{RELEASE}-hub"
ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
USER_CONFIG = "c.Spawner.start_timeout = 300\n"

VARIANTS = {
    "defaults": (),
    "postgresql-ingress-https-user-config": (
        "--set",
        f"postgresql.url={DATABASE_URL}",
        "--set",
        "ingress.enabled=true",
        "--set",
        "ingress.hosts={hub.example.org}",
        "--set",
        "proxy.https.enabled=true",
        "--set-file",
        "proxy.https.manual.cert={cert}",
        "--set-file",
        "proxy.https.manual.key={key}",
        "--set-file",
        "userConfig={user_config}",
        "--set",
        "singleuser.gpu.max=1",
    ),
    "https-at-the-proxy-loadbalancer": (
        "--set",
        "proxy.https.enabled=true",
        "--set-file",
        "proxy.https.manual.cert={cert}",
        "--set-file",
        "proxy.https.manual.key={key}",
        "--set",
        "proxy.service.type=LoadBalancer",
        "--set",
        "networkPolicy.enabled=false",
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("values")
    paths = {}
    for name, text in (("cert", FAKE_CERT), ("key", FAKE_KEY), ("user_config", USER_CONFIG)):
        (folder / name).write_text(text)
        paths[name] = str(folder / name)
    return paths


def helm_template(namespace: str, *args: str, files: dict[str, str] | None = None) -> str:
    require(HELM.exists(), f"{HELM} is missing: run `make setup`")
    for name, path in (files or {}).items():
        args = tuple(arg.replace(f"{{{name}}}", path) for arg in args)
    result = subprocess.run(
        [str(HELM), "template", RELEASE, str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects_of(manifest: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_api_server_accepts_every_object_of_the_chart(kube, kube_namespace, variant, files):
    manifest = helm_template(kube_namespace, *VARIANTS[variant], files=files)
    result = kube.kubectl(
        "apply", "--dry-run=server", "-n", kube_namespace, "-f", "-", input=manifest
    )
    expected = {f"{obj['kind'].lower()}/{obj['metadata']['name']}" for obj in objects_of(manifest)}
    answered = set()
    for line in result.stdout.splitlines():
        resource, name = line.split(" ")[0].split("/", 1)
        answered.add(f"{resource.split('.')[0]}/{name}")  # deployment.apps/x -> deployment/x
    assert answered == expected, result.stdout + result.stderr
    assert all(line.endswith("(server dry run)") for line in result.stdout.splitlines())
    # Nothing was stored.
    left = kube.kubectl(
        "get", "all,secrets,pvc,networkpolicies", "-n", kube_namespace, "-o", "name"
    )
    assert f"deployment.apps/{RELEASE}-hub" not in left.stdout


def test_the_dry_run_is_a_real_check(kube, kube_namespace):
    # The same path refuses an object the API server finds invalid (port out of range), so
    # the acceptance above means something.
    manifest = helm_template(kube_namespace).replace("port: 8081", "port: 80810")
    result = kube.kubectl(
        "apply", "--dry-run=server", "-n", kube_namespace, "-f", "-", input=manifest, check=False
    )
    assert result.returncode != 0
    assert f'Service "{RELEASE}-hub" is invalid' in result.stderr


def rbac_only(manifest: str) -> str:
    kinds = {"ServiceAccount", "Role", "RoleBinding"}
    return yaml.safe_dump_all([o for o in objects_of(manifest) if o["kind"] in kinds])


@pytest.fixture
def hub_account(kube, kube_namespace):
    """The chart's ServiceAccount, Role and RoleBinding, really applied in a fresh namespace."""
    manifest = rbac_only(helm_template(kube_namespace))
    kube.kubectl("apply", "-n", kube_namespace, "-f", "-", input=manifest)
    kube.wait_for(
        "the hub's RoleBinding",
        lambda: (
            kube.kubectl(
                "get", "rolebinding", ACCOUNT, "-n", kube_namespace, check=False
            ).returncode
            == 0
        ),
    )
    return kube_namespace


OWN = "own"  # the release's namespace
CLUSTER = "cluster"  # a cluster-scoped resource, or every namespace at once


def ask(kube, namespace: str, verb: str, resource: str, where: str = OWN) -> bool:
    """Whether the API server lets the hub's account `verb` `resource` (`where`): a
    SubjectAccessReview, which needs no discovery (`kubectl auth can-i` maps a resource by it,
    and asks about another group for one this cluster does not serve, metrics.k8s.io)."""
    name, _, subresource = resource.partition("/")  # "pods/exec"
    plural, _, group = name.partition(".")  # "networkpolicies.networking.k8s.io"
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{namespace}:{ACCOUNT}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "namespace": {OWN: namespace, CLUSTER: ""}.get(where, where),
                "verb": verb,
                "group": group,
                "resource": plural,
                "subresource": subresource,
            },
        },
    }
    result = kube.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review))
    return json.loads(result.stdout)["status"].get("allowed", False)


def granted() -> list[tuple[str, str]]:
    """(verb, resource) for every verb of the Role's literal rules (tests/helm)."""
    pairs = []
    for rule in ROLE_RULES:
        group = rule["apiGroups"][0]
        for resource in rule["resources"]:
            name = f"{resource}.{group}" if group else resource
            pairs += [(verb, name) for verb in rule["verbs"]]
    return pairs


NOT_GRANTED = [
    # A shell or a tunnel by the other ways (an exec is "create pods/exec", granted for a
    # warm slot's claim: the account can create pods, which is more than an exec).
    ("get", "pods/exec", OWN),
    ("create", "pods/attach", OWN),
    ("create", "pods/portforward", OWN),
    # Changing what exists instead of making and deleting it (patch: relabelling a claimed
    # slot's pod and claim only).
    ("update", "pods", OWN),
    ("deletecollection", "pods", OWN),
    ("update", "networkpolicies.networking.k8s.io", OWN),
    ("patch", "networkpolicies.networking.k8s.io", OWN),
    ("update", "secrets", OWN),
    ("watch", "secrets", OWN),
    ("create", "events", OWN),
    # Other kinds, in its own namespace.
    ("create", "deployments.apps", OWN),
    ("create", "configmaps", OWN),
    ("create", "roles.rbac.authorization.k8s.io", OWN),
    ("create", "rolebindings.rbac.authorization.k8s.io", OWN),
    # Anything outside its namespace.
    ("get", "secrets", "default"),
    ("list", "pods", "kube-system"),
    ("create", "pods", "default"),
    ("list", "pods", CLUSTER),
    ("list", "nodes", CLUSTER),
    ("create", "namespaces", CLUSTER),
    ("list", "persistentvolumes", CLUSTER),
    # The metrics API: its own namespace's pods only, and only listed.
    ("list", "pods.metrics.k8s.io", CLUSTER),
    ("list", "nodes.metrics.k8s.io", CLUSTER),
]


def test_the_hub_account_may_do_every_verb_of_its_role(kube, hub_account):
    refused = [pair for pair in granted() if not ask(kube, hub_account, *pair)]
    assert refused == []
    assert len(granted()) == 29  # 6 + 1 + 1 + 3 + 4 + 5 + 4 + 4 + 1


def test_the_hub_account_may_do_nothing_else(kube, hub_account):
    allowed = [case for case in NOT_GRANTED if ask(kube, hub_account, *case)]
    assert allowed == []


def helm(kube, namespace: str, *args: str) -> subprocess.CompletedProcess:
    require(HELM.exists(), f"{HELM} is missing: run `make setup`")
    result = subprocess.run(
        [str(HELM), "--kubeconfig", str(kube.kubeconfig), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def secret_values(kube, namespace: str) -> dict[str, str]:
    data = kube.kubectl(
        "get", "secret", f"{RELEASE}-secrets", "-n", namespace, "-o", "jsonpath={.data}"
    ).stdout
    return {key: base64.b64decode(value).decode() for key, value in json.loads(data).items()}


def test_an_upgrade_keeps_the_generated_secrets(kube, kube_namespace):
    # A real install on the test cluster's storage; the Secret is what matters here (the
    # release serving a person: tests/k8s/test_chart_serves_a_person.py).
    install = ("--set", "image.pullPolicy=Never")
    helm(kube, kube_namespace, "install", RELEASE, str(CHART), *install)
    first = secret_values(kube, kube_namespace)
    assert len(first["SECRET_KEY"]) == 50
    helm(
        kube, kube_namespace, "upgrade", RELEASE, str(CHART), *install, "--set", "mlhub.debug=true"
    )
    assert secret_values(kube, kube_namespace) == first
    debug = kube.jsonpath(
        "deployment",
        f"{RELEASE}-portal",
        "-n",
        kube_namespace,
        path="{.spec.template.spec.containers[0].env[?(@.name=='DEBUG')].value}",
    )
    assert debug == "true"  # the upgrade did apply
    # A proxy token given later replaces the generated one, and only that.
    helm(
        kube,
        kube_namespace,
        "upgrade",
        RELEASE,
        str(CHART),
        *install,
        "--set",
        "mlhub.secretToken=given-proxy-token-42",
    )
    after = secret_values(kube, kube_namespace)
    assert after["CONFIGPROXY_AUTH_TOKEN"] == "given-proxy-token-42"
    assert {k: v for k, v in after.items() if k != "CONFIGPROXY_AUTH_TOKEN"} == {
        k: v for k, v in first.items() if k != "CONFIGPROXY_AUTH_TOKEN"
    }


def test_in_the_sqlite_pod_only_the_task_cluster_holds_the_hub_token(kube, hub_account):
    # The chart's own portal pod (SQLite trial: portal and task cluster in one pod), run with
    # busybox in place of the MLHub image: each container reports what it finds where
    # Kubernetes clients look for the in-cluster credentials.
    namespace = hub_account
    objects = objects_of(helm_template(namespace))
    secret = next(o for o in objects if o["kind"] == "Secret")
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(secret))
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("portal")
    )
    spec = deployment["spec"]["template"]["spec"]
    spec.pop("initContainers")
    spec["terminationGracePeriodSeconds"] = 0
    spec["volumes"] = [
        {"name": "data", "emptyDir": {}} if v["name"] == "data" else v for v in spec["volumes"]
    ]
    scripts = {
        # As uid 1000: the secret files are readable through the pod's fsGroup.
        "portal": f"ls {ACCOUNT_DIR} 2>&1; wc -c < /etc/mlhub/secrets/SECRET_KEY; exec sleep 3600",
        "tasks": f"cat {ACCOUNT_DIR}/token; echo; cat {ACCOUNT_DIR}/namespace; echo; "
        f"head -1 {ACCOUNT_DIR}/ca.crt; exec sleep 3600",
    }
    for container in spec["containers"]:
        container.pop("readinessProbe", None)
        container.update(
            image=BUSYBOX_IMAGE,
            imagePullPolicy="Never",
            command=["sh", "-c", scripts[container["name"]]],
        )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "portal"}, "spec": spec}
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    kube.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/portal", "--timeout=90s")

    def log(container: str) -> str:
        return kube.kubectl("logs", "-n", namespace, "portal", "-c", container).stdout

    kube.wait_for("both containers to report", lambda: log("portal") and log("tasks"), seconds=30)
    assert log("portal").split() == f"ls: {ACCOUNT_DIR}: No such file or directory 50".split()
    token, found_namespace, ca_first_line = log("tasks").splitlines()
    assert found_namespace == namespace
    assert ca_first_line == "-----BEGIN CERTIFICATE-----"

    # The token is the hub's account, with its Role and nothing more.
    def can(*args: str) -> str:
        result = subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig=/dev/null",
                f"--server={kube.api_url}",
                "--insecure-skip-tls-verify",
                f"--token={token}",
                "auth",
                "can-i",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout.strip()

    assert can("delete", "pods", "-n", namespace) == "yes"
    assert can("create", "pods", "-n", namespace, "--subresource=portforward") == "no"
    assert can("list", "nodes") == "no"
