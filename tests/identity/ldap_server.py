"""A real OpenLDAP directory for the LDAP / Active Directory login tests.

django-auth-ldap's behaviour (binds, group searches, StartTLS, a directory that is down) is
only worth testing against a real server, so this runs a private Debian `slapd` (2.5) as a
child process: its cn=config, its mdb database, its log and (tls=True) its certificates all
live in one throw-away folder, it listens on free ports of 127.0.0.1 only, and it runs as
whoever runs the tests (root in CI). The system's slapd service and /etc/ldap/slapd.d are
never used.

Groups are groupOfNames, whose `member` is mandatory: every group keeps the admin DN as a
placeholder member, so a group can exist with no person in it and never has to be deleted
and re-created; the admin is no person, so no login ever sees it as one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import ldap
import ldap.dn
import ldap.filter
import ldap.modlist
import ldif
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.identity.child_process import ended

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMA = Path("/etc/ldap/schema")
# Debian builds the backends as modules: without loading back_mdb, "olcMdbConfig" is unknown.
MODULES = Path("/usr/lib/ldap")
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ssha(password: str) -> str:
    """The {SSHA} userPassword slapd checks simple binds against (as `slappasswd -s` makes)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _ldif(entries: list[tuple[str, dict[str, list[str]]]]) -> str:
    # python-ldap's writer base64-encodes whatever LDIF cannot carry as it is (paths, hashes).
    out = StringIO()
    writer = ldif.LDIFWriter(out, cols=1000)
    for dn, attrs in entries:
        writer.unparse(dn, _encoded(attrs))
    return out.getvalue()


