"""Configuration from the environment: secrets from NAME or NAME_FILE, loud failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib import env


@pytest.mark.parametrize("name", ["mlhub", "a", "ml-1", "x1"])
def test_valid_hub_names_pass(monkeypatch, name):
    monkeypatch.setenv("HUB_NAME", name)
    assert env.hub_name() == name


@pytest.mark.parametrize("name", ["", "toolong", "-ab", "ab-", "ML", "a_b"])
def test_bad_hub_names_fail_loudly(monkeypatch, name):
    monkeypatch.setenv("HUB_NAME", name)
    with pytest.raises(env.ConfigError, match="HUB_NAME"):
        env.hub_name()


def test_a_secret_comes_from_its_file(monkeypatch, tmp_path):
    (tmp_path / "token").write_text("s3cret\n")
    monkeypatch.delenv("MLHUB_X", raising=False)
    monkeypatch.setenv("MLHUB_X_FILE", str(tmp_path / "token"))
    assert env.env_secret("MLHUB_X") == "s3cret"


def test_an_unreadable_secret_file_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("MLHUB_X", raising=False)
    monkeypatch.setenv("MLHUB_X_FILE", str(tmp_path / "missing"))
    with pytest.raises(env.ConfigError, match="MLHUB_X_FILE"):
        env.env_secret("MLHUB_X")


def test_a_bad_boolean_is_an_error_not_false(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(env.ConfigError, match="DEBUG"):
        env.env_bool("DEBUG")


def test_an_unknown_execution_mode_is_refused(monkeypatch):
    monkeypatch.setenv("EXECUTION_MODE", "swarm")
    with pytest.raises(env.ConfigError, match="local, k8s, process"):
        env.execution_mode()


def test_the_public_host_is_allowed_by_default(monkeypatch):
    import importlib

    import portal.settings

    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://hub.example.org")
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x")
    try:
        reloaded = importlib.reload(portal.settings)
        # Its subdomains too: the workspaces' origins (a stopped one reaches the portal).
        assert reloaded.ALLOWED_HOSTS == [
            "hub.example.org",
            ".hub.example.org",
            "127.0.0.1",
            "localhost",
        ]
        assert reloaded.SESSION_COOKIE_SECURE is True
    finally:
        monkeypatch.undo()
        importlib.reload(portal.settings)


def test_from_the_checkout_state_and_the_proxy_default_to_its_folders(monkeypatch):
    monkeypatch.delenv("MLHUB_DATA_DIR", raising=False)
    monkeypatch.delenv("MLHUB_CHP_PATH", raising=False)

    assert env.IN_CHECKOUT
    assert env.data_dir() == env.ROOT / "data"
    assert env.chp_path() == str(env.ROOT / "node_modules" / ".bin" / "configurable-http-proxy")


def test_an_installed_copy_needs_its_data_directory_named(monkeypatch):
    monkeypatch.setattr(env, "IN_CHECKOUT", False)
    monkeypatch.delenv("MLHUB_DATA_DIR", raising=False)

    with pytest.raises(env.ConfigError, match="^MLHUB_DATA_DIR must be set"):
        env.data_dir()


def test_an_installed_copy_takes_the_proxy_from_path_unless_named(monkeypatch, tmp_path):
    monkeypatch.setattr(env, "IN_CHECKOUT", False)
    monkeypatch.delenv("MLHUB_CHP_PATH", raising=False)
    assert env.chp_path() == "configurable-http-proxy"

    monkeypatch.setenv("MLHUB_CHP_PATH", "/opt/chp/bin/configurable-http-proxy")
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path / "state"))
    assert env.chp_path() == "/opt/chp/bin/configurable-http-proxy"
    assert env.data_dir() == tmp_path / "state"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "{data}/portal.sqlite3"),  # the default, as portal/settings.py makes it
        ("sqlite:////srv/mlhub/other.sqlite3", "/srv/mlhub/other.sqlite3"),
        ("sqlite:///relative.sqlite3", "relative.sqlite3"),
        ("postgres://mlhub:pw@db:5432/mlhub", None),
    ],
)
def test_the_portals_sqlite_file_is_found_as_django_reads_the_url(
    monkeypatch, tmp_path, url, expected
):
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)

    found = env.portal_sqlite_file()

    assert found == (Path(expected.format(data=tmp_path)) if expected else None)


def test_the_portal_listens_on_loopback_unless_told_otherwise(monkeypatch):
    # The portal trusts the X-Forwarded-For entry its proxy adds: only the proxy may reach it.
    monkeypatch.delenv("MLHUB_PORTAL_URL", raising=False)
    assert env.portal_url() == "http://127.0.0.1:8010"


def test_the_hubs_workspace_bounds_are_the_hosts_unless_set(monkeypatch):
    # The spawners' cpu_max, memory_max and gpus_max defaults, and the portal's template bound.
    for name in ("MLHUB_CPU_MAX", "MLHUB_MEMORY_MAX", "MLHUB_GPUS_MAX"):
        monkeypatch.delenv(name, raising=False)
    assert env.cpu_max() == float(os.cpu_count())
    assert env.memory_max() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert env.gpus_max() == 0
    monkeypatch.setenv("MLHUB_CPU_MAX", "1.5")
    monkeypatch.setenv("MLHUB_MEMORY_MAX", "3G")
    monkeypatch.setenv("MLHUB_GPUS_MAX", "2")
    assert (env.cpu_max(), env.memory_max(), env.gpus_max()) == (1.5, 3 * 1024**3, 2)


def test_a_bad_workspace_bound_names_its_variable(monkeypatch):
    monkeypatch.setenv("MLHUB_MEMORY_MAX", "lots")
    with pytest.raises(env.ConfigError, match="MLHUB_MEMORY_MAX='lots'"):
        env.memory_max()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        # Each would have bounded nothing, or everything: NaN compares false both ways.
        ("MLHUB_CPU_MAX", "nan"),
        ("MLHUB_CPU_MAX", "inf"),
        ("MLHUB_CPU_MAX", "0.001"),
        ("MLHUB_CPU_MAX", "-2"),
        ("MLHUB_MEMORY_MAX", "1M"),
        ("MLHUB_GPUS_MAX", "-1"),
    ],
)
def test_a_workspace_bound_outside_its_edges_stops_the_start(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    bound = {"MLHUB_CPU_MAX": env.cpu_max, "MLHUB_MEMORY_MAX": env.memory_max}
    with pytest.raises(env.ConfigError, match=name):
        bound.get(name, env.gpus_max)()


@pytest.mark.parametrize("raw", ["nan", "-0.5"])
def test_an_optional_limit_that_bounds_nothing_is_refused(monkeypatch, raw):
    # A quota of NaN cores would have let every start through.
    monkeypatch.setenv("MLHUB_QUOTA_CPU", raw)
    with pytest.raises(env.ConfigError, match=f"MLHUB_QUOTA_CPU='{raw}' must be 0 or more"):
        env.env_optional("MLHUB_QUOTA_CPU", float)
