"""Settings for the unit tests: the portal's own, with a throw-away secret key."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from portal.settings import *  # noqa: E402,F403

# Fast, tests only; the client-secret hasher stays because OAUTH2_PROVIDER names it.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "portal.accounts.hashers.ClientSecretHasher",
]
