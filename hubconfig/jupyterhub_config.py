"""MLHub's JupyterHub configuration: declarative, driven by the environment.

Loaded by path with ``jupyterhub -f .../hubconfig/jupyterhub_config.py``, from the checkout or
an installed copy (``lib.stack.HUB_CONFIG``); its imports need the project installed
(``make setup`` installs the checkout editable). The admin's override file
(``$MLHUB_RESOURCES_DIR/jupyterhub_user_config.py``, the seed's
``/resources/jupyterhub_user_config.py``; ``MLHUB_USER_CONFIG`` names another) is loaded last,
so anything here can be changed there.
"""

import logging
from pathlib import Path
from urllib.parse import urlsplit

from jupyterhub.log import CoroutineLogFormatter

import templates as page_templates
from hubconfig import culling, host_only_cookies, log_scrub, resolver
from hubconfig import database as hub_database
from hubconfig.authenticator import ADMINS_GROUP
from lib import env, origins

log = logging.getLogger("JupyterHub")
# No token, OAuth code or state in the hub's log, in whatever URL or logger it travels: the
# request line JupyterHub scrubs, but not its redirects' next= nor tornado's refused requests.
log_scrub.install(CoroutineLogFormatter())

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file

HUB_NAME = env.hub_name()
MODE = env.execution_mode()
# Where people find MLHub, checked before anything is written: MLHUB_BASE_URL is a plain path
# and MLHUB_PUBLIC_URL's path, if any, is the same.
PUBLIC_URL = env.public_url()
BASE_URL = env.base_url()
DATA = env.data_dir() / "hub"
DATA.mkdir(parents=True, exist_ok=True)

PORTAL_TOKEN = env.env_secret("MLHUB_HUB_API_TOKEN")
if not PORTAL_TOKEN:
    raise env.ConfigError("MLHUB_HUB_API_TOKEN (or _FILE) must be set: the portal's hub token")

# One public port: the proxy. <prefix>hub/ goes to the hub, <prefix>user/... to workspaces,
# the rest to the portal as the proxy's default target (it restores that route itself after
# a restart); the portal sends what is outside the prefix into it (portal/base_path.py).
# JupyterHub's base_url (its pages, API, cookies' paths and every server's URL) is its
# bind_url's path: set there, the one place JupyterHub reads both from (setting base_url
# too makes it rebuild bind_url from its ip and port defaults).
c.JupyterHub.bind_url = env.bind_url() + BASE_URL.rstrip("/")
c.JupyterHub.hub_bind_url = env.env_str("MLHUB_HUB_BIND_URL", env.hub_url())
# After login and at <prefix>hub/ people land on the portal's "My workspaces".
c.JupyterHub.default_url = BASE_URL
if env.single_origin():
    c.JupyterHub.hub_routespec = f"{BASE_URL}hub/"
    log.warning("!" * 20 + " " + env.SINGLE_ORIGIN_WARNING)
else:
    # Every person's workspaces on their own origin (<user>.<public host>): a page a
    # workspace serves never sees the portal's or the hub's cookies and cannot call them as
    # its visitor. The proxy then routes by host, so the hub's route needs the host too.
    c.JupyterHub.subdomain_host = PUBLIC_URL
    c.JupyterHub.subdomain_hook = origins.SUBDOMAIN_HOOK
    c.JupyterHub.hub_routespec = f"{urlsplit(PUBLIC_URL).hostname}{BASE_URL}hub/"
    host_only_cookies.install()
    # Over https the hub's login cookie (and each workspace's) is __Host-: Secure, Path=/ and
    # no Domain, so a workspace on <user>.<host> cannot set one for the hub's host and log a
    # visitor in to the hub as its owner (cookie tossing). JupyterHub recommends it only
    # with per-user domains, which this branch is; browsers refuse it over plain http.
    c.JupyterHub.cookie_host_prefix_enabled = PUBLIC_URL.startswith("https://")
