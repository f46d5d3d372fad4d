"""MLHub portal settings, driven by the environment (see docs/configuration.md).

SQLite under the data directory by default so a fresh clone runs; ``DATABASE_URL`` switches
to PostgreSQL. Secrets come from ``NAME`` or ``NAME_FILE``, never from files in git.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from lib import env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env.data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True)

try:
    DEBUG = env.env_bool("DEBUG", False)
    HUB_NAME = env.hub_name()
    EXECUTION_MODE = env.execution_mode()
    SECRET_KEY = env.env_secret("SECRET_KEY")
    HUB_API_TOKEN = env.env_secret("MLHUB_HUB_API_TOKEN")
    OAUTH_CLIENT_SECRET = env.env_secret("MLHUB_OAUTH_CLIENT_SECRET")
    WORKSPACE_POLL_SECONDS = env.env_int("MLHUB_WORKSPACE_POLL_SECONDS", 1)
except env.ConfigError as error:
    raise ImproperlyConfigured(str(error)) from None

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set")

PUBLIC_URL = env.public_url()
HUB_URL = env.hub_url()
HUB_API_URL = f"{HUB_URL}/hub/api"
OAUTH_CLIENT_ID = env.env_str("MLHUB_OAUTH_CLIENT_ID", "mlhub-hub")
# The images workspaces may use (the seed's c.Spawner.workspace_images); the hub reads the same.
WORKSPACE_IMAGES = env.workspace_images()

# The public host always; loopback names for the hub's and the tests' direct calls.
_default_hosts = f"{urlsplit(PUBLIC_URL).hostname},127.0.0.1,localhost"
ALLOWED_HOSTS = [h for h in env.env_str("ALLOWED_HOSTS", _default_hosts).split(",") if h]
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]
SECURE = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# The hub sets its own cookies on the same host; a distinct name keeps them apart.
SESSION_COOKIE_NAME = "mlhub-portal-session"
CSRF_COOKIE_NAME = "mlhub-portal-csrf"
USE_X_FORWARDED_HOST = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "oauth2_provider",
    "portal.accounts",
    "portal.workspaces",
    "portal.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'portal.sqlite3'}", conn_max_age=60
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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.IsApproved"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLHub API",
    "DESCRIPTION": "Workspaces, users and policy of an MLHub portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "SCOPES": {"profile": "Your username, admin flag and approval"},
    "DEFAULT_SCOPES": ["profile"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
}

Q_CLUSTER = {
    "name": f"{HUB_NAME}-portal",
    "orm": "default",
    "workers": 2,
    "timeout": 300,
    "retry": 360,
    "catch_up": False,
    "sync": env.env_bool("MLHUB_TASKS_SYNC", False),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
