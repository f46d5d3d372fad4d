"""SSH keys: real keys read by the parser, added and removed per role through the API and admin."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning

from portal.accounts.models import NOT_APPROVED
from portal.audit.models import AuditEntry
from portal.sshkeys import parse, services
from portal.sshkeys.models import KEYS_PER_PERSON, SshKey
from portal.sshkeys.parse import KeyRefused, parse_public_key

KEYS = "/api/v1/ssh-keys/"
OpenSSH = serialization.Encoding.OpenSSH


def public_line(private, comment: str = "") -> str:
    line = private.public_key().public_bytes(OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}".strip()


def private_text(private, format=serialization.PrivateFormat.OpenSSH) -> str:
    encoding = serialization.Encoding.PEM
    return private.private_bytes(encoding, format, serialization.NoEncryption()).decode()


def ed25519_key():
    return ed25519.Ed25519PrivateKey.generate()


# The keys are made once: RSA generation is the slow part of this file.
MADE = {
    "ssh-ed25519": (ed25519_key(), 256),
    "ecdsa-sha2-nistp256": (ec.generate_private_key(ec.SECP256R1()), 256),
    "ecdsa-sha2-nistp384": (ec.generate_private_key(ec.SECP384R1()), 384),
    "ecdsa-sha2-nistp521": (ec.generate_private_key(ec.SECP521R1()), 521),
    "ssh-rsa": (rsa.generate_private_key(public_exponent=65537, key_size=2048), 2048),
}
RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)


def ssh_keygen_fingerprint(line: str, tmp_path) -> str:
    """What ``ssh-keygen -lf`` prints for the key; computed here when it is not installed."""
    if shutil.which("ssh-keygen") is None:
        blob = base64.b64decode(line.split()[1])
        return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    path = tmp_path / "key.pub"
    path.write_text(line + "\n")
    shown = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return shown.split()[1]  # "256 SHA256:... comment (ED25519)"


def refusal(text: str) -> str:
    with pytest.raises(KeyRefused) as refused:
        parse_public_key(text)
    return refused.value.message


# --- The parser ----------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", list(MADE))
def test_it_reads_every_accepted_type_with_the_fingerprint_ssh_keygen_shows(key_type, tmp_path):
    private, bits = MADE[key_type]
    line = public_line(private, "alice@laptop")
    key = parse_public_key(line)
    assert (key.type, key.bits, key.comment) == (key_type, bits, "alice@laptop")
    assert key.openssh == line.removesuffix(" alice@laptop")
    assert key.fingerprint == ssh_keygen_fingerprint(line, tmp_path)
    assert key.fingerprint.startswith("SHA256:") and not key.fingerprint.endswith("=")


def test_surrounding_whitespace_and_a_windows_line_end_are_fine():
    line = public_line(MADE["ssh-ed25519"][0], "a comment with spaces")
    key = parse_public_key(f"  {line}\r\n")
    assert key.comment == "a comment with spaces"
    assert key.fingerprint == parse_public_key(" ".join(line.split()[:2])).fingerprint


def test_it_refuses_short_rsa_keys():
    assert refusal(public_line(RSA_1024)) == (
        "RSA keys need at least 2048 bits; this one has 1024. Make one with: ssh-keygen -t ed25519"
    )


def test_it_refuses_dsa_keys():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        line = public_line(dsa.generate_private_key(key_size=1024))
    assert line.startswith("ssh-dss ")
    assert refusal(line) == (
        "DSA (ssh-dss) keys are refused: OpenSSH no longer accepts them. "
        "Make one with: ssh-keygen -t ed25519"
    )


@pytest.mark.parametrize(
    "text",
    [
        private_text(MADE["ssh-ed25519"][0]),
        private_text(MADE["ssh-rsa"][0], serialization.PrivateFormat.TraditionalOpenSSL),
        private_text(MADE["ecdsa-sha2-nistp256"][0], serialization.PrivateFormat.PKCS8),
        # The body of an OpenSSH private key without its armour lines.
        "".join(private_text(MADE["ssh-ed25519"][0]).splitlines()[1:-1]),
    ],
    ids=["openssh", "pem-rsa", "pkcs8", "openssh-body"],
)
def test_it_refuses_a_private_key_without_repeating_it(text):
    message = refusal(text)
    assert message == (
        "This is a private key; paste the .pub file (e.g. ~/.ssh/id_ed25519.pub) instead. "
        "Never give your private key to anyone, this site included."
    )


def test_it_refuses_several_keys_at_once():
    both = public_line(MADE["ssh-ed25519"][0]) + "\n" + public_line(MADE["ssh-rsa"][0])
    assert refusal(both) == "Paste one key at a time: the text has more than one line."


def test_it_refuses_a_pem_public_key_and_says_how_to_convert():
    pem = (
        MADE["ssh-rsa"][0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert refusal(pem.decode()) == parse.NOT_OPENSSH


def test_it_refuses_security_key_types_it_does_not_list():
    line = public_line(MADE["ssh-ed25519"][0])
    assert refusal("sk-ssh-ed25519@openssh.com " + line.split()[1]) == (
        "Keys of type sk-ssh-ed25519@openssh.com are not accepted; use ssh-ed25519, "
        "ecdsa-sha2-nistp256/384/521 or ssh-rsa (2048 bits or more)."
    )


def _blob(key_type: str) -> str:
    return public_line(MADE[key_type][0]).split()[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", parse.EMPTY),
        ("hello", parse.GARBAGE),
        ("hello world", parse.GARBAGE),
        ('from="10.0.0.1" ssh-ed25519 AAAA', parse.GARBAGE),
        (
            "ssh-ed25519 not*base64",
            "The key data is not a valid ssh-ed25519 key (copied only in part?).",
        ),
        ("ssh-ed25519 AAAA", "The key data is not a valid ssh-ed25519 key (copied only in part?)."),
        ("ssh-ed25519 " + _blob("ssh-ed25519")[:-8], parse.CORRUPT.format(type="ssh-ed25519")),
        # The type named before the data is not the one inside it.
        ("ssh-rsa " + _blob("ssh-ed25519"), parse.CORRUPT.format(type="ssh-rsa")),
        (
            "ecdsa-sha2-nistp384 " + _blob("ecdsa-sha2-nistp256"),
            parse.CORRUPT.format(type="ecdsa-sha2-nistp384"),
        ),
        ("ssh-ed25519 " + "A" * 9000, parse.TOO_LONG),
    ],
    # Named, not shown: three hold fresh keys, and pytest-xdist's workers must collect one
    # list of test ids.
    ids=[
        "empty",
        "one-word",
        "two-words",
        "options-first",
        "not-base64",
        "too-short",
        "cut-short",
        "type-not-inside",
        "curve-not-inside",
        "too-long",
    ],
)
def test_it_refuses_what_is_not_a_public_key(text, message):
    assert refusal(text) == message


# --- The API, per role -----------------------------------------------------------------------


def add(api, text: str, **body):
    return api.post(KEYS, {"key": text, **body}, format="json")


@pytest.mark.django_db
def test_anonymous_callers_are_asked_to_authenticate(api, alice):
    services.ssh_key_add(by=alice, text=public_line(ed25519_key()))
    key = SshKey.objects.get()
    for response in (
        api.get(KEYS),
        add(api, public_line(ed25519_key())),
        api.get(f"{KEYS}{key.pk}/"),
    ):
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Authentication credentials were not provided.",
            "code": "not_authenticated",
        }
    assert api.delete(f"{KEYS}{key.pk}/").status_code == 401
    assert SshKey.objects.count() == 1


@pytest.mark.django_db
def test_a_person_adds_a_key_and_sees_its_fingerprint(api, alice, tmp_path):
    line = public_line(MADE["ssh-ed25519"][0], "alice@laptop")
    api.force_authenticate(alice)
    response = add(api, line + "\n")
    assert response.status_code == 201, response.json()
    body = response.json()
    key = SshKey.objects.get()
    assert body == {
        "id": key.pk,
        "name": "alice@laptop",
        "owner": "alice",
        "type": "ssh-ed25519",
        "fingerprint": ssh_keygen_fingerprint(line, tmp_path),
        "public_key": line.removesuffix(" alice@laptop"),
        "created_at": body["created_at"],
    }
    assert api.get(f"{KEYS}{key.pk}/").json() == body
    listed = api.get(KEYS).json()
    assert (listed["count"], listed["results"]) == (1, [body])
    entry = AuditEntry.objects.get(action="sshkey.add")
    assert (entry.actor_name, entry.target, entry.result, entry.source) == (
        "alice",
        f"alice: {body['fingerprint']}",
        "ok",
        "api",
    )
    assert entry.detail == "Ed25519 alice@laptop"


@pytest.mark.django_db
def test_a_given_name_wins_over_the_comment(api, alice):
    api.force_authenticate(alice)
    response = add(api, public_line(ed25519_key(), "x@y"), name="  work laptop ")
    assert response.json()["name"] == "work laptop"


@pytest.mark.django_db
def test_a_key_without_comment_or_name_has_an_empty_name(api, alice):
    api.force_authenticate(alice)
    assert add(api, public_line(ed25519_key())).json()["name"] == ""


@pytest.mark.django_db
def test_a_person_waiting_for_approval_cannot_add_keys(api, mallory):
    api.force_authenticate(mallory)
    response = add(api, public_line(ed25519_key()))
    assert response.status_code == 403
    assert response.json() == {"detail": NOT_APPROVED, "code": "access_refused"}
    assert api.get(KEYS).status_code == 403
    assert not SshKey.objects.exists()


@pytest.mark.django_db
def test_the_service_itself_refuses_people_waiting_for_approval(mallory):
    from portal.accounts.access import AccessRefused

    with pytest.raises(AccessRefused, match="^Your account is waiting"):
        services.ssh_key_add(by=mallory, text=public_line(ed25519_key()))
    assert not SshKey.objects.exists()
    entry = AuditEntry.objects.get(action="sshkey.add")
    assert (entry.result, entry.detail) == ("refused", NOT_APPROVED)


@pytest.mark.django_db
def test_someone_elses_key_is_a_404(api, alice, bob):
    key = services.ssh_key_add(by=alice, text=public_line(ed25519_key()))
    api.force_authenticate(bob)
    for response in (api.get(f"{KEYS}{key.pk}/"), api.delete(f"{KEYS}{key.pk}/")):
        assert response.status_code == 404
        assert response.json() == {
            "detail": "No SshKey matches the given query.",
            "code": "not_found",
        }
    assert SshKey.objects.filter(pk=key.pk).exists()
    # Nor does asking for alice's list show it.
    assert api.get(KEYS, {"owner": "alice"}).json()["count"] == 0


@pytest.mark.django_db
def test_a_person_removes_their_own_key(api, alice):
    key = services.ssh_key_add(by=alice, text=public_line(ed25519_key()))
    api.force_authenticate(alice)
    assert api.delete(f"{KEYS}{key.pk}/").status_code == 204
    assert not SshKey.objects.exists()
    entry = AuditEntry.objects.get(action="sshkey.remove")
    assert (entry.actor_name, entry.target, entry.result) == (
        "alice",
        f"alice: {key.fingerprint}",
        "ok",
    )


@pytest.mark.django_db
def test_a_key_someone_has_is_refused_without_saying_whose(api, alice, bob):
    line = public_line(ed25519_key(), "shared")
    services.ssh_key_add(by=alice, text=line)
    api.force_authenticate(bob)
    response = add(api, line)
    assert response.status_code == 409
    assert response.json() == {"detail": services.DUPLICATE, "code": "conflict"}
    assert "alice" not in services.DUPLICATE
    # The same key without its comment is the same key.
    api.force_authenticate(alice)
    assert add(api, line.removesuffix(" shared")).status_code == 409
    assert SshKey.objects.count() == 1


@pytest.mark.django_db
def test_a_private_key_is_refused_and_never_stored_or_logged(api, alice):
    secret = private_text(ed25519_key())
    api.force_authenticate(alice)
    response = add(api, secret)
    assert response.status_code == 400
    assert response.json() == {"detail": parse.PRIVATE, "code": "invalid"}
    assert not SshKey.objects.exists()
    entry = AuditEntry.objects.get(action="sshkey.add")
    assert (entry.target, entry.result, entry.detail) == (
        "alice: (not a valid public key)",
        "refused",
        parse.PRIVATE,
    )
    body = secret.splitlines()[1]
    assert body not in response.content.decode() and body not in entry.target + entry.detail


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (public_line(RSA_1024), parse.RSA_SHORT.format(bits=1024)),
        ("not a key", parse.GARBAGE),
        (public_line(MADE["ssh-ed25519"][0]) + "\n" + public_line(ed25519_key()), parse.MANY_LINES),
    ],
    ids=["rsa-1024", "garbage", "two-lines"],
)
@pytest.mark.django_db
def test_a_key_that_is_not_accepted_is_a_400(api, alice, text, message):
    api.force_authenticate(alice)
    response = add(api, text)
    assert response.status_code == 400
    assert response.json() == {"detail": message, "code": "invalid"}
    assert not SshKey.objects.exists()


@pytest.mark.django_db
def test_bad_fields_are_a_400(api, alice):
    api.force_authenticate(alice)
    response = api.post(KEYS, {"name": "x"}, format="json")
    assert (response.status_code, response.json()) == (400, {"key": ["This field is required."]})
    response = add(api, public_line(ed25519_key()), name="n" * 101)
    assert response.status_code == 400
    assert response.json() == {"name": ["Ensure this field has no more than 100 characters."]}
    assert not SshKey.objects.exists()


@pytest.mark.django_db
def test_a_person_has_at_most_so_many_keys(api, alice):
    for _ in range(KEYS_PER_PERSON):
        services.ssh_key_add(by=alice, text=public_line(ed25519_key()))
    api.force_authenticate(alice)
    response = add(api, public_line(ed25519_key()))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "You have 20 SSH keys, the most one person may have; remove one first.",
        "code": "invalid",
    }
    assert alice.ssh_keys.count() == KEYS_PER_PERSON


@pytest.mark.django_db
def test_only_admins_add_keys_for_someone_else(api, alice, bob):
    api.force_authenticate(alice)
    response = add(api, public_line(ed25519_key()), owner="bob")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only administrators may add SSH keys for someone else.",
        "code": "admin_only",
    }
    assert not SshKey.objects.exists()


@pytest.mark.django_db
def test_an_admin_manages_someone_elses_keys(api, carol, alice):
    api.force_authenticate(carol)
    response = add(api, public_line(ed25519_key(), "given"), owner="alice")
    assert response.status_code == 201
    assert (response.json()["owner"], SshKey.objects.get().owner) == ("alice", alice)
    key_id = response.json()["id"]
    # An admin's own list is their own keys; ?owner= shows someone else's.
    assert api.get(KEYS).json()["count"] == 0
    assert [k["id"] for k in api.get(KEYS, {"owner": "alice"}).json()["results"]] == [key_id]
    assert api.get(f"{KEYS}{key_id}/").status_code == 200
    assert api.delete(f"{KEYS}{key_id}/").status_code == 204
    assert not SshKey.objects.exists()
    actions = AuditEntry.objects.order_by("id").values_list("action", "actor_name", "result")
    assert list(actions) == [("sshkey.add", "carol", "ok"), ("sshkey.remove", "carol", "ok")]


@pytest.mark.parametrize(
    ("owner", "status", "code", "message"),
    [
        ("nobody", 404, "not_found", "No user named 'nobody'."),
        (
            "mallory",
            403,
            "access_refused",
            "mallory may not use MLHub (not approved, or not on the allow-list).",
        ),
    ],
)
@pytest.mark.django_db
def test_an_admin_cannot_add_keys_for_who_cannot_have_them(
    api, carol, mallory, owner, status, code, message
):
    api.force_authenticate(carol)
    response = add(api, public_line(ed25519_key()), owner=owner)
    assert (response.status_code, response.json()) == (status, {"detail": message, "code": code})
    assert not SshKey.objects.exists()


@pytest.mark.django_db
def test_the_schema_describes_the_endpoint(api):
    schema = api.get("/api/v1/schema/").content.decode()
    assert "/api/v1/ssh-keys/" in schema and "SshKeyAdd" in schema


# --- The Django admin ------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, carol):
    client.force_login(carol)
    return client


ADMIN = "/admin/sshkeys/sshkey/"


@pytest.mark.django_db
def test_an_admin_adds_a_key_for_someone_in_the_admin(admin_client, alice):
    line = public_line(ed25519_key(), "alice@desk")
    assert admin_client.get(f"{ADMIN}add/").status_code == 200
    response = admin_client.post(f"{ADMIN}add/", {"owner": alice.pk, "key": line, "name": ""})
    assert response.status_code == 302
    key = SshKey.objects.get()
    assert (key.owner, key.name) == (alice, "alice@desk")
    entry = AuditEntry.objects.get(action="sshkey.add")
    assert (entry.actor_name, entry.target, entry.source) == (
        "carol",
        f"alice: {key.fingerprint}",
        "admin",
    )
    listed = admin_client.get(ADMIN, {"q": key.fingerprint})
    assert key.fingerprint in listed.content.decode()


@pytest.mark.django_db
def test_the_admin_shows_a_refusal_as_the_forms_error(admin_client, alice, bob):
    line = public_line(ed25519_key())
    services.ssh_key_add(by=bob, text=line)
    for text, message in [(private_text(ed25519_key()), parse.PRIVATE), (line, services.DUPLICATE)]:
        response = admin_client.post(f"{ADMIN}add/", {"owner": alice.pk, "key": text})
        assert response.status_code == 200
        assert response.context["adminform"].form.non_field_errors() == [message]
    assert list(SshKey.objects.values_list("owner__username", flat=True)) == ["bob"]


@pytest.mark.django_db
def test_the_admin_deletes_through_the_service(admin_client, alice):
    key = services.ssh_key_add(by=alice, text=public_line(ed25519_key()))
    assert b'value="delete_selected"' not in admin_client.get(ADMIN).content
    response = admin_client.post(f"{ADMIN}{key.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not SshKey.objects.exists()
    entry = AuditEntry.objects.get(action="sshkey.remove")
    assert (entry.actor_name, entry.source) == ("carol", "admin")


@pytest.mark.django_db
def test_the_admins_bulk_delete_goes_through_the_service(admin_client, alice, bob):
    keys = [services.ssh_key_add(by=p, text=public_line(ed25519_key())) for p in (alice, bob)]
    response = admin_client.post(
        ADMIN,
        {"action": "delete_with_resources", "_selected_action": [k.pk for k in keys]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["Deleted 2."]
    assert not SshKey.objects.exists()
    assert AuditEntry.objects.filter(action="sshkey.remove", actor_name="carol").count() == 2


@pytest.mark.django_db
def test_keys_are_not_edited_in_the_admin(admin_client, alice):
    key = services.ssh_key_add(by=alice, text=public_line(ed25519_key(), "old"))
    page = admin_client.get(f"{ADMIN}{key.pk}/change/")
    assert page.status_code == 200 and key.fingerprint in page.content.decode()
    response = admin_client.post(f"{ADMIN}{key.pk}/change/", {"name": "new"})
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.name == "old"
