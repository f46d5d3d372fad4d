"""Cleanup's Kubernetes backend without a cluster: Resources from the API's objects, only this
hub's that name a person, every page read, the removal order, and failures as short reasons.

The doubles subclass KubeBackend at its own narrow methods (``_page``, ``_delete``); the
unreachable API server is a real refused connection (127.0.0.1:9). tests/k8s/test_cleanup_kube.py
runs the same backend against a real API server.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from kubernetes_asyncio.client import ApiClient, V1NetworkPolicy, V1ObjectMeta, V1Pod
from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.config import ConfigException

from lib.labels import annotations, label_value, labels, user_labels
from spawners.cleanup.backend import EngineUnavailable, Resource
from spawners.cleanup.kube_backend import (
    REMOVE_AT_ONCE,
    DeleteRefused,
    KubeBackend,
    reason_of,
    resource_from,
)

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TOKEN = "very-secret-token"
UNREACHABLE_KUBECONFIG = f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:9"}}}}]
users: [{{name: u, user: {{token: {TOKEN}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""


@pytest.fixture
def unreachable(tmp_path) -> str:
    """A kubeconfig of an API server where nothing listens."""
    path = tmp_path / "kubeconfig"
    path.write_text(UNREACHABLE_KUBECONFIG)
    return str(path)


def meta(name, labels_, annotations_=None, *, created=CREATED, deleting=None) -> V1ObjectMeta:
    return V1ObjectMeta(
        name=name,
        labels=labels_,
        annotations=annotations_,
        creation_timestamp=created,
        deletion_timestamp=deleting,
    )


def pod(name, user, server="thesis", *, origin="mlhub", expires=0, raw=True, **extra) -> V1Pod:
    found = {**labels("mlhub", user, server, expires), "mlhub.origin": origin}
    return V1Pod(metadata=meta(name, found, annotations(user) if raw else None, **extra))


def test_a_listed_object_becomes_a_resource_with_its_owners_raw_name():
    resource = resource_from("pod", pod("mlhub-gone--thesis", "gone@example.org", expires=1700))
    assert resource == Resource(
        kind="pod",
        id="mlhub-gone--thesis",
        origin="mlhub",
        name="mlhub-gone--thesis",
        user="gone@example.org",
        server="thesis",
        created_at=CREATED,
        expires_at=1700,
    )


def test_a_persons_policy_has_no_workspace_and_no_expiry():
    policy = V1NetworkPolicy(metadata=meta("mlhub-alice", user_labels("mlhub", "alice")))
    resource = resource_from("networkpolicy", policy)
    assert (resource.user, resource.server, resource.expires_at) == ("alice", "", 0)


def test_an_object_without_a_time_counts_as_young_and_a_bad_expiry_as_never():
    item = pod("p", "alice", created=None)
    item.metadata.labels["mlhub.expires_at"] = "soon"
    before = datetime.now(UTC)
    resource = resource_from("pod", item)
    assert resource.created_at >= before
    assert resource.expires_at == 0


class ScriptedPages(KubeBackend):
    """The real listing with the API server's pages replaced by a script: {kind: [pages]}."""

    def __init__(self, pages: dict[str, list[list]], config_file: str):
        super().__init__("mlhub", "ns", config_file=config_file)
        self.pages = pages
        self.asked: list[tuple[str, str | None]] = []

    async def _page(self, client: ApiClient, kind: str, token: str | None) -> tuple[list, str]:
        self.asked.append((kind, token))
        pages = self.pages.get(kind, [[]])
        number = int(token or 0)
        following = str(number + 1) if number + 1 < len(pages) else ""
        return pages[number], following


def test_every_page_is_read_and_only_this_hubs_objects_naming_a_person_kept(unreachable):
    hashed = label_value("nobody@example.org")
    assert hashed != "nobody@example.org"  # made label-safe: not a name to compare
    backend = ScriptedPages(
        {
            "pod": [
                [pod("a1", "gone@example.org"), pod("other", "gone", origin="other")],
                [pod("a2", "gone@example.org"), pod("nobody", "nobody@example.org", raw=False)],
            ],
            "secret": [[pod("old-style", "bob", raw=False)]],  # raw name in the label
            "pvc": [[pod("going", "gone", deleting=CREATED)]],  # already being deleted
        },
        config_file=unreachable,
    )
    found = backend.resources()
    assert [(r.kind, r.name, r.user) for r in found] == [
        ("pod", "a1", "gone@example.org"),
        ("pod", "a2", "gone@example.org"),
        ("secret", "old-style", "bob"),
    ]
    assert ("pod", "1") in backend.asked and ("pod", "2") not in backend.asked


