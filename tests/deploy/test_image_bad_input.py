"""The MLHub image refuses what cannot work before anything starts: one line saying what to
change, exit status 1, and no role left running (the container is gone with its entrypoint)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.deploy.mlhub_image import image_built, image_environment, run_until_exit
from tests.hub_stack import free_port

pytestmark = pytest.mark.docker

HUB = "mlhb"
DOCKER_SOCKET = {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}


@pytest.fixture(scope="module")
def client(docker_client):
    image_built()
    return docker_client


@pytest.fixture
def resources(tmp_path):
    """A /resources folder with a good certificate and key for localhost."""
    ssl_dir = tmp_path / "resources" / "ssl"
    ssl_dir.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "30", "-subj", "/CN=localhost", "-keyout", str(ssl_dir / "cert.key")]
        + ["-out", str(ssl_dir / "cert.crt")],
        check=True,
        capture_output=True,
    )
    (ssl_dir / "cert.key").chmod(0o644)  # readable by the container's root whoever made it
    return tmp_path / "resources"


def refused(client, message: str, **options) -> None:
    status, output = run_until_exit(client, **options)
    errors = [line for line in output.splitlines() if "error" in line]
    assert (status, errors) == (1, [f"mlhub: error: {message}"]), output
    assert "supervisord started" not in output


def mounted(resources) -> dict:
    return {str(resources): {"bind": "/resources", "mode": "ro"}}


def test_a_malformed_certificate_stops_the_container(client, resources):
    (resources / "ssl" / "cert.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    refused(
        client,
        "nginx: the certificate file /resources/ssl/cert.crt is not a PEM certificate",
        environment=image_environment(HUB, 8080),
        volumes=mounted(resources),
    )


def test_a_missing_key_file_stops_the_container(client, resources):
    (resources / "ssl" / "cert.key").unlink()
    refused(
        client,
        "nginx: the key file /resources/ssl/cert.key does not exist (MLHUB_SSL_KEY)",
        environment=image_environment(HUB, 8080),
        volumes=mounted(resources),
    )


def test_a_taken_public_port_stops_the_container(client):
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused(
            client,
            f"nginx: the public port {port} is already in use "
            f"(MLHUB_NGINX_LISTEN=127.0.0.1:{port})",
            environment=image_environment(
                HUB,
                port,
                MLHUB_NGINX_LISTEN=f"127.0.0.1:{port}",
                MLHUB_BIND_URL=f"http://127.0.0.1:{free_port()}",
            ),
            network_mode="host",
        )


def test_no_docker_socket_stops_the_container(client):
    refused(
        client,
        "EXECUTION_MODE=local needs the Docker engine's socket: "
        "-v /var/run/docker.sock:/var/run/docker.sock",
        environment=image_environment(HUB, 8080),
    )


def test_dockers_default_network_stops_the_container(client):
    refused(
        client,
        "run this container on a network of its own (docker network create mlhub; docker run "
        "--network mlhub ...): on Docker's default bridge it cannot resolve workspace names",
        environment=image_environment(HUB, 8080),
        volumes=DOCKER_SOCKET,
    )


def test_a_switch_that_is_not_a_boolean_stops_the_container(client):
    refused(
        client,
        "START_SSH='maybe' is not a boolean (use true or false)",
        environment=image_environment(HUB, 8080, START_SSH="maybe"),
    )
