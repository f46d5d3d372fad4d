"""MLHub portal settings, driven by the environment (see docs/configuration.md).

SQLite under the data directory by default so a fresh clone runs; ``DATABASE_URL`` switches
to PostgreSQL. Secrets come from ``NAME`` or ``NAME_FILE``, never from files in git.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.conf import global_settings
from django.core.exceptions import ImproperlyConfigured
from jupyterhub._data import DATA_FILES_PATH as JUPYTERHUB_DATA_FILES

import templates as page_templates
from lib import env
from lib.budgets import budget_defaults_setting, budget_period_setting
from lib.resources import ResourceError, parse_memory, validate_workspace_name
from portal.accounts import login_config

# The portal's static files are package data beside this file, its page templates beside
# templates/__init__.py: in the checkout as in an installed copy (pyproject.toml). BASE_DIR,
# the folder holding the packages, is the checkout only when run from one: nothing here reads
# files from it.
PORTAL_DIR = Path(__file__).resolve().parent
BASE_DIR = PORTAL_DIR.parent

# Every setting read from the environment, in one place: a bad one stops the start here.
# Not settings, so read where they are used: the first admin's password (only by
# mlhub_setup, accounts/services.py admin_ensure, so no process keeps it) and the hub's and
# the spawners' own variables (hubconfig/jupyterhub_config.py, spawners/), through lib/env.py.
try:
    DATA_DIR = env.data_dir()
    # The path prefix MLHub is served under (MLHUB_BASE_URL, "/" or "/mlhub/") and the public
    # origin without it; SITE_URL is both, where people find the portal.
    BASE_URL = env.base_url()
    PUBLIC_URL = env.public_url()
    SITE_URL = env.site_url()
    DEBUG = env.env_bool("DEBUG", False)
    HUB_NAME = env.hub_name()
    EXECUTION_MODE = env.execution_mode()
    # The MLHub image's own container, which joins people's networks (cleanup leaves them).
    DOCKER_HUB_CONTAINER = env.env_str("MLHUB_DOCKER_HUB_CONTAINER").strip()
    SECRET_KEY = env.env_secret("SECRET_KEY")
    HUB_API_TOKEN = env.env_secret("MLHUB_HUB_API_TOKEN")
    OAUTH_CLIENT_SECRET = env.env_secret("MLHUB_OAUTH_CLIENT_SECRET")
    # Workspaces on their own origins (<user>.<public host>) unless this opts out.
    SINGLE_ORIGIN = env.single_origin()
    _hsts_seconds = env.env_int("MLHUB_HSTS_SECONDS", 365 * 24 * 3600)
    _hsts_preload = env.env_bool("MLHUB_HSTS_PRELOAD", False)
    LOGIN_FAILURE_LIMIT = env.env_int_at_least("MLHUB_LOGIN_FAILURE_LIMIT", 5, 1)
    LOGIN_COOLOFF_SECONDS = env.env_int_at_least("MLHUB_LOGIN_COOLOFF_SECONDS", 15 * 60, 1)
    # Proxies that append to X-Forwarded-For before the portal: the Node proxy, nginx if any.
    TRUSTED_PROXY_COUNT = env.env_int_at_least("MLHUB_TRUSTED_PROXY_COUNT", 1, 0)
    TOKEN_RATE = env.env_rate("MLHUB_TOKEN_RATE", "30/min")
    API_TOKEN_TTL_SECONDS = env.env_int_at_least("MLHUB_API_TOKEN_TTL_SECONDS", 30 * 86400, 0)
    # The longest a workspace's hub token may live (portal/workspaces/workspace_tokens.py). The hub
    # refuses any token longer than its own limit, so a larger value here would only turn
    # into refusals at use: stop the start instead (both read the same environment).
    WORKSPACE_TOKEN_MAX_SECONDS = env.env_int_at_least(
        "MLHUB_WORKSPACE_TOKEN_MAX_SECONDS", 86400, 60
    )
    _hub_token_max = env.env_int("MLHUB_HUB_TOKEN_MAX_SECONDS", 86400)
    if 0 < _hub_token_max < WORKSPACE_TOKEN_MAX_SECONDS:
        raise env.ConfigError(
            f"MLHUB_WORKSPACE_TOKEN_MAX_SECONDS={WORKSPACE_TOKEN_MAX_SECONDS} must not exceed "
            f"MLHUB_HUB_TOKEN_MAX_SECONDS={_hub_token_max}, the hub's own limit"
        )
    # The hub's credential for its state reports (portal/workspaces/sync.py), good for nothing
    # else; and how often the portal compares every workspace with the hub.
    HUB_EVENTS_TOKEN = env.env_secret("MLHUB_HUB_EVENTS_TOKEN")
    # SSH into workspaces (portal/sshkeys/gateway.py): the gateway's credential for its one
    # endpoint, where people point their ProxyJump (default: the public host and port; nginx
    # sends what is not TLS on that port to the gateway), the one login name on the gateway,
    # and the port of the sshd inside each workspace (the workspace user's own, unprivileged).
    SSH_GATEWAY_TOKEN = env.env_secret("MLHUB_SSH_GATEWAY_TOKEN")
    # The Prometheus scraper's bearer token for /metrics (portal/metrics/views.py) and the
    # hub's /hub/metrics; unset: only admins' API tokens read the portal's metrics.
    METRICS_TOKEN = env.metrics_token()
    _public = urlsplit(PUBLIC_URL)
    SSH_GATEWAY_HOST = env.env_str("MLHUB_SSH_GATEWAY_HOST", _public.hostname or "localhost")
    SSH_GATEWAY_PORT = env.env_int_at_least(
        "MLHUB_SSH_GATEWAY_PORT", _public.port or (443 if _public.scheme == "https" else 80), 1
    )
    SSH_GATEWAY_USER = env.env_str("MLHUB_SSH_GATEWAY_USER", "mlhub")
    WORKSPACE_SSH_PORT = env.env_int_at_least("MLHUB_WORKSPACE_SSH_PORT", 2222, 1)
    WORKSPACE_SYNC_SECONDS = env.env_int_at_least("MLHUB_SYNC_INTERVAL_SECONDS", 60, 60)
    # How long before its expiry a workspace is flagged and its owner e-mailed; 0: never
    # (portal/workspaces/expiry.py).
    EXPIRY_WARNING_HOURS = env.env_int_at_least("MLHUB_EXPIRY_WARNING_HOURS", 24, 0)
    # Audit entries older than this are forgotten daily (portal/audit/retention.py); 0: kept.
    AUDIT_RETENTION_DAYS = env.env_int_at_least("MLHUB_AUDIT_RETENTION_DAYS", 365, 0)
    # django-q2 processes running tasks at once. Each delete and each start's follow-up
    # waits on the hub (a second or more, mostly idle): 50 deletes at once were done after
    # 34 s with 2, 30 s with 4 (bench/concurrent.py, one run each; the hub's 4 stop threads
    # bound it).
    TASK_WORKERS = env.env_int_at_least("MLHUB_TASK_WORKERS", 4, 1)
    TASKS_SYNC = env.env_bool("MLHUB_TASKS_SYNC", False)
    # The hub gives up on a start after this (its c.Spawner.start_timeout, the same variable).
    START_TIMEOUT = env.start_timeout()
    # The fair start queue (portal/workspaces/start_queue.py): how many starts the hub is asked
    # for at once, the rest waiting their turn; 0 or less: no queue. A start is about 2.3 s of
    # CPU, mostly the single-user server's own imports, with waits between (Docker, the
    # proxy, the server's first answer): two in flight a core keep the cores busy, and 50 at
    # once on 2 cores took 93-125 s all sharing them (docs/performance.md).
    START_CONCURRENCY = env.env_int("MLHUB_START_CONCURRENCY", 2 * (os.cpu_count() or 1))
    # A start whose estimated wait is longer is refused (503); a queued one that has waited
    # longer goes back to stopped. At least a minute: the pass that ends them runs each minute.
    START_QUEUE_WAIT_SECONDS = env.env_int_at_least("MLHUB_START_QUEUE_WAIT_SECONDS", 900, 60)
    # Django's own e-mail settings, under their own names. The console backend writes each
    # message to the task cluster's log, so nothing is lost before SMTP is configured.
    EMAIL_BACKEND = env.env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    EMAIL_HOST = env.env_str("EMAIL_HOST", "localhost")
    EMAIL_PORT = env.env_int_at_least("EMAIL_PORT", 25, 1)
    EMAIL_HOST_USER = env.env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env.env_secret("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env.env_bool("EMAIL_USE_TLS", False)
    DEFAULT_FROM_EMAIL = env.env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
    # Logging in with an organisation's identity (portal/accounts/login_config.py): each
    # provider None until configured; local passwords for everyone or admins only.
    OIDC = login_config.oidc_config()
    LDAP = login_config.ldap_config()
    LOCAL_LOGIN = login_config.local_login()
    AUTO_APPROVE_GROUPS = login_config.auto_approve_groups()
    # Self-service sign-up (people wait for approval), and how often one address may try.
    # Sign-up makes local passwords: off when those are for admins only.
    SIGNUP_ENABLED = env.env_bool("MLHUB_SIGNUP_ENABLED", True) and LOCAL_LOGIN == "all"
    SIGNUP_RATE = env.env_rate("MLHUB_SIGNUP_RATE", "10/hour")
    # Everyone's quota unless their own or a group's says otherwise (portal/quotas/limits.py).
    QUOTA_DEFAULTS = {
        "workspaces": env.env_optional("MLHUB_QUOTA_WORKSPACES", int),
        "running": env.env_optional("MLHUB_QUOTA_RUNNING", int),
        "cpu": env.env_optional("MLHUB_QUOTA_CPU", float),
        "memory": env.env_optional("MLHUB_QUOTA_MEMORY", parse_memory),
        "gpus": env.env_optional("MLHUB_QUOTA_GPUS", int),
    }
    # Everyone's budget unless their own or a group's says otherwise (portal/budgets/limits.py):
    # hours per period, the period (month or <N>d), and whether running workspaces stop.
    BUDGET_DEFAULTS = budget_defaults_setting()
    BUDGET_PERIOD = budget_period_setting()
    BUDGET_STOP_AT_BUDGET = env.env_bool("MLHUB_BUDGET_STOP_AT_BUDGET", False)
    # "User hub" mode when false: one workspace a person, made at their first login
    # (portal/workspaces/user_hub.py).
    NAMED_WORKSPACES = env.env_bool("MLHUB_NAMED_WORKSPACES", True)
    DEFAULT_WORKSPACE_NAME = validate_workspace_name(
        env.env_str("MLHUB_DEFAULT_WORKSPACE_NAME", "workspace")
    )
    # Branding on every page (portal/branding.py): the name, and a logo file if it exists.
    BRAND_NAME = env.env_str("MLHUB_BRAND_NAME", "MLHub")
    BRAND_LOGO_FILE = env.env_str("MLHUB_BRAND_LOGO_FILE", str(env.resources_dir() / "logo"))
    # The machine's totals on the admin dashboard (default: this host's own).
    MACHINE_CPUS = env.env_optional("MLHUB_MACHINE_CPUS", float)
    MACHINE_MEMORY = env.env_optional("MLHUB_MACHINE_MEMORY", parse_memory)
    MACHINE_GPUS = env.env_optional("MLHUB_MACHINE_GPUS", int)
    # Cleanup (portal/cleanup/): how often (-1: never) and how old a resource must be.
    CLEANUP_INTERVAL_SECONDS = env.env_int("CLEANUP_INTERVAL_SECONDS", 3600)
    CLEANUP_GRACE_SECONDS = env.env_int_at_least("MLHUB_CLEANUP_GRACE_SECONDS", 600, 0)
    # Warm pools (portal/pools/): slots made at once by one fill pass, and the host memory a
    # fill leaves free (it makes no slot below it).
    POOL_FILL_AT_ONCE = env.env_int_at_least("MLHUB_POOL_FILL_AT_ONCE", 8, 1)
    POOL_MEMORY_RESERVE = parse_memory(env.env_str("MLHUB_POOL_MEMORY_RESERVE", "1G"))
    # How long after a claim its pool is refilled, by one pass for every claim meanwhile.
    POOL_REFILL_SECONDS = env.env_int_at_least("MLHUB_POOL_REFILL_SECONDS", 30, 0)
    # The most slots one template's pool may hold (a typo of 30000 makes no 30,000).
    POOL_SIZE_MAX = env.env_int_at_least("MLHUB_POOL_SIZE_MAX", 500, 0)
    # The hub's bounds of one workspace (the spawners' cpu_max, memory_max, gpus_max defaults):
    # no template may offer more (portal/workspaces/workspace_templates.py).
    WORKSPACE_CPU_MAX = env.cpu_max()
    WORKSPACE_MEMORY_MAX = env.memory_max()
    WORKSPACE_GPUS_MAX = env.gpus_max()
    # The usage sampler (portal/usage/sampler.py): seconds between passes, None when off.
    USAGE_SAMPLE_SECONDS = env.usage_sample_seconds()
    # The seed's dynamic whitelist file (portal/accounts/allowlist.py).
    DYNAMIC_WHITELIST_ENABLED = env.env_bool("DYNAMIC_WHITELIST_ENABLED", False)
    # For stacks the tests start only (tests/hub_stack.py): a fast password hasher first.
    TEST_FAST_PASSWORD_HASHER = env.env_bool("MLHUB_TEST_FAST_PASSWORD_HASHER", False)
    DYNAMIC_WHITELIST_FILE = env.env_str(
        "MLHUB_DYNAMIC_WHITELIST_FILE",
        str(env.resources_dir() / "users" / "dynamic_whitelist.txt"),
    )
except (env.ConfigError, ResourceError) as error:
    raise ImproperlyConfigured(str(error)) from None
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set")

# Under a prefix every request's path starts with it (the proxy passes it on); portal/wsgi.py
# moves it to SCRIPT_NAME, and this makes every URL Django builds (reverse, redirects, the
# admin's links, management commands' e-mails) carry it. None at "/": as without a prefix.
FORCE_SCRIPT_NAME = BASE_URL.rstrip("/") or None
HUB_URL = env.hub_url()
HUB_API_URL = f"{HUB_URL}{BASE_URL}hub/api"
OAUTH_CLIENT_ID = env.env_str("MLHUB_OAUTH_CLIENT_ID", "mlhub-hub")
# The images workspaces may use (the seed's c.Spawner.workspace_images); the hub reads the same.
WORKSPACE_IMAGES = env.workspace_images()

# The public host and its subdomains (a stopped workspace's URL reaches the portal, see
# portal/workspace_hosts.py); loopback names for the hub's and the tests' direct calls.
_public_host = urlsplit(PUBLIC_URL).hostname
_default_hosts = f"{_public_host},.{_public_host},127.0.0.1,localhost"
ALLOWED_HOSTS = [h for h in env.env_str("ALLOWED_HOSTS", _default_hosts).split(",") if h]
# A replica's own pod address (the chart's metrics.annotations): Prometheus's pod discovery
# scrapes each replica there, with that address as its Host.
if _pod_ip := env.env_str("MLHUB_POD_IP").strip():
    ALLOWED_HOSTS.append(_pod_ip)
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]
SECURE = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
# No script of ours reads the CSRF cookie (forms carry {% csrf_token %}, Swagger UI gets the
# token from its template): HttpOnly keeps an injected script from reading it too.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# Host-only (no Domain): no workspace, each on a subdomain of this host, ever receives them.
SESSION_COOKIE_DOMAIN = CSRF_COOKIE_DOMAIN = None
# The hub sets its own cookies on the same host; a distinct name keeps them apart. Over https
# the names carry the __Host- prefix: a browser then takes them only from this very host, Secure,
# on Path=/ and without Domain, so a workspace on a subdomain cannot set ("toss") a session or
# CSRF cookie of its choosing onto the portal (session fixation, login CSRF). Plain http (a
# local `make run`) cannot have the prefix; there portal.cookies refuses a cookie sent twice.
_cookie_prefix = "__Host-" if SECURE else ""
# Under a prefix the cookies are the prefix's alone, as JupyterHub scopes its own; except
# __Host- ones, which browsers take only with Path=/ (JupyterHub's cookie_host_prefix_enabled
# does the same): the protection from tossing matters more than the path, no boundary anyway.
SESSION_COOKIE_PATH = CSRF_COOKIE_PATH = "/" if SECURE else BASE_URL
SESSION_COOKIE_NAME = f"{_cookie_prefix}mlhub-portal-session"
CSRF_COOKIE_NAME = f"{_cookie_prefix}mlhub-portal-csrf"
USE_X_FORWARDED_HOST = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None

# Security headers and OAuth hardening (docs/configuration.md, "Security headers, HTTPS and
# OAuth"). HTTPS-only behaviour is on exactly when the public URL is https, so `make run` on
# http://localhost keeps working and a browser never remembers a promise we cannot keep.
SECURE_HSTS_SECONDS = _hsts_seconds if SECURE else 0
# Workspaces live on subdomains of the public host, behind the same https proxy.
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
# Asking browsers to hard-code https for the domain and all its subdomains is the
# operator's call (leaving the preload list takes months): off unless MLHUB_HSTS_PRELOAD.
SECURE_HSTS_PRELOAD = SECURE and _hsts_preload
# So `check --deploy` keeps warning about nothing but what needs fixing (CI asserts it is
# clean): security.W021 asks for the preload above, a decision left to the operator on purpose.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_SSL_REDIRECT = SECURE
# The hub calls the portal at its internal plain-http address (MLHUB_PORTAL_URL), never
# through the https proxy: the code exchange and refresh, the person lookup and the internal
# API. No browser comes there, and a redirect to https on that address would break the hub.
# Django matches these against the path without its leading "/", the prefix included.
_exempt_under = re.escape(BASE_URL.lstrip("/"))
SECURE_REDIRECT_EXEMPT = [
    rf"^{_exempt_under}{path}"
    # Prometheus scrapes each portal replica at its plain-http pod address too.
    for path in (r"o/token/$", r"api/v1/me/$", r"api/v1/internal/", r"metrics$")
]
# Safe on http too (they are also Django's defaults): stated so no upgrade can drop them.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# django-csp: the portal's own files only, nothing inline (tests/portal/test_security_headers.py
# scans templates/portal/ for inline code); data: images for the admin's and Swagger UI's
# icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

INSTALLED_APPS = [
    "portal.admin_site.MLHubAdminConfig",  # the Django admin, for MLHub's admins
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # API tokens kept as digests (portal.api.models.ApiToken)
    "axes",  # login lockouts (portal.accounts.lockout)
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "oauth2_provider",
    "portal.accounts",
    "portal.workspaces",
    "portal.api",
    "portal.audit",
    "portal.quotas",
    "portal.cleanup",
    "portal.sshkeys",
    "portal.backups",
    "portal.metrics",
    "portal.usage",
    "portal.budgets",
    "portal.pools",
]

MIDDLEWARE = [
    # First: on a workspace's origin the portal serves nothing and sets no cookie.
    "portal.workspace_hosts.WorkspaceOriginMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session is read: a session or CSRF cookie sent twice is a 400 (a tossed one).
    "portal.cookies.DuplicateCookieMiddleware",
    # A NUL in the query or path is a 400 before any view hands it to the database.
    "portal.nul_bytes.NulByteMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Where what a request records in the audit log came from (page, API, admin) and who.
    "portal.audit.middleware.AuditSourceMiddleware",
    # A service's refusal a page's view let through: its message and status (portal/errors.py).
    "portal.errors.ServiceErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY above).
    "csp.middleware.CSPMiddleware",
    # Last: turns axes' lockout mark into the login page's 429 (portal.accounts.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# URL names: Django reverses them, so they carry the prefix (FORCE_SCRIPT_NAME).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "my-workspaces"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Not an app of its own: DIRS, searched before the apps', so it can override the admin's.
        "DIRS": [page_templates.FOLDER / "portal"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.branding.brand",
                "portal.budgets.banner.budget_banner",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / env.PORTAL_SQLITE}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The portal, the django-q2 cluster and the tests write at once: WAL and a busy
    # timeout turn "database is locked" into a short wait.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

# The throttles' counts (DRF's, for API tokens and for sign-ups by page and API alike) in
# one store that every process of the portal shares: gunicorn runs several workers and Helm
# may run several pods, and Django's default local-memory cache gave each its own count, so
# two workers let twice the rate through. The database is the one store all of them already
# reach (the task cluster's broker is the database too), so nothing more to run; its table
# is made by `migrate` (portal/api/migrations/0003_cache_table.py). Room for many addresses
# before Django drops entries (and with them counts) to make space.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "mlhub_cache",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    },
    # django-q2's cluster status, written twice a second: in each process's memory as before
    # (its qinfo never saw another process's) rather than two database writes a second.
    "tasks": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# People's passwords: Django's own list (its first hasher makes them). The last one is for the
# OAuth clients' random secrets only, chosen by name in OAUTH2_PROVIDER (accounts/hashers.py).
PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, "portal.accounts.hashers.ClientSecretHasher"]
# Tests only: stacks the tests start make hundreds of people, each hash 1,000,000 PBKDF2
# rounds. MD5 first makes new hashes fast; the others still check hashes made before. Refused
# unless DEBUG is on or the public URL is a localhost one (a portal people reach from other
# machines has another name), so a production portal never stores passwords this weakly.
if TEST_FAST_PASSWORD_HASHER:
    if not DEBUG and not (
        _public_host in ("localhost", "127.0.0.1", "::1")
        or (_public_host or "").endswith(".localhost")
    ):
        raise ImproperlyConfigured(
            "MLHUB_TEST_FAST_PASSWORD_HASHER is for tests only: it needs DEBUG=true or a "
            f"localhost public URL, not {PUBLIC_URL}"
        )
    PASSWORD_HASHERS.insert(0, "django.contrib.auth.hashers.MD5PasswordHasher")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = f"{BASE_URL}static/"
STATIC_ROOT = DATA_DIR / "static"
# The data directory is its owner's alone (docs/security.md); Django would otherwise chmod
# what it writes (collected static files, uploads) to 0644 whatever the umask says.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Bootstrap 5 as JupyterHub ships it: the installed jupyterhub package's own copy (its
# DATA_FILES_PATH is upstream's constant for share/jupyterhub), the one the hub's pages use, so
# the portal's pages and the hub's look like one product with no dependency or copied file of
# our own. An upgrade of JupyterHub that moves it stops the start here, not as unstyled pages
# (tests/portal/test_bootstrap.py reads its version too).
BOOTSTRAP_CSS_DIR = Path(JUPYTERHUB_DATA_FILES, "static", "components", "bootstrap", "dist", "css")
if not JUPYTERHUB_DATA_FILES or not (BOOTSTRAP_CSS_DIR / "bootstrap.min.css").is_file():
    raise ImproperlyConfigured(
        "The portal's pages use the Bootstrap that the jupyterhub package installs, and it is "
        f"not there: {JUPYTERHUB_DATA_FILES or '(no share/jupyterhub found)'}/static/"
        "components/bootstrap/dist/css/bootstrap.min.css"
    )
# The portal's own CSS and JS, then Bootstrap's under vendor/bootstrap/ (templates/portal/
# base.html), collected with the apps' files.
STATICFILES_DIRS = [PORTAL_DIR / "static", ("vendor/bootstrap", BOOTSTRAP_CSS_DIR)]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Login throttling (docs/configuration.md, "Login throttling and API tokens"). django-axes
# locks an account, or a client address, after MLHUB_LOGIN_FAILURE_LIMIT failed sign-ins
# within MLHUB_LOGIN_COOLOFF_SECONDS, on the login pages and the API's token endpoint alike.
AUTHENTICATION_BACKENDS = [
    # First: a locked account or address is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    # Local passwords (MLHUB_LOCAL_LOGIN), then the directory's (MLHUB_LDAP_URI): a local
    # admin logs in while the directory is down.
    "portal.accounts.backends.LocalPasswords",
    *(["portal.accounts.ldap_backend.DirectoryBackend"] if LDAP else []),
    # The sessions of people an OpenID provider logged in (portal/accounts/oidc.py).
    "portal.accounts.backends.OrganisationSessions",
    # MLHub's admins (User.is_admin) may do everything in the Django admin.
    "portal.accounts.backends.AdminsMayDoEverything",
]
if LDAP:
    # django-auth-ldap reads its AUTH_LDAP_* settings by name; python-ldap is imported only
    # here, so a portal without LDAP runs without it (requirements-ldap.txt).
    try:
        from portal.accounts.ldap_settings import django_settings as _ldap_settings
    except ImportError as error:
        raise ImproperlyConfigured(
            f"MLHUB_LDAP_URI is set, but LDAP login is not installed ({error}): "
            "apt install libldap2-dev libsasl2-dev, then make setup"
        ) from None
    globals().update(_ldap_settings(LDAP))
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_SECONDS)
# Either locks: many passwords tried for one name, or many names tried from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The same client address as DRF's throttles (NUM_PROXIES), so a forged header changes nothing.
AXES_CLIENT_IP_CALLABLE = "portal.accounts.lockout.client_address"
AXES_USERNAME_CALLABLE = "portal.accounts.lockout.account_of"
AXES_LOCKOUT_CALLABLE = "portal.accounts.lockout.lockout_response"
# Axes' database handler, but a success forgives only that name's failures from that address.
AXES_HANDLER = "portal.accounts.lockout.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
# Tries while locked are not counted: the lock ends one cool-off after the failure that made
# it, as Retry-After says, instead of moving on with every retry.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The failures are what we need; a row per successful sign-in would grow without end.
AXES_DISABLE_ACCESS_LOG = True
# Hashed API tokens (django-rest-knox) in our own model, which can carry a name.
KNOX_TOKEN_MODEL = "api.ApiToken"
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=API_TOKEN_TTL_SECONDS) if API_TOKEN_TTL_SECONDS else None,
    "AUTH_HEADER_PREFIX": "Token",  # as before: clients send "Authorization: Token <key>"
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.IsApproved"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    # The client is the address the nearest trusted proxy appended (lockout.client_address).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {"auth-token": TOKEN_RATE, "signup": SIGNUP_RATE},
    # DRF's three, with JSON nested too deep for Python's decoder refused as a 400.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLHub API",
    "DESCRIPTION": "Workspaces, users and policy of an MLHub portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The operations' paths are the API's own; under a prefix the schema says where they are
    # (OpenAPI's relative server URL), so Swagger UI's "Try it out" calls the prefixed ones.
    **({"SERVERS": [{"url": FORCE_SCRIPT_NAME}]} if FORCE_SCRIPT_NAME else {}),
    "REDOC_DIST": "SIDECAR",
}

OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "SCOPES": {"profile": "Your username, admin flag and approval"},
    "DEFAULT_SCOPES": ["profile"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # Client secrets are random (at least 32 characters, accounts/oauth.py): checked at every
    # hub login, they are hashed without key stretching (accounts/hashers.py).
    "CLIENT_SECRET_HASHER": "pbkdf2_sha256_client_secret",  # ClientSecretHasher.algorithm
    # Exact redirect URIs (no loopback port freedom) and PKCE with S256 only.
    "OAUTH2_VALIDATOR_CLASS": "portal.accounts.oauth_validator.MLHubOAuth2Validator",
    # RFC 9700 (OAuth 2.0 Security BCP), as far as django-oauth-toolkit 3.4.1 offers it.
    # The hub trades its code at once: a leaked code is worthless a minute later.
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    # Every refresh returns a new refresh token and retires the old one (4.14.2) ...
    "ROTATE_REFRESH_TOKEN": True,
    # ... and a retired one used again revokes the whole family, a thief's tokens included.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # No grace for reuse: hashed storage cannot hand back an old token (oauth2_provider.E001).
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # A hub login left idle for two weeks (the portal session's age) must log in again.
    "REFRESH_TOKEN_EXPIRE_SECONDS": 14 * 24 * 3600,
    # Callbacks over https only, unless the portal itself runs on http (a local run).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if SECURE else ["http", "https"],
    # Registered URIs match exactly, never as *.host wildcards (4.1.1).
    "ALLOW_URI_WILDCARDS": False,
    # The hub uses the code flow only: refuse the implicit and password grants (2.1.2, 2.4).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    # Refuse plain PKCE when saving a code too (our validator refuses it before that).
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    # No access token in a URL query, where logs and Referer headers keep it (4.3.2).
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # Name the issuer (RFC 9207 iss) in the code's redirect against mix-up attacks (4.4);
    # the public URL, not whatever host a request came in on.
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "OIDC_ISS_ENDPOINT": SITE_URL,
    # Keep only a SHA-256 of access and refresh tokens: a database copy grants nothing (4).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # A setting drifting back to an insecure value is an error under `check --deploy` ...
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # ... except http callbacks, which a local http run needs: a warning there.
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": SECURE,
}

# Django waits forever on an SMTP server that accepts and never answers: a task would then
# hold a worker until django-q2's timeout (TASK_TIMEOUT below).
EMAIL_TIMEOUT = 30

# The task that follows a start (workspaces/services.py workspace_follow_spawn) reads the
# hub's progress until the hub ends the start (START_TIMEOUT, and a minute for the hub to
# clean up after a failed one), after waiting up to SPAWN_END_PATIENCE for it to settle:
# django-q2 must not kill it first. Every other task ends well within five minutes.
SPAWN_FOLLOW_SECONDS = START_TIMEOUT + 60
SPAWN_END_PATIENCE = 120
TASK_TIMEOUT = max(300, SPAWN_END_PATIENCE + SPAWN_FOLLOW_SECONDS + 60)

Q_CLUSTER = {
    "name": f"{HUB_NAME}-portal",
    "orm": "default",
    "workers": TASK_WORKERS,
    "timeout": TASK_TIMEOUT,
    "retry": TASK_TIMEOUT + 60,  # django-q2: a task is handed out again only after its timeout
    "catch_up": False,
    "sync": TASKS_SYNC,
    "cache": "tasks",  # see CACHES
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
