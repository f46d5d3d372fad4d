"""Reading configuration from the environment, the same way in every process.

Secrets come from ``NAME`` or from the file named by ``NAME_FILE`` (Docker and Kubernetes
secrets are files). Bad values fail loudly: a typo in a deployment should stop the start,
not silently fall back to a default.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from lib.resources import MIN_CPU, MIN_MEMORY, format_memory, parse_memory  # pure

# The folder holding the packages: the checkout when the code runs from one (an editable
# install included), else site-packages. Only the checkout's defaults below use it.
ROOT = Path(__file__).resolve().parent.parent
IN_CHECKOUT = (ROOT / "manage.py").is_file()
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
HUB_NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,3}[a-z0-9])?$")


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def env_int_at_least(name: str, default: int, minimum: int) -> int:
    value = env_int(name, default)
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def env_parsed(name: str, parse, fallback):
    """``parse(value)`` of the variable, else ``fallback``; a bad value names its variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return fallback
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r}: {error}") from None


def env_optional(name: str, parse):
    """``parse(value)`` of the variable, or None when it is unset or empty (e.g. "no limit");
    a negative value, or NaN (which no comparison would bound), is refused."""
    value = env_parsed(name, parse, None)
    if value is not None and not value >= 0:
        raise ConfigError(f"{name}={os.environ[name].strip()!r} must be 0 or more")
    return value


RATE_PATTERN = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF's throttles read it (``30/min``), checked at start, not at use."""
    value = env_str(name, default).strip()
    if not RATE_PATTERN.match(value):
        raise ConfigError(f"{name}={value!r} is not a rate like 30/min (s, min, hour or day)")
    return value


def env_secret(name: str, default: str | None = None) -> str | None:
    """The secret in ``name``, else the content of the file named by ``name_FILE``."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise ConfigError(f"{name}_FILE={path!r} cannot be read: {error}") from None
    return default


# JupyterHub refuses service tokens under 8 characters; a scraper's secret should be longer.
METRICS_TOKEN_MIN_LENGTH = 16


def metrics_token() -> str | None:
    """``MLHUB_METRICS_TOKEN`` (or ``_FILE``): the Prometheus scraper's bearer token for the
    portal's ``/metrics`` and the hub's ``/hub/metrics``; None when unset. Read by both."""
    token = env_secret("MLHUB_METRICS_TOKEN")
    if token and len(token) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigError(
            f"MLHUB_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters "
            f"(got {len(token)}): e.g. openssl rand -hex 32"
        )
    return token or None


def data_dir() -> Path:
    """Where state lives: ``MLHUB_DATA_DIR``, by default ``data/`` in the checkout.

    An installed copy has no checkout to default to, and site-packages is no place for
    databases and secrets: there it must be set (``/data`` in the image).
    """
    raw = env_str("MLHUB_DATA_DIR").strip()
    if raw:
        return Path(raw).resolve()
    if not IN_CHECKOUT:
        raise ConfigError(
            "MLHUB_DATA_DIR must be set: MLHub is installed, not run from its checkout, and "
            "keeps its state (databases, secrets) there"
        )
    return ROOT / "data"


PORTAL_SQLITE = "portal.sqlite3"  # the portal's database in data_dir() without DATABASE_URL


def portal_sqlite_file() -> Path | None:
    """The portal's SQLite database file; None when ``DATABASE_URL`` names another kind."""
    url = env_str("DATABASE_URL").strip()
    if not url:
        return data_dir() / PORTAL_SQLITE
    parts = urlsplit(url)
    # dj-database-url's reading: sqlite:////absolute/path, sqlite:///relative/path.
    return Path(parts.path[1:]) if parts.scheme == "sqlite" and parts.path[1:] else None


def chp_path() -> str:
    """The Node configurable-http-proxy: ``MLHUB_CHP_PATH``, else the checkout's
    ``node_modules`` (``npm ci``), else ``configurable-http-proxy`` on ``PATH`` (an installed
    copy, as JupyterHub's own default)."""
    configured = env_str("MLHUB_CHP_PATH").strip()
    if configured:
        return configured
    if IN_CHECKOUT:
        return str(ROOT / "node_modules" / ".bin" / "configurable-http-proxy")
    return "configurable-http-proxy"


def check_hub_name(name: str) -> str:
    """1-5 DNS characters: the prefix and ``mlhub.origin`` label of all this hub creates."""
    if not isinstance(name, str) or not HUB_NAME_PATTERN.match(name):
        raise ConfigError(
            f"HUB_NAME={name!r} must be 1-5 lowercase letters, digits or inner hyphens"
        )
    return name


def hub_name() -> str:
    """``HUB_NAME``, default ``mlhub``."""
    return check_hub_name(env_str("HUB_NAME", "mlhub"))


