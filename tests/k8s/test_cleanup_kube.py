"""Cleanup in Kubernetes mode against the real API server (deploy/scripts/kube-test-cluster.sh):
the real service and KubeBackend, real labelled objects made with kubectl in a fresh namespace,
the hub scripted (tests/portal/scripted_hub.py) with the portal's own people.

Only a gone person's objects of this hub go (all five kinds, pods before their claims); a live
person's, another hub's and one naming nobody stay; a dry run removes nothing; expired objects
go unless a workspace row owns them; an API server that does not answer removes nothing.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from lib.labels import (
    LABEL_ORIGIN,
    annotations,
    container_name,
    label_value,
    labels,
    network_name,
    user_labels,
    volume_name,
)
from portal.audit.models import AuditEntry
from portal.cleanup import service
from spawners.cleanup.backend import EngineUnavailable
from spawners.cleanup.kube_backend import KubeBackend
from tests.k8s.cluster import BUSYBOX_IMAGE
from tests.portal.scripted_hub import ScriptedHub

pytestmark = [pytest.mark.k8s, pytest.mark.django_db]

HUB = "mlhub"
GONE = "gone@example.org"  # not label-safe: its mlhub.user label is hashed
# What `kubectl get -o name` calls each of our kinds.
KUBECTL_KIND = {
    "pod": "pod",
    "service": "service",
    "pvc": "persistentvolumeclaim",
    "secret": "secret",
    "networkpolicy": "networkpolicy.networking.k8s.io",
}
ALL_KINDS = "pods,services,persistentvolumeclaims,secrets,networkpolicies"


def _metadata(name, labels_, user, *, raw=True) -> dict:
    found = {"name": name, "labels": labels_}
    if raw:
        found["annotations"] = annotations(user)
    return found


def workspace_objects(
    user,
    server="thesis",
    *,
    origin=HUB,
    expires=0,
    raw=True,
    kinds=("pod", "service", "pvc", "secret"),
) -> list[dict]:
    """A workspace's objects as the spawner labels them (the pod mounts its claim)."""
    found = {**labels(HUB, user, server, expires), LABEL_ORIGIN: origin}
    name, claim = container_name(HUB, user, server), volume_name(HUB, user, server)
    objects = {
        "pod": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _metadata(name, found, user, raw=raw),
            "spec": {
                # Its own short grace: cleanup deletes with the pod's grace, as for a workspace.
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "main",
                        "image": BUSYBOX_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["sh", "-c", "exec sleep 3600"],
                        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                    }
                ],
                "volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": claim}}],
            },
        },
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(name, found, user, raw=raw),
            "spec": {"ports": [{"port": 8888}], "selector": found},
        },
        "pvc": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _metadata(claim, found, user, raw=raw),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        "secret": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(name, found, user, raw=raw),
            "stringData": {"note": "a workspace's secret"},
        },
    }
    return [objects[kind] for kind in kinds]


