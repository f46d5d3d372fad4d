"""Start and stop the whole MLHub stack: portal, django-q2 cluster, JupyterHub (+ proxy).

``make run`` uses it through ``python -m lib.stack``; the integration tests start the same
stack on free ports. No Django here: the portal runs as its own processes.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import requests

from lib import env
from lib.polling import poll_until

# `make run` runs from the checkout (manage.py); every process imports the project from the
# environment it is installed in (`make setup` installs the checkout editable).
ROOT = env.ROOT
BIN = Path(sys.executable).parent
# Loaded by path: wherever the installed hubconfig package is, checkout or site-packages.
HUB_CONFIG = Path(importlib.util.find_spec("hubconfig").origin).parent / "jupyterhub_config.py"
# Secrets the processes share; generated once into <data>/secrets/ unless given.
SHARED_SECRETS = (
    "SECRET_KEY",
    "MLHUB_HUB_API_TOKEN",
    "MLHUB_OAUTH_CLIENT_SECRET",
    "CONFIGPROXY_AUTH_TOKEN",
    "JUPYTERHUB_CRYPT_KEY",
    "MLHUB_HUB_EVENTS_TOKEN",
    "MLHUB_SSH_GATEWAY_TOKEN",
)


# Everything the stack writes (databases, secrets, logs, homes) is its own user's alone.
PRIVATE_UMASK = 0o077


ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


class StackError(RuntimeError):
    pass


# The processes' commands, shared with the MLHub image's supervisor (deploy/hub/entrypoint.py).
# Django's own command line, wherever the project is installed (no manage.py needed).
DJANGO_ADMIN = [str(BIN / "python"), "-m", "django"]
HUB_COMMAND = [str(BIN / "jupyterhub"), "-f", str(HUB_CONFIG)]
# Where the hub, run in <data>/hub, records the proxy it started (ConfigurableHTTPProxy.pid_file).
HUB_PROXY_PID_FILE = "jupyterhub-proxy.pid"


def portal_command(environ: dict[str, str]) -> list[str]:
    """The portal's gunicorn, on ``MLHUB_PORTAL_URL``'s address."""
    portal = urlsplit(environ.get("MLHUB_PORTAL_URL", env.ADDRESS_DEFAULTS["MLHUB_PORTAL_URL"]))
    return [
        str(BIN / "gunicorn"),
        "portal.wsgi",
        "--bind",
        portal.netloc,
        "--workers",
        environ.get("MLHUB_PORTAL_WORKERS", "2"),
        "--threads",
        "4",
        "--no-control-socket",
        # Longer than the Node proxy keeps an idle connection (5 s): with gunicorn's default
        # of 2 s the proxy sometimes reused a socket gunicorn was closing, and a page refresh
        # got "503 socket hang up" (seen in CI).
        "--keep-alive",
        "75",
        "--access-logfile",
        "-",
        # The path without its query string and no Referer: OAuth codes, states and tokens
        # travel in query strings and must never reach a log.
        "--access-logformat",
        ACCESS_LOG_FORMAT,
    ]


def process_alive(pid: int) -> bool:
    """``pid`` runs (a zombie, ended and not yet reaped by its parent, does not)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][:1] != "Z"


def listening(host: str, port: int) -> bool:
    """Something accepts connections at host:port (0.0.0.0: on this machine's loopback)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1" if host == "0.0.0.0" else host, port)) == 0


def data_dir_prepare(data_dir: Path) -> None:
    """Create the data directory readable by this user only (and tighten an old one)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)


def secrets_prepare(environ: dict[str, str], data_dir: Path) -> None:
    """Point every shared secret not given in ``environ`` at a generated file."""
    folder = data_dir / "secrets"
    for name in SHARED_SECRETS:
        if environ.get(name) or environ.get(f"{name}_FILE"):
            continue
        path = folder / name.lower()
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        environ[f"{name}_FILE"] = str(path)


def prepared_copy(prepared: Path, data_dir: Path, environ: dict[str, str]) -> None:
    """Copy ``Stack.prepare_shared``'s work in ``prepared`` into ``data_dir``: the static
    files, and the SQLite database when ``environ`` has no ``DATABASE_URL`` (with one, the
    database is that URL's, which ``prepared`` migrated already). Secrets are never copied:
    each data directory makes its own (``secrets_prepare``)."""
    shutil.copytree(prepared / "static", data_dir / "static", dirs_exist_ok=True)
    if environ.get("DATABASE_URL", "").strip():
        return
    database = prepared / env.PORTAL_SQLITE
    if not database.exists():
        raise StackError(f"{prepared} has no {env.PORTAL_SQLITE} (set up on a DATABASE_URL?)")
    # Its write-ahead log too, if the last process left one: the pair is the database.
    for source in (database, prepared / f"{env.PORTAL_SQLITE}-wal"):
        if source.exists():
            shutil.copy2(source, data_dir / source.name)


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
        return True
    except Exception:  # noqa: BLE001 -- any failure means "no engine to use"
        return False


def images_missing(images: list[str]) -> list[str]:
    import docker
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.from_env(timeout=5)
    except DockerException:
        return images
    missing = []
    for image in images:
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    client.close()
    return missing


