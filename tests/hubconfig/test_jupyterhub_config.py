"""The hub's config file, loaded the way JupyterHub loads it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from jupyterhub import scopes
from jupyterhub.utils import subdomain_hook_idna
from sqlalchemy import event
from sqlalchemy.engine import Engine
from traitlets.config.loader import PyFileConfigLoader

from hubconfig import database as hub_database
from hubconfig.authenticator import ADMINS_GROUP
from lib import env

CONFIG = Path(__file__).resolve().parents[2] / "hubconfig" / "jupyterhub_config.py"


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MLHUB_HUB_API_TOKEN", "token")
    monkeypatch.delenv("MLHUB_USER_CONFIG", raising=False)
    monkeypatch.delenv("MLHUB_RESOURCES_DIR", raising=False)
    monkeypatch.setenv("EXECUTION_MODE", "process")
    monkeypatch.setenv("HUB_NAME", "mlhub")
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "ab" * 32)
    monkeypatch.setenv("MLHUB_HUB_EVENTS_TOKEN", "events-token")
    for name in ("MLHUB_PUBLIC_URL", "MLHUB_BIND_URL", "MLHUB_SINGLE_ORIGIN", "MLHUB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def record_factory():
    """Loading the config scrubs every log record of the process: not beyond the test."""
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def load():
    return PyFileConfigLoader(CONFIG.name, str(CONFIG.parent)).load_config()


def test_the_portal_token_has_only_the_scopes_it_uses(hub_env):
    roles = {role["name"]: role for role in load().JupyterHub.load_roles}
    # tokens: revoking the hub tokens of people the portal rejects (docs/security.md).
    assert roles["mlhub-portal"]["scopes"] == ["admin:users", "servers", "tokens"]
    assert roles["mlhub-portal"]["services"] == ["portal"]
    assert not any(s.startswith(("servers", "start:")) for s in roles["user"]["scopes"])


def test_nobody_is_the_hubs_admin(hub_env):
    roles = {role["name"]: role for role in load().JupyterHub.load_roles}
    # A static, empty member list: the hub clears every admin flag when it starts.
    assert (roles["admin"]["users"], roles["admin"]["services"]) == ([], [])


def test_the_portals_admins_may_open_every_server_but_start_none(hub_env):
    role = {role["name"]: role for role in load().JupyterHub.load_roles}["mlhub-admin"]
    assert role["groups"] == [ADMINS_GROUP]
    granted = scopes.expand_scopes(role["scopes"])
    assert scopes.has_scope("access:servers!server=alice/thesis", granted)
    assert scopes.has_scope("read:servers!user=alice", granted)
    for refused in (
        "servers!server=alice/thesis",  # start (and stop): the portal's
        "delete:servers!server=alice/thesis",
        "admin:users",
        "tokens!user=alice",
        "admin:server_state!user=alice",
    ):
        assert not scopes.has_scope(refused, granted), refused


def test_a_stopped_servers_page_never_starts_it_by_itself(hub_env):
    assert load().JupyterHub.implicit_spawn_seconds == 0


def test_the_hub_scrubs_secrets_from_every_log_record(hub_env, caplog):
    load()
    # tornado's line for a refused login, on a logger of its own (hubconfig/log_scrub.py).
    logging.getLogger("tornado.general").warning(
        "%d %s: %s", 403, "GET /hub/oauth_callback?code=c0de&state=5tate (127.0.0.1)", "No"
    )
    assert caplog.messages == [
        "403 GET /hub/oauth_callback?code=[secret]&state=[secret] (127.0.0.1): No"
    ]


def test_one_public_port_with_the_portal_as_default_target(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_PORTAL_URL", "http://127.0.0.1:9010")
    config = load()
    assert config.JupyterHub.hub_routespec == "localhost/hub/"
    assert config.JupyterHub.default_url == "/"
    assert "--default-target=http://127.0.0.1:9010" in config.ConfigurableHTTPProxy.command


def test_docker_mode_listens_where_containers_reach_the_hub(hub_env, monkeypatch):
    monkeypatch.setenv("EXECUTION_MODE", "local")
    monkeypatch.setenv("MLHUB_HUB_URL", "http://127.0.0.1:9081")
    config = load()
    assert config.JupyterHub.spawner_class == "spawners.docker.MLHubDockerSpawner"
    assert config.JupyterHub.hub_bind_url == "http://0.0.0.0:9081"


def test_the_admins_override_file_is_loaded_last(hub_env):
    resources = hub_env / "resources"
    resources.mkdir()
    (resources / "jupyterhub_user_config.py").write_text(
        "c.JupyterHub.named_server_limit_per_user = 7\n"
    )
    assert load().JupyterHub.named_server_limit_per_user == 7


def test_a_bad_hub_name_stops_the_hub(hub_env, monkeypatch):
    monkeypatch.setenv("HUB_NAME", "Not_A_Name")
    with pytest.raises(env.ConfigError, match="HUB_NAME"):
        load()


def test_a_missing_portal_token_stops_the_hub(hub_env, monkeypatch):
    monkeypatch.delenv("MLHUB_HUB_API_TOKEN")
    monkeypatch.delenv("MLHUB_HUB_API_TOKEN_FILE", raising=False)
    with pytest.raises(env.ConfigError, match="MLHUB_HUB_API_TOKEN"):
        load()


def test_workspaces_get_their_own_origin_by_default(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://hub.example.org")
    config = load()
    assert config.JupyterHub.subdomain_host == "https://hub.example.org"
    assert config.JupyterHub.subdomain_hook is subdomain_hook_idna
    # Host routing: the hub's route names the public host.
    assert config.JupyterHub.hub_routespec == "hub.example.org/hub/"


def test_the_proxy_listens_on_loopback_for_a_localhost_public_url(hub_env):
    config = load()
    assert config.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert config.JupyterHub.subdomain_host == "http://localhost:8000"
    assert config.JupyterHub.cookie_host_prefix_enabled is False  # browsers refuse it on http


def test_over_https_the_hubs_cookies_are_host_prefixed(hub_env, monkeypatch):
    # A workspace on a subdomain cannot toss a login cookie onto the hub's host.
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://hub.example.org")
    assert load().JupyterHub.cookie_host_prefix_enabled is True


def test_single_origin_is_an_explicit_opt_out_with_a_loud_warning(hub_env, monkeypatch, caplog):
    monkeypatch.setenv("MLHUB_SINGLE_ORIGIN", "true")
    config = load()
    assert "subdomain_host" not in config.JupyterHub
    assert config.JupyterHub.hub_routespec == "/hub/"
    assert env.SINGLE_ORIGIN_WARNING in caplog.text


def test_auth_state_needs_its_key(hub_env, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY")
    with pytest.raises(env.ConfigError, match="JUPYTERHUB_CRYPT_KEY"):
        load()


def test_hub_tokens_have_a_bounded_lifetime(hub_env):
    assert load().JupyterHub.token_expires_in_max_seconds == 86400


def test_the_hub_reports_states_to_the_portal_with_its_own_key(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_PORTAL_URL", "http://127.0.0.1:9010")
    monkeypatch.setenv("MLHUB_SERVER_POLL_SECONDS", "5")
    spawner = load().Spawner
    assert spawner.state_report_url == "http://127.0.0.1:9010/api/v1/internal/hub-events/"
    assert spawner.state_report_token == "events-token"
    assert spawner.poll_interval == 5


def test_a_missing_report_key_stops_the_hub(hub_env, monkeypatch):
    monkeypatch.delenv("MLHUB_HUB_EVENTS_TOKEN")
    with pytest.raises(env.ConfigError, match="MLHUB_HUB_EVENTS_TOKEN"):
        load()


def test_kubernetes_mode_listens_everywhere_and_gives_pods_the_hubs_service(hub_env, monkeypatch):
    monkeypatch.setenv("EXECUTION_MODE", "k8s")
    monkeypatch.setenv("MLHUB_HUB_CONNECT_URL", "http://mlhub-hub:8081")
    config = load()
    assert config.JupyterHub.spawner_class == "spawners.kubernetes.MLHubKubeSpawner"
    assert config.JupyterHub.hub_bind_url == "http://0.0.0.0:8081"
    assert config.Spawner.hub_connect_url == "http://mlhub-hub:8081"
    # The proxy's /hub/ route too: the Service outlives the hub's pod.
    assert config.JupyterHub.hub_connect_url == "http://mlhub-hub:8081"


@pytest.mark.parametrize(
    ("mode", "setting", "instead"),
    [
        ("local", "c.DockerSpawner.mem_limit = '4G'", "limit with memory_max / MLHUB_MEMORY_MAX"),
        ("local", "c.Spawner.cpu_limit = 2", "limit with cpu_max / MLHUB_CPU_MAX"),
        ("local", "c.DockerSpawner.image = 'x'", "workspace_images / MLHUB_WORKSPACE_IMAGES"),
        ("local", "c.DockerSpawner.allowed_images = ['x']", "the allow-list is workspace_images"),
        ("local", "c.DockerSpawner.name_template = '{username}'", "MLHub names containers"),
        ("k8s", "c.KubeSpawner.mem_guarantee = '1G'", "limit with memory_max"),
        ("k8s", "c.KubeSpawner.pod_name_template = 'x-{username}'", "MLHub names pods"),
        ("k8s", "c.MLHubKubeSpawner.image = 'x'", "workspace_images / MLHUB_WORKSPACE_IMAGES"),
    ],
)
def test_an_upstream_setting_mlhub_replaces_stops_the_hub_with_what_to_set(
    hub_env, monkeypatch, mode, setting, instead
):
    monkeypatch.setenv("EXECUTION_MODE", mode)
    (hub_env / "jupyterhub_user_config.py").write_text(f"c = get_config()\n{setting}\n")
    monkeypatch.setenv("MLHUB_USER_CONFIG", str(hub_env / "jupyterhub_user_config.py"))
    section, name = setting.split(" =")[0].split(".")[1:]
    with pytest.raises(env.ConfigError) as refused:
        load()
    assert str(refused.value).startswith(f"c.{section}.{name} is not used by MLHub: ")
    assert instead in str(refused.value)


def test_settings_mlhub_keeps_from_upstream_still_load(hub_env, monkeypatch):
    monkeypatch.setenv("EXECUTION_MODE", "k8s")
    (hub_env / "user.py").write_text(
        "c = get_config()\nc.KubeSpawner.node_selector = {'pool': 'users'}\n"
        "c.Spawner.start_timeout = 300\n"
    )
    monkeypatch.setenv("MLHUB_USER_CONFIG", str(hub_env / "user.py"))
    config = load()
    assert config.KubeSpawner.node_selector == {"pool": "users"}


def test_under_a_prefix_the_hub_and_its_route_live_under_it(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub")
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://tools.example.org/mlhub/")
    monkeypatch.setenv("MLHUB_PORTAL_URL", "http://127.0.0.1:9010")
    config = load()
    # bind_url's path is JupyterHub's base_url (its pages, API, cookies and servers' URLs).
    assert config.JupyterHub.bind_url == "https://tools.example.org/mlhub"
    assert config.JupyterHub.hub_routespec == "tools.example.org/mlhub/hub/"
    assert config.JupyterHub.default_url == "/mlhub/"
    assert config.JupyterHub.subdomain_host == "https://tools.example.org"
    assert config.Spawner.state_report_url == (
        "http://127.0.0.1:9010/mlhub/api/v1/internal/hub-events/"
    )
    # Everything else still goes to the portal, which sends what is outside the prefix in.
    assert "--default-target=http://127.0.0.1:9010" in config.ConfigurableHTTPProxy.command


def test_under_a_prefix_a_single_origin_hubs_route_is_the_prefixed_path(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub/")
    monkeypatch.setenv("MLHUB_SINGLE_ORIGIN", "true")
    assert load().JupyterHub.hub_routespec == "/mlhub/hub/"


def test_a_bad_prefix_stops_the_hub_before_it_writes_anything(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_BASE_URL", "/../")
    with pytest.raises(env.ConfigError, match="MLHUB_BASE_URL='/../' is not a plain path"):
        load()
    assert not (hub_env / "hub").exists()


def test_the_hubs_database_is_sqlite_in_its_folder_unless_a_url_is_given(hub_env, monkeypatch):
    monkeypatch.delenv("MLHUB_HUB_DB_URL", raising=False)
    monkeypatch.delenv("MLHUB_HUB_DB_URL_FILE", raising=False)
    if event.contains(Engine, "connect", hub_database._write_ahead):  # an earlier load's
        event.remove(Engine, "connect", hub_database._write_ahead)
    assert load().JupyterHub.db_url == f"sqlite:///{hub_env}/hub/jupyterhub.sqlite"
    # Its commits do not wait for the disk (hubconfig/database.py).
    assert event.contains(Engine, "connect", hub_database._write_ahead)
    # As compose writes it (and DATABASE_URL takes it): psycopg 3 is the driver installed.
    monkeypatch.setenv("MLHUB_HUB_DB_URL", "postgres://mlhub:pw@postgres:5432/mlhub_hub")
    assert load().JupyterHub.db_url == "postgresql+psycopg://mlhub:pw@postgres:5432/mlhub_hub"


def test_the_metrics_token_reads_the_hubs_metrics_and_nothing_else(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_METRICS_TOKEN", "scraper-secret-0123456789")
    config = load().JupyterHub
    services = {service["name"]: service for service in config.services}
    assert services["metrics"] == {"name": "metrics", "api_token": "scraper-secret-0123456789"}
    roles = {role["name"]: role for role in config.load_roles}
    assert roles["mlhub-metrics"]["scopes"] == ["read:metrics"]
    assert roles["mlhub-metrics"]["services"] == ["metrics"]
    assert "authenticate_prometheus" not in config  # JupyterHub's default: a token is needed


def test_without_a_metrics_token_nobody_reads_the_hubs_metrics(hub_env, monkeypatch):
    monkeypatch.delenv("MLHUB_METRICS_TOKEN", raising=False)
    config = load().JupyterHub
    assert "metrics" not in {service["name"] for service in config.services}
    assert not [role for role in config.load_roles if "read:metrics" in role.get("scopes", [])]


def test_a_short_metrics_token_stops_the_hub(hub_env, monkeypatch):
    monkeypatch.setenv("MLHUB_METRICS_TOKEN", "short")
    with pytest.raises(env.ConfigError, match="MLHUB_METRICS_TOKEN must be at least 16"):
        load()
