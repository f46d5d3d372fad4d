"""A Docker-mode stack that offers both workspace images (tests/docker_mode/
test_workspace_images.py, tests/browser/test_data_science_workspace.py): the templates its
first set-up makes, ``default`` (lean) and ``data-science``."""

from __future__ import annotations

import pytest

from tests.docker_engine import remove_everything_of, require_image
from tests.hub_stack import running_stack

LEAN, DS = "mlhub-workspace:latest", "mlhub-workspace-ds:latest"


def images_stack(tmp_path_factory, docker_client, hub_name: str):
    """For a fixture to ``yield from``: the running stack; its containers go afterwards."""
    require_image(docker_client, LEAN)
    require_image(docker_client, DS)
    remove_everything_of(docker_client, hub_name)
    try:
        yield from running_stack(
            tmp_path_factory.mktemp(f"mlhub-{hub_name}"),
            "local",
            hub_name,
            {"MLHUB_WORKSPACE_IMAGES": f"{LEAN},{DS}", "CLEANUP_INTERVAL_SECONDS": "-1"},
        )
    finally:
        remove_everything_of(docker_client, hub_name)


def stack_fixture(hub_name: str):
    """A module's ``stack`` fixture: ``stack = stack_fixture(HUB)``."""

    @pytest.fixture(scope="module")
    def stack(tmp_path_factory, docker_client):
        yield from images_stack(tmp_path_factory, docker_client, hub_name)

    return stack


def workspace_create(stack, token: str, name: str, template: str, memory: str = "2G") -> dict:
    """Create and start a workspace of ``template``; its JSON once it runs."""
    response = stack.api(token).post(
        f"{stack.url}/api/v1/workspaces/",
        json={"name": name, "template": template, "memory": memory},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return stack.wait_for_state(token, response.json()["id"], "running", timeout=180)
