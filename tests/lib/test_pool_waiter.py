"""The warm pool waiter's facts about its image (deploy/workspace/pool_waiter.py, loaded from
its file: in the image it is /usr/local/bin/mlhub-pool-waiter, not a module)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[2] / "deploy" / "workspace"


def _load_waiter():
    spec = importlib.util.spec_from_file_location("mlhub_pool_waiter", WORKSPACE / "pool_waiter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_claim_without_a_command_runs_the_images_own_cmd():
    """A Kubernetes start leaves the image's CMD (kubespawner's ``cmd`` unset): the waiter
    stands in for it, so it must be the Dockerfile's."""
    dockerfile = (WORKSPACE / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert _load_waiter().IMAGE_COMMAND == json.loads(cmd)
