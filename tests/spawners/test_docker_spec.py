"""spawners.docker_spec: Docker-only labels, filters and host config, as literal values."""

from __future__ import annotations

from lib.resources import WorkspaceResources
from spawners.docker_spec import (
    device_requests,
    docker_labels,
    docker_user_labels,
    host_config,
    label_filters,
)

G = 1024**3
M = 1024**2


def test_docker_objects_carry_the_raw_owner_name_as_a_label_too():
    assert docker_labels("mlhub", "a.b@c", "ws1", 5) == {
        "mlhub.origin": "mlhub",
        "mlhub.user": "a-b-c-x945547706971458a",
        "mlhub.server_name": "ws1",
        "mlhub.expires_at": "5",
        "mlhub.username": "a.b@c",
    }
    assert docker_user_labels("mlhub", "alice") == {
        "mlhub.origin": "mlhub",
        "mlhub.user": "alice",
        "mlhub.username": "alice",
    }


def test_host_config_requests_a_count_of_gpus():
    resources = WorkspaceResources(image="i", cpu=1, memory=G, gpus=2)
    assert host_config(resources)["device_requests"] == [
        {"Driver": "nvidia", "Count": 2, "Capabilities": [["gpu"]]}
    ]


def test_label_filters_are_docker_api_filters():
    assert label_filters({"mlhub.origin": "mlhub", "mlhub.user": "alice"}) == [
        "mlhub.origin=mlhub",
        "mlhub.user=alice",
    ]


def test_host_config_limits_cpu_and_memory_and_uses_an_init():
    resources = WorkspaceResources(image="i", cpu=1.5, memory=2 * G)
    assert host_config(resources) == {
        "nano_cpus": 1_500_000_000,
        "mem_limit": 2 * G,
        "memswap_limit": 2 * G,
        "init": True,
        "auto_remove": False,
    }


def test_host_config_sets_shm_size_when_asked():
    resources = WorkspaceResources(image="i", cpu=0.5, memory=G, shm_size=256 * M)
    assert host_config(resources) == {
        "nano_cpus": 500_000_000,
        "mem_limit": G,
        "memswap_limit": G,
        "init": True,
        "auto_remove": False,
        "shm_size": 256 * M,
    }


def test_host_config_requests_all_gpus_with_a_count_of_minus_one():
    resources = WorkspaceResources(image="i", cpu=1, memory=G, gpus="all")
    assert host_config(resources)["device_requests"] == [
        {"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}
    ]


def test_host_config_requests_gpus_by_device_index():
    resources = WorkspaceResources(image="i", cpu=1, memory=G, gpus=("0", "1"))
    assert host_config(resources)["device_requests"] == [
        {"Driver": "nvidia", "DeviceIDs": ["0", "1"], "Capabilities": [["gpu"]]}
    ]


def test_no_gpu_means_no_device_request():
    assert device_requests(None) == []
    assert "device_requests" not in host_config(WorkspaceResources(image="i", cpu=1, memory=G))


def test_cpu_is_rounded_to_whole_nanocpus():
    resources = WorkspaceResources(image="i", cpu=1.1, memory=G)
    assert host_config(resources)["nano_cpus"] == 1_100_000_000
