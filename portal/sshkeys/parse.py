"""Reading one pasted OpenSSH public key: what it is, its canonical text and fingerprint.

Pure (no Django): the portal's 400 and, later, the SSH gateway read keys the same way. Every
refusal is a ``KeyRefused`` whose message never repeats the pasted text, which may be a
private key pasted by mistake.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# The types accepted, with the names people know them by.
KEY_TYPES = {
    "ssh-ed25519": "Ed25519",
    "ecdsa-sha2-nistp256": "ECDSA P-256",
    "ecdsa-sha2-nistp384": "ECDSA P-384",
    "ecdsa-sha2-nistp521": "ECDSA P-521",
    "ssh-rsa": "RSA",
}
_CURVES = {
    "ecdsa-sha2-nistp256": ec.SECP256R1,
    "ecdsa-sha2-nistp384": ec.SECP384R1,
    "ecdsa-sha2-nistp521": ec.SECP521R1,
}
RSA_MIN_BITS = 2048
# OpenSSH's own ceiling (OPENSSH_RSA_MAX_MODULUS_SIZE): larger keys no server accepts.
RSA_MAX_BITS = 16384
# A 16384-bit RSA key is about 2,800 characters with a comment; anything far longer is not one.
MAX_TEXT = 8192

ACCEPTED = "ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (2048 bits or more)"
MAKE_ONE = "Make one with: ssh-keygen -t ed25519"
EMPTY = "Paste a public key: the one line of your .pub file (e.g. ~/.ssh/id_ed25519.pub)."
PRIVATE = (
    "This is a private key; paste the .pub file (e.g. ~/.ssh/id_ed25519.pub) instead. "
    "Never give your private key to anyone, this site included."
)
NOT_OPENSSH = (
    "This is not in OpenSSH format: paste the one line starting with the key type "
    "(ssh-ed25519, ...). `ssh-keygen -i -f key.pub` converts an RFC 4716 or PEM key."
)
MANY_LINES = "Paste one key at a time: the text has more than one line."
TOO_LONG = "This is too long to be a public key."
GARBAGE = "This is not an OpenSSH public key: expected '<type> <base64 data> [comment]'."
DSA = f"DSA (ssh-dss) keys are refused: OpenSSH no longer accepts them. {MAKE_ONE}"
UNKNOWN_TYPE = "Keys of type {type} are not accepted; use " + ACCEPTED + "."
CORRUPT = "The key data is not a valid {type} key (copied only in part?)."
RSA_SHORT = f"RSA keys need at least {RSA_MIN_BITS} bits; this one has {{bits}}. {MAKE_ONE}"
RSA_LONG = f"RSA keys may have at most {RSA_MAX_BITS} bits; this one has {{bits}}."

# PEM and OpenSSH private keys, PuTTY's .ppk, and an OpenSSH one's body without its armour
# (base64 of "openssh-key-v1").
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|^PuTTY-User-Key-File-|^b3BlbnNzaC1rZXktdjE"
)
# Looks like a key type (ssh-dss, sk-ssh-ed25519@openssh.com), not like a word of text.
_TYPE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9@.]+)+")


class KeyRefused(ValueError):
    """The text is not a public key MLHub accepts; ``message`` says why, for its owner."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PublicKey:
    type: str
    blob: bytes  # the key in SSH wire format, as OpenSSH hashes it for the fingerprint
    bits: int
    comment: str

    @property
    def openssh(self) -> str:
        """``<type> <base64>``: the line for authorized_keys, without the comment."""
        return f"{self.type} {base64.b64encode(self.blob).decode()}"

    @property
    def fingerprint(self) -> str:
        """As ``ssh-keygen -l`` prints it: ``SHA256:`` and unpadded base64 of the blob's digest."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(text: str) -> PublicKey:
    """The one OpenSSH public key in ``text`` (a .pub file's line), or ``KeyRefused``."""
    text = text.strip()
    if not text:
        raise KeyRefused(EMPTY)
    if _PRIVATE_KEY.search(text):
        raise KeyRefused(PRIVATE)
    if len(text) > MAX_TEXT:
        raise KeyRefused(TOO_LONG)
    if "BEGIN " in text and "----" in text:  # PEM or RFC 4716 armour
        raise KeyRefused(NOT_OPENSSH)
    if "\n" in text or "\r" in text:
        raise KeyRefused(MANY_LINES)
    fields = text.split(None, 2)
    if len(fields) < 2:
        raise KeyRefused(GARBAGE)
    key_type, data = fields[0], fields[1]
    comment = fields[2].strip() if len(fields) == 3 else ""
    if key_type == "ssh-dss":
        raise KeyRefused(DSA)
    if key_type not in KEY_TYPES:
        # Name the type only when it looks like one: anything else (authorized_keys options,
        # a stray word) is not repeated back.
        if len(key_type) > 60 or not _TYPE_NAME.fullmatch(key_type):
            raise KeyRefused(GARBAGE)
        raise KeyRefused(UNKNOWN_TYPE.format(type=key_type))
    try:
        base64.b64decode(data, validate=True)
        key = serialization.load_ssh_public_key(f"{key_type} {data}".encode())
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise KeyRefused(CORRUPT.format(type=key_type)) from None
    bits = _check(key_type, key)
    # Serialised again by the library: one key has one blob, hence one fingerprint, however
    # it was written when pasted.
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    return PublicKey(type=key_type, blob=blob, bits=bits, comment=comment)


def _check(key_type: str, key) -> int:
    """The key's size in bits once it is what its type says and strong enough."""
    if key_type == "ssh-ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    if key_type in _CURVES and isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, _CURVES[key_type]):
            return key.curve.key_size
    if key_type == "ssh-rsa" and isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise KeyRefused(RSA_SHORT.format(bits=key.key_size))
        if key.key_size > RSA_MAX_BITS:
            raise KeyRefused(RSA_LONG.format(bits=key.key_size))
        return key.key_size
    raise KeyRefused(CORRUPT.format(type=key_type))