class LdapServer:
    base_dn = "dc=example,dc=org"
    people_dn = f"ou=people,{base_dn}"
    groups_dn = f"ou=groups,{base_dn}"
    admin_dn = f"cn=admin,{base_dn}"

    def __init__(self, folder: Path, port: int | None = None, tls: bool = False):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.tls = tls
        self.ldaps_port = free_port() if tls else None
        self.admin_password = secrets.token_urlsafe(12)
        self.ca_file: Path | None = self.folder / "tls" / "ca.pem" if tls else None
        self.log_file = self.folder / "slapd.log"
        self._process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self) -> str | None:
        return f"ldaps://127.0.0.1:{self.ldaps_port}" if self.tls else None

    def person_dn(self, uid: str) -> str:
        return f"uid={ldap.dn.escape_dn_chars(uid)},{self.people_dn}"

    def group_dn(self, name: str) -> str:
        return f"cn={ldap.dn.escape_dn_chars(name)},{self.groups_dn}"

    # -- the process -----------------------------------------------------------------------

    def start(self) -> None:
        """Start slapd (configuring the folder the first time) and wait until a bind works."""
        if self._process is not None:
            return
        if not (self.folder / "slapd.d").exists():
            self._configure()
        urls = f"ldap://127.0.0.1:{self.port}/"
        if self.tls:
            urls += f" ldaps://127.0.0.1:{self.ldaps_port}/"
        # Appended to, so that the log of a start before a restart is still there to read.
        with self.log_file.open("ab") as log:
            # -d: in the foreground (a child we can stop), logging to stderr. "none", not 0:
            # on 2.5 "-d 0" silences even the fatal errors ("bind(6) failed errno=98").
            command = [SLAPD, "-d", "none", "-h", urls, "-F", str(self.folder / "slapd.d")]
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"slapd exited while starting:\n{self._log()}")
            try:
                with self._admin():
                    return
            # Not only SERVER_DOWN: whatever else holds the port refuses our admin, and our
            # slapd then exits ("address already in use"), which the next turn reports.
            except ldap.LDAPError as error:
                if time.monotonic() > deadline:
                    self.stop()
                    took = f"slapd did not take a bind in {START_TIMEOUT} s ({error!r})"
                    raise RuntimeError(f"{took}:\n{self._log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self._process = ended(self._process)

    def __enter__(self) -> LdapServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    # -- the directory ---------------------------------------------------------------------

    def connect(self, uri: str | None = None) -> ldap.ldapobject.LDAPObject:
        """A connection not bound yet; TLS options set on it apply to it alone."""
        conn = ldap.initialize(uri or self.uri)
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2.0)
        conn.set_option(ldap.OPT_TIMEOUT, 5.0)
        return conn

    @contextmanager
    def _admin(self) -> Iterator[ldap.ldapobject.LDAPObject]:
        conn = self.connect()
        try:
            conn.simple_bind_s(self.admin_dn, self.admin_password)
            yield conn
        finally:
            conn.unbind_s()

    def add_person(self, uid: str, password: str, email: str = "", name: str = "") -> str:
        name = name or uid
        attrs = {
            "objectClass": ["inetOrgPerson"],
            "uid": [uid],
            "cn": [name],
            "sn": [name.split()[-1]],
            "userPassword": [ssha(password)],
        }
        if email:
            attrs["mail"] = [email]
        dn = self.person_dn(uid)
        with self._admin() as conn:
            conn.add_s(dn, ldap.modlist.addModlist(_encoded(attrs)))
        return dn

    def set_password(self, uid: str, password: str) -> None:
        with self._admin() as conn:
            change = [(ldap.MOD_REPLACE, "userPassword", [ssha(password).encode()])]
            conn.modify_s(self.person_dn(uid), change)

    def add_group(self, name: str) -> str:
        """Create the group if it is missing, with the admin as its placeholder member."""
        dn = self.group_dn(name)
        attrs = {"objectClass": ["groupOfNames"], "cn": [name], "member": [self.admin_dn]}
        with self._admin() as conn:
            try:
                conn.add_s(dn, ldap.modlist.addModlist(_encoded(attrs)))
            except ldap.ALREADY_EXISTS:
                pass
        return dn

    def set_groups(self, uid: str, groups: list[str]) -> None:
        """Make the person a member of exactly these groups (created when missing)."""
        person = self.person_dn(uid)
        # DNs compare case-insensitively here, as the directory compares these names.
        wanted = {self.group_dn(name).lower(): self.group_dn(name) for name in groups}
        for name in groups:
            self.add_group(name)
        with self._admin() as conn:
            found = conn.search_s(
                self.groups_dn,
                ldap.SCOPE_ONELEVEL,
                f"(&(objectClass=groupOfNames)(member={ldap.filter.escape_filter_chars(person)}))",
                ["cn"],
            )
            current = {dn.lower(): dn for dn, _ in found}
            for key in current.keys() - wanted.keys():
                conn.modify_s(current[key], [(ldap.MOD_DELETE, "member", [person.encode()])])
            for key in wanted.keys() - current.keys():
                conn.modify_s(wanted[key], [(ldap.MOD_ADD, "member", [person.encode()])])

    # -- the configuration -----------------------------------------------------------------

    def _configure(self) -> None:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.folder / "slapd.d").mkdir()
        tls = self._make_certificates() if self.tls else {}
        config = self.folder / "config.ldif"
        config.write_text(self._config_ldif(data, tls))
        self._slapadd(["-n", "0"], config)
        base = self.folder / "base.ldif"
        base.write_text(self._base_ldif())
        self._slapadd(["-b", self.base_dn], base)

    def _slapadd(self, database: list[str], path: Path) -> None:
        command = [SLAPADD, *database, "-F", str(self.folder / "slapd.d"), "-l", str(path)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def _config_ldif(self, data: Path, tls: dict[str, list[str]]) -> str:
        head = _ldif(
            [
                ("cn=config", {"objectClass": ["olcGlobal"], "cn": ["config"], **tls}),
                (
                    "cn=module{0},cn=config",
                    {
                        "objectClass": ["olcModuleList"],
                        "cn": ["module{0}"],
                        "olcModulePath": [str(MODULES)],
                        "olcModuleLoad": ["back_mdb"],
                    },
                ),
                ("cn=schema,cn=config", {"objectClass": ["olcSchemaConfig"], "cn": ["schema"]}),
            ]
        )
        # Debian's own LDIF schemas, in dependency order, as they are.
        schemas = "\n".join(
            (SCHEMA / f"{name}.ldif").read_text() for name in ("core", "cosine", "inetorgperson")
        )
        databases = _ldif(
            [
                (
                    "olcDatabase={0}config,cn=config",
                    {"objectClass": ["olcDatabaseConfig"], "olcDatabase": ["{0}config"]},
                ),
                (
                    "olcDatabase={1}mdb,cn=config",
                    {
                        "objectClass": ["olcDatabaseConfig", "olcMdbConfig"],
                        "olcDatabase": ["{1}mdb"],
                        "olcDbDirectory": [str(data)],
                        "olcSuffix": [self.base_dn],
                        "olcRootDN": [self.admin_dn],
                        "olcRootPW": [ssha(self.admin_password)],
                        # Passwords are for binds only; the rest is readable, as a login
                        # that searches before it binds (django-auth-ldap's search) needs.
                        "olcAccess": [
                            "{0}to attrs=userPassword by self write by anonymous auth by * none",
                            "{1}to * by * read",
                        ],
                    },
                ),
            ]
        )
        return f"{head}\n{schemas}\n{databases}"

    def _base_ldif(self) -> str:
        return _ldif(
            [
                (
                    self.base_dn,
                    {"objectClass": ["dcObject", "organization"], "dc": ["example"], "o": ["Org"]},
                ),
                (self.people_dn, {"objectClass": ["organizationalUnit"], "ou": ["people"]}),
                (self.groups_dn, {"objectClass": ["organizationalUnit"], "ou": ["groups"]}),
            ]
        )

    def _make_certificates(self) -> dict[str, list[str]]:
        """A CA and its server certificate for 127.0.0.1 and localhost; the olcTLS settings."""
        folder = self.folder / "tls"
        folder.mkdir()
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MLHub test LDAP CA")])
        ca = (
            _certificate(ca_name, ca_name, ca_key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        # libldap checks a "localhost" URI against this machine's name instead (its fqdn),
        # so the certificate names that too: ldaps://localhost then works as well.
        names = dict.fromkeys(["localhost", socket.gethostname(), socket.getfqdn()])
        hosts = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        hosts += [x509.DNSName(name) for name in names]
        server = (
            _certificate(name, ca_name, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(hosts), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
        (folder / "server.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return {
            "olcTLSCACertificateFile": [str(folder / "ca.pem")],
            "olcTLSCertificateFile": [str(folder / "server.pem")],
            "olcTLSCertificateKeyFile": [str(folder / "server.key")],
        }


def _encoded(attrs: dict[str, list[str]]) -> dict[str, list[bytes]]:
    return {name: [value.encode() for value in values] for name, values in attrs.items()}


def _certificate(subject, issuer, public_key, now) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
