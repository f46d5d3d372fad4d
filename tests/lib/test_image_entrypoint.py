"""The MLHub image's entrypoint steps that need no container (deploy/hub/entrypoint.py, loaded
from its file: in the image it is /usr/local/bin/mlhub-entrypoint, not a module)."""

from __future__ import annotations

import importlib.util
import os
import pwd
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from lib.stack import BIN

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "hub" / "entrypoint.py"


def _load_entrypoint():
    spec = importlib.util.spec_from_file_location("mlhub_entrypoint", ENTRYPOINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entrypoint = _load_entrypoint()
Refused, prepare, share_with_web_account = (
    entrypoint.Refused,
    entrypoint.prepare,
    entrypoint.share_with_web_account,
)


def test_a_failed_set_up_step_refuses_the_start_with_the_command(tmp_path):
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "tests-only-not-a-secret",
        "MLHUB_DATA_DIR": str(tmp_path),
        # A folder that does not exist: migrate cannot open the database.
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing/portal.sqlite3",
    }

    with pytest.raises(Refused) as refused:
        prepare(environ)

    assert str(refused.value) == (
        "`django-admin mlhub_setup --wait-for-database=120 --migrate --collectstatic` "
        "failed (above)"
    )
    assert not (tmp_path / "missing").exists()