EXECUTION_MODES = ("local", "k8s", "process")
# Where a pod finds its own namespace (every pod with a service account token has it).
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def k8s_namespace() -> str:
    """Kubernetes mode's namespace for workspaces: ``MLHUB_K8S_NAMESPACE``, else the hub pod's
    own namespace, else ``default``."""
    name = env_str("MLHUB_K8S_NAMESPACE").strip()
    if not name and POD_NAMESPACE_FILE.exists():
        name = POD_NAMESPACE_FILE.read_text().strip()
    name = name or "default"
    if not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", name):
        raise ConfigError(f"MLHUB_K8S_NAMESPACE={name!r} is not a Kubernetes namespace name")
    return name


def execution_mode() -> str:
    mode = env_str("EXECUTION_MODE", "process")
    if mode not in EXECUTION_MODES:
        raise ConfigError(f"EXECUTION_MODE={mode!r} must be one of {', '.join(EXECUTION_MODES)}")
    return mode


# Where each part listens by default (and so the addresses `make run` uses).
ADDRESS_DEFAULTS = {
    # localhost, not 127.0.0.1: workspaces live on <user>.localhost, which browsers resolve
    # to loopback themselves, and host routing needs the portal's host to be their parent.
    "MLHUB_PUBLIC_URL": "http://localhost:8000",
    "MLHUB_PORTAL_URL": "http://127.0.0.1:8010",
    "MLHUB_HUB_URL": "http://127.0.0.1:8081",
    "MLHUB_PROXY_API_URL": "http://127.0.0.1:8082",
}


def _url(name: str) -> str:
    return env_str(name, ADDRESS_DEFAULTS[name]).rstrip("/")


# One segment of a path prefix: letters, digits and ``-._~`` (RFC 3986's unreserved), so the
# prefix means the same to the proxy, the hub, the portal, a browser and a cookie's Path.
BASE_URL_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def check_base_url(raw: str, name: str = "MLHUB_BASE_URL") -> str:
    """The path prefix MLHub is served under, as ``/`` or ``/a/b/`` (leading and trailing
    slash added). Only plain paths: a ``..``, ``?``, ``#``, ``//``, a space or a non-ASCII
    character would mean something else to each part that reads it."""
    segments = raw.strip("/").split("/") if raw.strip("/") else []
    plain = all(BASE_URL_SEGMENT.fullmatch(s) and set(s) != {"."} for s in segments)
    if not plain or "//" in raw:
        raise ConfigError(
            f"{name}={raw!r} is not a plain path like /mlhub/: use letters, digits and "
            f"-._~ between single slashes (no . or .., ?, #, //, spaces or non-ASCII)"
        )
    return "/" + "".join(f"{segment}/" for segment in segments)


def base_url() -> str:
    """``MLHUB_BASE_URL``: the path prefix of everything MLHub serves (default ``/``)."""
    return check_base_url(env_str("MLHUB_BASE_URL", "/"))


def public_url() -> str:
    """The one public origin people type (the proxy, or nginx in front of it), without path.

    ``MLHUB_PUBLIC_URL`` may end in the path prefix or not; a path it carries must be
    ``MLHUB_BASE_URL``'s, so the two can never disagree about where MLHub lives.
    """
    raw = _url("MLHUB_PUBLIC_URL")
    parts = urlsplit(raw)
    if parts.query or parts.fragment or not parts.scheme or not parts.netloc:
        raise ConfigError(f"MLHUB_PUBLIC_URL={raw!r} is not scheme://host[:port][/prefix/]")
    if parts.path not in ("", "/"):
        path = check_base_url(parts.path, "MLHUB_PUBLIC_URL's path")
        if path != base_url():
            raise ConfigError(
                f"MLHUB_PUBLIC_URL={raw!r} ends in {path}, but MLHUB_BASE_URL is "
                f"{base_url()}: set MLHUB_BASE_URL={path} or leave the path out of the URL"
            )
    return f"{parts.scheme}://{parts.netloc}"


def site_url() -> str:
    """Where people find MLHub: the public origin and the prefix, without the trailing slash
    (``https://tools.example.org/mlhub``; at the default prefix, the public URL itself)."""
    return public_url() + base_url().rstrip("/")


def bind_url() -> str:
    """Where the proxy listens: ``MLHUB_BIND_URL``, by default the public URL, with
    ``localhost`` pinned to 127.0.0.1 so the proxy never ends up on ::1 only."""
    default = public_url().replace("://localhost", "://127.0.0.1", 1)
    return env_str("MLHUB_BIND_URL", default).rstrip("/")


def single_origin() -> bool:
    """``MLHUB_SINGLE_ORIGIN``: serve workspaces on the portal's own origin (unsafe opt-out).

    Off by default: every workspace gets its own origin (``<user>.<public host>``), so a
    page a workspace serves can neither receive nor use its visitor's portal session.
    """
    return env_bool("MLHUB_SINGLE_ORIGIN", False)