def execution_mode_choose(environ: dict[str, str]) -> tuple[str, str]:
    """The mode to run in and why: as configured, else Docker when an engine answers."""
    if environ.get("EXECUTION_MODE"):
        return environ["EXECUTION_MODE"], "EXECUTION_MODE is set"
    if (ROOT / "spawners" / "docker.py").exists() and docker_answers():
        return "local", "a Docker engine answers"
    return "process", "no Docker engine answers"


@dataclass
class Stack:
    environ: dict[str, str]
    log_dir: Path | None = None  # None: children write to this terminal
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _logs: list[IO] = field(default_factory=list)

    # Set up -------------------------------------------------------------------------------
    def manage(self, *args: str) -> None:
        subprocess.run(
            [*DJANGO_ADMIN, *args],
            cwd=ROOT,
            env=self.environ,
            umask=PRIVATE_UMASK,
            check=True,
            stdout=self._output("setup"),
            stderr=subprocess.STDOUT,
        )

    def prepare(self, prepared: Path | None = None, wait_for_database: float = 0) -> None:
        """Set up the data directory: ``prepare_shared``'s steps, then ``mlhub_setup``; the
        database may take ``wait_for_database`` seconds to answer first (the image's).

        ``prepared``: a data directory ``prepare_shared`` set up with the same code and
        ``DATABASE_URL`` (the tests' template, tests/hub_stack.py): its database and static
        files are copied instead (``prepared_copy``). ``mlhub_setup`` runs either way: what it
        makes is this stack's own (the hub's OAuth client with this stack's callback URL, the
        schedules with its intervals, the admin with its password).
        """
        setup = ["mlhub_setup"]
        if wait_for_database:
            setup.append(f"--wait-for-database={wait_for_database:g}")
        if prepared is None:  # prepare_shared's steps and the set-up: one Django process
            self.manage(*setup, "--migrate", "--collectstatic")
            return
        prepared_copy(prepared, Path(self.environ["MLHUB_DATA_DIR"]), self.environ)
        self.manage(*setup)

    def prepare_shared(self) -> None:
        """What every data directory on the same code gets alike: the migrated database and
        the collected static files (collectstatic compresses the Swagger and Redoc assets)."""
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")

    # Run ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.check_ports_free()
        self.portal_start(wait=False)
        self.tasks_start()
        self.hub_start(wait=False)
        self.portal_wait()
        self.hub_wait()

    def portal_start(self, wait: bool = True) -> None:
        """Start the portal's gunicorn (again, after it died)."""
        self._spawn("portal", portal_command(self.environ))
        if wait:
            self.portal_wait()

    def tasks_start(self) -> None:
        """Start the django-q2 cluster (again, after it died)."""
        self._spawn("tasks", [*DJANGO_ADMIN, "qcluster"])

    def portal_wait(self) -> None:
        portal = urlsplit(self.address("MLHUB_PORTAL_URL"))
        login = f"{portal.scheme}://{portal.netloc}{self.base_url()}accounts/login/"
        self.wait_until_answering(login, "portal")

    def hub_start(self, wait: bool = True) -> None:
        """Start JupyterHub (again, after it died: it takes over the running servers)."""
        hub_dir = Path(self.environ["MLHUB_DATA_DIR"]) / "hub"
        hub_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._spawn("hub", HUB_COMMAND, cwd=hub_dir)
        if wait:
            self.hub_wait()

    def hub_wait(self) -> None:
        # Until the hub adds its route the proxy sends /hub/ to the portal: wait for the hub.
        self.wait_until_answering(
            f"{self.site_url()}/hub/api/",
            "hub behind the proxy",
            lambda r: "version" in r.text,
        )

    def address(self, name: str) -> str:
        """One of the ``env.ADDRESS_DEFAULTS`` URLs as this stack's environment sets it."""
        return self.environ.get(name, env.ADDRESS_DEFAULTS[name])

    def base_url(self) -> str:
        """This stack's path prefix (``MLHUB_BASE_URL``), ``/`` or ``/mlhub/``."""
        return env.check_base_url(self.environ.get("MLHUB_BASE_URL", "/"))

    def site_url(self) -> str:
        """Where people find this stack: the public origin and the prefix, no trailing slash."""
        public = urlsplit(self.address("MLHUB_PUBLIC_URL"))
        return f"{public.scheme}://{public.netloc}{self.base_url().rstrip('/')}"

    def check_ports_free(self) -> None:
        """Fail with the variable to change when something already listens on a port."""
        for name in env.ADDRESS_DEFAULTS:
            address = urlsplit(self.address(name))
            if listening(address.hostname or "127.0.0.1", address.port or 80):
                raise StackError(
                    f"something already listens on {address.netloc} ({name}); stop it or "
                    f"set {name} to another address"
                )

    def wait_until_answering(
        self, url: str, what: str, ready=lambda response: True, timeout: float = 60
    ) -> None:
        """Until ``url`` answers (under 500, and ``ready``); a process of the stack that
        exits meanwhile ends the wait at once, with its name."""

        def answers() -> bool:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    # Its log's end says why (a native crash: PYTHONFAULTHANDLER's stacks).
                    raise StackError(
                        f"{name} exited with {process.returncode} while starting"
                        + (f"; its log ends:\n{self.log_tail(name)}" if self.log_dir else "")
                    )
            try:
                response = requests.get(url, timeout=2, allow_redirects=False)
            except requests.RequestException:
                return False
            return response.status_code < 500 and ready(response)

        try:
            poll_until(answers, timeout=timeout, what=what, first_wait=0.2, scale=1, max_wait=0.2)
        except TimeoutError:
            raise StackError(f"the {what} did not answer at {url} within {timeout:.0f} s") from None

    def watch(self) -> None:
        """Block until one process dies or Ctrl-C; then stop all of them."""
        try:
            while True:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise StackError(f"{name} exited with {process.returncode}")
                time.sleep(0.5)
        finally:
            self.stop()

    def stop(self, timeout: float = 15) -> None:
        # Only each leader is signalled: it stops its own children (the hub its proxy and
        # workspaces, gunicorn its workers). Signalling a whole group at once leaves the
        # django-q2 cluster waiting forever for workers that are already gone.
        for name in ("hub", "tasks", "portal"):
            process = self.processes.get(name)
            if process and process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Whatever is left of the group, the leader included, gets no second chance.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.processes.clear()
        self.hub_proxy_stop()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def hub_proxy_stop(self) -> None:
        """Stop the Node proxy the hub started, if the hub left it running.

        The hub starts its proxy in a session of its own and stops it on a clean exit; a hub
        that fails while starting (its port taken after the proxy began) or is killed leaves
        it on the public port, and the next ``make run`` finds the port busy. The hub's pid
        file says which process it is; one whose command is not the proxy's (the pid reused)
        is left alone."""
        pid_file = Path(self.environ["MLHUB_DATA_DIR"]) / "hub" / HUB_PROXY_PID_FILE
        try:
            pid = int(pid_file.read_text().strip())
            command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"configurable-http-proxy" not in command:
            return
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            os.kill(pid, signal.SIGTERM)
            poll_until(
                lambda: not process_alive(pid),
                timeout=5,
                what="the hub's proxy to stop",
                first_wait=0.05,
                max_wait=0.2,
            )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def _spawn(self, name: str, command: list[str], cwd: Path = ROOT) -> None:
        self.processes[name] = subprocess.Popen(
            command,
            cwd=cwd,
            env=self.environ,
            umask=PRIVATE_UMASK,
            stdout=self._output(name),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of process ``name``'s log (``log_dir``'s)."""
        if self.log_dir is None:
            return "(no log: its output went to this terminal)"
        try:
            with open(self.log_dir / f"{name}.log", "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 300 * lines))
                tail = log.read().decode(errors="replace").splitlines()[-lines:]
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(tail)

    def _output(self, name: str):
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = lambda path, flags: os.open(path, flags, 0o600)  # noqa: E731
        log = open(self.log_dir / f"{name}.log", "a", opener=private)  # noqa: SIM115 -- closed in stop()
        self._logs.append(log)
        return log


def stack_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus the defaults every stack process must agree on."""
    environ = {**os.environ, **(overrides or {})}
    environ.setdefault("MLHUB_DATA_DIR", str(env.data_dir()))
    environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    data_dir_prepare(Path(environ["MLHUB_DATA_DIR"]))
    secrets_prepare(environ, Path(environ["MLHUB_DATA_DIR"]))
    return environ


