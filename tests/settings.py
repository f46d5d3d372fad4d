"""Settings for the unit tests: the portal's own, with a throw-away secret key."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from portal.settings import *  # noqa: E402,F403

# Fast, tests only; the client-secret hasher stays because OAUTH2_PROVIDER names it.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "portal.accounts.hashers.ClientSecretHasher",
]

# The hub's bounds of one workspace, not this machine's (by default the host's cores and
# memory): templates in the tests may offer up to these.
WORKSPACE_CPU_MAX = 8.0
WORKSPACE_MEMORY_MAX = 16 * 1024**3
WORKSPACE_GPUS_MAX = 4
