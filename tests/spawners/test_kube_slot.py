"""A Kubernetes warm pool slot's objects, and the claim's comparison with a start's pod,
without a cluster (spawners/pool/kube_slot.py; the claim on a real cluster is
tests/k8s/test_kube_warm_pools.py)."""

from __future__ import annotations

import copy
import os
import subprocess
import threading

import kubernetes_validate

from lib import pools
from lib.labels import LABEL_ORIGIN
from spawners.pool import kube_slot
from tests.pod_security import violations
from tests.spawners.test_kube_spawner import (  # noqa: F401 -- fixtures
    KUBERNETES,
    _current,
    _no_cluster,
    loop,
    pod_of,
    spawner,
)

SLOT = "mlhub--pool-default-0a1b2c3d"


def slot_for(made) -> dict:
    """The slot the portal would make for this spawner's start (its template's defaults)."""
    resources = made.resources
    return kube_slot.slot_pod(
        SLOT,
        pools.slot_labels("mlhub", "default"),
        image=resources.image,
        cpu=resources.cpu,
        memory=resources.memory,
        work_dir=made.work_dir,
        pull_policy="IfNotPresent",
    )


def as_the_api_returns(pod: dict) -> dict:
    """What the API server adds and rewrites on a created pod."""
    found = copy.deepcopy(pod)
    spec = found["spec"]
    spec["serviceAccountName"] = "default"
    spec["tolerations"] = [*kube_slot.DEFAULT_TOLERATIONS, *(spec.get("tolerations") or [])]
    for container in spec["containers"]:
        limits = container["resources"]["limits"]
        limits["memory"] = "1Gi" if limits["memory"] == str(1024**3) else limits["memory"]
        container.setdefault("terminationMessagePath", "/dev/termination-log")
    return found


def test_the_slot_pod_claim_and_policy_are_valid_kubernetes_1_20_objects():
    made = spawner(options={"cpu": 1, "memory": "1G"})
    pod = slot_for(made)
    claim = kube_slot.slot_volume_claim(SLOT, {}, capacity="1Gi", storage_class="fast")
    for manifest in (pod, claim, kube_slot.pool_policy("mlhub")):
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    assert violations(pod["spec"]) == []
    assert claim["metadata"]["name"] == pools.volume_name(SLOT)
    assert claim["spec"]["storageClassName"] == "fast"


def test_a_slot_carries_no_persons_label_variable_or_token():
    made = spawner(options={"cpu": 1, "memory": "1G"})
    pod = slot_for(made)
    assert pod["metadata"]["labels"] == {LABEL_ORIGIN: "mlhub", pools.LABEL_POOL: "default"}
    container = pod["spec"]["containers"][0]
    assert "env" not in container and "envFrom" not in container
    assert container["command"] == [pools.WAITER]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_the_slot_has_the_shape_of_the_pod_a_default_start_makes():
    made = spawner(options={"cpu": 1, "memory": "1G"})
    start = pod_of(made)
    slot = as_the_api_returns(slot_for(made))
    assert (
        kube_slot.differences(
            kube_slot.shape(slot, pools.volume_name(SLOT)), kube_slot.shape(start, made.pvc_name)
        )
        == []
    )


def test_a_start_asking_other_resources_or_another_image_does_not_fit():
    slot = slot_for(spawner(options={"cpu": 1, "memory": "1G"}))
    for options in ({"cpu": 2, "memory": "1G"}, {"cpu": 1, "memory": "2G"}, {"shm_size": "64M"}):
        made = spawner(options={"cpu": 1, "memory": "1G", **options})
        start = kube_slot.shape(pod_of(made), made.pvc_name)
        assert kube_slot.differences(kube_slot.shape(slot, pools.volume_name(SLOT)), start)
    made = spawner(options={"cpu": 1, "memory": "1G"}, node_selector={"disk": "ssd"})
    start = kube_slot.shape(pod_of(made), made.pvc_name)
    different = kube_slot.differences(kube_slot.shape(slot, pools.volume_name(SLOT)), start)
    assert different == ["nodeSelector"]


def test_the_pool_policy_denies_slots_everything_and_lets_go_of_a_claimed_pod():
    policy = kube_slot.pool_policy("mlhub")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in spec and "egress" not in spec  # no rule: nothing allowed

    def selects(labels: dict) -> bool:
        selector = spec["podSelector"]
        return all(labels.get(k) == v for k, v in selector["matchLabels"].items()) and all(
            e["key"] in labels for e in selector["matchExpressions"]
        )

    assert selects(pools.slot_labels("mlhub", "default"))
    assert not selects({LABEL_ORIGIN: "mlhub", "mlhub.user": "alice"})  # claimed: relabelled
    assert not selects(pools.slot_labels("other", "default"))


def test_the_claim_command_writes_the_stdin_line_into_the_waiting_pipe(tmp_path):
    channel = tmp_path / "identity"
    os.mkfifo(channel)
    got = []
    reader = threading.Thread(target=lambda: got.append(channel.read_text()))
    reader.start()
    command = [*pools.CLAIM_FROM_STDIN[:-1], str(channel)]
    identity = '{"env": {"JUPYTERHUB_API_TOKEN": "a \\\\ b $HOME"}, "command": ["x"]}'
    done = subprocess.run(command, input=identity + "\n", capture_output=True, text=True)
    reader.join(10)
    assert done.returncode == 0, done.stderr
    assert got == [identity]  # byte for byte: no shell expansion, backslashes kept


def test_the_claim_command_refuses_where_no_waiter_waits(tmp_path):
    command = [*pools.CLAIM_FROM_STDIN[:-1], str(tmp_path / "identity")]
    done = subprocess.run(command, input="{}\n", capture_output=True, text=True)
    assert done.returncode == 1
    assert "no slot waits here" in done.stderr
