"""MLHUB_TEST_FAST_PASSWORD_HASHER, for the stacks the tests start: a fast hasher first where
only this machine reaches the portal (or under DEBUG), refused everywhere else."""

from __future__ import annotations

import pytest

from tests.portal.reloaded import reloaded_settings, settings_refusal

MD5 = "django.contrib.auth.hashers.MD5PasswordHasher"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"
CLIENT_SECRETS = "portal.accounts.hashers.ClientSecretHasher"


@pytest.mark.parametrize(
    "public_url",
    ["https://hub.example.org", "http://10.0.0.5:8000", "https://localhost.example.org"],
)
def test_it_is_refused_without_debug_on_a_public_url_that_is_not_localhost(monkeypatch, public_url):
    refusal = settings_refusal(
        monkeypatch,
        MLHUB_TEST_FAST_PASSWORD_HASHER="true",
        DEBUG="false",
        MLHUB_PUBLIC_URL=public_url,
    )

    assert refusal == (
        "MLHUB_TEST_FAST_PASSWORD_HASHER is for tests only: it needs DEBUG=true or a "
        f"localhost public URL, not {public_url}"
    )


@pytest.mark.parametrize(
    "public_url",
    [
        "http://localhost:8123",
        "https://localhost:8443",
        "http://127.0.0.1:8000",
        "http://a.localhost",
    ],
)
def test_on_a_localhost_public_url_md5_comes_first_and_the_others_still_check(
    monkeypatch, public_url
):
    with reloaded_settings(
        monkeypatch,
        MLHUB_TEST_FAST_PASSWORD_HASHER="true",
        DEBUG="false",
        MLHUB_PUBLIC_URL=public_url,
    ) as settings:
        hashers = settings.PASSWORD_HASHERS

    assert hashers[:2] == [MD5, PBKDF2]
    # OAUTH2_PROVIDER's CLIENT_SECRET_HASHER names it: it must stay.
    assert hashers[-1] == CLIENT_SECRETS


def test_with_debug_on_it_is_accepted_on_any_public_url(monkeypatch):
    with reloaded_settings(
        monkeypatch,
        MLHUB_TEST_FAST_PASSWORD_HASHER="true",
        DEBUG="true",
        MLHUB_PUBLIC_URL="https://hub.example.org",
    ) as settings:
        assert settings.PASSWORD_HASHERS[0] == MD5


def test_without_it_the_production_hasher_comes_first(monkeypatch):
    monkeypatch.delenv("MLHUB_TEST_FAST_PASSWORD_HASHER", raising=False)
    with reloaded_settings(
        monkeypatch, DEBUG="false", MLHUB_PUBLIC_URL="http://localhost:8000"
    ) as settings:
        hashers = settings.PASSWORD_HASHERS

    assert hashers[0] == PBKDF2
    assert MD5 not in hashers
