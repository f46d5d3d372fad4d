#!/usr/bin/env python
"""The MLHub image's entry point, installed in it as /usr/local/bin/mlhub-entrypoint
(deploy/hub/Dockerfile, docs/deploy.md). It runs on the image's Python, where MLHub's
packages are installed; nothing outside the image imports it.

    mlhub-entrypoint start       the ENTRYPOINT: check the settings, prepare /data (secrets,
                                 database, static files), then hand over to supervisord,
                                 which runs and restarts the roles
    mlhub-entrypoint run ROLE    what supervisord runs for one role
    mlhub-entrypoint health      the HEALTHCHECK: every role started here answers
    mlhub-manage COMMAND ...     a Django management command with the settings the roles get
                                 (`docker exec <container> mlhub-manage mlhub_backup /backups/x`;
                                 also `mlhub-entrypoint manage COMMAND ...`)

Roles and their switches (the original MLHub's, plus two), all true by default:
START_PORTAL (gunicorn), START_QCLUSTER (django-q2), START_JHUB (JupyterHub), START_CHP (the
Node proxy), START_NGINX (TLS and SSH on the one public port), START_SSH (the SSH gateway).

A bad setting is one line on stderr and exit status 1 before anything starts: never a
half-started container.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from lib import env
from lib.labels import LABEL_ORIGIN
from lib.stack import (
    DJANGO_ADMIN,
    HUB_COMMAND,
    PRIVATE_UMASK,
    Stack,
    StackError,
    listening,
    portal_command,
    stack_environment,
)

# Role -> its switch; supervisord's program names are the roles (deploy/hub/supervisord.conf).
ROLES = {
    "portal": "START_PORTAL",
    "tasks": "START_QCLUSTER",
    "hub": "START_JHUB",
    "chp": "START_CHP",
    "nginx": "START_NGINX",
    "ssh": "START_SSH",
}
SUPERVISOR_CONFIG = "/etc/mlhub/supervisord.conf"
NGINX_START = "/usr/local/lib/mlhub/nginx/start.sh"
SSH_START = "/usr/local/bin/mlhub-ssh-gateway"  # deploy/hub/ssh/install.sh
PUBLIC_PORT = 8080  # the one port inside the container, as the original's
DOCKER_SOCKET = Path("/var/run/docker.sock")
# The portal and the Node proxy run as this account (deploy/hub/Dockerfile makes it,
# supervisord.conf switches to it): the parts that face the web hold no root, no Docker
# socket, and none of the hub's files. The hub and the task cluster, which drive Docker,
# stay root.
WEB_ACCOUNT = "mlhub-web"
WAL = ("-wal", "-shm")  # SQLite's files beside a database in WAL mode (portal/settings.py)


class Refused(Exception):
    """A setting that cannot work: said in one line, and nothing starts."""


def switch(name: str) -> bool:
    try:
        return env.env_bool(name, True)
    except env.ConfigError as error:
        raise Refused(str(error)) from None


def image_defaults(environ: dict[str, str]) -> None:
    """The image's own defaults, for whatever the admin did not set."""
    nginx = environ["START_NGINX"] == "true"
    environ.setdefault("MLHUB_DATA_DIR", "/data")
    environ.setdefault("MLHUB_RESOURCES_DIR", "/resources")
    environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    environ.setdefault("EXECUTION_MODE", "local")
    environ.setdefault("SSL_ENABLED", "true")
    environ.setdefault("MLHUB_PUBLIC_URL", f"https://localhost:{PUBLIC_PORT}")
    # nginx owns the public port and passes the web on to the Node proxy on loopback; without
    # nginx (behind the admin's own TLS terminator) the proxy takes the public port itself.
    environ.setdefault(
        "MLHUB_BIND_URL", "http://127.0.0.1:8000" if nginx else f"http://0.0.0.0:{PUBLIC_PORT}"
    )
    environ.setdefault("MLHUB_NGINX_LISTEN", f"0.0.0.0:{PUBLIC_PORT}")
    # Proxies that add to X-Forwarded-For before the portal: nginx, then the Node proxy.
    environ.setdefault("MLHUB_TRUSTED_PROXY_COUNT", "2" if nginx else "1")
    environ.setdefault("MLHUB_SSH_GATEWAY_LISTEN", "127.0.0.1:2222")
    environ.setdefault("MLHUB_SSH_GATEWAY_ADDRESS", environ["MLHUB_SSH_GATEWAY_LISTEN"])
    environ.setdefault("MLHUB_SSH_HOST_KEY_DIR", str(Path(environ["MLHUB_DATA_DIR"]) / "ssh"))
    # The proxy is a supervised process of its own; a hub restart or an image upgrade leaves
    # workspaces running (the new hub takes them over).
    environ.setdefault("MLHUB_PROXY_EXTERNAL", "true")
    environ.setdefault("MLHUB_CLEANUP_SERVERS", "false")
    # Docker names a container's host after its id unless told otherwise: that is this one.
    environ.setdefault("MLHUB_DOCKER_HUB_CONTAINER", socket.gethostname())


