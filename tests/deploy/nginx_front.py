"""nginx in front of MLHub for tests: deploy/hub/nginx/start.sh run as a subprocess (never the
system's nginx service), a stand-in for the SSH gateway, and TLS to the generated certificate.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import websocket
from requests.adapters import HTTPAdapter
from urllib3.util.ssl_match_hostname import match_hostname

from lib.stack import ROOT
from tests.parts import require

START = ROOT / "deploy" / "hub" / "nginx" / "start.sh"
GATEWAY_BANNER = b"SSH-2.0-MLHubTestGateway\r\n"


def require_nginx() -> None:
    require(
        shutil.which("nginx") is not None,
        "nginx is not installed (Debian: apt-get install nginx libnginx-mod-stream)",
    )


def script_environment(**values: str) -> dict[str, str]:
    """Only what the script needs and ``values``: no MLHUB_* of the calling shell leaks in."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {"PATH": f"{path}:/usr/sbin:/sbin", "LANG": "C.UTF-8", **values}


def start_script(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The start script under Debian's sh (dash): POSIX only."""
    return subprocess.run(
        ["sh", str(START), *args], env=environ, capture_output=True, text=True, timeout=60
    )


@contextlib.contextmanager
def run_directory() -> Iterator[Path]:
    """nginx's run directory. Not under pytest's tmp_path (mode 0700): started as root,
    nginx's workers (www-data) must reach the sockets in it."""
    path = Path(tempfile.mkdtemp(prefix="mlhub-nginx-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def nginx_processes(run_dir: Path) -> list[int]:
    """Processes of an nginx started with ``run_dir``'s configuration (master and workers
    show it only in the master's command line; workers are its children)."""
    config = f"{run_dir}/nginx.conf"
    masters = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if config in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                masters.append(int(entry.name))
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) in masters:
                children.append(int(entry.name))
    return masters + children


@dataclass
class Nginx:
    """nginx as start.sh runs it (exec: the script's process becomes nginx's master)."""

    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, environ: dict[str, str], log: Path) -> Nginx:
        with open(log, "ab") as output:
            process = subprocess.Popen(
                ["sh", str(START)],
                env=environ,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # nginx: fast shutdown, workers included
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@dataclass
class FakeGateway:
    """Stands in for the SSH gateway: says its version line, keeps what the client said."""

    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        received = self.received

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.sendall(GATEWAY_BANNER)
                self.request.settimeout(5)
                data = b""
                with contextlib.suppress(OSError):
                    while not data.endswith(b"\n"):
                        chunk = self.request.recv(256)
                        if not chunk:
                            break
                        data += chunk
                received.append(data)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# TLS to *.localhost ----------------------------------------------------------------------------
# The generated certificate names localhost and *.localhost. OpenSSL's own name check (what
# ssl.create_default_context and requests use) never lets a wildcard stand for a label right
# under a single-label name, so alice.localhost fails it; urllib3's RFC 6125 check accepts
# it. Real public hosts (*.mlhub.example.org) pass both: this is for localhost only.


class SubdomainAdapter(HTTPAdapter):
    """requests to one workspace host: the chain verified as always, the name by urllib3."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(*args, **kwargs)


def tls_socket(hostname: str, port: int, cafile: Path) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:port as ``hostname`` (SNI), verified against ``cafile``."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.check_hostname = False  # checked below, as SubdomainAdapter does
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection = context.wrap_socket(raw, server_hostname=hostname)
    match_hostname(connection.getpeercert(), hostname)
    return connection


def assert_kernel_answers(url: str, host: str, port: int, cafile: Path, bearer: dict) -> None:
    """Start a kernel in the workspace at ``url`` (https://host:port/user/<name>/<ws>/), ask
    it for its info through the kernel's websocket, and delete it again."""
    path = urlsplit(url).path
    session = requests.Session()
    session.mount(f"https://{host}:{port}/", SubdomainAdapter(host))
    kernel = session.post(url + "api/kernels", headers=bearer, json={}, timeout=60)
    assert kernel.status_code == 201, kernel.text[:300]
    connection = websocket.create_connection(
        f"wss://{host}:{port}{path}api/kernels/{kernel.json()['id']}/channels",
        socket=tls_socket(host, port, cafile),
        header=[f"Authorization: {bearer['Authorization']}"],
        timeout=60,
    )
    try:
        assert connection.getstatus() == 101
        request_id = uuid.uuid4().hex
        connection.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": request_id,
                        "msg_type": "kernel_info_request",
                        "username": host.split(".")[0],
                        "session": uuid.uuid4().hex,
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {},
                    "channel": "shell",
                }
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = json.loads(connection.recv())
            if message["parent_header"].get("msg_id") == request_id:
                if message["msg_type"] == "kernel_info_reply":
                    break
        else:
            raise AssertionError("no kernel_info_reply through the websocket")
        assert message["content"]["status"] == "ok"
    finally:
        connection.close()
        session.delete(url + f"api/kernels/{kernel.json()['id']}", headers=bearer, timeout=30)
