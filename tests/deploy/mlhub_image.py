"""The MLHub image (deploy/hub/Dockerfile) run as an admin runs it, for tests: `docker run` on a
network of its own with the engine's socket, port 8080 published on a free port of this host,
a generated certificate; and the bad-input runs that must stop before anything starts."""

from __future__ import annotations

import io
import subprocess
import tarfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
from urllib3.exceptions import InsecureRequestWarning

from lib.polling import poll_until
from lib.stack import ROOT
from tests.hub_stack import ADMIN_PASSWORD, RunningHub

IMAGE = "mlhub:latest"


def image_built() -> None:
    """Build the image unless it is built from this checkout already (about a second then;
    `.ci/run` builds it before the tests)."""
    built = subprocess.run(
        ["bash", str(ROOT / "deploy" / "scripts" / "build-image.sh"), "hub"],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, (built.stdout[-3000:], built.stderr[-3000:])


def read_file(container, path: str) -> bytes:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        return archive.extractfile(archive.getmembers()[0]).read()


@dataclass
class ImageHub(RunningHub):
    """A RunningHub whose stack is one container: its logs are the container's."""

    container: docker.models.containers.Container | None = None
    port: int = 0
    cert: Path | None = None
    run_options: dict = field(default_factory=dict)  # what it was run with, for a successor

    def logs(self, lines: int = 80) -> str:
        return self.container.logs(tail=lines).decode(errors="replace")

    def wait_until_up(self, timeout: float = 180) -> None:
        """Until the hub answers through nginx and the proxy, and the portal's login page."""

        def up() -> bool:
            self.container.reload()
            if self.container.status == "exited":
                raise AssertionError(f"the MLHub container exited:\n{self.logs(120)}")
            # Before its certificate is read from the container: any, for this wait only.
            verify = str(self.cert) if self.cert else False
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    hub = requests.get(f"{self.url}/hub/api/", timeout=5, verify=verify)
                    portal = requests.get(f"{self.url}/accounts/login/", timeout=5, verify=verify)
            except requests.RequestException:
                return False
            return hub.status_code == 200 and "version" in hub.text and portal.ok

        try:
            poll_until(up, timeout=timeout, what="the MLHub container did not answer")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{self.logs(120)}") from None


def image_environment(hub_name: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "MLHUB_PUBLIC_URL": f"https://localhost:{port}",
        "MLHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "HUB_NAME": hub_name,
        "MLHUB_SERVER_POLL_SECONDS": "2",
        **extra,
    }


def run_until_exit(client, timeout: float = 120, **options) -> tuple[int, str]:
    """Run the image to its end: its exit status and its output."""
    container = client.containers.run(IMAGE, detach=True, **options)
    try:
        status = container.wait(timeout=timeout)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