def main() -> int:
    try:
        importlib.metadata.distribution("mlhub")
    except importlib.metadata.PackageNotFoundError:
        # The hub, started from its data folder, could not import hubconfig: say why now.
        print(
            "MLHub is not installed in this Python environment: `make setup` installs the "
            "checkout (pip install -e .)",
            file=sys.stderr,
        )
        return 1
    try:
        # A bad prefix or public URL stops `make run` before anything is written.
        env.site_url()
    except env.ConfigError as error:
        print(f"MLHub did not start: {error}", file=sys.stderr)
        return 1
    environ = stack_environment()
    mode, why = execution_mode_choose(environ)
    environ["EXECUTION_MODE"] = mode
    banner = f"MLHub: EXECUTION_MODE={mode} ({why})"
    if mode == "process":
        banner += (
            "\n  Workspaces run as local processes of this user: no isolation, no limits."
            "\n  Fine for a try-out; start a Docker engine for real use."
        )
    if env.single_origin():
        banner += "\n  WARNING " + env.SINGLE_ORIGIN_WARNING
    if mode == "local":
        missing = images_missing(env.workspace_images())
        if missing:
            banner += (
                f"\n  The workspace image {', '.join(missing)} is not on this engine:"
                " build it with `make workspace-image` before creating workspaces."
            )
    print(banner, flush=True)
    stack = Stack(environ)
    stack.prepare()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.start()
        print(
            f"MLHub is up: {stack.site_url()}  (Ctrl-C stops everything)",
            flush=True,
        )
        stack.watch()
    except KeyboardInterrupt:
        print("\nStopping MLHub ...", flush=True)
    except StackError as error:
        print(f"MLHub stopped: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
