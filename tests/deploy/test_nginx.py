"""nginx on MLHub's one public port, in front of a real stack: the portal, the hub and a
workspace over TLS with the generated certificate, a kernel's websocket, plain http sent to
https on the redirect port, and whatever is not TLS on the public port sent to the SSH gateway.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
import warnings

import pytest
import requests

from lib.polling import poll_until
from tests.deploy.nginx_front import (
    GATEWAY_BANNER,
    FakeGateway,
    Nginx,
    SubdomainAdapter,
    assert_kernel_answers,
    nginx_processes,
    require_nginx,
    run_directory,
    script_environment,
    start_script,
)
from tests.hub_stack import free_port, portal_login, running_stack

pytestmark = pytest.mark.hub

ALICE = ("alice", "alice-pass-123")
WORKSPACE = "tls"


class Front:
    """What the tests reach: the stack's public port through nginx, and nginx's parts."""

    def __init__(self, hub, port: int, http_port: int, cert, nginx: Nginx, gateway) -> None:
        self.hub, self.port, self.http_port = hub, port, http_port
        self.cert, self.nginx, self.gateway = cert, nginx, gateway
        self.url = f"https://localhost:{port}"


def start_when_listening(port: int, start, stop: threading.Event, timeout: float = 180):
    """Call ``start`` once something listens on 127.0.0.1:port (the stack's Node proxy).

    The stack refuses to start while its public port is taken (lib/stack.py
    check_ports_free), then waits for the hub through that same port: nginx must come up
    in between.
    """
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                start()
                return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """The stack behind nginx with TLS on one public port: a stack of its own, as its public
    URL (https, nginx's port) and trusted proxy count differ from the shared one's."""
    yield from fronted_stack(tmp_path_factory.mktemp("mlhub-nginx"), "mlhn")


def fronted_stack(data, hub_name: str, base_url: str = "/"):
    """For a fixture to ``yield from``: a Front, the stack under ``base_url`` (its public
    URL then ends in it, as MLHUB_PUBLIC_URL may: tests/deploy/test_nginx_prefix.py)."""
    require_nginx()
    port, bind, http_port = free_port(), free_port(), free_port()
    public_url = f"https://localhost:{port}{base_url.rstrip('/')}"
    gateway = FakeGateway()
    with run_directory() as run_dir, pytest.MonkeyPatch.context() as patch:
        environ = script_environment(
            MLHUB_PUBLIC_URL=public_url,
            MLHUB_BIND_URL=f"http://127.0.0.1:{bind}",
            MLHUB_NGINX_LISTEN=f"127.0.0.1:{port}",
            MLHUB_HTTP_PORT=str(http_port),
            MLHUB_SSH_GATEWAY_ADDRESS=gateway.address,
            MLHUB_DATA_DIR=str(data),
            MLHUB_NGINX_RUN_DIR=str(run_dir),
            SSL_ENABLED="true",
        )
        # First the checks alone: they make the certificate the stack's own requests to its
        # public URL (waiting for the hub, logging in the admin) must trust. The stack's
        # processes inherit REQUESTS_CA_BUNDLE too: they call each other over plain http.
        checked = start_script(environ, "--check")
        assert checked.returncode == 0, checked.stderr
        cert = data / "ssl" / "cert.crt"
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))

        # Beside the stack's logs: a failure to start shows them all.
        log = data / "logs" / "nginx.log"
        log.parent.mkdir(mode=0o700, exist_ok=True)
        started: list[Nginx] = []
        stop = threading.Event()
        starter = threading.Thread(
            target=start_when_listening,
            args=(bind, lambda: started.append(Nginx.start(environ, log)), stop),
            daemon=True,
        )
        starter.start()
        stack = running_stack(
            data,
            "process",
            hub_name=hub_name,
            extra={
                "MLHUB_PUBLIC_URL": public_url,
                "MLHUB_BASE_URL": base_url,
                "MLHUB_BIND_URL": f"http://127.0.0.1:{bind}",
                # nginx appends the client's address, then the Node proxy nginx's.
                "MLHUB_TRUSTED_PROXY_COUNT": "2",
            },
        )
        try:
            hub = next(stack)
            starter.join()
            yield Front(hub, port, http_port, cert, started[0], gateway)
        finally:
            stop.set()
            starter.join()
            for nginx in started:
                nginx.stop()
            stack.close()
            gateway.close()
            assert nginx_processes(run_dir) == []


@pytest.fixture(scope="module")
def alice(front):
    hub = front.hub
    people = hub.api().get(f"{hub.url}/api/v1/users/", params={"page_size": 1000}, timeout=10)
    if ALICE[0] not in {p["username"] for p in people.json()["results"]}:
        hub.user_create(*ALICE)
    return hub.token_for(*ALICE)


@pytest.fixture(scope="module")
def workspace(front, alice):
    hub = front.hub
    response = hub.api(alice).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": WORKSPACE}, timeout=30
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["url"] == f"https://alice.localhost:{front.port}/user/alice/{WORKSPACE}/"
    running = hub.wait_for_state(alice, created["id"], "running")
    yield running
    hub.api(alice).delete(f"{hub.url}/api/v1/workspaces/{running['id']}/", timeout=30)
    poll_until(lambda: WORKSPACE not in hub.hub_user("alice")["servers"], timeout=30, what="kept")


def test_the_portal_answers_over_tls_with_the_generated_certificate(front):
    response = requests.get(f"{front.url}/accounts/login/", verify=front.cert, timeout=30)
    assert response.status_code == 200
    # Django sends HSTS only on a request it knows came over https: X-Forwarded-Proto from
    # nginx got through the Node proxy (else this would be a redirect to https).
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_only_tls_1_2_and_newer_are_offered(front):
    context = ssl.create_default_context(cafile=str(front.cert))
    # This client offers TLS 1.0 and 1.1 only (Python's own minimum is 1.2): nginx must say no.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as raw:
        # The server's alert, not this client giving up.
        with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
            context.wrap_socket(raw, server_hostname="localhost")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1.2"


def test_a_portal_login_over_https_sets_secure_cookies(front, alice):
    browser = portal_login(front.url, *ALICE)
    cookies = {cookie.name: cookie for cookie in browser.cookies}
    for name in ("__Host-mlhub-portal-session", "__Host-mlhub-portal-csrf"):
        assert cookies[name].secure, name


def test_nginx_logs_the_clients_address_and_no_query_string(front):
    secret = uuid.uuid4().hex
    response = requests.get(
        f"{front.url}/accounts/login/?next=/{secret}", verify=front.cert, timeout=30
    )
    assert response.status_code == 200

    def logged() -> list[str]:
        lines = front.nginx.log.read_text().splitlines()
        return [line for line in lines if '"GET localhost/accounts/login/ HTTP/1.1" 200' in line]

    poll_until(logged, timeout=10, what="no log line")
    # The client's address came with the PROXY protocol header, not "unix:" (the socket).
    assert logged()[-1].startswith("127.0.0.1 [")
    assert secret not in front.nginx.log.read_text()


def test_alice_opens_her_workspace_through_the_same_port(front, workspace):
    browser = portal_login(front.url, *ALICE)
    browser.mount(f"https://alice.localhost:{front.port}/", SubdomainAdapter("alice.localhost"))
    page = browser.get(workspace["url"] + "lab", timeout=60)
    assert page.status_code == 200, (page.url, page.text[:300])
    assert page.url == workspace["url"] + "lab"
    assert all(hop.url.startswith("https://") for hop in page.history), page.history
    # The hub's and the workspace's cookies too (nginx adds Secure to Tornado's _xsrf).
    insecure = [(c.name, c.domain, c.path) for c in browser.cookies if not c.secure]
    assert insecure == []


def test_a_kernels_websocket_goes_through(front, alice, workspace):
    hub = front.hub
    token = hub.api(alice).post(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 600}, timeout=30
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"token {token.json()['token']}"}
    assert_kernel_answers(workspace["url"], "alice.localhost", front.port, front.cert, bearer)


@pytest.mark.parametrize("host", ["localhost", "alice.localhost"])
def test_plain_http_on_the_redirect_port_goes_to_https(front, host):
    response = requests.get(
        f"http://{host}:{front.http_port}/accounts/login/?next=/x",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{host}:{front.port}/accounts/login/?next=/x"


def test_what_is_not_tls_on_the_public_port_reaches_the_ssh_gateway(front):
    client_line = b"SSH-2.0-MLHubTestClient\r\n"
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as connection:
        # As an SSH client does: its version line at once (nginx routes on the first bytes).
        connection.sendall(client_line)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = connection.recv(256)
            if not chunk:
                break
            answer += chunk
    assert answer == GATEWAY_BANNER
    # ... and the gateway got the client's bytes as sent: no PROXY protocol header before.
    poll_until(lambda: client_line in front.gateway.received, timeout=10, what="not received")
