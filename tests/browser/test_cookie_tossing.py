"""Cookie tossing in a real Chromium over https (docs/security.md): a page on a workspace's
host, ``x.<public host>``, sets the portal's session cookie on the parent domain with a
session of its owner's, by a Set-Cookie header and by script. The portal's ``__Host-``
cookie names make the browser refuse both, and the visitor stays who they are.

The parts: the portal alone (its gunicorn speaking TLS, no hub), a wildcard certificate made
here for ``hub.mlhub.test`` and ``*.hub.mlhub.test``, a small https server standing in for
the workspace, and Chromium mapping those names to loopback (``--host-resolver-rules``)."""

from __future__ import annotations

import ssl
import subprocess
import threading
import warnings
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Page, expect
from urllib3.exceptions import InsecureRequestWarning

from lib.polling import poll_until
from lib.stack import ROOT, Stack, listening, portal_command, stack_environment
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, contexts
from tests.hub_stack import ADMIN_PASSWORD, free_port, prepared_data_dir

pytestmark = pytest.mark.browser

HOST = "hub.mlhub.test"  # .test: reserved, never a real name (RFC 2606)
BOB = ("bob", "bob-pass-12345")


def wildcard_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for HOST and *.HOST, as production has (docs/deploy.md)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST), x509.DNSName(f"*.{HOST}")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert, key_file = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return wildcard_certificate(tmp_path_factory.mktemp("tossing-tls"))


@pytest.fixture(scope="module")
def portal(tmp_path_factory, certificate):
    """The portal at https://HOST:<port>/ (gunicorn with TLS), its admin and bob: a portal of
    its own, as the attack needs a public host that is not localhost (a parent domain for
    the workspace's cookie), which the shared stacks cannot have."""
    data = tmp_path_factory.mktemp("tossing-portal")
    port = free_port()
    environ = stack_environment(
        {
            "MLHUB_DATA_DIR": str(data),
            "MLHUB_PUBLIC_URL": f"https://{HOST}:{port}",
            "MLHUB_PORTAL_URL": f"http://127.0.0.1:{port}",  # gunicorn's bind address
            "MLHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "HUB_NAME": "mlhc",
        }
    )
    environ.pop("DATABASE_URL", None)  # its own SQLite: no person shared with other stacks
    stack = Stack(environ, log_dir=data / "logs")
    # Migrated and collected once for all stacks; no fast password hasher here: the portal
    # refuses it on this public host (not a localhost one).
    stack.prepare(prepared_data_dir(""))
    stack.manage(
        "shell",
        "-c",
        "from portal.accounts.models import User; User.objects.create_user("
        f"username={BOB[0]!r}, password={BOB[1]!r}, approval=User.Approval.APPROVED)",
    )
    cert, key = certificate
    log = data / "logs" / "portal.log"
    with open(log, "ab") as output:
        # Started here, not by stack.portal_start: gunicorn with TLS options; stopped by the
        # stack's own stop (terminate, then its process group killed).
        process = stack.processes["portal"] = subprocess.Popen(
            [*portal_command(environ), "--certfile", str(cert), "--keyfile", str(key)],
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            """Answering, not just listening: gunicorn listens before its workers have
            loaded Django, and a browser sent there then (CI, under load) got an error page."""
            assert process.poll() is None, log.read_text()
            if not listening("127.0.0.1", port):
                return False
            try:
                with warnings.catch_warnings():  # the address is not the certificate's name
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    requests.get(
                        f"https://127.0.0.1:{port}/accounts/login/",
                        headers={"Host": f"{HOST}:{port}"},
                        verify=False,
                        timeout=5,
                    )
            except requests.RequestException:
                return False
            return True

        poll_until(up, timeout=60, what="the portal's gunicorn does not answer")
        yield f"https://{HOST}:{port}"
    finally:
        stack.stop()


class Tosser(ThreadingHTTPServer):
    """A workspace's page: sets ``toss`` (name, value) on the parent domain, by its response
    header and again by script, and two harmless cookies the same ways (what the browser
    did with those shows the page could set parent-domain cookies at all)."""

    daemon_threads = True
    toss: tuple[str, str] = ("", "")

    def page(self) -> tuple[list[str], bytes]:
        name, value = self.toss
        attributes = f"Domain={HOST}; Path=/; Secure; SameSite=Lax"
        headers = [f"{name}={value}; {attributes}", f"tossed-by-header=1; {attributes}"]
        script = (
            f'document.cookie = "{name}={value}; {attributes}";'
            f'document.cookie = "tossed-by-script=1; {attributes}";'
            'document.title = "tossed";'
        )
        return headers, f"<!doctype html><title>workspace</title><script>{script}</script>".encode()


class TosserHandler(BaseHTTPRequestHandler):
    server: Tosser

    def do_GET(self) -> None:
        cookies, body = self.server.page()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def tosser(certificate):
    server = Tosser(("127.0.0.1", 0), TosserHandler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*certificate)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="module")
def chromium(playwright_driver):
    """Chromium that resolves HOST and its subdomains to this machine."""
    rules = f"MAP {HOST} 127.0.0.1, MAP *.{HOST} 127.0.0.1"
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"],
    )
    yield browser
    browser.close()


@pytest.fixture
def new_context(chromium):
    # The certificate is this test's own, which Chromium was never told to trust.
    yield from contexts(chromium, ignore_https_errors=True)


def log_in(page: Page, portal: str, username: str, password: str) -> None:
    page.goto(f"{portal}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect(page.locator("#current-user")).to_have_text(username)


def portal_sessions(context, portal: str) -> list[tuple[str, str, str]]:
    """(name, value, domain) of each portal session cookie the browser would send there."""
    return [
        (c["name"], c["value"], c["domain"])
        for c in context.cookies(portal)
        if c["name"].endswith("mlhub-portal-session")
    ]


def test_a_workspace_page_cannot_put_its_owners_session_into_a_visitors_portal(
    portal, tosser, new_context
):
    # Bob, who owns the workspace, logs in to the portal himself: his session is the one his
    # page will try to give the admin (then the admin would act as bob, unknowingly).
    bob = new_context().new_page()
    log_in(bob, portal, *BOB)
    [(name, bobs, _)] = portal_sessions(bob.context, portal)

    admin = new_context().new_page()
    log_in(admin, portal, "admin", ADMIN_PASSWORD)
    [(_, admins, _)] = portal_sessions(admin.context, portal)

    tosser.toss = (name, bobs)
    admin.goto(f"https://x.{HOST}:{tosser.server_address[1]}/")
    expect(admin).to_have_title("tossed")

    sent = {c["name"]: c["domain"] for c in admin.context.cookies(portal)}
    # The page could set cookies on the portal's domain, by header and by script ...
    assert (sent["tossed-by-header"], sent["tossed-by-script"]) == (f".{HOST}", f".{HOST}")
    # ... but not the portal's session: the admin's own is the only one, unchanged.
    assert portal_sessions(admin.context, portal) == [("__Host-mlhub-portal-session", admins, HOST)]
    admin.goto(f"{portal}/")
    expect(admin.locator("#current-user")).to_have_text("admin")

    # Logging out clears it (a __Host- cookie is only cleared by a Secure Set-Cookie).
    with admin.expect_navigation():
        admin.get_by_role("button", name="Log out").click()
    assert portal_sessions(admin.context, portal) == []
