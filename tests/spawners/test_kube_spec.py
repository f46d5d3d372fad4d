"""spawners.kube_spec: a workspace's Kubernetes objects as literal manifests, each valid for
Kubernetes 1.20, and what a starting pod's status means."""

from __future__ import annotations

import kubernetes_validate
import pytest

from lib.resources import WorkspaceResources
from spawners.kube_spec import (
    cpu_quantity,
    network_policy,
    resource_settings,
    start_failure,
    unscheduled,
    volume_mounts,
    volume_unbound,
    volumes,
)

G = 1024**3
M = 1024**2
KUBERNETES = "1.20.0"


def test_requests_equal_limits():
    resources = WorkspaceResources(image="i", cpu=1.5, memory=2 * G)
    assert resource_settings(resources, "nvidia.com/gpu") == {
        "cpu_limit": 1.5,
        "cpu_guarantee": 1.5,
        "mem_limit": 2 * G,
        "mem_guarantee": 2 * G,
        "extra_resource_limits": {},
        "extra_resource_guarantees": {},
    }


@pytest.mark.parametrize(("cores", "text"), [(2, "2"), (0.5, "500m"), (1.25, "1250m")])
def test_cpu_is_a_quantity_string(cores, text):
    assert cpu_quantity(cores) == text


def test_a_gpu_count_is_the_configured_extended_resource():
    resources = WorkspaceResources(image="i", cpu=1, memory=G, gpus=2)
    settings = resource_settings(resources, "amd.com/gpu")
    assert settings["extra_resource_limits"] == {"amd.com/gpu": "2"}
    assert settings["extra_resource_guarantees"] == {"amd.com/gpu": "2"}


def test_the_workspace_mounts_its_own_claim_and_a_sized_shm_when_asked():
    assert volumes("mlhub-alice--ws1-work", None) == [
        {"name": "work", "persistentVolumeClaim": {"claimName": "mlhub-alice--ws1-work"}}
    ]
    assert volumes("c", 256 * M)[1] == {
        "name": "shm",
        "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"},
    }
    assert volume_mounts("/home/jovyan/work", 256 * M) == [
        {"name": "work", "mountPath": "/home/jovyan/work"},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]


def test_a_persons_network_policy_admits_their_own_pods_the_hub_and_the_proxy_only():
    policy = network_policy("mlhub", "a.b@c")
    mine = {"mlhub.origin": "mlhub", "mlhub.user": "a-b-c-x945547706971458a"}
    assert policy == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "mlhub-a-b-c-x945547706971458a",
            "labels": mine,
            "annotations": {"mlhub.username": "a.b@c"},
        },
        "spec": {
            "podSelector": {"matchLabels": mine},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchLabels": mine}},
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {
                                        "key": "mlhub.component",
                                        "operator": "In",
                                        "values": ["hub", "proxy"],
                                    }
                                ]
                            }
                        },
                    ]
                }
            ],
        },
    }
    kubernetes_validate.validate(policy, KUBERNETES, strict=True)


def test_network_policy_peers_can_be_configured():
    peers = [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]
    policy = network_policy("mlhub", "alice", peers)
    assert policy["spec"]["ingress"][0]["from"][1:] == peers
    kubernetes_validate.validate(policy, KUBERNETES, strict=True)


def _pod(phase="Pending", containers=(), conditions=()):
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": phase,
            "containerStatuses": list(containers),
            "conditions": list(conditions),
        },
    }


def test_a_pod_still_starting_is_no_failure():
    assert start_failure(None, "nvidia.com/gpu") is None
    assert start_failure(_pod(), "nvidia.com/gpu") is None
    creating = {"state": {"waiting": {"reason": "ContainerCreating"}}, "ready": False}
    assert start_failure(_pod(containers=[creating]), "nvidia.com/gpu") is None


def test_a_container_that_exited_while_starting_is_a_failure_with_its_exit_code():
    exited = {"state": {"terminated": {"reason": "Error", "exitCode": 3}}, "ready": False}
    assert start_failure(_pod("Running", [exited]), "nvidia.com/gpu") == (
        "the workspace exited while starting (Error, exit code 3)"
    )
    restarted = {
        "state": {"running": {}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    assert start_failure(_pod("Running", [restarted]), "x") == (
        "the workspace exited while starting (OOMKilled, exit code 137)"
    )


def test_a_container_that_could_not_run_says_the_runtimes_reason():
    never = {
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {
            "terminated": {
                "reason": "StartError",
                "exitCode": 128,
                "message": 'exec: "jupyterhub-singleuser": executable file not found in $PATH ',
            }
        },
    }
    assert start_failure(_pod("Running", [never]), "x") == (
        "the workspace exited while starting (StartError, exit code 128): exec: "
        '"jupyterhub-singleuser": executable file not found in $PATH'
    )


def test_an_image_that_is_not_there_is_a_failure_saying_so():
    missing = {
        "state": {
            "waiting": {"reason": "ErrImageNeverPull", "message": 'image "x:1" is not present'}
        }
    }
    assert start_failure(_pod(containers=[missing]), "nvidia.com/gpu") == (
        "the workspace cannot start: its image is not on the node (imagePullPolicy Never) "
        '(ErrImageNeverPull) image "x:1" is not present'
    )


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}


def test_no_node_with_the_gpus_asked_for_is_a_failure_at_once():
    pod = _pod(
        conditions=[
            {**UNSCHEDULABLE, "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}
        ]
    )
    assert start_failure(pod, "nvidia.com/gpu") == (
        "no node has the GPUs asked for (nvidia.com/gpu): 0/1 nodes are available: 1 "
        "Insufficient nvidia.com/gpu.; ask for fewer GPUs or none"
    )


def test_too_little_cpu_for_now_is_no_failure_an_autoscaler_may_add_a_node():
    pod = _pod(
        conditions=[{**UNSCHEDULABLE, "message": "0/1 nodes are available: 1 Insufficient cpu."}]
    )
    assert start_failure(pod, "nvidia.com/gpu") is None


def test_too_little_room_is_reported_for_the_spawner_to_time_and_an_unbound_claim_is_not():
    full = _pod(
        conditions=[{**UNSCHEDULABLE, "message": "0/1 nodes are available: 1 Insufficient cpu."}]
    )
    assert unscheduled(full) == "0/1 nodes are available: 1 Insufficient cpu."
    unbound = "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    assert unscheduled(_pod(conditions=[{**UNSCHEDULABLE, "message": unbound}])) is None
    assert unscheduled(_pod()) is None


def test_an_unbound_claim_is_reported_apart_for_the_spawner_to_time():
    message = "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    pod = _pod(conditions=[{**UNSCHEDULABLE, "message": message}])
    assert start_failure(pod, "nvidia.com/gpu") is None
    assert volume_unbound(pod) == message
    assert volume_unbound(_pod()) is None


@pytest.mark.parametrize("phase", ["Failed"])
def test_a_failed_pod_is_a_failure(phase):
    pod = _pod(phase)
    pod["status"]["reason"] = "Evicted"
    pod["status"]["message"] = "The node was low on resource: memory."
    assert (
        start_failure(pod, "x") == "the pod failed: Evicted The node was low on resource: memory."
    )
