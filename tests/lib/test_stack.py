"""The stack launcher's set-up steps that do not need the stack running."""

from __future__ import annotations

import socket
import stat

import pytest

from lib.stack import Stack, StackError, execution_mode_choose, prepared_copy, secrets_prepare


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


def test_a_process_that_crashes_while_starting_leaves_its_stacks_in_the_error(tmp_path):
    # As CI's one restarted hub that died of SIGSEGV: the error carries its log's end, where
    # PYTHONFAULTHANDLER wrote every thread's stack.
    import sys

    stack = Stack({"PYTHONFAULTHANDLER": "1"}, log_dir=tmp_path)
    crash = "print('starting', flush=True); import ctypes; ctypes.string_at(0)"
    stack._spawn("hub", [sys.executable, "-c", crash])
    stack.processes["hub"].wait()
    with pytest.raises(StackError) as stopped:
        stack.wait_until_answering("http://127.0.0.1:9/", "hub", timeout=30)
    message = str(stopped.value)
    assert message.startswith("hub exited with -11 while starting; its log ends:\nstarting\n")
    assert "Fatal Python error: Segmentation fault" in message
    assert 'File "<string>", line 1 in <module>' in message


def test_nothing_answering_ends_the_wait_with_the_address():
    with pytest.raises(StackError) as stopped:
        Stack({}).wait_until_answering("http://127.0.0.1:9/", "hub", timeout=1)
    assert str(stopped.value) == "the hub did not answer at http://127.0.0.1:9/ within 1 s"


def prepared_dir(tmp_path):
    """A data directory as Stack.prepare_shared leaves it, with secrets of its own."""
    prepared = tmp_path / "prepared"
    (prepared / "static" / "css").mkdir(parents=True)
    (prepared / "static" / "css" / "portal.css").write_text("body {}")
    (prepared / "portal.sqlite3").write_bytes(b"migrated")
    (prepared / "portal.sqlite3-wal").write_bytes(b"its log")
    secrets_prepare({}, prepared)
    return prepared


def test_a_prepared_data_directory_gives_its_database_and_static_files_not_its_secrets(
    tmp_path,
):
    prepared, data = prepared_dir(tmp_path), tmp_path / "stack"
    data.mkdir()

    prepared_copy(prepared, data, {})

    assert (data / "static" / "css" / "portal.css").read_text() == "body {}"
    assert (data / "portal.sqlite3").read_bytes() == b"migrated"
    assert (data / "portal.sqlite3-wal").read_bytes() == b"its log"
    assert not (data / "secrets").exists()


def test_with_a_database_url_only_the_static_files_are_copied(tmp_path):
    prepared, data = prepared_dir(tmp_path), tmp_path / "stack"
    data.mkdir()

    prepared_copy(prepared, data, {"DATABASE_URL": "postgres://mlhub@db/mlhub"})

    assert (data / "static" / "css" / "portal.css").exists()
    assert sorted(p.name for p in data.iterdir()) == ["static"]


def test_a_prepared_directory_without_the_database_is_refused(tmp_path):
    prepared, data = prepared_dir(tmp_path), tmp_path / "stack"
    (prepared / "portal.sqlite3").unlink()
    data.mkdir()

    with pytest.raises(StackError) as refused:
        prepared_copy(prepared, data, {})
    assert str(refused.value) == f"{prepared} has no portal.sqlite3 (set up on a DATABASE_URL?)"


def test_a_stack_prepared_from_a_copy_runs_only_its_own_set_up(tmp_path, monkeypatch):
    """migrate and collectstatic are the copy's; mlhub_setup makes this stack's OAuth client.
    Without a copy, one Django process does all three."""
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(Stack, "manage", lambda self, *args: ran.append(args))
    data = tmp_path / "stack"
    data.mkdir()

    Stack({"MLHUB_DATA_DIR": str(data)}).prepare(prepared_dir(tmp_path))
    assert ran == [("mlhub_setup",)]

    ran.clear()
    Stack({"MLHUB_DATA_DIR": str(data)}).prepare()
    assert ran == [("mlhub_setup", "--migrate", "--collectstatic")]
