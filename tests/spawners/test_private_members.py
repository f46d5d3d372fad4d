"""MLHub's spawners use upstream's public seams; the two private members no public one
replaces are each used from one module (spawners/private_jupyterhub.py,
spawners/private_kubespawner.py) and checked here, so an upgrade that moves one fails a test
instead of a start. docs/architecture.md lists them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from dockerspawner import DockerSpawner
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.spawner import Spawner
from kubespawner import KubeSpawner

from spawners.private_kubespawner import forget_claim

SPAWNERS = Path(__file__).resolve().parents[2] / "spawners"
PRIVATE_MODULES = {"private_jupyterhub.py", "private_kubespawner.py"}


UPSTREAM_CLASSES = (DockerSpawner, KubeSpawner, Spawner)
OWNERS = {"self", "spawner", "cls", *(cls.__name__ for cls in UPSTREAM_CLASSES)}


def private_names_used(source: Path) -> set[str]:
    """`_name` attributes read or set on self, super(), a spawner argument or an upstream
    class, and those named to getattr/setattr/hasattr."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in OWNERS:
                found.add(node.attr)
            elif isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                found.add(node.attr)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in {
            "getattr",
            "setattr",
            "hasattr",
        }:
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and str(name.value).startswith("_"):
                found.add(name.value)
    return {name for name in found if not name.startswith("__")}


def upstream_private_names() -> set[str]:
    """Upstream's members, those its instances set in their methods (`self._x = ...`)
    included."""
    names = set()
    for cls in UPSTREAM_CLASSES:
        names |= set(dir(cls))
        tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and isinstance(node.ctx, ast.Store)
            ):
                names.add(node.attr)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def test_the_spawners_use_no_private_member_of_upstream_outside_the_two_modules():
    upstream = upstream_private_names()
    used = set()
    for source in SPAWNERS.glob("*.py"):
        if source.name not in PRIVATE_MODULES:
            used |= private_names_used(source)
    # Read, set or overridden: a private name of ours may not even coincide with upstream's.
    assert sorted(used & upstream) == []


def test_jupyterhub_still_keeps_the_whole_spawn_in_spawn_future_before_it_runs():
    assert Spawner._spawn_future is None  # the attribute, on every spawner
    handler = inspect.getsource(BaseHandler.spawn_single_user)
    assert "spawner._spawn_future = " in handler  # set by the handler, awaited by others


def test_kubespawner_still_remembers_its_claim_in_pvc_exists_and_forgets_it_here():
    start = inspect.getsource(KubeSpawner._start)
    assert "self._pvc_exists" in start  # consulted before the claim is made
    spawner = KubeSpawner.__new__(KubeSpawner)
    spawner._pvc_exists = True
    forget_claim(spawner)
    assert spawner._pvc_exists is False