c.ConfigurableHTTPProxy.api_url = env.proxy_api_url()
# The hub's own requests (the proxy's API, server checks) resolve names with getaddrinfo in a
# thread, not with aiodns's c-ares thread (hubconfig/resolver.py says why).
c.JupyterHubHTTPClient.connector_options = {"resolver": resolver.ThreadedResolverPerLoop()}
# The MLHub image runs the Node proxy as a process of its own (START_CHP): the hub then neither
# starts nor stops it, and a hub restart keeps every route.
c.ConfigurableHTTPProxy.should_start = not env.env_bool("MLHUB_PROXY_EXTERNAL", False)
# Production (the image sets it false): a hub restart or an upgrade leaves workspaces running;
# the hub takes them over when it is back. `make run` stops them with the stack (true).
c.JupyterHub.cleanup_servers = env.env_bool("MLHUB_CLEANUP_SERVERS", True)
# The hub adds a running workspace's missing proxy route only at its start and at each
# check of last activity (upstream: every 5 minutes). A restarted hub adds the routes of the
# workspaces it checked in the background (past its first 10 s) only once every check has
# ended, up to http_timeout later, and a proxy restarted on its own (the chart's proxy pod)
# starts empty: each workspace was unreachable until the next check (the soak; CI,
# 2026-12-06). Every 10 s bounds that (at 30 s the second soak still met 7 opens and writes
# in the 30 s after a hub restart, the hub saying "ready" with no route); the check is one
# read of the proxy's routes and the activity it has seen since.
c.JupyterHub.last_activity_interval = 10
c.ConfigurableHTTPProxy.auth_token = env.env_secret("CONFIGPROXY_AUTH_TOKEN", "")
c.ConfigurableHTTPProxy.command = [
    env.chp_path(),
    f"--default-target={env.portal_url()}",
]

# MLHUB_HUB_DB_URL (or _FILE), PostgreSQL in compose and the chart, whatever scheme it is
# written with (postgres://...: psycopg 3 is the driver); unset, SQLite in DATA.
c.JupyterHub.db_url = hub_database.configured_url()
if not hub_database.is_postgresql(c.JupyterHub.db_url):
    hub_database.sqlite_commits_without_fsync()
