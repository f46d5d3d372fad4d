"""The portal reaches the hub through one seam, ``portal.hub.client.hub_client``, looked up at
each call: a test double installed there (tests/conftest.py ``hub_double``) is what every
caller gets, and a new caller cannot escape it by importing the function by name."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from portal.hub.client import HubClient
from tests.portal.scripted_hub import ScriptedHub

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def imports_of_the_seam_by_name() -> list[str]:
    found = []
    for source in sorted(PORTAL.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "portal.hub.client":
                if any(alias.name == "hub_client" for alias in node.names):
                    found.append(str(source.relative_to(PORTAL.parent)))
    return found


def test_no_module_imports_the_hub_client_by_name():
    assert imports_of_the_seam_by_name() == []


def test_every_caller_gets_the_double(hub_double, alice, workspace_of):
    from portal.accounts import services as accounts
    from portal.workspaces import services as workspaces

    hub = hub_double(ScriptedHub())
    workspaces.workspaces_delete(workspaces=[workspace_of(alice)], finish=False)
    accounts.hub_access_revoke(user=alice)
    assert ("GET", "/") in hub.paths and ("GET", "/users/alice/tokens") in hub.paths


def test_the_scripted_hub_keeps_every_public_signature_of_the_real_one():
    for name, method in inspect.getmembers(HubClient, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(ScriptedHub, name)) == inspect.signature(method), name