def _nothing_answers(tmp_path) -> dict[str, str]:
    """The settings of a PostgreSQL database on a port nothing listens on."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "tests-only-not-a-secret",
        "MLHUB_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"postgres://mlhub:secret@127.0.0.1:{port}/mlhub",
    }


def test_a_database_that_never_answers_refuses_the_start_after_the_wait_with_its_error(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setattr(entrypoint, "DATABASE_WAIT", 1)
    environ = _nothing_answers(tmp_path)

    with pytest.raises(Refused, match="mlhub_setup --wait-for-database=1 "):
        prepare(environ)

    said = capfd.readouterr().out  # the set-up writes to the container's output
    assert "CommandError: the database did not answer after 1 s: connection failed: " in said
    assert "Connection refused" in said
    assert "secret" not in said


def test_without_the_portal_the_wait_for_the_database_is_the_same_in_one_line(tmp_path):
    # A container with the task cluster alone (START_PORTAL=false) waits with no set-up.
    with pytest.raises(Refused) as refused:
        entrypoint.database_ready(_nothing_answers(tmp_path), timeout=1)
    said = str(refused.value)
    assert said.startswith("the database did not answer after 1 s: connection failed: ")
    assert "Connection refused" in said
    assert "secret" not in said


def modes(root, *names) -> dict[str, str]:
    return {name: oct(stat.S_IMODE((root / name).stat().st_mode)) for name in names}


def test_the_web_account_gets_the_secrets_static_files_and_database_and_nothing_else(
    tmp_path, monkeypatch
):
    # As the launcher leaves /data (umask 077): then shared with an account, here our own.
    data = tmp_path / "data"
    for folder in ("secrets", "static/admin", "hub", "ssh"):
        (data / folder).mkdir(parents=True, mode=0o700)
    for name in ("secrets/secret_key", "static/admin/base.css", "hub/jupyterhub.sqlite"):
        (data / name).touch(mode=0o600)
    (data / "portal.sqlite3").touch(mode=0o600)
    monkeypatch.setenv("MLHUB_DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)

    share_with_web_account(pwd.getpwuid(os.getuid()))

    assert modes(data, ".", "secrets", "secrets/secret_key") == {
        ".": "0o1770",  # the group adds SQLite's files; the sticky bit: never renames others'
        "secrets": "0o750",
        "secrets/secret_key": "0o640",
    }
    assert modes(data, "static", "static/admin", "static/admin/base.css") == {
        "static": "0o755",
        "static/admin": "0o755",
        "static/admin/base.css": "0o644",
    }
    assert modes(data, "hub", "hub/jupyterhub.sqlite", "ssh") == {
        "hub": "0o700",
        "hub/jupyterhub.sqlite": "0o600",
        "ssh": "0o700",
    }
    assert {(data / name).stat().st_gid for name in (".", "secrets", "secrets/secret_key")} == {
        os.getgid()
    }


def test_a_data_folder_that_cannot_be_shared_refuses_the_start(tmp_path, monkeypatch):
    missing = tmp_path / "not-there"
    monkeypatch.setenv("MLHUB_DATA_DIR", str(missing))

    with pytest.raises(Refused) as refused:
        share_with_web_account(pwd.getpwuid(os.getuid()))

    assert str(refused.value) == (
        f"cannot share {missing} with the portal's account mlhub-web: "
        f"[Errno 2] No such file or directory: '{missing}'"
    )


def test_the_proxy_terminates_tls_itself_when_given_a_certificate(monkeypatch):
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://hub.example.org")
    monkeypatch.setenv("MLHUB_PROXY_API_URL", "http://0.0.0.0:8001")
    environ = {"MLHUB_BIND_URL": "http://0.0.0.0:8000"}
    assert "--ssl-cert" not in entrypoint.chp_command(environ)
    environ |= {"MLHUB_PROXY_SSL_CERT": "/tls/tls.crt", "MLHUB_PROXY_SSL_KEY": "/tls/tls.key"}
    command = entrypoint.chp_command(environ)
    assert command[command.index("--ssl-cert") :][:4] == [
        "--ssl-cert",
        "/tls/tls.crt",
        "--ssl-key",
        "/tls/tls.key",
    ]
    assert command[command.index("--api-ip") + 1] == "0.0.0.0"


def test_under_a_prefix_the_proxys_error_pages_come_from_the_prefixed_hub(monkeypatch):
    monkeypatch.setenv("MLHUB_PUBLIC_URL", "https://hub.example.org/mlhub/")
    monkeypatch.setenv("MLHUB_BASE_URL", "/mlhub/")
    monkeypatch.setenv("MLHUB_HUB_URL", "http://127.0.0.1:8081")
    command = entrypoint.chp_command({"MLHUB_BIND_URL": "http://0.0.0.0:8000"})
    assert "--error-target=http://127.0.0.1:8081/mlhub/hub/error" in command


def test_a_hub_database_that_does_not_answer_refuses_the_start_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MLHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MLHUB_HUB_DB_URL", "postgres://mlhub:pw-x7@127.0.0.1:9/mlhub_hub")
    with pytest.raises(Refused) as refused:
        entrypoint.hub_database_prepare()
    said = str(refused.value)
    assert said.startswith(
        "the hub's database: cannot open postgresql+psycopg://mlhub:***@127.0.0.1:9/mlhub_hub: "
    )
    assert "Connection refused" in said and "\n" not in said and "pw-x7" not in said


def mlhub_manage(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """``mlhub-manage *args`` as the image has it (a link to the entrypoint), in an environment
    with nothing of MLHub's but the data folder, as ``docker exec`` gets the image's."""
    link = tmp_path / "bin" / "mlhub-manage"
    if not link.exists():
        link.parent.mkdir()
        link.symlink_to(ENTRYPOINT)
    environ = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "MLHUB_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [str(link), *args], env=environ, capture_output=True, text=True, timeout=120
    )


def test_mlhub_manage_runs_a_command_with_the_settings_the_roles_get(tmp_path):
    shown = mlhub_manage(
        tmp_path,
        "shell",
        "-v",
        "0",
        "-c",
        "import os; from django.conf import settings; "
        "print(settings.PUBLIC_URL, settings.EXECUTION_MODE, oct(os.umask(0)), "
        "settings.SECRET_KEY == open(os.environ['SECRET_KEY_FILE']).read())",
    )
    assert shown.returncode == 0, shown.stderr
    # The image's defaults (entrypoint.image_defaults), its generated secrets in the data
    # folder (lib.stack.secrets_prepare), the roles' private umask.
    assert shown.stdout.split() == ["https://localhost:8080", "local", "0o77", "True"]
    secrets = tmp_path / "data" / "secrets"
    assert (secrets / "secret_key").stat().st_mode & 0o077 == 0


def test_mlhub_manage_exits_with_the_commands_failure(tmp_path):
    failed = mlhub_manage(tmp_path, "mlhub_backup", str(tmp_path / "missing" / "backup"))
    assert failed.returncode == 1
    assert f"CommandError: {tmp_path / 'missing'} does not exist" in failed.stderr