def policy(user) -> dict:
    """A person's NetworkPolicy: origin and user labels only."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(network_name(HUB, user), user_labels(HUB, user), user),
        "spec": {
            "podSelector": {"matchLabels": user_labels(HUB, user)},
            "policyTypes": ["Ingress"],
        },
    }


def create(kube, namespace: str, objects: list[dict]) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": objects}
    kube.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(items))


def present(kube, namespace: str) -> set[str]:
    """`kind/name` of everything labelled with an origin (this hub's or another's)."""
    listed = kube.kubectl("get", ALL_KINDS, "-n", namespace, "-l", LABEL_ORIGIN, "-o", "name")
    return set(listed.stdout.split())


def names_of(objects: list[dict]) -> set[str]:
    kinds = {
        "Pod": "pod",
        "Service": "service",
        "PersistentVolumeClaim": "pvc",
        "Secret": "secret",
        "NetworkPolicy": "networkpolicy",
    }
    return {f"{KUBECTL_KIND[kinds[o['kind']]]}/{o['metadata']['name']}" for o in objects}


def wait_until_present(kube, namespace: str, expected: set[str]) -> None:
    # Deleted pods end after their grace and the 1.20 kubelet's 10 s timer; their claims
    # (kubernetes.io/pvc-protection) only then.
    kube.wait_for(
        f"exactly {sorted(expected)} in {namespace}",
        lambda: present(kube, namespace) == expected,
        seconds=120,
    )


@pytest.fixture
def no_grace(settings):
    settings.CLEANUP_GRACE_SECONDS = 0  # the objects are brand new


@pytest.fixture
def backend(kube, kube_namespace) -> KubeBackend:
    return KubeBackend(HUB, kube_namespace, config_file=str(kube.kubeconfig))


@pytest.fixture
def hub_of_the_portals_people() -> ScriptedHub:
    hub = ScriptedHub()
    hub.users = {"alice"}
    return hub


def test_only_a_gone_persons_objects_go_and_a_dry_run_removes_nothing(
    kube, kube_namespace, backend, alice, hub_of_the_portals_people, no_grace, workspace_of
):
    workspace_of(alice, "thesis", state="running")  # alice's objects are her workspace's
    gone = [*workspace_objects(GONE), policy(GONE)]
    kept = [
        *workspace_objects("alice"),
        policy("alice"),
        # Another hub's, though it names the same gone person.
        *workspace_objects(GONE, "other", origin="other", kinds=("pod", "secret")),
        # This hub's, naming nobody: a hashed label is not a name to compare with people.
        *workspace_objects("nobody@example.org", raw=False, kinds=("service", "secret")),
    ]
    assert label_value(GONE) != GONE  # the label holds the escaped name, the annotation the raw
    create(kube, kube_namespace, gone + kept)
    everything = names_of(gone + kept)
    assert present(kube, kube_namespace) == everything
    # Running, its claim bound and mounted: the claim can only go once the pod has.
    pod = f"pod/{container_name(HUB, GONE, 'thesis')}"
    kube.kubectl("wait", "-n", kube_namespace, "--for=condition=Ready", pod, "--timeout=90s")

    reason = f"{GONE} is not a person of this portal"
    expected = {
        ("pod", container_name(HUB, GONE, "thesis")),
        ("service", container_name(HUB, GONE, "thesis")),
        ("pvc", volume_name(HUB, GONE, "thesis")),
        ("secret", container_name(HUB, GONE, "thesis")),
        ("networkpolicy", network_name(HUB, GONE)),
    }

    listed = backend.resources()
    assert sorted((r.kind, r.name) for r in listed if r.user == GONE) == sorted(expected)
    dry = service.cleanup_users(dry_run=True, backend=backend, hub=hub_of_the_portals_people)
    assert dry.errors == []
    assert sorted((x.kind, x.name, x.owner, x.outcome, x.reason) for x in dry.lines) == sorted(
        (kind, name, GONE, "would remove", reason) for kind, name in expected
    )
    assert present(kube, kube_namespace) == everything
    assert not AuditEntry.objects.filter(action__startswith="cleanup.").exists()

    real = service.cleanup_users(backend=backend, hub=hub_of_the_portals_people)
    assert real.errors == []
    assert sorted((x.kind, x.name, x.owner, x.outcome, x.reason) for x in real.lines) == sorted(
        (kind, name, GONE, "removed", reason) for kind, name in expected
    )
    assert real.summary == "users: 5 found, 5 removed, 0 kept, 0 failed"
    audited = AuditEntry.objects.filter(action__startswith="cleanup.")
    assert sorted(audited.values_list("action", "target", "detail")) == sorted(
        (f"cleanup.{kind}", name, reason) for kind, name in expected
    )
    assert hub_of_the_portals_people.deleted_users == []
    # The next run, while the pod and its claim may still be terminating: nothing twice.
    assert service.cleanup_users(backend=backend, hub=hub_of_the_portals_people).lines == []
    wait_until_present(kube, kube_namespace, everything - names_of(gone))

    # Removing what is already gone counts as removed (the API server's 404).
    again = [r for r in listed if r.user == GONE]
    assert backend.remove_all(again) == [None] * 5


def test_expired_objects_go_unless_a_workspace_row_owns_them(
    kube, kube_namespace, backend, alice, workspace_of, no_grace
):
    past = int((timezone.now() - timedelta(hours=1)).timestamp())
    later = int((timezone.now() + timedelta(days=1)).timestamp())
    workspace_of(alice, "extended", expires_at=timezone.now() + timedelta(days=3))
    orphan = workspace_objects("alice", "orphan", expires=past)
    kept = [
        *workspace_objects("alice", "extended", expires=past, kinds=("pod", "secret")),
        *workspace_objects("alice", "forever", expires=0, kinds=("secret",)),
        *workspace_objects("alice", "later", expires=later, kinds=("secret",)),
        policy("alice"),  # a person's: no expiry label
    ]
    create(kube, kube_namespace, orphan + kept)

    report = service.cleanup_expired(backend=backend)
    assert report.errors == []
    when = datetime.fromtimestamp(past, UTC)
    reason = f"expired {when:%Y-%m-%d %H:%M} UTC (its label) and no workspace owns it"
    assert sorted((x.kind, x.name, x.owner, x.outcome, x.reason) for x in report.lines) == sorted(
        [
            ("pod", container_name(HUB, "alice", "orphan"), "alice", "removed", reason),
            ("service", container_name(HUB, "alice", "orphan"), "alice", "removed", reason),
            ("pvc", volume_name(HUB, "alice", "orphan"), "alice", "removed", reason),
            ("secret", container_name(HUB, "alice", "orphan"), "alice", "removed", reason),
        ]
    )
    assert AuditEntry.objects.filter(action__startswith="cleanup.").count() == 4
    wait_until_present(kube, kube_namespace, names_of(kept))


def test_an_api_server_that_does_not_answer_removes_nothing_and_says_so(
    kube, kube_namespace, alice, hub_of_the_portals_people, no_grace, tmp_path
):
    objects = [*workspace_objects(GONE, kinds=("secret", "service")), policy(GONE)]
    create(kube, kube_namespace, objects)
    view = json.loads(kube.kubectl("config", "view", "--raw", "-o", "json").stdout)
    for cluster in view["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:9"
    wrong = tmp_path / "wrong.kubeconfig"
    wrong.write_text(json.dumps(view))
    backend = KubeBackend(HUB, kube_namespace, config_file=str(wrong))

    report = service.cleanup_users(backend=backend, hub=hub_of_the_portals_people)
    no_answer = (
        "the Kubernetes API server did not answer: "
        "cannot connect to 127.0.0.1:9 (ConnectionRefusedError)"
    )
    assert report.errors == [no_answer]
    assert report.lines == []
    expired = service.cleanup_expired(backend=backend)
    assert (expired.errors, expired.lines) == ([no_answer], [])
    assert present(kube, kube_namespace) == names_of(objects)
    assert not AuditEntry.objects.filter(action__startswith="cleanup.").exists()


ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "mlhub-cleanup"},
    "rules": [
        {
            "apiGroups": [""],
            "resources": ["pods", "services", "persistentvolumeclaims", "secrets"],
            "verbs": ["list", "delete"],
        },
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["list", "delete"],
        },
    ],
}


def service_account_kubeconfig(kube, namespace: str, account: str, path) -> str:
    """The admin's kubeconfig with the user replaced by ``account``'s token (1.20 keeps it in
    a Secret the token controller makes)."""
    secret = ""

    def made() -> bool:
        nonlocal secret
        secret = kube.kubectl(
            "get",
            "serviceaccount",
            account,
            "-n",
            namespace,
            "-o",
            "jsonpath={.secrets[0].name}",
            check=False,
        ).stdout
        return bool(secret)

    kube.wait_for(f"the token of {account}", made)
    token = kube.jsonpath("secret", secret, "-n", namespace, path="{.data.token}")
    view = json.loads(kube.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    view["users"] = [{"name": account, "user": {"token": base64.b64decode(token).decode()}}]
    view["contexts"][0]["context"]["user"] = account
    path.write_text(json.dumps(view))
    return str(path)


def test_the_documented_role_is_enough_and_without_it_nothing_is_listed(
    kube, kube_namespace, tmp_path
):
    objects = [*workspace_objects(GONE), policy(GONE)]
    create(kube, kube_namespace, objects)
    kube.kubectl("create", "serviceaccount", "cleanup", "-n", kube_namespace)
    config_file = service_account_kubeconfig(kube, kube_namespace, "cleanup", tmp_path / "sa")
    backend = KubeBackend(HUB, kube_namespace, config_file=config_file)

    with pytest.raises(EngineUnavailable) as refused:
        backend.resources()
    assert str(refused.value) == "the Kubernetes API server did not answer: 403 Forbidden"

    kube.kubectl("create", "-n", kube_namespace, "-f", "-", input=json.dumps(ROLE))
    kube.kubectl(
        "create",
        "rolebinding",
        "mlhub-cleanup",
        "-n",
        kube_namespace,
        "--role=mlhub-cleanup",
        f"--serviceaccount={kube_namespace}:cleanup",
    )
    listed: list = []

    def allowed() -> bool:  # RBAC takes effect within a moment
        try:
            listed[:] = backend.resources()
        except EngineUnavailable:
            return False
        return True

    kube.wait_for("the role to take effect", allowed, seconds=30)
    assert sorted(f"{KUBECTL_KIND[r.kind]}/{r.name}" for r in listed) == sorted(names_of(objects))
    assert backend.remove_all(listed) == [None] * 5
    wait_until_present(kube, kube_namespace, set())