SINGLE_ORIGIN_WARNING = (
    "MLHUB_SINGLE_ORIGIN=true: workspaces share the portal's origin. Any workspace owner can "
    "take over the session of anyone who opens a link to their workspace, admins included. "
    "Use it only where every person trusts every other; see docs/security.md."
)


def portal_url() -> str:
    """Where the portal listens; only the proxy and the hub talk to it directly."""
    return _url("MLHUB_PORTAL_URL")


def hub_url() -> str:
    """Where the hub listens (its API lives under ``/hub/api``)."""
    return _url("MLHUB_HUB_URL")


def proxy_api_url() -> str:
    return _url("MLHUB_PROXY_API_URL")


def start_timeout() -> int:
    """``MLHUB_START_TIMEOUT``: seconds the hub waits for a workspace to start (the hub's
    ``c.Spawner.start_timeout``); the portal's task that follows a start waits as long."""
    return env_int_at_least("MLHUB_START_TIMEOUT", 120, 1)


# The usage sampler's bounds: django-q2 schedules by the whole minute, and a sample a day
# apart tells little of a run's peak (cgroup v2 keeps none: the sampler sees only its samples).
USAGE_SAMPLE_LEAST, USAGE_SAMPLE_MOST = 60, 86400


def usage_sample_seconds() -> int | None:
    """``MLHUB_USAGE_SAMPLE_SECONDS``: how often the usage sampler measures running workspaces
    (default 300); ``0`` or ``-1``: never (None), as ``CLEANUP_INTERVAL_SECONDS=-1``."""
    name = "MLHUB_USAGE_SAMPLE_SECONDS"
    value = env_int(name, 300)
    if value in (0, -1):
        return None
    if not USAGE_SAMPLE_LEAST <= value <= USAGE_SAMPLE_MOST:
        raise ConfigError(
            f"{name}={value} must be from {USAGE_SAMPLE_LEAST} to {USAGE_SAMPLE_MOST} seconds,"
            " or 0 (or -1) for no sampling"
        )
    return value


# The image workspaces run when nothing says otherwise: the first allowed one of the hub, a
# template's default, the spawners' own default. The one place that names it.
DEFAULT_IMAGE = "mlhub-workspace:latest"
# The data-science image (deploy/workspace/Dockerfile, target ds), allowed by default beside it:
# the template "data-science" that the first set-up makes runs it.
DATA_SCIENCE_IMAGE = "mlhub-workspace-ds:latest"


def workspace_images() -> list[str]:
    """``MLHUB_WORKSPACE_IMAGES``: the images workspaces may use, comma-separated (default:
    the lean image, then the data-science one)."""
    raw = env_str("MLHUB_WORKSPACE_IMAGES", f"{DEFAULT_IMAGE},{DATA_SCIENCE_IMAGE}")
    return [image.strip() for image in raw.split(",") if image.strip()]


def host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# The hub's bounds of every workspace. The spawners refuse a start above them; the portal reads
# the same variables, so that no template offers more than the hub will start.
def cpu_max() -> float:
    """``MLHUB_CPU_MAX``: the most cores one workspace may ask for (default: this host's)."""
    cores = env_parsed("MLHUB_CPU_MAX", float, float(os.cpu_count() or 1))
    if not (math.isfinite(cores) and cores >= MIN_CPU):  # NaN would bound nothing
        raise ConfigError(f"MLHUB_CPU_MAX={cores!r} must be a number of cores, at least {MIN_CPU}")
    return cores


def memory_max() -> int:
    """``MLHUB_MEMORY_MAX``: the most memory one workspace may ask for, bytes or "8G"
    (default: this host's)."""
    size = env_parsed("MLHUB_MEMORY_MAX", parse_memory, host_memory())
    if size < MIN_MEMORY:
        raise ConfigError(f"MLHUB_MEMORY_MAX={size} must be at least {format_memory(MIN_MEMORY)}")
    return size


def gpus_max() -> int:
    """``MLHUB_GPUS_MAX``: the most GPUs one workspace may ask for (default 0: none)."""
    return env_int_at_least("MLHUB_GPUS_MAX", 0, 0)


def resources_dir() -> Path:
    """The seed's ``/resources`` (``MLHUB_RESOURCES_DIR``); locally under the data directory."""
    return Path(env_str("MLHUB_RESOURCES_DIR", str(data_dir() / "resources"))).resolve()


def default_pool_size() -> int:
    """``MLHUB_POOL_SIZE``: a new template's warm pool size (default 0: no pool)."""
    return env_int_at_least("MLHUB_POOL_SIZE", 0, 0)
