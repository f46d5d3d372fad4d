"""What the portal sends the spawner for a workspace row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.django_db


def test_the_spawner_gets_the_stored_resources_and_the_expiry(alice, workspace_of):
    expiry = datetime(2027, 1, 1, tzinfo=UTC)
    workspace = workspace_of(
        alice, gpus="0,1", shm_size=2**30, env={"MODE": "x"}, expires_at=expiry
    )
    assert workspace.user_options() == {
        "image": "mlhub-workspace:latest",
        "cpu": 1.0,
        "memory": "1G",
        "gpus": "0,1",
        "shm_size": "1G",
        "env": {"MODE": "x"},
        "expires_at": int(expiry.timestamp()),
    }


def test_a_workspace_without_extras_never_expires(alice, workspace_of):
    options = workspace_of(alice).user_options()
    assert options["gpus"] is None and options["shm_size"] is None
    assert options["expires_at"] == 0
