"""`manage.py check --deploy` under production settings reports nothing (CI runs this file),
each check the settings silence is explained in docs/configuration.md ("Production
settings"), and HTTPS-only behaviour follows the public URL. Settings are read at import, so
each case runs the portal in a subprocess with its own environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"

SETTINGS_AND_LOGIN_PAGE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
from oauth2_provider.settings import oauth2_settings
response = Client().get("/accounts/login/", headers={"host": "localhost"})
print(json.dumps({
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SECURE_HSTS_PRELOAD": settings.SECURE_HSTS_PRELOAD,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "ALLOWED_REDIRECT_URI_SCHEMES": oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES,
    "OIDC_ISS_ENDPOINT": oauth2_settings.OIDC_ISS_ENDPOINT,
    "login page over http": [response.status_code, response.headers.get("Location")],
    "hsts header": response.headers.get("Strict-Transport-Security"),
}))
"""


def production_environment(tmp_path, **environ: str) -> dict[str, str]:
    """This environment less any MLHub or Django configuration, plus a production-like one:
    no DEBUG, a random 50-character SECRET_KEY, an empty data directory."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLHUB_", "DJANGO_", "SECRET_KEY", "DATABASE_URL"))
        and name not in {"DEBUG", "ALLOWED_HOSTS", "HUB_NAME", "EXECUTION_MODE"}
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64)[:50],
        "MLHUB_DATA_DIR": str(tmp_path),
        **environ,
    }


def run_python(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` in the checkout with exactly this environment, its output captured."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def python_json(environ: dict[str, str], code: str, *args: str):
    """Run ``code`` (``sys.argv[1:]`` being ``args``) in a fresh Python with exactly this
    environment: what its last line of output says in JSON."""
    result = run_python(environ, "-c", code, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_portal(code: str, tmp_path, **environ: str):
    """Run ``code`` in a fresh Python with only the given configuration."""
    return python_json(production_environment(tmp_path, **environ), code)


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    environ = production_environment(tmp_path, MLHUB_PUBLIC_URL="https://hub.example.org")
    result = run_python(environ, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["System check identified no issues (1 silenced)."]


def test_the_only_check_silenced_is_explained_in_the_docs():
    docs = DOCS.read_text()
    start = docs.index("\n### Production settings\n")
    end = docs.find("\n#", start + 1)
    section = docs[start : end if end != -1 else None]

    assert settings.SILENCED_SYSTEM_CHECKS == ["security.W021"]
    assert "`security.W021`" in section


def test_an_https_public_url_turns_on_hsts_and_the_redirect(tmp_path):
    found = run_portal(
        SETTINGS_AND_LOGIN_PAGE, tmp_path, MLHUB_PUBLIC_URL="https://hub.example.com"
    )

    assert found == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
        "OIDC_ISS_ENDPOINT": "https://hub.example.com",
        "login page over http": [301, "https://localhost/accounts/login/"],
        "hsts header": None,  # sent on https responses only
    }


def test_hsts_age_and_preload_come_from_the_environment(tmp_path):
    found = run_portal(
        SETTINGS_AND_LOGIN_PAGE,
        tmp_path,
        MLHUB_PUBLIC_URL="https://hub.example.com",
        MLHUB_HSTS_SECONDS="600",
        MLHUB_HSTS_PRELOAD="true",
    )

    assert (found["SECURE_HSTS_SECONDS"], found["SECURE_HSTS_PRELOAD"]) == (600, True)


def test_an_http_public_url_has_no_hsts_and_no_redirect(tmp_path):
    found = run_portal(
        SETTINGS_AND_LOGIN_PAGE,
        tmp_path,
        MLHUB_PUBLIC_URL="http://localhost:8000",
        MLHUB_HSTS_PRELOAD="true",  # ignored: no https to promise
    )

    assert found == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
        "OIDC_ISS_ENDPOINT": "http://localhost:8000",
        "login page over http": [200, None],
        "hsts header": None,
    }
