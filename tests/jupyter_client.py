"""Talk to a running single-user server as the lab does: a kernel's and a terminal's
websockets (tornado's client, which the hub's packages bring), with a server token."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


async def _connect(server_url: str, path: str, headers: dict):
    """The server's websocket at ``path``."""
    url = server_url.replace("http://", "ws://").replace("https://", "wss://") + path
    return await websocket_connect(HTTPRequest(url, headers=headers, connect_timeout=60))


def _run(coroutine):
    # Off this thread: Playwright's sync API may keep an event loop running in it.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


@contextmanager
def _made(server_url: str, token: str, collection: str, answer: int, key: str):
    """A kernel or a terminal made on the server for the block, then shut down: its name and
    the headers that authenticate with ``token``."""
    headers = {"Authorization": f"token {token}"}
    made = requests.post(f"{server_url}api/{collection}", json={}, headers=headers, timeout=60)
    assert made.status_code == answer, (made.status_code, made.url, made.text[:500])
    name = made.json()[key]
    try:
        yield name, headers
    finally:
        requests.delete(f"{server_url}api/{collection}/{name}", headers=headers, timeout=30)


def kernel_run(server_url: str, token: str, code: str, timeout: float = 120) -> dict:
    """Start a kernel on the server at ``server_url`` (ending in ``/``), run ``code`` in it and
    return what it said: ``{"status": ..., "stdout": ..., "error": ..., "data": [mime bundles]}``.
    The kernel is shut down afterwards."""
    with _made(server_url, token, "kernels", 201, "id") as (kernel, headers):
        return _run(_kernel_execute(server_url, kernel, headers, code, timeout))


async def _kernel_execute(server_url, kernel, headers, code, timeout) -> dict:
    connection = await _connect(server_url, f"api/kernels/{kernel}/channels", headers)
    msg_id = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }
    await connection.write_message(json.dumps(message))
    said: dict = {"status": None, "stdout": "", "error": "", "data": []}
    deadline = time.monotonic() + timeout
    idle = replied = False
    while not (idle and replied):
        left = deadline - time.monotonic()
        assert left > 0, f"the kernel did not finish in {timeout} s: {said}"
        raw = await asyncio.wait_for(connection.read_message(), left)
        assert raw is not None, f"the kernel's websocket closed: {said}"
        reply = json.loads(raw)
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = reply["header"]["msg_type"], reply["content"]
        if kind == "stream":
            said["stdout"] += content["text"]
        elif kind == "error":
            said["error"] += "\n".join(content["traceback"])
        elif kind in ("display_data", "execute_result"):
            said["data"].append(content["data"])
        elif kind == "execute_reply":
            said["status"], replied = content["status"], True
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    connection.close()
    return said


def terminal_run(server_url: str, token: str, command: str, timeout: float = 60) -> str:
    """Open a terminal on the server, type ``command`` in its shell and return what the
    terminal showed until the command ended (an end marker it echoes)."""
    with _made(server_url, token, "terminals", 200, "name") as (name, headers):
        return _run(_terminal_type(server_url, name, headers, command, timeout))


async def _terminal_type(server_url, name, headers, command, timeout) -> str:
    connection = await _connect(server_url, f"terminals/websocket/{name}", headers)
    # The marker is printed by the shell, not echoed as typed: it is split in the command.
    await connection.write_message(json.dumps(["stdin", f"{command}; echo END-OF-''COMMAND\r"]))
    shown = ""
    deadline = time.monotonic() + timeout
    while "END-OF-COMMAND" not in shown:
        left = deadline - time.monotonic()
        assert left > 0, f"the terminal did not finish in {timeout} s:\n{shown}"
        raw = await asyncio.wait_for(connection.read_message(), left)
        assert raw is not None, f"the terminal's websocket closed:\n{shown}"
        kind, *content = json.loads(raw)
        if kind == "stdout":
            shown += content[0]
    connection.close()
    return shown
