"""spawners.docker_spec: names, labels and host config of Docker objects, as literal values."""

from __future__ import annotations

import re

import pytest

from spawners.docker_spec import (
    container_name,
    device_requests,
    host_config,
    label_filters,
    labels,
    network_name,
    user_labels,
    volume_name,
)
from spawners.resources import WorkspaceResources

G = 1024**3
M = 1024**2
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def test_it_names_a_workspace_container_after_hub_user_and_server():
    assert container_name("mlhub", "alice", "ws1") == "mlhub-alice--ws1"


def test_it_names_the_default_server_container_after_the_user_only():
    assert container_name("mlhub", "alice", "") == "mlhub-alice"


def test_it_names_the_user_network_after_hub_and_user():
    assert network_name("mlhub", "alice") == "mlhub-alice"


def test_it_names_the_workspace_volume_after_its_container():
    assert volume_name("mlhub", "alice", "ws1") == "mlhub-alice--ws1-work"


def test_it_keeps_names_stable():
    assert container_name("mlhub", "a.b@c", "ws1") == container_name("mlhub", "a.b@c", "ws1")
    assert container_name("mlhub", "a.b@c", "ws1") == "mlhub-a-b-c-x945547706971458a--ws1"


@pytest.mark.parametrize(
    "username", ["a.b@c", "Alice", "alice--x", "ü", "x" * 80, "-a", "a-", "a_b", "1+1"]
)
def test_it_makes_odd_usernames_dns_safe(username):
    for name in (
        network_name("mlhub", username),
        container_name("mlhub", username, "ws1"),
        container_name("mlhub", username, "a-" * 14 + "zz"),
    ):
        assert DNS_LABEL.match(name), name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # The separator "--" in a username or server name must not let two pairs meet.
        (("alice--x", "y"), ("alice", "x--y")),
        # A username that looks like another's hashed form is hashed itself.
        (("a.b@c", "ws1"), ("a-b-c-x945547706971458a", "ws1")),
        (("ü", "ws1"), ("x607474ca475a9724", "ws1")),
        # Case matters to JupyterHub when the authenticator does not normalise.
        (("Alice", "ws1"), ("alice", "ws1")),
        (("alice", "ws-"), ("alice", "ws")),
        (("alice", ""), ("alice", "x")),
    ],
)
def test_it_never_gives_two_users_or_servers_the_same_names(first, second):
    assert container_name("mlhub", *first) != container_name("mlhub", *second)
    assert volume_name("mlhub", *first) != volume_name("mlhub", *second)
    if first[0] != second[0]:
        assert network_name("mlhub", first[0]) != network_name("mlhub", second[0])


def test_it_refuses_a_hub_name_that_is_not_1_to_5_dns_characters():
    for bad in ("", "MLHUB", "mlhub1", "-ab", "a_b"):
        with pytest.raises(ValueError, match="HUB_NAME"):
            network_name(bad, "alice")


def test_it_labels_workspace_objects_with_origin_user_server_and_expiry():
    assert labels("mlhub", "a.b@c", "ws1", 1900000000) == {
        "mlhub.origin": "mlhub",
        "mlhub.user": "a.b@c",
        "mlhub.server_name": "ws1",
        "mlhub.expires_at": "1900000000",
    }


def test_it_labels_a_workspace_that_never_expires_with_zero():
    assert labels("mlhub", "alice", "", 0)["mlhub.expires_at"] == "0"


def test_it_labels_the_user_network_with_origin_and_user():
    assert user_labels("mlhub", "alice") == {"mlhub.origin": "mlhub", "mlhub.user": "alice"}


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
    }


def test_host_config_sets_shm_size_when_asked():
    resources = WorkspaceResources(image="i", cpu=0.5, memory=G, shm_size=256 * M)
    assert host_config(resources) == {
        "nano_cpus": 500_000_000,
        "mem_limit": G,
        "memswap_limit": G,
        "init": True,
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
