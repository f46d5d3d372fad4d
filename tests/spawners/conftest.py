"""Fixtures of the spawner tests: the real Docker engine (or a skip/fail with the reason)."""

from __future__ import annotations

from tests.docker_engine import docker_client  # noqa: F401  (a fixture, used by name)
