"""Warm pools on the real 1.20.2 cluster (issue 26, spawners/kube_claim.py): the portal's
task cluster makes a template's slots (pod and claim) under the pool's deny-all policy as
nobody's; a create takes one, which becomes the person's pod (relabelled, their Service,
the identity handed through the pod exec API) and answers only them through the proxy; its
files outlive a stop, after which its pod has the usual name; a slot that cannot be claimed
is removed and the create starts cold."""

from __future__ import annotations

import json

import pytest

from lib import pools
from lib.labels import LABEL_ORIGIN, LABEL_SERVER_NAME, LABEL_USER, container_name, network_name
from lib.polling import poll_until
from portal.pools.records import UNRECORDED
from spawners.pool import kube_slot
from tests.hub_stack import portal_login, run_cleanup
from tests.k8s.cluster import kube_stack
from tests.k8s.test_kube_workspaces import exec_in, get, gone

pytestmark = [pytest.mark.k8s, pytest.mark.hub]
HUB = "mlkp"
PAM, OLE = ("pam", "pam-pass-1234"), ("ole", "ole-pass-1234")
TEMPLATE = "pooled"
SIZE = 2
WORK = "/home/jovyan/work"


@pytest.fixture(scope="module")
def namespace(module_namespace):
    return module_namespace


@pytest.fixture(scope="module")
def kube_hub(tmp_path_factory, kube, namespace, workspace_image_in_cluster):
    extra = {
        "MLHUB_CPU_MAX": "1",
        "MLHUB_SERVER_POLL_SECONDS": "5",
        "MLHUB_CLEANUP_GRACE_SECONDS": "0",  # a dry run says why of what is new too
    }
    data = tmp_path_factory.mktemp("mlhub-k8s-pools")
    yield from kube_stack(data, kube, namespace, HUB, [workspace_image_in_cluster], extra)


@pytest.fixture(scope="module")
def people(kube_hub):
    kube_hub.user_create(*PAM)
    kube_hub.user_create(*OLE)
    return {name: kube_hub.token_for(name, password) for name, password in (PAM, OLE)}


def pool_of(kube_hub) -> dict:
    answer = kube_hub.api().get(f"{kube_hub.url}/api/v1/pools/", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["available"] is True
    return next((p for p in answer.json()["pools"] if p["template"] == TEMPLATE), {})


def ready_slots(kube_hub, count: int = SIZE) -> list[str]:
    def ready():
        pool = pool_of(kube_hub)
        names = [slot["name"] for slot in pool.get("slots", []) if slot["state"] == "ready"]
        return names if len(names) >= count else None

    try:
        return poll_until(ready, timeout=240, what=f"{count} ready slots")
    except TimeoutError as error:
        raise AssertionError(f"{error}: {pool_of(kube_hub)}\n{kube_hub.logs(5000)}") from None


@pytest.fixture(scope="module")
def pool(kube_hub, people, workspace_image_in_cluster):
    body = {
        "name": TEMPLATE,
        "image": workspace_image_in_cluster,
        "cpu_default": 0.5,
        "memory_default": "512M",
        "pool_size": SIZE,
    }
    made = kube_hub.api().post(f"{kube_hub.url}/api/v1/templates/", json=body, timeout=30)
    assert made.status_code == 201, made.text
    ready_slots(kube_hub)
    return made.json()


def create(kube_hub, token: str, name: str) -> dict:
    response = kube_hub.api(token).post(
        f"{kube_hub.url}/api/v1/workspaces/", json={"name": name, "template": TEMPLATE}
    )
    assert response.status_code == 201, response.text
    return kube_hub.wait_for_state(token, response.json()["id"], "running", timeout=180)


def pods_selected_by(kube, namespace: str, policy: dict) -> set[str]:
    selector = policy["spec"]["podSelector"]
    terms = [f"{key}={value}" for key, value in selector.get("matchLabels", {}).items()]
    terms += [term["key"] for term in selector.get("matchExpressions", [])]
    found = kube.kubectl("get", "pods", "-n", namespace, "-l", ",".join(terms), "-o", "json")
    return {item["metadata"]["name"] for item in json.loads(found.stdout)["items"]}


def warm_pod(kube, namespace: str) -> dict:
    """Pam's workspace "warm"'s one pod, found by its labels."""
    found = kube.kubectl(
        "get", "pods", "-n", namespace, "-l", f"{LABEL_SERVER_NAME}=warm", "-o", "json"
    )
    (pod,) = json.loads(found.stdout)["items"]
    return pod


def test_a_slot_is_nobodys_and_under_the_pools_deny_all_policy(kube, kube_hub, namespace, pool):
    slots = ready_slots(kube_hub)
    policy = get(kube, namespace, "networkpolicy", pools.network_name(HUB))
    assert policy is not None
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert not policy["spec"].get("ingress") and not policy["spec"].get("egress")
    assert set(slots) <= pods_selected_by(kube, namespace, policy)
    for slot in slots:
        pod = get(kube, namespace, "pod", slot)
        labels = pod["metadata"]["labels"]
        assert labels[LABEL_ORIGIN] == HUB and labels[pools.LABEL_POOL] == TEMPLATE
        assert LABEL_USER not in labels
        assert pod["spec"]["automountServiceAccountToken"] is False
        claim = get(kube, namespace, "pvc", pools.volume_name(slot))
        assert LABEL_USER not in claim["metadata"]["labels"]
        every_environment = kube.kubectl(
            "exec", "-n", namespace, slot, "--", "sh", "-c",
            "cat /proc/[0-9]*/environ | tr '\\0' '\\n'",
        ).stdout  # fmt: skip
        assert "JUPYTERHUB_" not in every_environment
        assert "MLHUB_SSH_AUTHORIZED_KEYS" not in every_environment
        assert exec_in(kube, namespace, slot, f"import os; print(os.listdir('{WORK}'))") == "[]\n"


def test_a_create_takes_a_slot_which_becomes_the_persons_pod(
    kube, kube_hub, namespace, pool, people
):
    slots = ready_slots(kube_hub)
    create(kube_hub, people["pam"], "warm")
    pod = warm_pod(kube, namespace)
    taken = pod["metadata"]["name"]
    assert taken in slots  # a pod keeps its name: the slot's
    labels = pod["metadata"]["labels"]
    assert labels[LABEL_USER] == "pam" and labels[LABEL_SERVER_NAME] == "warm"
    assert pools.LABEL_POOL not in labels and labels["component"] == "singleuser-server"
    policy = get(kube, namespace, "networkpolicy", pools.network_name(HUB))
    assert taken not in pods_selected_by(kube, namespace, policy)  # the pool's lets go
    persons = get(kube, namespace, "networkpolicy", network_name(HUB, "pam"))
    assert persons is not None and taken in pods_selected_by(kube, namespace, persons)
    claim = get(kube, namespace, "pvc", pools.volume_name(taken))
    assert claim["metadata"]["labels"][LABEL_USER] == "pam"
    assert pools.LABEL_POOL not in claim["metadata"]["labels"]
    # The Service by the workspace's usual name (the SSH gateway's), selecting the slot's pod.
    service = container_name(HUB, "pam", "warm")
    endpoints = get(kube, namespace, "endpoints", service)
    addresses = [a["ip"] for subset in endpoints.get("subsets", []) for a in subset["addresses"]]
    assert addresses == [pod["status"]["podIP"]]
    # Its server is hers: the lab through the proxy, for her alone.
    url = kube_hub.url.replace("://", "://pam.") + "/user/pam/warm/"
    assert portal_login(kube_hub.url, *PAM).get(url + "lab", timeout=30).status_code == 200
    assert portal_login(kube_hub.url, *OLE).get(url + "lab", timeout=30).status_code == 403
    assert "claimed pool slot" in kube_hub.logs(5000)
    ready_slots(kube_hub)  # the pool refills


def test_cleanup_finds_no_orphan_in_the_pool_or_a_claimed_slot_but_an_unrecorded_one(
    kube, kube_hub, namespace, pool, people
):
    slots = ready_slots(kube_hub)
    stray = f"{HUB}--pool-{TEMPLATE}-0badc0de"
    claim = kube_slot.slot_volume_claim(
        stray, pools.slot_labels(HUB, TEMPLATE), capacity="1Gi", storage_class=None
    )
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(claim))
    report = run_cleanup(kube_hub, "users", dry_run=True)
    listed = {line["name"]: line["reason"] for line in report["report"]["lines"]}
    assert listed == {pools.volume_name(stray): UNRECORDED}, listed
    for name in slots:
        assert get(kube, namespace, "pod", name) is not None  # a dry run: nothing went
    kube.kubectl("delete", "pvc", "-n", namespace, pools.volume_name(stray))