class ScriptedDeletes(KubeBackend):
    """The real removal with each delete recorded (and refused for the names in ``refuse``)."""

    def __init__(self, config_file: str, refuse=()):
        super().__init__("mlhub", "ns", config_file=config_file)
        self.deleted: list[str] = []
        self.refuse = set(refuse)
        self.running = 0
        self.most_at_once = 0

    async def _delete(self, client: ApiClient, resource: Resource) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await asyncio.sleep(0.01)  # let the others of its batch start
        self.running -= 1
        if resource.name in self.refuse:
            raise ApiException(status=403, reason="Forbidden")
        self.deleted.append(resource.kind)


def made(kind: str, name: str) -> Resource:
    return Resource(kind, name, "mlhub", name, "gone", "thesis", CREATED, 0)


def test_pods_go_first_and_claims_last_a_few_at_once(unreachable):
    given = [
        made("pvc", "c"),
        made("networkpolicy", "n"),
        made("secret", "s"),
        made("service", "v"),
        *[made("pod", f"p{number}") for number in range(10)],
    ]
    backend = ScriptedDeletes(unreachable)
    assert backend.remove_all(given) == [None] * len(given)
    assert backend.deleted == ["pod"] * 10 + ["service", "secret", "networkpolicy", "pvc"]
    assert backend.most_at_once == REMOVE_AT_ONCE


def test_a_refused_delete_is_reported_in_the_order_given_and_the_rest_go_on(unreachable):
    given = [made("pvc", "c"), made("pod", "refused"), made("secret", "s")]
    backend = ScriptedDeletes(unreachable, refuse={"refused"})
    errors = backend.remove_all(given)
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], DeleteRefused)
    assert str(errors[1]) == "the Kubernetes API server refused: 403 Forbidden"
    assert backend.deleted == ["secret", "pvc"]
    with pytest.raises(DeleteRefused):
        backend.remove(made("pod", "refused"))


def test_an_unknown_kind_is_refused_not_guessed(unreachable):
    backend = KubeBackend("mlhub", "ns", config_file=unreachable)
    (error,) = backend.remove_all([made("container", "x")])  # refused before any call
    assert str(error) == "not a kind of this backend: container"


def test_an_unreachable_api_server_lists_nothing_and_says_why_without_the_token(unreachable):
    backend = KubeBackend("mlhub", "ns", config_file=unreachable)
    with pytest.raises(EngineUnavailable) as raised:
        backend.resources()
    assert str(raised.value) == (
        "the Kubernetes API server did not answer: "
        "cannot connect to 127.0.0.1:9 (ConnectionRefusedError)"
    )
    errors = backend.remove_all([made("pod", "p"), made("pvc", "c")])
    assert [str(error) for error in errors] == [str(raised.value)] * 2
    assert TOKEN not in str(raised.value)


def test_no_configuration_lists_nothing_and_says_so(tmp_path):
    backend = KubeBackend("mlhub", "ns", config_file=str(tmp_path / "missing"))
    with pytest.raises(EngineUnavailable) as raised:
        backend.resources()
    assert str(raised.value).startswith(
        "the Kubernetes API server did not answer: no usable configuration ("
    )
    (error,) = backend.remove_all([made("pod", "p")])
    assert isinstance(error, EngineUnavailable)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ApiException(status=403, reason="Forbidden"), "403 Forbidden"),
        (TimeoutError(), "no answer within 30 s"),
        (
            ConfigException("Service host/port is not set."),
            "no usable configuration (Service host/port is not set.)",
        ),
    ],
    ids=["status", "timeout", "configuration"],
)
def test_failures_are_told_in_a_few_words(error, reason):
    assert reason_of(error) == reason


def test_the_kubernetes_mode_cleans_its_own_namespace(settings, monkeypatch):
    from portal.cleanup.service import engine_backend

    settings.EXECUTION_MODE = "k8s"
    settings.HUB_NAME = "mlt"
    monkeypatch.setenv("MLHUB_K8S_NAMESPACE", "workspaces")
    backend = engine_backend()
    assert isinstance(backend, KubeBackend)
    assert (backend.hub_name, backend.namespace, backend.config_file) == ("mlt", "workspaces", None)
