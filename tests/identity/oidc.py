"""A real OpenID Provider for tests: ``tests/identity/oidc_provider`` (django-oauth-toolkit)
under gunicorn, in a subprocess with its own Django settings.

A mock would only agree with our idea of OIDC; this speaks discovery, PKCE, RS256 ID tokens
and JWKS as a real provider does. Everything it keeps lives in one folder: the signing key
and database are made once per folder, so a restart (tests of "the provider is down") is
quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lib.polling import poll_until
from lib.stack import ROOT
from tests.hub_stack import free_port
from tests.identity.child_process import ended

SETTINGS = "tests.identity.oidc_provider.settings"
BIN = Path(sys.executable).parent
START_TIMEOUT = 30


class OidcProvider:
    """The provider, with one confidential client, at ``issuer``; people are added (before or
    after ``start()``) with ``add_person``."""

    def __init__(
        self,
        folder: Path,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        port: int | None = None,
    ):
        self.folder = Path(folder)
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.port = port or free_port()
        self.log_file = self.folder / "server.log"
        self._process: subprocess.Popen | None = None
        self._set_up = False
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._people_file.exists():
            self._write_people({})

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/o"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def _people_file(self) -> Path:
        return self.folder / "people.json"

    def start(self) -> None:
        """Start the server and return once discovery answers."""
        key = self.folder / "key.pem"
        if not key.exists():
            key.write_bytes(_private_key_pem())
        environ = self._environ()
        if not self._set_up:
            # Once per instance: the client's registration cannot change while it lives.
            setup = subprocess.run(
                [sys.executable, "-m", "tests.identity.oidc_provider.setup"],
                cwd=ROOT,
                env=environ,
                capture_output=True,
                text=True,
            )
            if setup.returncode:
                raise RuntimeError(f"the OIDC provider's set-up failed:\n{setup.stderr}")
            self._set_up = True
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                self._server_command(), cwd=ROOT, env=environ, stdout=log, stderr=log
            )
        try:
            poll_until(self._answers, timeout=START_TIMEOUT, what="OIDC provider", max_wait=0.1)
        except (TimeoutError, RuntimeError) as error:
            self.stop()
            raise RuntimeError(f"{error}; its log:\n{self.log_file.read_text()}") from None

    def stop(self) -> None:
        self._process = ended(self._process)

    def add_person(
        self,
        username: str,
        password: str,
        email: str = "",
        groups: Iterable[str] = (),
        name: str = "",
        email_verified: bool = True,
    ) -> None:
        people = self._read_people()
        people[username] = {
            "password": password,
            "email": email,
            "email_verified": email_verified,
            "groups": list(groups),
            "name": name,
        }
        self._write_people(people)

    def set_groups(self, username: str, groups: Iterable[str]) -> None:
        """Takes effect at the next token the provider issues, as at a real provider."""
        people = self._read_people()
        people[username]["groups"] = list(groups)
        self._write_people(people)

    def __enter__(self) -> OidcProvider:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _environ(self) -> dict[str, str]:
        return {
            **os.environ,
            # The test process's is the portal's; the provider is another Django project.
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "OIDC_TEST_DIR": str(self.folder),
            "OIDC_TEST_ISSUER": self.issuer,
            "OIDC_TEST_CLIENT_ID": self.client_id,
            "OIDC_TEST_CLIENT_SECRET": self.client_secret,
            "OIDC_TEST_REDIRECT_URIS": " ".join(self.redirect_uris),
        }

    def _server_command(self) -> list[str]:
        return [
            str(BIN / "gunicorn"),
            # The WSGI application from the settings in the environment: no wsgi.py needed.
            "django.core.wsgi:get_wsgi_application()",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            # A browser may hold connections open; threads keep the provider answering.
            "--threads",
            "4",
            "--no-control-socket",
            # Nothing to finish gracefully: stop() should not wait gunicorn's default 30 s.
            "--graceful-timeout",
            "1",
            "--access-logfile",
            "-",
        ]

    def _answers(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"the OIDC provider exited with {self._process.returncode}")
        try:
            return requests.get(self.discovery_url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _read_people(self) -> dict:
        return json.loads(self._people_file.read_text())

    def _write_people(self, people: dict) -> None:
        # Whole or not at all: the provider reads the file at every login and token request.
        partial = self._people_file.with_suffix(".partial")
        partial.write_text(json.dumps(people, indent=2))
        partial.replace(self._people_file)


def _private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
