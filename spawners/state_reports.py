"""The hub tells the portal when a workspace starts, becomes ready, fails or stops.

The portal answers every page and API read from its own database; these reports keep it in
step as things happen, and its periodic sync corrects whatever a lost report left behind. A
report is one small POST with the hub's own credential (``state_report_token``), which the
portal accepts on this one endpoint only and for nothing else.

Reports never hold up the hub: they are sent in the background, and a portal that is down
or slow costs a few retries and then a warning in the hub's log, never a failed spawn.
"""

from __future__ import annotations

import json
import re
import time

from jupyterhub.utils import exponential_backoff
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.ioloop import IOLoop
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from spawners.naming import server_label
from spawners.private_jupyterhub import spawn_in_progress

# A report waits its turn (up to CONNECT_TIMEOUT) behind at most REPORTS_AT_ONCE others: a
# burst of starts (a class of 200 at 9:00) must not time out in the queue.
REPORTS_AT_ONCE = 20
CONNECT_TIMEOUT = 20
REPORT_TIMEOUT = 30
# A portal that restarts is back within a minute; after that the sync pass repairs.
RETRY_FOR = 60


class ReportsState(LoggingConfigurable):
    """Spawner mixin (before the upstream spawner in the bases). Configurable, so that its
    settings are traits of the spawner, set as ``c.Spawner.state_report_*``."""

    state_report_url = Unicode(
        "",
        config=True,
        help="The portal's endpoint for state reports; empty: send none.",
    )
    state_report_token = Unicode(
        "",
        config=True,
        help="The hub's credential for that endpoint (MLHUB_HUB_EVENTS_TOKEN).",
    )

    _exit_reason = ""

    def run_pre_spawn_hook(self):
        # Here, not in start(): the spawners' own start() checks things (options, a network
        # or policy that is not ours) before upstream's start, and a start they refuse must
        # be reported too (it was once "stopped" with no reason).
        self._exit_reason = ""
        self.state_report("starting")
        # The whole spawn (and the proxy's route): no public hook says when it ends.
        spawn = spawn_in_progress(self)
        if spawn is not None:
            spawn.add_done_callback(self._spawn_ended)
        return super().run_pre_spawn_hook()

    def _spawn_ended(self, spawn) -> None:
        if spawn.cancelled():
            return
        error = spawn.exception()
        if error is not None:
            self.state_report("error", _message_of(error))
        elif self.ready:
            # Not ready although it succeeded: the proxy refused the route and the hub
            # stopped the server, which its stop report has said already.
            self.state_report("running")

    async def poll(self):
        status = await super().poll()
        if status is not None and self.server is not None and self.pending != "stop":
            # The hub thinks it runs but it has gone: the hub's poll will stop it next.
            self._exit_reason = exit_reason(status)
        return status

    def stop_reason_set(self, message: str) -> None:
        """Why the stop about to begin happens, for its report (the idle culler's, set by
        hubconfig/culling.py); stops people ask for carry none."""
        self._exit_reason = message

    def run_post_stop_hook(self):
        self.state_report("stopped", self._exit_reason)
        self._exit_reason = ""
        return super().run_post_stop_hook()

    def state_report(self, state: str, message: str = "") -> None:
        """Send ``state`` for this server in the background (never raises, never waits)."""
        if not self.state_report_url:
            return
        body = {
            "user": self.user.name,
            "server": self.name,
            "state": state,
            "message": message,
            # The portal keeps the newest report: two sent close together may cross.
            "at": time.time(),
        }
        IOLoop.current().add_callback(self._send_report, body)

    async def _send_report(self, body: dict) -> None:
        request = HTTPRequest(
            self.state_report_url,
            method="POST",
            body=json.dumps(body),
            headers={
                "Authorization": f"Bearer {self.state_report_token}",
                "Content-Type": "application/json",
            },
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REPORT_TIMEOUT,
        )
        what = f"the {body['state']} report of {server_label(self)}"

        async def delivered() -> bool:
            try:
                await _report_client().fetch(request)
                return True
            except HTTPClientError as error:
                if error.code != 599:  # 599: no answer in time; anything else is an answer
                    self.log.warning("The portal refused %s: %s", what, error)
                    return True
                self.log.info("The portal did not answer %s in time; trying again", what)
            except OSError as error:  # down, or restarting: it may be back in a moment
                self.log.info("The portal did not take %s (%s); trying again", what, error)
            return False

        try:
            # The report keeps its time ("at"): a late one never overrides a newer one.
            await exponential_backoff(
                delivered, f"gave up on {what}", start_wait=1, max_wait=15, timeout=RETRY_FOR
            )
        except TimeoutError as error:  # the periodic sync repairs a lost report
            self.log.warning("The portal did not take %s: %s", what, error)


_client: AsyncHTTPClient | None = None


def _report_client() -> AsyncHTTPClient:
    """Our own client: the hub's shared one (10 at a time) talks to the proxy and checks new
    servers; reports queued there would slow those down and time out in a burst."""
    global _client
    if _client is None or _client.io_loop is not IOLoop.current():  # one per event loop
        _client = AsyncHTTPClient(force_instance=True, max_clients=REPORTS_AT_ONCE)
    return _client


def _message_of(error: BaseException) -> str:
    # SpawnException and HTTPError carry what the hub shows people; keep it short.
    message = getattr(error, "jupyterhub_message", None) or getattr(error, "log_message", None)
    return str(message or error or type(error).__name__)[:500]


def exit_reason(status) -> str:
    """What people are told when their workspace went away without anyone stopping it.

    ``status`` is what the spawner's ``poll()`` said: a process's exit status (negative: the
    signal that killed it), or dockerspawner's "ExitCode=137, ..." text; 0 also when the
    container is gone altogether (removed, or killed and removed at once by ``auto_remove``).
    """
    code = status
    if isinstance(status, str):
        match = re.search(r"ExitCode=(-?\d+)", status)
        code = int(match.group(1)) if match else None
    if code is None:
        return f"The workspace stopped by itself ({status})"
    if code < 0 or code > 128:
        signal_number = -code if code < 0 else code - 128
        return f"The workspace was killed (signal {signal_number}: out of memory, or from outside)"
    if code == 0:
        return "The workspace stopped by itself (its server ended, or it was removed outside MLHub)"
    return f"The workspace exited by itself (exit status {code})"