def docker_checks(environ: dict[str, str]) -> None:
    """Docker mode from a container: the engine's socket, and a network with names."""
    import docker
    from docker.errors import DockerException, NotFound

    if not DOCKER_SOCKET.exists():
        raise Refused(
            "EXECUTION_MODE=local needs the Docker engine's socket: "
            "-v /var/run/docker.sock:/var/run/docker.sock"
        )
    try:
        client = docker.from_env(timeout=10)
        me = client.api.inspect_container(environ["MLHUB_DOCKER_HUB_CONTAINER"])
    except NotFound:
        raise Refused(
            f"MLHUB_DOCKER_HUB_CONTAINER={environ['MLHUB_DOCKER_HUB_CONTAINER']} is no container "
            "on this Docker engine: set it to this container's name"
        ) from None
    except DockerException as error:
        raise Refused(f"the Docker engine does not answer at {DOCKER_SOCKET}: {error}") from None
    networks = set(me["NetworkSettings"]["Networks"])
    # Workspaces are reached by container name (SSH's permitopen): Docker's DNS answers those
    # only on networks people create, not on the default "bridge" or "host".
    if not networks - {"bridge", "host", "none"}:
        raise Refused(
            "run this container on a network of its own (docker network create mlhub; "
            "docker run --network mlhub ...): on Docker's default bridge it cannot resolve "
            "workspace names"
        )
    networks_join(client, environ, networks)
    client.close()


def networks_join(client, environ: dict[str, str], joined: set[str]) -> None:
    """Join the people's networks at once: a new container (an upgrade, `compose up` with a
    new image) must reach the workspaces its predecessor started before the hub takes them
    over. The spawner joins new ones itself (spawners/docker.py)."""
    from docker.errors import APIError

    ours = client.api.networks(filters={"label": f"{LABEL_ORIGIN}={env.hub_name()}"})
    for network in ours:
        if network["Name"] in joined:
            continue
        try:
            client.api.connect_container_to_network(
                environ["MLHUB_DOCKER_HUB_CONTAINER"], network["Id"]
            )
        except APIError as error:  # one network's trouble must not stop the others
            print(f"mlhub: could not join {network['Name']}: {error}", file=sys.stderr)
    if ours:
        print(f"mlhub: on {len(ours)} people's networks", flush=True)


def nginx_check(environ: dict[str, str]) -> None:
    """nginx's own checks (certificate, key, ports); it makes a certificate if asked to."""
    checked = subprocess.run(
        ["sh", NGINX_START, "--check"], env=environ, capture_output=True, text=True
    )
    if checked.returncode != 0:
        lines = [line for line in checked.stderr.splitlines() if line.strip()]
        said = lines[-1].removeprefix("mlhub-nginx: error: ") if lines else "its checks failed"
        raise Refused(f"nginx: {said}")


def public_port_check(environ: dict[str, str]) -> None:
    """The roles' own addresses must be free (a second copy on the host's network)."""
    for role, url in (("START_CHP", environ["MLHUB_BIND_URL"]), ("START_PORTAL", env.portal_url())):
        if environ[role] != "true":
            continue
        address = urlsplit(url)
        if listening(address.hostname or "127.0.0.1", address.port):
            raise Refused(f"something already listens on {address.netloc} ({role})")


# PostgreSQL may start beside this container (compose): how long it may take to answer.
DATABASE_WAIT = 120


def database_ready(environ: dict[str, str], timeout: float = DATABASE_WAIT) -> None:
    """Wait for the database, in a container without the portal (whose set-up waits the
    same way, portal/database_wait.py)."""
    wait = [*DJANGO_ADMIN, "mlhub_wait_for_database", f"{timeout:g}"]
    run = subprocess.run(wait, env=environ, capture_output=True, text=True)
    if run.returncode != 0:
        said = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        raise Refused(said.removeprefix("CommandError: "))


def hub_database_prepare() -> None:
    """The hub's PostgreSQL database made if missing, and the SQLite database of an install
    from before the hub moved to PostgreSQL moved into it (hubconfig/database.py): an
    upgraded compose install keeps its hub's users, servers and tokens."""
    from hubconfig import database

    try:
        for line in database.prepare():
            print(f"mlhub: {line}", flush=True)
    except database.HubDatabaseError as error:
        raise Refused(f"the hub's database: {error}") from None


