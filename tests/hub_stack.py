"""A real MLHub stack for integration tests: gunicorn portal, django-q2 cluster, JupyterHub
and the Node configurable-http-proxy, on free ports with a throw-away data directory."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from lib.polling import poll_until
from lib.stack import ROOT, Stack, stack_environment
from tests.docker_engine import refuse_docker_beside_the_soak
from tests.parts import require

ADMIN_PASSWORD = "admin-pass-for-tests"
# Labels and names of what the tests create start with this, apart from a real hub's.
TEST_HUB_NAME = "mlht"
CHP = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
# Every stack the tests start gets these, settings for tests only (docs/configuration.md).
TEST_SPEED_SETTINGS = {
    # MD5 before PBKDF2's 1,000,000 rounds (a second or more for each person made or logged
    # in). portal/settings.py refuses it unless the public URL is a localhost one: so are
    # all of these stacks' (nginx's https://localhost included).
    "MLHUB_TEST_FAST_PASSWORD_HASHER": "true",
}
# Every test stack's Prometheus scraper (tests/integration/test_metrics.py).
METRICS_TOKEN = "test-scraper-0123456789abcdef"
_PREPARED: dict[str, Path] = {}


def prepared_data_dir(database_url: str) -> Path:
    """A data directory with the database migrated and the static files collected, made
    once per test process and ``DATABASE_URL`` (empty: SQLite): every stack copies it
    (lib/stack.py ``prepared_copy``) instead of running migrate and collectstatic again."""
    if database_url not in _PREPARED:
        folder = Path(tempfile.mkdtemp(prefix="mlhub-prepared-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        environ = stack_environment(
            {"MLHUB_DATA_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "portal.settings"}
        )
        environ.pop("DATABASE_URL", None)
        if database_url:
            environ["DATABASE_URL"] = database_url
        Stack(environ).prepare_shared()
        _PREPARED[database_url] = folder
    return _PREPARED[database_url]


def resolve_localhost_subdomains() -> None:
    """Resolve ``*.localhost`` to loopback in this process, as browsers and curl do.

    Workspaces live on ``<user>.localhost``; Python's resolver only knows ``localhost``.
    """
    if getattr(socket.getaddrinfo, "mlhub_localhost", False):
        return
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    getaddrinfo.mlhub_localhost = True
    socket.getaddrinfo = getaddrinfo


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: each stays bound until all are chosen, so the kernel
    cannot hand the same one out twice (it did, CI 2026-12-06: a stack's portal and its
    proxy's API on one port)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


@dataclass
class RunningHub:
    url: str  # where people find it: the public URL and the path prefix, no trailing slash
    hub_api: str
    hub_token: str
    admin_token: str
    stack: Stack

    @property
    def verify(self) -> bool | str:
        """What this stack's https is checked against (requests' ``verify``)."""
        return True

    def api(self, token: str | None = None) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token or self.admin_token}"
        if self.verify is not True:
            # Our certificate, whatever REQUESTS_CA_BUNDLE says (the environment's would win).
            session.trust_env = False
            session.verify = self.verify
        return session

    def hub_user(self, name: str) -> dict | None:
        response = requests.get(
            f"{self.hub_api}/users/{name}",
            params={"include_stopped_servers": "1"},
            headers={"Authorization": f"token {self.hub_token}"},
            timeout=10,
            verify=self.verify,
        )
        return None if response.status_code == 404 else response.json()

    def hub_tokens(self, name: str) -> list[dict]:
        """The user's hub tokens, as the hub lists them (none for an unknown user)."""
        response = requests.get(
            f"{self.hub_api}/users/{name}/tokens",
            headers={"Authorization": f"token {self.hub_token}"},
            timeout=10,
        )
        return [] if response.status_code == 404 else response.json()["api_tokens"]

    def user_create(self, username: str, password: str, **extra) -> dict:
        body = {"username": username, "password": password, **extra}
        response = self.api().post(f"{self.url}/api/v1/users/", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def token_for(self, username: str, password: str) -> str:
        response = requests.post(
            f"{self.url}/api/v1/auth/token/",
            json={"username": username, "password": password},
            timeout=10,
            verify=self.verify,
        )
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def wait_for_state(self, token: str, workspace_id: int, state: str, timeout=90) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            response = self.api(token).get(f"{self.url}/api/v1/workspaces/{workspace_id}/")
            body = response.json()
            if body.get("state") == state:
                return body
            if body.get("state") == "error":
                break
            time.sleep(0.5)
        raise AssertionError(f"workspace never became {state}: {body}\n{self.logs()}")

    def logs(self, lines: int = 40) -> str:
        out = []
        for log in sorted((self.stack.log_dir or ROOT).glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)


def portal_cookie(url: str, name: str) -> str:
    """The portal's cookie ``name`` (``mlhub-portal-csrf``) as the portal at ``url`` names it:
    with the ``__Host-`` prefix over https (portal/settings.py)."""
    return f"__Host-{name}" if url.startswith("https://") else name


def portal_login(url: str, username: str, password: str) -> requests.Session:
    """A browser-like session logged in to the portal only (not to the hub)."""
    session = requests.Session()
    session.get(f"{url}/accounts/login/", timeout=10)
    response = session.post(
        f"{url}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies[portal_cookie(url, "mlhub-portal-csrf")],
        },
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "Log out" in response.text, response.text[:500]
    return session


def running_stack(
    data,
    mode: str,
    hub_name: str = TEST_HUB_NAME,
    extra: dict | None = None,
    hub_port: int | None = None,
    public_port: int | None = None,
    prepared: bool = True,
):
    """Start the stack in ``data`` and yield a RunningHub; stop it afterwards. ``hub_port``:
    the hub's, when the caller must tell workspaces where it is (Kubernetes mode).
    ``public_port``: the public URL's (``http://localhost:<port>``), when the caller must
    tell someone before the start (an OpenID provider the portal's callback URL).
    ``prepared=False``: ``data`` keeps its own database, migrated as ``make run`` does
    (an upgrade, tests/upgrade/), instead of a copy of the tests' prepared one."""
    if mode == "local":
        refuse_docker_beside_the_soak("a stack with Docker workspaces")
    require(CHP.exists(), f"the Node proxy is not installed at {CHP} (run make setup)")
    require(shutil.which("node") is not None, "node is not installed")
    resolve_localhost_subdomains()
    chosen, portal, proxy_api, hub_chosen = free_ports(4)
    public = public_port or chosen
    hub_port = hub_port or hub_chosen
    environ = stack_environment(
        {
            "MLHUB_DATA_DIR": str(data),
            "MLHUB_PUBLIC_URL": f"http://localhost:{public}",
            # Each stack is its own OAuth client: on PostgreSQL the stacks of one test run
            # share the portal's database, and a client has exactly one callback URL.
            "MLHUB_OAUTH_CLIENT_ID": f"mlhub-hub-{public}",
            "MLHUB_PORTAL_URL": f"http://127.0.0.1:{portal}",
            "MLHUB_HUB_URL": f"http://127.0.0.1:{hub_port}",
            "MLHUB_PROXY_API_URL": f"http://127.0.0.1:{proxy_api}",
            "MLHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "EXECUTION_MODE": mode,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "HUB_NAME": hub_name,
            "MLHUB_METRICS_TOKEN": METRICS_TOKEN,
            # A process that dies of a signal writes every thread's Python stack to its log
            # (a hub restarted in tests/docker_mode/test_faults.py died of SIGSEGV once in CI,
            # 2026-12-07, with nothing in its log to say where).
            "PYTHONFAULTHANDLER": "1",
            **TEST_SPEED_SETTINGS,
            **(extra or {}),
        }
    )
    stack = Stack(environ, log_dir=data / "logs")
    # Under a path prefix (MLHUB_BASE_URL in ``extra``) the url carries it: every test's
    # f"{hub.url}/api/v1/..." and portal_login(hub.url, ...) then work as they are.
    running = RunningHub(
        url=stack.site_url(),
        hub_api=f"{environ['MLHUB_HUB_URL']}{stack.base_url()}hub/api",
        hub_token="",
        admin_token="",
        stack=stack,
    )
    try:
        database_url = environ.get("DATABASE_URL", "").strip()
        stack.prepare(prepared_data_dir(database_url) if prepared else None)
        stack.start()
    except Exception:
        logs = running.logs(80)
        stack.stop()
        raise AssertionError(f"the MLHub stack did not start\n{logs}") from None
    try:
        running.hub_token = (data / "secrets" / "mlhub_hub_api_token").read_text()
        running.admin_token = running.token_for("admin", ADMIN_PASSWORD)
        yield running
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """The stack with local-process workspaces (the embedded default)."""
    # The hub checks running servers every 2 s: a server killed from outside is reported soon.
    # It asks the portal about each person logged in to it every 5 s (30 by default): a
    # rejected person's hub session ends within seconds, not half a minute.
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-process"),
        "process",
        extra={"MLHUB_SERVER_POLL_SECONDS": "2", "MLHUB_AUTH_REFRESH_SECONDS": "5"},
    )


def run_cleanup(stack, job: str, dry_run: bool) -> dict:
    """Run a cleanup job through the admin's API (``?dry_run=1``) and wait for its report."""
    path = f"{stack.url}/api/v1/cleanup/{job}/" + ("?dry_run=1" if dry_run else "")
    queued = stack.api().post(path, timeout=30)
    assert queued.status_code == 202, queued.text
    url = queued.json()["url"]

    def done():
        run = stack.api().get(url, timeout=30).json()
        return run if run["done"] else None

    try:
        return poll_until(done, timeout=120, what=f"cleanup {job} not done")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{stack.logs()}") from None
