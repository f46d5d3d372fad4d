"""The task that follows a spawn when the hub dies under it (found by bench/soak.py): a
progress stream that breaks off is an outage like any other, never a crash of the task, and
the follow asks again while its patience lasts."""

from __future__ import annotations

import pytest

from portal.hub.client import HubClient, HubError
from portal.workspaces import services
from tests.portal.one_shot_server import one_shot_server
from tests.portal.scripted_hub import ScriptedHub

EVENT = b'data: {"progress": 50}\n\n'
HALF_A_STREAM = (  # one event, then the hub is gone: no last chunk
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + f"{len(EVENT):x}\r\n".encode()
    + EVENT
    + b"\r\n"
)


def test_a_stream_that_breaks_off_is_an_outage():
    seen = []
    with one_shot_server(HALF_A_STREAM) as url, pytest.raises(HubError) as broke:
        HubClient(f"{url}/hub/api", "t").server_progress("alice", "thesis", on_event=seen.append)
    assert seen == [{"progress": 50}]
    assert (broke.value.status, broke.value.reachable) == (503, False)
    assert "progress stream broke off" in broke.value.message


def test_the_follow_asks_again_after_an_outage_and_records_the_end(alice, workspace_of, hub_double):
    workspace = workspace_of(alice, state="starting")
    gone = HubError(503, "JupyterHub's progress stream broke off", reachable=False)
    hub_double(ScriptedHub(progress=[gone, {"progress": 100, "ready": True}]))
    followed = services.workspace_follow_spawn(workspace=workspace, patience=10)
    assert followed.state == "running"