def test_its_files_outlive_a_stop_and_the_next_pod_has_the_usual_name(
    kube, kube_hub, namespace, pool, people
):
    api = kube_hub.api(people["pam"])
    listed = api.get(f"{kube_hub.url}/api/v1/workspaces/", timeout=30).json()["results"]
    (warm,) = [w for w in listed if w["name"] == "warm"]
    pod = warm_pod(kube, namespace)["metadata"]["name"]
    claim = get(kube, namespace, "pod", pod)["spec"]["volumes"][0]["persistentVolumeClaim"]
    exec_in(kube, namespace, pod, f"open('{WORK}/keep.txt', 'w').write('still here')")
    base = f"{kube_hub.url}/api/v1/workspaces/{warm['id']}/"
    assert api.post(base + "stop/", timeout=30).status_code == 200
    kube_hub.wait_for_state(people["pam"], warm["id"], "stopped", timeout=120)
    gone(kube, namespace, "pod", pod)
    assert api.post(base + "start/", timeout=30).status_code == 200
    kube_hub.wait_for_state(people["pam"], warm["id"], "running", timeout=180)
    usual = container_name(HUB, "pam", "warm")
    restarted = get(kube, namespace, "pod", usual)
    assert restarted["spec"]["volumes"][0]["persistentVolumeClaim"] == claim
    assert exec_in(kube, namespace, usual, f"print(open('{WORK}/keep.txt').read())") == (
        "still here\n"
    )
    # Deleting the workspace removes the slot's claim it kept its files on.
    assert api.delete(base, timeout=60).status_code == 204
    gone(kube, namespace, "pod", usual)
    gone(kube, namespace, "pvc", claim["claimName"])


def test_a_slot_that_cannot_be_claimed_is_removed_and_the_create_starts_cold(
    kube, kube_hub, namespace, pool, people
):
    slots = ready_slots(kube_hub)
    for slot in slots:  # no waiter's pipe: the claim's exec is refused
        kube.kubectl("exec", "-n", namespace, slot, "--", "rm", "/tmp/mlhub-pool/identity")
    create(kube_hub, people["ole"], "cold")
    usual = container_name(HUB, "ole", "cold")
    assert get(kube, namespace, "pod", usual) is not None
    assert "not claimed" in kube_hub.logs(5000)
    taken = [slot for slot in slots if get(kube, namespace, "pod", slot) is None]
    assert len(taken) == 1
    gone(kube, namespace, "pvc", pools.volume_name(taken[0]))
