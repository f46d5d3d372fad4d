"""The SSH gateway's key lookup: a key opens only its owner's running workspaces, for a person
who may use MLHub; only the gateway's credential is accepted; and the ssh config people copy."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from portal.accounts.models import User
from portal.sshkeys import services
from portal.sshkeys.gateway import ssh_config

URL = "/api/v1/internal/ssh-gateway/authorized-keys/"
GATEWAY_TOKEN = "gateway-secret-for-tests"


@pytest.fixture(autouse=True)
def _gateway(settings):
    settings.SSH_GATEWAY_TOKEN = GATEWAY_TOKEN
    settings.HUB_NAME = "mlhub"
    settings.WORKSPACE_SSH_PORT = 2222
    settings.SSH_GATEWAY_HOST = "hub.example.org"
    settings.SSH_GATEWAY_PORT = 443
    settings.SSH_GATEWAY_USER = "mlhub"


def new_key(owner):
    private = ed25519.Ed25519PrivateKey.generate()
    line = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return services.ssh_key_add(by=owner, text=f"{line.decode()} laptop")


def lookup(api, fingerprint: str, token: str | None = GATEWAY_TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.get(URL, {"fingerprint": fingerprint}, **headers)


def test_a_key_opens_its_owners_running_workspaces_only(api, alice, bob, workspace_of):
    key = new_key(alice)
    workspace_of(alice, "thesis", state="running")
    workspace_of(alice, "draft", state="running")
    workspace_of(alice, "old", state="stopped")
    workspace_of(bob, "bobs", state="running")
    response = lookup(api, key.fingerprint)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode() == (
        'restrict,port-forwarding,permitopen="mlhub-alice--draft:2222",'
        f'permitopen="mlhub-alice--thesis:2222" {key.public_key}\n'
    )


@pytest.mark.parametrize("state", ["stopped", "starting", "error"])
def test_no_running_workspace_means_the_key_is_refused(api, alice, workspace_of, state):
    key = new_key(alice)
    workspace_of(alice, "thesis", state=state)
    response = lookup(api, key.fingerprint)
    assert (response.status_code, response.content) == (200, b"")


def test_a_workspace_being_deleted_is_not_opened(api, alice, workspace_of):
    from django.utils import timezone

    key = new_key(alice)
    workspace_of(alice, "thesis", state="running", deleting_since=timezone.now())
    assert lookup(api, key.fingerprint).content == b""


def test_a_removed_key_or_an_unknown_one_is_refused(api, alice, workspace_of):
    key = new_key(alice)
    workspace_of(alice, "thesis", state="running")
    fingerprint = key.fingerprint
    services.ssh_key_remove(key=key, by=alice)
    assert lookup(api, fingerprint).content == b""
    assert lookup(api, "SHA256:" + "A" * 43).content == b""


def test_a_person_who_may_no_longer_use_mlhub_is_refused(api, alice, workspace_of):
    key = new_key(alice)
    workspace_of(alice, "thesis", state="running")
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert lookup(api, key.fingerprint).content == b""
    User.objects.filter(pk=alice.pk).update(is_active=True, approval=User.Approval.REJECTED)
    assert lookup(api, key.fingerprint).content == b""


def test_a_person_taken_off_the_allowlist_file_is_refused(
    api, alice, workspace_of, settings, tmp_path
):
    whitelist = tmp_path / "dynamic_whitelist.txt"
    whitelist.write_text("alice\n")
    settings.DYNAMIC_WHITELIST_ENABLED = True
    settings.DYNAMIC_WHITELIST_FILE = str(whitelist)
    key = new_key(alice)
    workspace_of(alice, "thesis", state="running")
    assert lookup(api, key.fingerprint).content != b""
    whitelist.write_text("bob\n")  # refused at once, before the periodic check revokes
    assert lookup(api, key.fingerprint).content == b""


def test_only_the_gateways_credential_is_accepted(api, alice, carol, workspace_of):
    key = new_key(alice)
    workspace_of(alice, "thesis", state="running")
    message = {"detail": "Only the SSH gateway may look up keys here.", "code": "permission_denied"}
    for token in (None, "wrong", "unit-test-token"):  # none, a guess, the portal's hub token
        response = lookup(api, key.fingerprint, token)
        assert (response.status_code, response.json()) == (403, message)
    api.force_authenticate(carol)  # an admin's session is not the gateway either
    response = api.get(URL, {"fingerprint": key.fingerprint})
    assert (response.status_code, response.json()) == (403, message)


def test_no_credential_configured_refuses_everyone(api, alice, settings):
    settings.SSH_GATEWAY_TOKEN = None
    key = new_key(alice)
    assert lookup(api, key.fingerprint, "None").status_code == 403


@pytest.mark.parametrize("fingerprint", ["", "MD5:aa:bb", "SHA256:short", "SHA256:" + "A" * 44])
def test_a_malformed_fingerprint_is_a_400(api, fingerprint):
    response = lookup(api, fingerprint)
    assert response.status_code == 400
    assert response.json() == {"fingerprint": "give a key's SHA256:... fingerprint"}


def test_the_ssh_config_jumps_through_the_gateway_to_the_workspace(alice, workspace_of):
    workspace = workspace_of(alice, "thesis", state="running")
    assert ssh_config(workspace, alice) == (
        "Host mlhub-gateway\n"
        "    HostName hub.example.org\n"
        "    Port 443\n"
        "    User mlhub\n"
        "Host mlhub-thesis\n"
        "    HostName mlhub-alice--thesis\n"
        "    Port 2222\n"
        "    User jovyan\n"
        "    ProxyJump mlhub-gateway\n"
    )


def test_an_admin_sees_the_owner_in_the_alias(alice, carol, workspace_of):
    workspace = workspace_of(alice, "thesis")
    assert "Host mlhub-alice-thesis\n" in ssh_config(workspace, carol)


def test_the_api_gives_each_workspace_its_ssh_config(api, alice, workspace_of):
    workspace = workspace_of(alice, "thesis", state="running")
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/workspaces/{workspace.pk}/").json()
    assert body["ssh_config"] == ssh_config(workspace, alice)
    assert "    ProxyJump mlhub-gateway\n" in body["ssh_config"]


def test_the_workspace_card_shows_the_block_to_copy(client, alice, workspace_of):
    workspace = workspace_of(alice, "thesis", state="running")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "<code>ssh mlhub-thesis</code>" in page
    block = ssh_config(workspace, alice)
    assert f" data-ssh-config>{block}</pre>" in page  # the pre, whatever its classes


def test_a_start_carries_the_owners_keys_only_even_when_an_admin_starts_it(
    alice, carol, workspace_of
):
    first, second = new_key(alice), new_key(alice)
    new_key(carol)
    workspace = workspace_of(alice, "thesis")
    assert workspace.user_options()["ssh_keys"] == [first.public_key, second.public_key]


def test_no_keys_means_no_ssh_keys_option(bob, workspace_of):
    assert "ssh_keys" not in workspace_of(bob, "thesis").user_options()


def test_a_capitalised_persons_key_opens_the_container_the_spawner_named(
    api, make_person, workspace_of
):
    # The spawner names containers by the hub's name of the person (lower case, NFKC); the
    # gateway named them by the username, so "Dora" could reach none of hers (found by
    # tests/upgrade/test_upgrade_from_release.py).
    dora = make_person("Dora")
    workspace = workspace_of(dora, "kept", state="running")
    key = new_key(dora)
    opened = lookup(api, key.fingerprint).content.decode()
    assert 'permitopen="mlhub-dora--kept:2222"' in opened
    assert "    HostName mlhub-dora--kept\n" in ssh_config(workspace, dora)
