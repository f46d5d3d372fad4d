"""Idle culling's settings: the environment becomes the culler's service and role, or stops
the hub's start with the variable to fix."""

from __future__ import annotations

import logging
import sys

import pytest
from jupyterhub.scopes import expand_scopes

from hubconfig import culling
from hubconfig.culling import Culling, culling_from_env
from lib import env

# The hub's config file as JupyterHub loads it, in the environment of its own tests.
from tests.hubconfig.test_jupyterhub_config import hub_env, load  # noqa: F401 -- a fixture

CULL_VARIABLES = (
    "MLHUB_CULL_IDLE_SECONDS",
    "MLHUB_CULL_EVERY_SECONDS",
    "MLHUB_CULL_MAX_AGE_SECONDS",
    "MLHUB_CULL_REMOVE_NAMED",
)


@pytest.fixture(autouse=True)
def no_culling_settings(monkeypatch):
    for name in CULL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("hub_env")
def test_culling_is_off_by_default():
    assert culling_from_env() is None
    config = load()
    assert [service["name"] for service in config.JupyterHub.services] == ["portal"]
    assert culling.ROLE not in {role["name"] for role in config.JupyterHub.load_roles}


@pytest.mark.usefixtures("hub_env")
def test_the_hub_runs_the_culler_with_the_settings_as_arguments(monkeypatch):
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "3600")
    monkeypatch.setenv("MLHUB_CULL_EVERY_SECONDS", "120")
    monkeypatch.setenv("MLHUB_CULL_MAX_AGE_SECONDS", "86400")
    config = load()
    services = {service["name"]: service for service in config.JupyterHub.services}
    assert services["idle-culler"] == {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            "--timeout=3600",
            "--cull-every=120",
            "--max-age=86400",
        ],
    }
    roles = {role["name"]: role for role in config.JupyterHub.load_roles}
    assert roles["mlhub-idle-culler"] == {
        "name": "mlhub-idle-culler",
        "description": "The idle culler: find idle workspaces and stop them",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }


def test_the_culler_may_stop_workspaces_but_not_start_open_or_delete_people():
    granted = expand_scopes(culling.SCOPES)
    assert granted == {
        "list:users",
        "read:users:name",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    }
    for refused in ("servers", "access:servers", "admin:users", "users", "tokens"):
        assert refused not in granted


def test_named_workspaces_are_stopped_not_removed(monkeypatch):
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "3600")
    command = culling_from_env().service()["command"]
    assert not any(arg.startswith("--remove-named-servers") for arg in command)
    assert not any(arg.startswith("--cull-users") for arg in command)


@pytest.mark.parametrize(
    ("timeout", "every"),
    [("3600", 60), ("600", 60), ("200", 50), ("20", 5), ("2", 1)],
)
def test_the_culler_checks_every_minute_or_a_quarter_of_a_shorter_timeout(
    monkeypatch, timeout, every
):
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", timeout)
    assert culling_from_env() == Culling(timeout=int(timeout), every=every, max_age=0)


def test_zero_or_empty_means_off(monkeypatch):
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "0")
    monkeypatch.setenv("MLHUB_CULL_REMOVE_NAMED", "false")
    assert culling_from_env() is None
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "")
    assert culling_from_env() is None


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"MLHUB_CULL_IDLE_SECONDS": "an hour"}, "MLHUB_CULL_IDLE_SECONDS='an hour' is not an"),
        ({"MLHUB_CULL_IDLE_SECONDS": "-5"}, "MLHUB_CULL_IDLE_SECONDS=-5 must be at least 0"),
        (
            {"MLHUB_CULL_IDLE_SECONDS": "600", "MLHUB_CULL_EVERY_SECONDS": "0"},
            "MLHUB_CULL_EVERY_SECONDS=0 must be at least 1",
        ),
        (
            {"MLHUB_CULL_IDLE_SECONDS": "600", "MLHUB_CULL_MAX_AGE_SECONDS": "1.5"},
            "MLHUB_CULL_MAX_AGE_SECONDS='1.5' is not an integer",
        ),
        (
            {"MLHUB_CULL_IDLE_SECONDS": "600", "MLHUB_CULL_REMOVE_NAMED": "sometimes"},
            "MLHUB_CULL_REMOVE_NAMED='sometimes' is not a boolean",
        ),
        (
            {"MLHUB_CULL_MAX_AGE_SECONDS": "86400"},
            "MLHUB_CULL_MAX_AGE_SECONDS only apply with MLHUB_CULL_IDLE_SECONDS > 0",
        ),
        (
            {"MLHUB_CULL_EVERY_SECONDS": "60", "MLHUB_CULL_MAX_AGE_SECONDS": "86400"},
            "MLHUB_CULL_EVERY_SECONDS and MLHUB_CULL_MAX_AGE_SECONDS only apply",
        ),
    ],
)
@pytest.mark.usefixtures("hub_env")
def test_a_bad_value_stops_the_hub_with_the_variable_to_fix(monkeypatch, values, complaint):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(env.ConfigError) as refused:
        load()
    assert complaint in str(refused.value)


@pytest.mark.usefixtures("hub_env")
def test_removing_culled_workspaces_is_refused_with_why(monkeypatch):
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "3600")
    monkeypatch.setenv("MLHUB_CULL_REMOVE_NAMED", "true")
    with pytest.raises(env.ConfigError) as refused:
        load()
    assert str(refused.value) == culling.REMOVE_REFUSED
    assert "deletes its files" in culling.REMOVE_REFUSED


def test_a_timeout_shorter_than_the_activity_reports_is_warned_about(monkeypatch, caplog):
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "300")
    with caplog.at_level(logging.WARNING, logger="JupyterHub"):
        culling_from_env()
    assert "may stop workspaces that are in use" in caplog.text
    caplog.clear()
    monkeypatch.setenv("MLHUB_CULL_IDLE_SECONDS", "600")
    with caplog.at_level(logging.WARNING, logger="JupyterHub"):
        culling_from_env()
    assert caplog.text == ""


HOUR = Culling(timeout=1800, every=60, max_age=8 * 3600)


def test_an_idle_workspace_is_told_how_long_it_was_idle():
    assert HOUR.stop_reason(idle=47 * 60 + 10, age=3 * 3600) == (
        "Stopped by the idle culler: idle for 47 minutes (the limit is 30 minutes); "
        "its files are kept"
    )


def test_a_workspace_past_its_maximum_age_is_told_how_long_it_ran():
    assert HOUR.stop_reason(idle=60, age=8.5 * 3600) == (
        "Stopped by the idle culler: it had run for 8.5 hours (the limit is 8 hours); "
        "its files are kept"
    )


def test_a_cull_the_hub_cannot_explain_still_names_the_culler():
    assert HOUR.stop_reason(idle=None, age=None) == (
        "Stopped by the idle culler; its files are kept"
    )


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (1, "1 second"),
        (7.9, "7 seconds"),
        (119, "119 seconds"),
        (120, "2 minutes"),
        (7199, "119 minutes"),
        (7200, "2 hours"),
        (9000, "2.5 hours"),
        (86400, "24 hours"),
    ],
)
def test_durations_read_as_people_say_them(seconds, said):
    assert culling.duration(seconds) == said
