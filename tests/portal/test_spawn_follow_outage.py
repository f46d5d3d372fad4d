"""The task that follows a spawn when the hub dies under it (found by bench/soak.py): a
progress stream that breaks off is an outage like any other, never a crash of the task, and
the follow asks again while its patience lasts."""

from __future__ import annotations

import socket
import threading

import pytest

from portal.hub.client import HubClient, HubError
from portal.workspaces import services
from tests.portal.scripted_hub import ScriptedHub

EVENT = b'data: {"progress": 50}\n\n'
HALF_A_STREAM = (  # one event, then the hub is gone: no last chunk
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + f"{len(EVENT):x}\r\n".encode()
    + EVENT
    + b"\r\n"
)


def test_a_stream_that_breaks_off_is_an_outage():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer_half_and_die():
        connection, _ = listener.accept()
        connection.recv(4096)
        connection.sendall(HALF_A_STREAM)
        connection.close()

    threading.Thread(target=answer_half_and_die, daemon=True).start()
    client = HubClient(f"http://127.0.0.1:{listener.getsockname()[1]}/hub/api", "t")
    seen = []
    with pytest.raises(HubError) as broke:
        client.server_progress("alice", "thesis", on_event=seen.append)
    listener.close()
    assert seen == [{"progress": 50}]
    assert (broke.value.status, broke.value.reachable) == (503, False)
    assert "progress stream broke off" in broke.value.message


def test_the_follow_asks_again_after_an_outage_and_records_the_end(alice, workspace_of, hub_double):
    workspace = workspace_of(alice, state="starting")
    gone = HubError(503, "JupyterHub's progress stream broke off", reachable=False)
    hub_double(ScriptedHub(progress=[gone, {"progress": 100, "ready": True}]))
    followed = services.workspace_follow_spawn(workspace=workspace, patience=10)
    assert followed.state == "running"
