"""A soak person's open (bench/soak_people.py) against a small real HTTP server standing in
for a workspace: a file is lost only when the server answers that it is gone or different;
a read the server did not answer (a fault's 503) is a failed open, and the file is kept."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.soak_ledger import Ledger
from bench.soak_people import Person, StateWaitFailed, Workspace

WRITTEN = "soak04/w3/soak-1.txt 1234"


@pytest.fixture
def workspace_answering():
    """A server whose ``api/contents/soak-1.txt`` answers with the status and content set."""
    answer = {"status": 200, "content": WRITTEN}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status = 200 if self.path.endswith("api/status") else answer["status"]
            body = json.dumps({"content": answer["content"]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield answer, f"http://127.0.0.1:{server.server_port}/user/soak04/w3/"
    server.shutdown()
    server.server_close()


def _person_with_one_file(url: str) -> tuple[Person, Workspace]:
    person = Person("soak04", "portal-token", "http://unused", Ledger(), random.Random(1))
    workspace = Workspace(id=1, name="w3", url=url, state="running", token="server-token")
    workspace.files["soak-1.txt"] = WRITTEN
    return person, workspace


def test_a_file_read_back_as_written_is_not_lost(workspace_answering):
    _, url = workspace_answering
    person, workspace = _person_with_one_file(url)
    person.open(workspace)
    assert person.ledger.lost_files == []
    assert workspace.files == {"soak-1.txt": WRITTEN}


@pytest.mark.parametrize(
    ("status", "content"), [(404, ""), (200, "soak04/w3/soak-1.txt something else")]
)
def test_a_file_gone_or_changed_is_lost_once(workspace_answering, status, content):
    answer, url = workspace_answering
    answer.update(status=status, content=content)
    person, workspace = _person_with_one_file(url)
    person.open(workspace)
    assert person.ledger.lost_files == [f"soak04/w3/soak-1.txt ({status})"]
    assert workspace.files == {}  # counted once


def test_a_read_the_server_did_not_answer_fails_the_open_and_keeps_the_file(workspace_answering):
    answer, url = workspace_answering
    answer["status"] = 503  # the proxy's answer when the container died mid-read
    person, workspace = _person_with_one_file(url)
    with pytest.raises(StateWaitFailed) as failed:
        person.open(workspace)
    assert failed.value.cause == "read 503"
    assert person.ledger.lost_files == []
    assert workspace.files == {"soak-1.txt": WRITTEN}  # read again at the next open
