"""lib.labels: names, labels and annotations of workspace objects, the same for Docker and
Kubernetes, as literal values."""

from __future__ import annotations

import re

import pytest

from lib.labels import (
    annotations,
    container_name,
    label_value,
    labels,
    network_name,
    owner_of,
    user_labels,
    volume_name,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Kubernetes' label value syntax (apimachinery validation.IsValidLabelValue).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


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
    assert labels("mlhub", "alice", "ws1", 1900000000) == {
        "mlhub.origin": "mlhub",
        "mlhub.user": "alice",
        "mlhub.server_name": "ws1",
        "mlhub.expires_at": "1900000000",
    }


def test_a_username_that_is_no_kubernetes_label_value_is_made_safe_and_kept_raw_apart():
    assert labels("mlhub", "a.b@c", "ws1", 0)["mlhub.user"] == "a-b-c-x945547706971458a"
    assert annotations("a.b@c") == {"mlhub.username": "a.b@c"}


@pytest.mark.parametrize(
    "username",
    ["a.b@c", "Alice", "ü", "x" * 80, "-a", "a-", "a_b", "1+1", "a b", "alice-x" + "0" * 16],
)
def test_every_label_value_is_valid_for_kubernetes(username):
    for value in labels("mlhub", username, "ws1", 1900000000).values():
        assert LABEL_VALUE.match(value), value


@pytest.mark.parametrize(
    ("first", "second"),
    [("a.b@c", "a-b-c-x945547706971458a"), ("a@b", "a.b"), ("A", "a"), ("x" * 80, "x" * 81)],
)
def test_two_people_never_share_a_label_value(first, second):
    assert label_value(first) != label_value(second)


def test_the_owner_is_the_raw_name_in_the_annotation_or_an_older_plain_label():
    made = labels("mlhub", "a.b@c", "ws1", 0)
    assert owner_of(made, annotations("a.b@c")) == "a.b@c"
    assert owner_of({**made, **annotations("a.b@c")}) == "a.b@c"  # Docker: all in labels
    assert owner_of({"mlhub.user": "a.b@c"}) == "a.b@c"  # labelled before mlhub.username
    # A made-safe value is not a name: the owner cannot be known, so cleanup keeps it.
    assert owner_of(made) == ""
    assert owner_of({}) == ""


def test_it_labels_a_workspace_that_never_expires_with_zero():
    assert labels("mlhub", "alice", "", 0)["mlhub.expires_at"] == "0"


def test_it_labels_the_user_network_with_origin_and_user():
    assert user_labels("mlhub", "alice") == {"mlhub.origin": "mlhub", "mlhub.user": "alice"}
