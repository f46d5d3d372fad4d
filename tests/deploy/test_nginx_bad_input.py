"""deploy/hub/nginx/start.sh refuses bad input before nginx starts: one line naming the file or
port, exit 1, no nginx left running. And the certificate it makes is kept across starts."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.deploy.nginx_front import (
    nginx_processes,
    require_nginx,
    run_directory,
    script_environment,
    start_script,
)
from tests.hub_stack import free_port


@pytest.fixture
def run_dir():
    require_nginx()
    with run_directory() as path:
        yield path
        assert nginx_processes(path) == []  # nothing half-started, ever


@pytest.fixture
def environ(tmp_path, run_dir):
    return script_environment(
        MLHUB_PUBLIC_URL=f"https://localhost:{free_port()}",
        MLHUB_BIND_URL=f"http://127.0.0.1:{free_port()}",
        MLHUB_DATA_DIR=str(tmp_path / "data"),
        MLHUB_NGINX_RUN_DIR=str(run_dir),
    )


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A good certificate and key for localhost, as someone would mount them."""
    cert, key = tmp_path / "cert.crt", tmp_path / "cert.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "30", "-subj", "/CN=localhost", "-addext"]
        + ["subjectAltName=DNS:localhost,DNS:*.localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def refused(environ: dict[str, str], message: str) -> None:
    result = start_script(environ)
    assert (result.returncode, result.stderr) == (1, f"mlhub-nginx: error: {message}\n")


def test_a_malformed_certificate_stops_the_start(environ, certificate, tmp_path):
    bad = tmp_path / "bad.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    environ.update(MLHUB_SSL_CERT=str(bad), MLHUB_SSL_KEY=str(certificate[1]))
    refused(environ, f"the certificate file {bad} is not a PEM certificate")


def test_a_missing_key_file_stops_the_start(environ, certificate, tmp_path):
    missing = tmp_path / "nowhere.key"
    environ.update(MLHUB_SSL_CERT=str(certificate[0]), MLHUB_SSL_KEY=str(missing))
    refused(environ, f"the key file {missing} does not exist (MLHUB_SSL_KEY)")


def test_a_mounted_certificate_without_its_key_stops_the_start(environ, certificate, tmp_path):
    # The image's default place: /resources/ssl/cert.crt mounted, cert.key forgotten.
    ssl_dir = tmp_path / "resources" / "ssl"
    ssl_dir.mkdir(parents=True)
    (ssl_dir / "cert.crt").write_bytes(certificate[0].read_bytes())
    environ.update(MLHUB_RESOURCES_DIR=str(tmp_path / "resources"), SSL_ENABLED="true")
    refused(environ, f"the key file {ssl_dir / 'cert.key'} does not exist (MLHUB_SSL_KEY)")


def test_a_key_of_another_certificate_stops_the_start(environ, certificate, tmp_path):
    other = tmp_path / "other.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-out", str(other)],
        check=True,
        capture_output=True,
    )
    environ.update(MLHUB_SSL_CERT=str(certificate[0]), MLHUB_SSL_KEY=str(other))
    refused(environ, f"the key file {other} does not belong to the certificate {certificate[0]}")


def test_a_taken_public_port_stops_the_start(environ, certificate):
    port = int(environ["MLHUB_PUBLIC_URL"].rsplit(":", 1)[1])
    environ.update(MLHUB_SSL_CERT=str(certificate[0]), MLHUB_SSL_KEY=str(certificate[1]))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused(
            environ,
            f"the public port {port} is already in use (MLHUB_NGINX_LISTEN=0.0.0.0:{port})",
        )


def test_a_taken_http_port_stops_the_start(environ, certificate):
    port = free_port()
    environ.update(
        MLHUB_SSL_CERT=str(certificate[0]),
        MLHUB_SSL_KEY=str(certificate[1]),
        MLHUB_HTTP_PORT=str(port),
    )
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused(environ, f"the http port {port} is already in use (MLHUB_HTTP_PORT)")


def test_no_certificate_and_none_to_make_stops_the_start(environ, tmp_path):
    resources = tmp_path / "data" / "resources" / "ssl"
    refused(
        environ,
        f"no certificate: mount {resources / 'cert.crt'} and {resources / 'cert.key'} (or set "
        "MLHUB_SSL_CERT and MLHUB_SSL_KEY), or set SSL_ENABLED=true to make a self-signed one",
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("MLHUB_PUBLIC_URL", "http://localhost:8000", "must be https:// behind nginx's TLS"),
        ("MLHUB_BIND_URL", "https://127.0.0.1:8000", "must be http://<address>:<port> (nginx"),
        ("SSL_ENABLED", "maybe", "is not a boolean (use true or false)"),
        ("MLHUB_SSH_GATEWAY_ADDRESS", "gw;evil:22", "has characters nginx's configuration"),
        ("MLHUB_NGINX_MAX_BODY_SIZE", "1gb", "is not a size like 1g or 500m"),
        ("MLHUB_HTTP_PORT", "80x", "is not a port number"),
    ],
)
def test_a_malformed_setting_stops_the_start(environ, name, value, message):
    environ.update({"SSL_ENABLED": "true", name: value})
    result = start_script(environ)
    assert result.returncode == 1
    assert result.stderr.startswith(f"mlhub-nginx: error: {name}={value} {message}")
    assert result.stderr.count("\n") == 1


def test_the_generated_certificate_names_the_host_and_its_subdomains_and_is_kept(environ):
    environ["SSL_ENABLED"] = "true"
    first = start_script(environ, "--check")
    assert first.returncode == 0, first.stderr
    folder = Path(environ["MLHUB_DATA_DIR"]) / "ssl"
    cert = x509.load_pem_x509_certificate((folder / "cert.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "*.localhost"]
    assert (folder / "cert.key").stat().st_mode & 0o777 == 0o600
    assert "made a self-signed certificate" in first.stderr

    again = start_script(environ, "--check")
    assert again.returncode == 0, again.stderr
    assert "made a self-signed certificate" not in again.stderr
    assert x509.load_pem_x509_certificate((folder / "cert.crt").read_bytes()) == cert

    # Another public host: the old certificate would not do, a new one is made.
    environ["MLHUB_PUBLIC_URL"] = environ["MLHUB_PUBLIC_URL"].replace("localhost", "mlhub.test")
    moved = start_script(environ, "--check")
    assert moved.returncode == 0, moved.stderr
    cert = x509.load_pem_x509_certificate((folder / "cert.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mlhub.test", "*.mlhub.test"]
