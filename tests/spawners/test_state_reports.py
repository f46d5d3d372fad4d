"""What people are told when their workspace went away without anyone stopping it, and
how reports reach a portal that is restarting."""

from __future__ import annotations

import asyncio
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from tornado import web

from spawners.state_reports import ReportsState, exit_reason

KILLED = "The workspace was killed (signal 9: out of memory, or from outside)"


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (-9, KILLED),  # a process killed by SIGKILL
        (137, KILLED),  # a container's exit code for the same
        ("ExitCode=137, Error='', FinishedAt=2026-11-26T16:00:00Z", KILLED),  # dockerspawner
        (1, "The workspace exited by itself (exit status 1)"),
        ("ExitCode=2, Error='', FinishedAt=x", "The workspace exited by itself (exit status 2)"),
        (0, "The workspace stopped by itself (its server ended, or it was removed outside MLHub)"),
        ("gone", "The workspace stopped by itself (gone)"),
    ],
)
def test_the_reason_says_what_the_status_means(status, said):
    assert exit_reason(status) == said


class Reporter(ReportsState):
    user = SimpleNamespace(name="ada")
    name = "lab"


def send(report_url: str, *, serve_after: float | None, status: int = 204) -> list[dict]:
    """Send one report to a portal that starts listening ``serve_after`` seconds later
    (None: at once); the report bodies it received."""
    received: list[dict] = []

    class Endpoint(web.RequestHandler):
        def post(self):
            received.append(json.loads(self.request.body))
            self.set_status(status)

    async def scenario():
        port = int(report_url.rsplit(":", 1)[1].split("/")[0])
        app = web.Application([(r"/report", Endpoint)])
        if serve_after:
            await asyncio.sleep(0)  # let the first attempt meet a closed port
            asyncio.get_running_loop().call_later(serve_after, app.listen, port, "127.0.0.1")
        else:
            app.listen(port, "127.0.0.1")
        reporter = Reporter(state_report_url=report_url, state_report_token="k")
        await reporter._send_report({"state": "running", "at": 1.0})

    with ThreadPoolExecutor(1) as thread:  # off this thread: Playwright may own its loop
        thread.submit(asyncio.run, scenario()).result()
    return received


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_report_is_sent_again_until_a_restarting_portal_takes_it():
    url = f"http://127.0.0.1:{free_port()}/report"
    assert send(url, serve_after=1.5) == [{"state": "running", "at": 1.0}]


def test_a_refused_report_is_not_sent_again(caplog):
    url = f"http://127.0.0.1:{free_port()}/report"
    assert send(url, serve_after=None, status=403) == [{"state": "running", "at": 1.0}]
    assert "The portal refused the running report of ada:lab: HTTP 403: Forbidden" in caplog.text
