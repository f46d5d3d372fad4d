"""How the portal stores OAuth client secrets: machine-made, so without key stretching.

django-oauth-toolkit keeps a hash of each client's secret and checks it on every code
exchange, that is at every hub login. With Django's password hasher (PBKDF2, 1,000,000
rounds) each check cost the portal 0.24 s of CPU: 300 students logging in at a lecture's
start would queue for over a minute of CPU. Key stretching protects guessable secrets
(people's passwords); the hub's secret is 64 random characters (`lib.stack`, the chart),
which no number of rounds makes more or less guessable. People's passwords keep Django's
default hasher: this one is only ever chosen by name (OAUTH2_PROVIDER's CLIENT_SECRET_HASHER).
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher

CLIENT_SECRET_ALGORITHM = "pbkdf2_sha256_client_secret"


class ClientSecretHasher(PBKDF2PasswordHasher):
    """PBKDF2-SHA256 with few rounds, under a name of its own (never a password's)."""

    algorithm = CLIENT_SECRET_ALGORITHM
    iterations = 1_000
