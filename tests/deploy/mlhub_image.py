"""The MLHub image (deploy/hub/Dockerfile) run as an admin runs it, for tests: `docker run` on a
network of its own with the engine's socket, port 8080 published on a free port of this host,
a generated certificate; and the bad-input runs that must stop before anything starts."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from lib.polling import poll_until
from lib.stack import ROOT
from tests.docker_engine import remove_everything_of, require_image
from tests.hub_stack import ADMIN_PASSWORD, RunningHub, free_port, resolve_localhost_subdomains

# Another tag (MLHUB_TEST_IMAGE) builds and runs this checkout's image beside an engine's
# mlhub:latest that others use, leaving theirs as it is.
IMAGE = os.environ.get("MLHUB_TEST_IMAGE", "mlhub:latest")
WORKSPACE_IMAGE = "mlhub-workspace:latest"
SUPERVISORCTL = ["supervisorctl", "-c", "/etc/mlhub/supervisord.conf"]
HUB = "mlhi"  # the image tests' hub: its containers, networks and volumes start with this


def image_built(tree: Path = ROOT, image: str = IMAGE) -> None:
    """Build the image unless it is built from this checkout already (about a second then;
    `.ci/run` builds it before the tests). ``tree``, ``image``: another tree's build-image.sh
    and tag (an earlier release's, tests/upgrade/)."""
    built = subprocess.run(
        ["bash", str(tree / "deploy" / "scripts" / "build-image.sh"), "hub"],
        capture_output=True,
        text=True,
        env={**os.environ, "IMAGE": image},
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

    @property
    def verify(self) -> bool | str:
        return str(self.cert) if self.cert else True

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


def image_waited_on(container, port: int) -> ImageHub:
    """The image's ``container``, its port 8080 published on ``port``: an ImageHub to wait on
    (``wait_until_up``), without its certificate or tokens yet."""
    return ImageHub(
        url=f"https://localhost:{port}",
        hub_api="",
        hub_token="",
        admin_token="",
        stack=None,
        container=container,
        port=port,
    )


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
        container.remove(force=True, v=True)  # and the anonymous /data of a run without one


def roles(container) -> list[list[str]]:
    """Each role of the image and its state, as supervisord says."""
    status = container.exec_run([*SUPERVISORCTL, "status"])
    return sorted(line.split()[:2] for line in status.output.decode().splitlines())


def role_accounts(container) -> dict[str, str]:
    """The account each role's process runs as: supervisord's pid of it, then its /proc."""
    accounts = {}
    for role, _ in roles(container):
        pid = container.exec_run([*SUPERVISORCTL, "pid", role])
        owner = container.exec_run(["stat", "-c", "%U", f"/proc/{pid.output.decode().strip()}"])
        accounts[role] = owner.output.decode().strip()
    return accounts


def remove_image_runs(client, hub_name: str) -> None:
    """The image's containers (``<hub>-mlhub…``), the hub's workspaces and people's networks,
    the image's network and data volume: what a run, or a run that crashed, left."""
    for leftover in client.containers.list(all=True, filters={"name": f"{hub_name}-mlhub"}):
        leftover.remove(force=True, v=True)
    remove_everything_of(client, hub_name)
    for leftover in client.networks.list(names=[hub_name]):
        if leftover.name == hub_name:  # the filter matches parts of names
            leftover.remove()
    for leftover in client.volumes.list(filters={"name": f"{hub_name}-data"}):
        leftover.remove(force=True)


@contextmanager
def image_run(
    client, hub_name: str, environment: dict[str, str], port: int, *, data: bool, image=IMAGE
):
    """The image run as docs/deploy.md says: on a network of its own, with the engine's
    socket, port 8080 published on ``port`` (and ``data``: a named /data volume). Yields the
    container and its run options (for a successor); removes everything afterwards.
    ``image``: another than this checkout's (an earlier release's, tests/upgrade/)."""
    remove_image_runs(client, hub_name)
    # Named as the hub, as docs/deploy.md names it: Docker 20.10 moves a container's published
    # port to the network whose name sorts first, so one sorting after a person's network
    # (<hub>-<person>, which the hub joins) dropped connections at each join (CI, 2026-12-06).
    network = client.networks.create(hub_name, driver="bridge")
    volumes = {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}
    if data:
        volumes[f"{hub_name}-data"] = {"bind": "/data", "mode": "rw"}
    run_options = {
        "detach": True,
        "network": network.name,
        "ports": {"8080/tcp": ("127.0.0.1", port)},
        "volumes": volumes,
        "environment": environment,
    }
    try:
        yield client.containers.run(image, name=f"{hub_name}-mlhub", **run_options), run_options
    finally:
        remove_image_runs(client, hub_name)


@pytest.fixture(scope="session")
def mlhub(docker_client, tmp_path_factory):
    """The MLHub image run as docs/deploy.md says, on a free port, for the whole session
    (tests/deploy/test_image.py, the browser's tests/browser/test_image_https.py). Its
    requests trust its generated certificate (``cert``)."""
    yield from image_hub(docker_client, tmp_path_factory, HUB)


def image_hub(docker_client, tmp_path_factory, hub_name: str, **extra: str):
    """For a fixture to ``yield from``: the image running as ``hub_name`` with ``extra``
    settings, up and with its admin's token. Under ``MLHUB_BASE_URL`` its ``url`` ends in
    the prefix (tests/deploy/test_image_prefix.py)."""
    require_image(docker_client, WORKSPACE_IMAGE)
    image_built()
    resolve_localhost_subdomains()
    port = free_port()
    environment = image_environment(hub_name, port, **extra)
    prefix = extra.get("MLHUB_BASE_URL", "/").rstrip("/")
    with image_run(docker_client, hub_name, environment, port, data=True) as (container, options):
        url = f"https://localhost:{port}{prefix}"
        yield image_hub_up(container, options, url, tmp_path_factory.mktemp("mlhub-image"))


def image_hub_up(container, options: dict, url: str, folder: Path) -> ImageHub:
    """The image's ``container`` (run with ``options``, see ``image_run``) once it answers at
    ``url``, with its certificate (copied into ``folder``), its hub's and its admin's token."""
    hub = ImageHub(
        url=url,
        hub_api=f"{url}/hub/api",
        hub_token="",
        admin_token="",
        stack=None,
        container=container,
        port=options["ports"]["8080/tcp"][1],
        run_options=options,
    )
    hub.wait_until_up()
    hub.cert = folder / "cert.crt"
    hub.cert.write_bytes(read_file(container, "/data/ssl/cert.crt"))
    hub.hub_token = read_file(container, "/data/secrets/mlhub_hub_api_token").decode()
    hub.admin_token = hub.token_for("admin", ADMIN_PASSWORD)
    return hub
