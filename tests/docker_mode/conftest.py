"""A real stack in Docker mode (EXECUTION_MODE=local) on the real engine."""

from __future__ import annotations

import pytest

from tests.docker_engine import (  # noqa: F401 -- docker_client is a fixture
    docker_client,
    remove_everything_of,
    require_image,
)
from tests.hub_stack import running_stack

# Its own hub name: the spawner's engine tests remove everything labelled with theirs.
HUB = "mlhd"
IMAGE = "mlhub-workspace:latest"
# Allowed but never built and not pullable: its spawns fail on the engine, which the portal
# must report.
MISSING_IMAGE = "127.0.0.1:9/mlhub-missing:never"  # a registry that refuses at once
# Allowed; a test builds it from the workspace image with a command that exits at once.
EXITS_IMAGE = "mlhub-exits:test"
# The name the SSH gateway's container calls the portal by (test_ssh.py), as a compose or
# Kubernetes deployment calls it by its service's: the portal must answer to it.
PORTAL_NAME = "mlhub-portal"


@pytest.fixture(scope="session")
def docker_hub(tmp_path_factory, docker_client):  # noqa: F811
    require_image(docker_client, IMAGE)
    remove_everything_of(docker_client, HUB)
    try:
        yield from running_stack(
            tmp_path_factory.mktemp("mlhub-docker"),
            "local",
            HUB,
            {
                "MLHUB_WORKSPACE_IMAGES": f"{IMAGE},{MISSING_IMAGE},{EXITS_IMAGE}",
                # Cleanup runs when a test asks (tests/docker_mode/test_cleanup.py), on
                # resources it has just made.
                "CLEANUP_INTERVAL_SECONDS": "-1",
                "MLHUB_CLEANUP_GRACE_SECONDS": "0",
                # A claim's pool refills at once, not at the scheduler's next minute: the
                # warm pool tests claim one slot at a time and wait for the pool.
                "MLHUB_POOL_REFILL_SECONDS": "0",
                # Workspaces report an open SSH session every second (test_ssh.py).
                "MLHUB_SSH_ACTIVITY_SECONDS": "1",
                # The defaults (the public host, its subdomains, loopback) and PORTAL_NAME.
                "ALLOWED_HOSTS": f"localhost,.localhost,127.0.0.1,{PORTAL_NAME}",
            },
        )
    finally:
        remove_everything_of(docker_client, HUB)
