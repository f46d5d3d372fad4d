"""The soak's faults and the supervisor that brings the stack's processes back.

The supervisor plays supervisord's part in the MLHub image (deploy/hub/supervisord.conf) and
Kubernetes' in the chart: a process of the stack that ends is started again a second later.
An end no fault caused is counted (``Ledger.unplanned_exits``): that is a finding.

Faults, each ended (its window closed) when its part answers again:
- ``hub``, ``portal``, ``tasks``: SIGKILL the process (its whole group for gunicorn and the
  django-q2 cluster, whose workers would go on otherwise);
- ``proxy``: SIGKILL the Node proxy; the hub notices (every 5 s) and starts another;
- ``container``: ``docker kill`` one running workspace; the hub's poll notices;
- ``engine``: restart the Docker engine (systemd's, else the dockerd that
  deploy/scripts/docker-engine.sh started). Every workspace container ends with it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests

from bench.soak_ledger import Ledger
from lib.labels import LABEL_ORIGIN
from lib.polling import poll_until
from lib.stack import HUB_PROXY_PID_FILE, ROOT, Stack, docker_answers
from tests.docker_engine import engine_held

ROLES = ("hub", "portal", "tasks")  # the processes the launcher starts
KINDS = ("hub", "portal", "tasks", "proxy", "container", "engine")
RESTART_DELAY = 1.0  # supervisord's and the kubelet's first back-off are about this
RECOVERY_TIMEOUT = 180.0
UNPLANNED_LOG_LINES = 60


def proxy_pid(stack: Stack) -> int | None:
    pid_file = Path(stack.environ["MLHUB_DATA_DIR"]) / "hub" / HUB_PROXY_PID_FILE
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


class Supervisor:
    """Restarts whatever role of ``stack`` ended; ``planned`` ends are not counted."""

    def __init__(self, stack: Stack, ledger: Ledger):
        self.stack = stack
        self.ledger = ledger
        self.lock = threading.Lock()  # one of us touches stack.processes at a time
        self._planned: set[str] = set()

    def kill(self, role: str) -> None:
        with self.lock:
            self._planned.add(role)
            process = self.stack.processes[role]
            if role == "hub":  # alone: its proxy and the workspaces live on
                process.send_signal(signal.SIGKILL)
            else:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self.revive()

    def revive(self) -> None:
        with self.lock:
            for role in ROLES:
                process = self.stack.processes[role]
                if process.poll() is None:
                    continue
                if role not in self._planned:
                    self.unplanned(role, process.returncode)
                self._planned.discard(role)
                time.sleep(RESTART_DELAY)
                if role == "hub":
                    # Its session's leftovers (a proxy it started) are the new hub's to find.
                    self.stack.hub_start(wait=False)
                elif role == "portal":
                    self.stack.portal_start(wait=False)
                else:
                    self.stack.tasks_start()

    def unplanned(self, role: str, status: int) -> None:
        """Count an exit nobody caused, with what its log said last: a native crash's
        stacks (the test stack runs with PYTHONFAULTHANDLER) are only there."""
        self.ledger.unplanned_exits[role] += 1
        when = datetime.now(UTC).strftime("%H:%M:%S")
        tail = self.stack.log_tail(role, UNPLANNED_LOG_LINES)
        self.ledger.unplanned_ends.append(
            f"{when} {role} exited with {status}; its log's last lines:\n{tail}"
        )

    def all_answer(self) -> None:
        """Until the portal and the hub behind the proxy answer (the processes are started)."""
        poll_until(self._portal_answers, timeout=RECOVERY_TIMEOUT, what="the portal to answer")
        poll_until(self._hub_answers, timeout=RECOVERY_TIMEOUT, what="the hub to answer")

    def _portal_answers(self) -> bool:
        return _answers(f"{self.stack.site_url()}/accounts/login/")

    def _hub_answers(self) -> bool:
        return _answers(f"{self.stack.site_url()}/hub/api/", lambda r: "version" in r.text)

    def tasks_log_size(self) -> int:
        log = Path(self.stack.log_dir or ROOT) / "tasks.log"
        return log.stat().st_size if log.exists() else 0

    def tasks_answer(self, since: int) -> bool:
        """The cluster is up: its log says so after ``since`` (a size of the log)."""
        with open(Path(self.stack.log_dir or ROOT) / "tasks.log", "rb") as log:
            log.seek(since)
            return b"running." in log.read()


def _answers(url: str, ready=lambda response: True) -> bool:
    try:
        response = requests.get(url, timeout=3, allow_redirects=False)
    except requests.RequestException:
        return False
    return response.status_code < 500 and ready(response)


class Injector:
    """Breaks one part at a time at random intervals: every kind once (the engine once, in
    the middle of the run), then any but the engine."""

    def __init__(
        self,
        supervisor: Supervisor,
        ledger: Ledger,
        hub_name: str,
        rng: random.Random,
        seconds: float,
        engine: bool = True,
        progress=print,
    ):
        self.supervisor = supervisor
        self.stack = supervisor.stack
        self.ledger = ledger
        self.hub_name = hub_name
        self.rng = rng
        self.seconds = seconds
        self.progress = progress
        once = [kind for kind in KINDS if kind != "engine"]
        rng.shuffle(once)
        if engine:
            once.insert(len(once) // 2, "engine")
        self.plan = once
        # Every kind once in the first two thirds of the run; as often again in the rest.
        self.interval = (seconds * 2 / 3) / (len(once) + 1)

    def run(self, stop: threading.Event) -> None:
        """The plan to its end (each kind once, also when recoveries overrun the time), then
        more until the time is up."""
        end = time.monotonic() + self.seconds
        done = 0
        while done < len(self.plan) or time.monotonic() < end:
            pause = self.interval * self.rng.uniform(0.6, 1.4)
            if done >= len(self.plan):
                pause = min(pause, end - time.monotonic())  # none after the time is up
            if stop.wait(max(0.0, pause)) or (done >= len(self.plan) and time.monotonic() >= end):
                return
            kind = self.plan[done] if done < len(self.plan) else self._any_but_engine()
            done += 1
            self.inject(kind)

    def _any_but_engine(self) -> str:
        return self.rng.choice([kind for kind in KINDS if kind != "engine"])

    def inject(self, kind: str) -> None:
        window = self.ledger.fault_started(kind)
        try:
            getattr(self, f"_{kind}")(window)
        finally:
            self.ledger.fault_ended(window)
            took = window.ended - window.started
            detail = f" ({window.detail})" if window.detail else ""
            self.progress(f"fault {kind}{detail}: answered again after {took:.1f} s")

    def _hub(self, window) -> None:
        self.supervisor.kill("hub")
        self.supervisor.all_answer()

    def _portal(self, window) -> None:
        self.supervisor.kill("portal")
        self.supervisor.all_answer()

    def _tasks(self, window) -> None:
        since = self.supervisor.tasks_log_size()
        self.supervisor.kill("tasks")
        poll_until(
            lambda: self.supervisor.tasks_answer(since),
            timeout=RECOVERY_TIMEOUT,
            what="the task cluster to run again",
        )

    def _proxy(self, window) -> None:
        pid = proxy_pid(self.stack)
        if pid is None:
            window.detail = "no proxy pid file"
            return
        os.kill(pid, signal.SIGKILL)
        poll_until(
            lambda: (proxy_pid(self.stack) or pid) != pid,
            timeout=RECOVERY_TIMEOUT,
            what="the hub to start another proxy",
        )
        self.supervisor.all_answer()

    def _container(self, window) -> None:
        client = docker.from_env(timeout=30)
        # Sparse: the listing alone. A full one inspects each container, and one removed in
        # between (the people stop and delete all the while) ended this thread with a 404.
        running = client.containers.list(
            filters={"label": f"{LABEL_ORIGIN}={self.hub_name}"}, sparse=True
        )
        if not running:
            window.detail = "none running"
            return
        victim = self.rng.choice(running)
        window.detail = victim.attrs["Names"][0].lstrip("/")
        try:
            victim.kill()
        except docker.errors.APIError as error:  # stopped or removed since the listing
            window.detail += f", gone before the kill ({error.status_code})"
        finally:
            client.close()

    def _engine(self, window) -> None:
        engine_restart()
        self.supervisor.all_answer()


def engine_restart() -> None:
    """Restart the Docker engine and wait until it answers again: once nobody beside uses it
    (`make test` runs the cluster's tests beside the soak, tests/docker_engine.py)."""
    with engine_held(alone=True):
        _engine_restart()


def _engine_restart() -> None:
    if _systemd_runs_docker():
        subprocess.run(["systemctl", "restart", "docker"], check=True, timeout=RECOVERY_TIMEOUT)
    else:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
        os.kill(pid, signal.SIGTERM)
        poll_until(
            lambda: not Path(f"/proc/{pid}").exists(),
            timeout=RECOVERY_TIMEOUT,
            what="dockerd to stop",
            max_wait=0.5,
        )
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "scripts" / "docker-engine.sh")],
            check=True,
            timeout=RECOVERY_TIMEOUT,
            stdout=subprocess.DEVNULL,
        )
    poll_until(docker_answers, timeout=RECOVERY_TIMEOUT, what="the Docker engine to answer")


def engine_restartable() -> str:
    """Why the engine cannot be restarted here ('' when it can)."""
    if os.geteuid() != 0:
        return "restarting the Docker engine needs root"
    if not _systemd_runs_docker() and not Path("/var/run/docker.pid").exists():
        return "no systemd unit and no /var/run/docker.pid: who runs this engine?"
    return ""


def _systemd_runs_docker() -> bool:
    if not _has("systemctl"):
        return False
    asked = ["systemctl", "is-active", "--quiet", "docker"]
    return subprocess.run(asked, capture_output=True, check=False).returncode == 0


def _has(command: str) -> bool:
    return subprocess.run(["which", command], capture_output=True, check=False).returncode == 0