def prepare(environ: dict[str, str]) -> None:
    """Wait for the database, migrate, collect static files and seed: ``make run``'s own
    set-up, in one Django process."""
    try:
        Stack(environ).prepare(wait_for_database=DATABASE_WAIT)
    except subprocess.CalledProcessError as error:
        args = error.cmd[len(DJANGO_ADMIN) :]
        raise Refused(f"`django-admin {' '.join(args)}` failed (above)") from None


def web_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(WEB_ACCOUNT)
    except KeyError:
        return None


def share_with_web_account(account: pwd.struct_passwd | None) -> None:
    """Let ``account`` (WEB_ACCOUNT's) read the shared secrets and the static files and write
    the portal's SQLite database, and nothing else of the data folder: the hub's folder, the
    gateway's host key and the certificate's key stay root's. None: there is no such account
    (not the image; a checkout's stack runs as one user).

    Done at every start, so that a data folder made by an older image (all root's) works."""
    if account is None:
        return
    data = env.data_dir()  # where the settings put it, as the database below
    database = env.portal_sqlite_file()
    try:
        # The group may add files (SQLite's -wal and -shm beside its database); the sticky
        # bit keeps it from renaming or removing anyone else's, such as the hub's folder.
        os.chown(data, -1, account.pw_gid)
        data.chmod(0o1770)
        secrets = data / "secrets"  # lib.stack.secrets_prepare's; given *_FILE are the admin's
        if secrets.is_dir():
            os.chown(secrets, -1, account.pw_gid)
            secrets.chmod(0o750)
            for secret in secrets.iterdir():
                os.chown(secret, -1, account.pw_gid)
                secret.chmod(0o640)
        # The static files are everyone's (the portal serves them); made with a private umask.
        for folder, _, files in os.walk(data / "static"):
            Path(folder).chmod(0o755)
            for name in files:
                (Path(folder) / name).chmod(0o644)
        if database:
            # The task cluster writes it as root too: SQLite gives the journal files it makes
            # as root the database's owner.
            for path in (database, *(database.with_name(database.name + s) for s in WAL)):
                if path.exists():
                    os.chown(path, account.pw_uid, account.pw_gid)
    except OSError as error:
        raise Refused(
            f"cannot share {data} with the portal's account {WEB_ACCOUNT}: {error}"
        ) from None


def settings() -> dict[str, str]:
    """This environment with the switches as true/false and the image's defaults; also what
    ``os.environ`` holds afterwards (lib.env reads it). The HEALTHCHECK and ``docker exec``
    get the image's environment only, so they compute the same."""
    environ = dict(os.environ)
    for name in ROLES.values():
        environ[name] = "true" if switch(name) else "false"
    image_defaults(environ)
    os.environ.update(environ)
    return environ


def start() -> int:
    try:
        environ = settings()
        environ = stack_environment(environ)  # the data folder and generated secrets
        os.environ.update(environ)
        env.execution_mode()
        env.site_url()  # MLHUB_BASE_URL is a plain path, and MLHUB_PUBLIC_URL's path agrees
        if environ["START_NGINX"] == "true":
            nginx_check(environ)
        if environ["EXECUTION_MODE"] == "local" and environ["START_JHUB"] == "true":
            docker_checks(environ)
        public_port_check(environ)
        if environ["START_PORTAL"] == "true":
            prepare(environ)
        elif environ["START_QCLUSTER"] == "true":
            database_ready(environ)
        if environ["START_JHUB"] == "true":
            hub_database_prepare()
        share_with_web_account(web_account())
    except (Refused, env.ConfigError, StackError) as error:
        print(f"mlhub: error: {error}", file=sys.stderr, flush=True)
        return 1
    started = [role for role, name in ROLES.items() if environ[name] == "true"]
    print(f"mlhub: starting {', '.join(started) or 'nothing'}", flush=True)
    os.execvpe("supervisord", ["supervisord", "-n", "-c", SUPERVISOR_CONFIG], environ)


def chp_command(environ: dict[str, str]) -> list[str]:
    """The Node proxy as JupyterHub starts it (jupyterhub/proxy.py), with the portal as its
    default target."""
    public = urlsplit(environ["MLHUB_BIND_URL"])
    api = urlsplit(env.proxy_api_url())
    # Workspaces on their own origins: the hub's routes name hosts.
    routing = [] if env.single_origin() else ["--host-routing"]
    # The Helm chart's proxy terminates TLS itself when no Ingress does (templates/proxy.yaml).
    cert, key = (environ.get(f"MLHUB_PROXY_SSL_{part}", "") for part in ("CERT", "KEY"))
    tls = ["--ssl-cert", cert, "--ssl-key", key] if cert and key else []
    return [
        env.chp_path(),
        "--ip",
        public.hostname or "",
        "--port",
        str(public.port),
        "--api-ip",
        api.hostname or "127.0.0.1",
        "--api-port",
        str(api.port),
        f"--default-target={env.portal_url()}",
        f"--error-target={env.hub_url()}{env.base_url()}hub/error",
        *routing,
        *tls,
    ]


