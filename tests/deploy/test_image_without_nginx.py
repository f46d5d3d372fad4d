"""The MLHub image behind an admin's own TLS terminator (docs/deploy.md, "Without nginx"):
START_NGINX=false, the proxy serves plain HTTP on port 8080, and the portal trusts the
terminator's X-Forwarded-Proto."""

from __future__ import annotations

import pytest
import requests

from lib.polling import poll_until
from tests.deploy.mlhub_image import image_built, image_environment, image_run, roles
from tests.hub_stack import free_port

pytestmark = pytest.mark.docker

HUB = "mlhn"


def through_the_terminator(public: str) -> dict[str, str]:
    """What a TLS terminator in front sends on: the public host, and that it was https (the
    proxy's routes name hosts, so the Host header decides hub or portal)."""
    return {"Host": public.removeprefix("https://"), "X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def plain(docker_client):
    """The image without nginx and the SSH gateway, on its own network: (container, base URL
    of the published port, the public URL the terminator would serve)."""
    image_built()
    port = free_port()
    public = f"https://localhost:{port}"
    environment = image_environment(HUB, port, START_NGINX="false", START_SSH="false")
    # Only the terminator then the proxy add to X-Forwarded-For.
    environment["MLHUB_TRUSTED_PROXY_COUNT"] = "2"
    base = f"http://127.0.0.1:{port}"
    headers = through_the_terminator(public)
    with image_run(docker_client, HUB, environment, port, data=False) as (container, _):

        def up() -> bool:
            container.reload()
            if container.status == "exited":
                raise AssertionError(container.logs(tail=80).decode(errors="replace"))
            try:
                hub = requests.get(f"{base}/hub/api/", headers=headers, timeout=5)
                portal = requests.get(f"{base}/accounts/login/", headers=headers, timeout=5)
            except requests.RequestException:
                return False
            return hub.status_code == 200 and portal.status_code == 200

        poll_until(up, timeout=180, what="the MLHub container without nginx did not answer")
        yield container, base, public


def test_the_proxy_serves_plain_http_and_nginx_and_ssh_are_not_started(plain):
    container, base, public = plain
    wanted = [
        ["chp", "RUNNING"],
        ["hub", "RUNNING"],
        ["nginx", "STOPPED"],
        ["portal", "RUNNING"],
        ["ssh", "STOPPED"],
        ["tasks", "RUNNING"],
    ]
    # A role counts as started once up for its startsecs (the hub's 5 s).
    poll_until(lambda: roles(container) == wanted, timeout=30, what=f"roles: {roles(container)}")
    hub = requests.get(f"{base}/hub/api/", headers=through_the_terminator(public), timeout=5)
    assert (hub.status_code, sorted(hub.json())) == (200, ["version"])
    health = container.exec_run(["mlhub-entrypoint", "health"])
    assert (health.exit_code, health.output) == (0, b'{"healthy": true, "not_answering": []}\n')


def test_the_portal_trusts_the_terminators_https_and_sends_plain_http_there(plain):
    _, base, public = plain

    behind_tls = requests.get(
        f"{base}/accounts/login/", headers=through_the_terminator(public), timeout=5
    )
    assert behind_tls.status_code == 200
    assert 'name="username"' in behind_tls.text
    assert behind_tls.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = behind_tls.headers["Set-Cookie"]
    assert cookie.startswith("__Host-mlhub-portal-csrf=") and cookie.endswith("; Secure"), cookie

    plain_http = requests.get(
        f"{base}/accounts/login/",
        headers={"Host": public.removeprefix("https://")},
        timeout=5,
        allow_redirects=False,
    )
    assert (plain_http.status_code, plain_http.headers["Location"]) == (
        301,
        f"{public}/accounts/login/",
    )