c.JupyterHub.cookie_secret_file = str(DATA / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(DATA / "jupyterhub.pid")
# The launcher reads it to stop a proxy the hub left behind (lib/stack.py hub_proxy_stop).
c.ConfigurableHTTPProxy.pid_file = str(DATA / "jupyterhub-proxy.pid")

c.JupyterHub.authenticator_class = "hubconfig.authenticator.MLHubAuthenticator"
# The authenticator keeps each person's portal tokens (auth_state) to ask the portal again
# about them; JupyterHub encrypts auth_state with this key.
CRYPT_KEY = env.env_secret("JUPYTERHUB_CRYPT_KEY")
if not CRYPT_KEY:
    raise env.ConfigError("JUPYTERHUB_CRYPT_KEY (or _FILE) must be set: 32 bytes, hex-encoded")
c.CryptKeeper.keys = [CRYPT_KEY]
# Tokens people make in the hub (its token page, its API) end: a leaked one stops working.
c.JupyterHub.token_expires_in_max_seconds = env.env_int("MLHUB_HUB_TOKEN_MAX_SECONDS", 86400)
c.JupyterHub.allow_named_servers = True
# Quotas are the portal's; the hub must not refuse what the portal allowed.
c.JupyterHub.named_server_limit_per_user = 0
# Answer start requests at once (202); the portal follows the progress stream instead of
# holding a web worker for up to 10 s per start.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0, "slow_stop_timeout": 0}

# The portal drives the hub with a service token limited to what it uses.
c.JupyterHub.services = [{"name": "portal", "api_token": PORTAL_TOKEN}]
c.JupyterHub.load_roles = [
    {
        "name": "mlhub-portal",
        "description": (
            "What the MLHub portal needs: manage users, start/stop servers, and revoke the "
            "tokens of people it rejects or deactivates"
        ),
        "scopes": ["admin:users", "servers", "tokens"],
        "services": ["portal"],
    }
]

# People start and create workspaces through the portal only (it applies templates, quotas
# and names); in the hub they may read, open and stop their own servers.
c.JupyterHub.load_roles.append(
    {
        "name": "user",
        "description": "MLHub users: open and stop their own workspaces; start them in the portal",
        "scopes": [
            "read:users!user",
            "users:activity!user",
            "read:servers!user",
            "delete:servers!user",
            "access:servers!user",
            "tokens!user",
        ],
    }
)
# Nobody is the hub's admin: its admin role starts any server with any options (admin:servers)
# and JupyterHub refuses to narrow it. Listing no one empties it at every hub start, older
# MLHub hubs' admins included. The portal's admins are a group (the authenticator's
# ADMINS_GROUP) that reads and opens everyone's servers; they start and stop them in the portal.
c.JupyterHub.load_roles.append({"name": "admin", "users": [], "services": []})
c.JupyterHub.load_roles.append(
    {
        "name": "mlhub-admin",
        "description": "MLHub admins: see and open everyone's workspaces; start them in the portal",
        "scopes": ["list:users", "read:users", "read:servers", "access:servers"],
        "groups": [ADMINS_GROUP],
    }
)
# Prometheus scrapes /hub/metrics (JupyterHub's own series) with the portal's metrics token:
# a service holding that token and read:metrics alone, JupyterHub's documented way
# ("Monitoring"; authenticate_prometheus stays on). Unset: the hub's metrics are nobody's.
METRICS_TOKEN = env.metrics_token()
if METRICS_TOKEN:
    c.JupyterHub.services.append({"name": "metrics", "api_token": METRICS_TOKEN})
    c.JupyterHub.load_roles.append(
        {
            "name": "mlhub-metrics",
            "description": "The Prometheus scraper: the hub's metrics and nothing else",
            "scopes": ["read:metrics"],
            "services": ["metrics"],
        }
    )
# A stopped server's hub URL shows the "not running" page, which never sends the browser on to
# the hub's spawn page by itself (that page only leads to the portal now: spawn_page.py).
c.JupyterHub.implicit_spawn_seconds = 0
# Idle culling, off unless MLHUB_CULL_IDLE_SECONDS is set: a hub-managed culler stops idle
# workspaces, and their stop reports tell the portal why (hubconfig/culling.py).
CULLING = culling.culling_from_env()
if CULLING is not None:
    c.JupyterHub.services.append(CULLING.service())
    c.JupyterHub.load_roles.append(CULLING.role())
    culling.stop_reasons_install(CULLING)
# The hub's "not running" page sends people to the portal instead of a start button.
# The hub's page templates are package data beside templates/__init__.py (templates/hub/).
c.JupyterHub.template_paths = [str(page_templates.FOLDER / "hub")]

SPAWNERS = {
    "process": "spawners.process.MLHubProcessSpawner",
    "local": "spawners.docker.MLHubDockerSpawner",
    "k8s": "spawners.kubernetes.MLHubKubeSpawner",
}
c.JupyterHub.spawner_class = SPAWNERS[MODE]
c.Spawner.start_timeout = env.start_timeout()
# The hub reports every start, failure and stop to the portal as it happens
# (spawners/state_reports.py), with a credential good for that one endpoint only.
c.Spawner.state_report_url = f"{env.portal_url()}{BASE_URL}api/v1/internal/hub-events/"
c.Spawner.state_report_token = env.env_secret("MLHUB_HUB_EVENTS_TOKEN")
if not c.Spawner.state_report_token:
    raise env.ConfigError("MLHUB_HUB_EVENTS_TOKEN (or _FILE) must be set: the hub's report key")
# How often the hub checks that running servers are still alive (a container killed from
# outside is noticed, stopped and reported within this).
c.Spawner.poll_interval = env.env_int("MLHUB_SERVER_POLL_SECONDS", 30)
c.Spawner.http_timeout = env.env_int("MLHUB_HTTP_TIMEOUT", 60)
if MODE in ("local", "k8s"):
    # Workspace containers and pods reach the hub from their own networks (a Docker network's
    # gateway, the pod network), so the hub listens on every address (its API needs a token;
    # the portal keeps 127.0.0.1).
    hub_port = urlsplit(env.hub_url()).port or 8081
    c.JupyterHub.hub_bind_url = env.env_str("MLHUB_HUB_BIND_URL", f"http://0.0.0.0:{hub_port}")
    c.Spawner.workspace_images = env.workspace_images()
if MODE == "local":
    c.MLHubDockerSpawner.hub_container = env.env_str("MLHUB_DOCKER_HUB_CONTAINER").strip()
# An open SSH session counts as use for idle culling: the workspace image reports it this often
# (deploy/workspace/ssh_activity.py).
c.Spawner.environment = {
    "MLHUB_SSH_ACTIVITY_SECONDS": str(env.env_int_at_least("MLHUB_SSH_ACTIVITY_SECONDS", 60, 1))
}
# Where workspaces and the proxy reach the hub: in Kubernetes the hub's Service
# (http://<release>-hub:8081), so the proxy's /hub/ route outlives a hub pod (its own host
# name would not resolve, and its address changes); Docker mode finds each network's gateway
# by itself.
if env.env_str("MLHUB_HUB_CONNECT_URL"):
    c.JupyterHub.hub_connect_url = env.env_str("MLHUB_HUB_CONNECT_URL")
    c.Spawner.hub_connect_url = env.env_str("MLHUB_HUB_CONNECT_URL")

USER_CONFIG = Path(
    env.env_str("MLHUB_USER_CONFIG", str(env.resources_dir() / "jupyterhub_user_config.py"))
)
if USER_CONFIG.is_file():
    load_subconfig(str(USER_CONFIG))  # noqa: F821 -- provided by JupyterHub

# Upstream settings MLHub replaces (cpu_limit, mem_limit, image, ...) stop the start with what
# to set instead, wherever they were set: here or in the admin's file.
if MODE != "process":
    from traitlets.utils.importstring import import_item  # noqa: E402

    from spawners.options import refuse_replaced_settings  # noqa: E402

    refuse_replaced_settings(c, import_item(SPAWNERS[MODE]))
