"""The stack launcher's set-up steps that do not need the stack running."""

from __future__ import annotations

import socket
import stat

import pytest

from lib.stack import Stack, StackError, execution_mode_choose, secrets_prepare


def test_it_generates_missing_secrets_once_and_privately(tmp_path):
    environ: dict[str, str] = {"SECRET_KEY": "given"}
    secrets_prepare(environ, tmp_path)
    token_file = tmp_path / "secrets" / "mlhub_hub_api_token"
    assert environ["MLHUB_HUB_API_TOKEN_FILE"] == str(token_file)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "SECRET_KEY_FILE" not in environ  # given values are left alone
    first = token_file.read_text()
    secrets_prepare({}, tmp_path)
    assert token_file.read_text() == first


def test_a_busy_port_is_named_with_its_variable():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = Stack({"MLHUB_PUBLIC_URL": f"http://127.0.0.1:{port}"})
        with pytest.raises(StackError, match="MLHUB_PUBLIC_URL"):
            stack.check_ports_free()


def test_a_configured_mode_wins():
    assert execution_mode_choose({"EXECUTION_MODE": "process"})[0] == "process"


def test_a_process_that_exits_while_starting_ends_the_wait_with_its_name():
    import subprocess
    import sys

    stack = Stack({})
    stack.processes["portal"] = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    stack.processes["portal"].wait()
    with pytest.raises(StackError) as stopped:
        stack.wait_until_answering("http://127.0.0.1:9/", "portal", timeout=30)
    assert str(stopped.value) == "portal exited with 3 while starting"


def test_nothing_answering_ends_the_wait_with_the_address():
    with pytest.raises(StackError) as stopped:
        Stack({}).wait_until_answering("http://127.0.0.1:9/", "hub", timeout=1)
    assert str(stopped.value) == "the hub did not answer at http://127.0.0.1:9/ within 1 s"
