"""Process mode (the embedded default) stops a workspace in seconds, not a minute."""

from __future__ import annotations

from traitlets.config import Config

from spawners.process import MLHubProcessSpawner


def test_a_stop_escalates_to_the_kill_within_fifteen_seconds():
    # Upstream waits 30 s after SIGINT and 30 s after SIGTERM: a server whose lab tab is
    # still open outlasts both (tests/browser/test_workspace_isolation.py saw 62 s).
    spawner = MLHubProcessSpawner()
    assert (spawner.interrupt_timeout, spawner.term_timeout) == (10, 5)


def test_a_deployment_sets_its_own_waits():
    config = Config()
    config.MLHubProcessSpawner.interrupt_timeout = 20
    config.MLHubProcessSpawner.term_timeout = 7
    spawner = MLHubProcessSpawner(config=config)
    assert (spawner.interrupt_timeout, spawner.term_timeout) == (20, 7)