def run(role: str) -> int:
    """Replace this process with the role's (supervisord watches the same pid)."""
    environ = dict(os.environ)
    if role == "portal":
        command = portal_command(environ)
    elif role == "tasks":
        command = [*DJANGO_ADMIN, "qcluster"]
    elif role == "hub":
        hub_dir = env.data_dir() / "hub"
        hub_dir.mkdir(mode=0o700, exist_ok=True)
        os.chdir(hub_dir)
        command = HUB_COMMAND
    elif role == "chp":
        # The proxy reads its API token from the environment only.
        environ["CONFIGPROXY_AUTH_TOKEN"] = env.env_secret("CONFIGPROXY_AUTH_TOKEN") or ""
        command = chp_command(environ)
    elif role == "nginx":
        command = ["sh", NGINX_START]
    elif role == "ssh":
        # The gateway's one call goes to the portal's root: under a path prefix, there.
        environ["MLHUB_PORTAL_URL"] = env.portal_url() + env.base_url().rstrip("/")
        command = ["sh", SSH_START]
    else:
        print(f"mlhub: unknown role {role!r} (one of {', '.join(ROLES)})", file=sys.stderr)
        return 2
    os.execvpe(command[0], command, environ)


def manage(args: list[str]) -> int:
    """A management command (``mlhub_backup DEST``, ``mlhub_restore SRC``, ``cleanup``...)
    with the environment ``start`` gives the roles, made the same way from this container's
    own (``docker exec`` and ``docker compose run`` get no other), as the task cluster runs:
    as root in the image, which reads the hub's folder and the gateway's keys the web
    account may not. What it writes is private (the roles' umask); then the data folder is
    shared with the web account as at every start, so the running portal can use it."""
    try:
        environ = stack_environment(settings())
    except (Refused, env.ConfigError, StackError) as error:
        print(f"mlhub: error: {error}", file=sys.stderr, flush=True)
        return 1
    os.environ.update(environ)
    os.umask(PRIVATE_UMASK)
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["mlhub-manage", *args])  # SystemExit on its errors
    finally:
        if os.geteuid() == 0:
            try:
                share_with_web_account(web_account())
            except Refused as error:
                print(f"mlhub: error: {error}", file=sys.stderr, flush=True)
    return 0


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=3, allow_redirects=False).status_code < 500
    except requests.RequestException:
        return False


def _tls_answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a liveness check
    try:
        target = ("127.0.0.1" if host == "0.0.0.0" else host, int(port))
        with socket.create_connection(target, 3) as raw, context.wrap_socket(raw):
            return True
    except OSError:
        return False


def _supervised_running(role: str) -> bool:
    """supervisord says the role runs (for the SSH gateway: a probe of its port would be a
    failed login in its log every half minute)."""
    status = subprocess.run(
        ["supervisorctl", "-c", SUPERVISOR_CONFIG, "status", role],
        capture_output=True,
        text=True,
    )
    return " RUNNING " in f" {status.stdout} "


def health() -> int:
    """Exit 0 when every started role answers; else name those that do not."""
    try:
        environ = settings()
    except Refused as error:
        print(json.dumps({"healthy": False, "error": str(error)}))
        return 1
    bind = urlsplit(environ["MLHUB_BIND_URL"])
    checks = {
        "portal": lambda: _answers(f"{env.portal_url()}{env.base_url()}accounts/login/"),
        "hub": lambda: _answers(f"{env.hub_url()}{env.base_url()}hub/api/"),
        "chp": lambda: _answers(
            f"http://{'127.0.0.1' if bind.hostname == '0.0.0.0' else bind.hostname}:{bind.port}/"
        ),
        "nginx": lambda: _tls_answers(environ["MLHUB_NGINX_LISTEN"]),
        "ssh": lambda: _supervised_running("ssh"),
    }
    failing = [
        role for role, check in checks.items() if environ[ROLES[role]] == "true" and not check()
    ]
    print(json.dumps({"healthy": not failing, "not_answering": failing}))
    return 1 if failing else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["manage"]:
        return manage(argv[1:])
    if argv[:1] == ["start"]:
        return start()
    if argv[:1] == ["run"] and len(argv) == 2:
        return run(argv[1])
    if argv[:1] == ["health"]:
        return health()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    # The image links mlhub-manage to this file (deploy/hub/Dockerfile).
    called = Path(sys.argv[0]).name
    sys.exit(main(["manage", *sys.argv[1:]] if called == "mlhub-manage" else sys.argv[1:]))
