"""Settings of the test OpenID Provider: everything it keeps lives in ``OIDC_TEST_DIR``.

``tests/identity/oidc.py`` writes that folder's ``key.pem`` (the ID-token signing key) and
``people.json`` and sets ``OIDC_TEST_ISSUER`` before it runs this project.
"""

import os
from pathlib import Path

FOLDER = Path(os.environ["OIDC_TEST_DIR"])
PEOPLE_FILE = FOLDER / "people.json"

SECRET_KEY = "test-oidc-provider-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.identity.oidc_provider.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": FOLDER / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Tables straight from the models (``migrate --run-syncdb``), not through 37 migrations: over
# a second less at each first start, and this database never outlives its tests.
MIGRATION_MODULES = {app.rpartition(".")[2]: None for app in INSTALLED_APPS}

AUTHENTICATION_BACKENDS = ["tests.identity.oidc_provider.accounts.PeopleFileBackend"]
LOGIN_URL = "/accounts/login/"
# DOT hashes client secrets with the first of these; PBKDF2's rounds would cost every token
# request a noticeable part of a second. People's passwords are never hashed here at all.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    # Pinned rather than derived from each request's Host header, so that the issuer in
    # discovery and in ID tokens is the one the tests configure, however they reach the server.
    "OIDC_ISS_ENDPOINT": os.environ["OIDC_TEST_ISSUER"],
    "OIDC_RSA_PRIVATE_KEY": (FOLDER / "key.pem").read_text(),
    "PKCE_REQUIRED": True,
    # S256 only, as careful providers do: a client sending "plain" fails here, not in production.
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "SCOPES": {
        "openid": "Sign you in",
        "profile": "Your name and username",
        "email": "Your email address",
        "groups": "The groups you are in",
    },
    "OAUTH2_VALIDATOR_CLASS": "tests.identity.oidc_provider.accounts.PeopleFileValidator",
}

# Errors go to stderr, which the helper keeps in its log and shows when start-up fails.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
