"""What lets `make test` run other tests beside the short soak, which restarts the Docker
engine (tests/docker_engine.py): the restart waits for every use of the engine beside it,
and a test run beside it that would use the engine fails at once, naming where it belongs."""

from __future__ import annotations

import threading

import pytest

from tests import docker_engine
from tests.docker_engine import engine_held, refuse_docker_beside_the_soak
from tests.hub_stack import running_stack


@pytest.fixture(autouse=True)
def own_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(docker_engine, "ENGINE_LOCK", tmp_path / "engine.lock")


def test_a_restart_waits_for_a_use_of_the_engine_and_a_use_for_a_restart():
    restarted = threading.Event()

    def restart():
        with engine_held(alone=True):
            restarted.set()

    with engine_held():  # a cluster test copying an image out of the engine
        restarter = threading.Thread(target=restart)
        restarter.start()
        assert not restarted.wait(0.5)
    assert restarted.wait(10)
    restarter.join()


def test_uses_of_the_engine_do_not_wait_for_each_other():
    with engine_held(), engine_held():
        pass  # a second shared holder got in beside the first


def test_beside_the_soak_a_test_that_wants_docker_fails_naming_the_makefiles_list(monkeypatch):
    monkeypatch.setenv("MLHUB_TESTS_BESIDE_THE_SOAK", "true")
    with pytest.raises(pytest.fail.Exception, match="DOCKER_TESTS"):
        refuse_docker_beside_the_soak("this test")
    with pytest.raises(pytest.fail.Exception, match="Docker workspaces"):
        next(running_stack(None, "local"))  # refused before it touches anything


def test_elsewhere_nothing_is_refused(monkeypatch):
    monkeypatch.delenv("MLHUB_TESTS_BESIDE_THE_SOAK", raising=False)
    refuse_docker_beside_the_soak("this test")
