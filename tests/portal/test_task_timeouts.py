"""django-q2 never kills the task that follows a start while the hub still works on it."""

from __future__ import annotations

import pytest

from tests.portal.reloaded import reloaded_settings


@pytest.mark.parametrize("start_timeout", ["120", "900"])
def test_the_task_that_follows_a_start_outlives_the_hubs_own_wait(monkeypatch, start_timeout):
    # It once read the hub's progress for up to 600 s inside django-q2's 300 s timeout.
    with reloaded_settings(monkeypatch, MLHUB_START_TIMEOUT=start_timeout) as settings:
        follows = settings.SPAWN_END_PATIENCE + settings.SPAWN_FOLLOW_SECONDS
        assert settings.SPAWN_FOLLOW_SECONDS > int(start_timeout)
        assert settings.Q_CLUSTER["timeout"] > follows
        assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
