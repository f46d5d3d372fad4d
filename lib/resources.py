"""Workspace resources: parse, check against limits, and turn into JupyterHub `user_options`.

Pure: no Django, no Docker. The portal uses it to answer bad input with a 400 before it calls
the hub; the spawners use it again on the hub side, because a client may call the hub's REST
API directly and `user_options` is whatever that client sent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any


class ResourceError(ValueError):
    """Bad or disallowed resources; the message is meant for the person who asked."""


WORKSPACE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,29}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The hub's own variables (API token, URLs) must not be set or shadowed by the user.
RESERVED_ENV_PREFIX = "JUPYTERHUB_"

# Workspace environment variables (`env`), documented in docs/configuration.md. The bounds keep
# one request from filling the portal's and the hub's databases (both store user_options) and
# stay well inside what Linux takes at exec: one "NAME=value" of at most 128 KiB
# (MAX_ARG_STRLEN), all of argv and environ together about 2 MiB by default, the hub's own
# variables included. Past them Docker or the kernel would fail with a raw error.
ENV_NAME_MAX = 128  # characters (names are ASCII); real names are far shorter
ENV_VALUE_MAX = 32 * 1024  # UTF-8 bytes per value: a PEM key or certificate chain fits
ENV_COUNT_MAX = 64  # variables per workspace
ENV_TOTAL_MAX = 128 * 1024  # UTF-8 bytes of all "NAME=value" together
# Values are text: NUL cannot be passed to a process at all (C strings end there) and other
# control characters are invisible mistakes or terminal escapes. Multi-line values (PEM keys)
# are legitimate, so tab and newline are allowed; CR, DEL and the C1 controls are not.
_ENV_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ENV_SURROGATE = re.compile(r"[\ud800-\udfff]")  # JSON "\ud800" decodes to one: not UTF-8

# Reserved names, refused whatever their case. Why: the hub's and the spawner's variables must
# not be shadowed, the image's are what the server needs to start, and the rest change which code
# the workspace loads or who it runs as (an image whose entrypoint starts as root, like the
# jupyter/docker-stacks ones, would hand them to a root process). The hub's own variables win
# over the user's anyway; refusing them up front says so with a 400 instead of a broken start.
_SET_BY_HUB = "set by the hub or the image"
_LOADS_CODE = "it changes which code the workspace loads"
_IDENTITY = "it changes the workspace's user or rights"
RESERVED_ENV_PREFIXES = {
    RESERVED_ENV_PREFIX: _SET_BY_HUB,  # Spawner.get_env: API token, URLs, OAuth, server name
    "JPY_": _SET_BY_HUB,  # JPY_API_TOKEN (Spawner.get_env), JPY_SESSION_NAME
    # jupyter_core/jupyter_server read JUPYTER_* (config and data paths, JUPYTER_TOKEN,
    # JUPYTER_PORT, JUPYTER_GATEWAY_URL, JUPYTER_SERVER_ALLOW_UNAUTHENTICATED_ACCESS, ...);
    # dockerspawner sets JUPYTER_IMAGE_SPEC.
    "JUPYTER_": "it configures the Jupyter server",
    # MLHUB_SSH_AUTHORIZED_KEYS (SSH_KEYS_ENV) among them: the sshd's keys come from ssh_keys.
    "MLHUB_": "MLHub's own settings",
}
RESERVED_ENV_NAMES = {
    # deploy/workspace/Dockerfile's ENV
    "PATH": _SET_BY_HUB,
    "HOME": _SET_BY_HUB,
    "SHELL": _SET_BY_HUB,
    "LANG": _SET_BY_HUB,
    "LC_ALL": _SET_BY_HUB,
    "DEBIAN_FRONTEND": _SET_BY_HUB,
    # Spawner.get_env (MLHub's Docker spawner sets CPU_LIMIT and MEM_LIMIT itself)
    "MEM_LIMIT": _SET_BY_HUB,
    "MEM_GUARANTEE": _SET_BY_HUB,
    "CPU_LIMIT": _SET_BY_HUB,
    "CPU_GUARANTEE": _SET_BY_HUB,
    # LocalProcessSpawner (process mode): env_keep and user_env
    "USER": _SET_BY_HUB,
    "VIRTUAL_ENV": _SET_BY_HUB,
    "CONDA_DEFAULT_ENV": _SET_BY_HUB,
    "CONDA_ROOT": _SET_BY_HUB,
    # who the workspace runs as: getpass reads LOGNAME first; dockerspawner's SystemUserSpawner
    # and docker-stacks' start.sh use NB_*, USER_ID and GRANT_SUDO
    "LOGNAME": _IDENTITY,
    "NB_USER": _IDENTITY,
    "NB_UID": _IDENTITY,
    "NB_GID": _IDENTITY,
    "USER_ID": _IDENTITY,
    "GRANT_SUDO": _IDENTITY,
    # code loaded by the dynamic linker, Python or bash before anything the user runs.
    # PYTHONSAFEPATH is not here: it only removes a directory from sys.path.
    "LD_PRELOAD": _LOADS_CODE,
    "LD_LIBRARY_PATH": _LOADS_CODE,
    "LD_AUDIT": _LOADS_CODE,
    "PYTHONPATH": _LOADS_CODE,
    "PYTHONHOME": _LOADS_CODE,
    "PYTHONSTARTUP": _LOADS_CODE,
    "PYTHONUSERBASE": _LOADS_CODE,
    "BASH_ENV": _LOADS_CODE,
}

# The owner's SSH public keys (`ssh_keys`), which the workspace image's own sshd lets in
# (deploy/workspace/start.sh): "<type> <base64>" as the portal stores them (no comment, no
# options: an options field would let a key run a forced command or forward anywhere). The
# spawner passes them, one a line, in this variable.
SSH_KEYS_ENV = "MLHUB_SSH_AUTHORIZED_KEYS"
SSH_KEY_PATTERN = r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]+$"
# The most SSH keys one person has (the portal refuses the next) and a workspace receives.
SSH_KEYS_MAX = 20
# A 16384-bit RSA key (OpenSSH's largest) is about 2,800 characters: 20 of the longest allowed
# stay under Linux's 128 KiB for one NAME=value.
SSH_KEY_LENGTH_MAX = 4096

# CPU is in cores, with one precision and one floor for every engine. Precision: a millicore
# (0.001 core), the finest Kubernetes takes ("1m"); for Docker it is a CFS quota of 100 us per
# 100 ms period. Values are rounded to it. Floor: 0.01 core, Docker's own ("Range of CPUs is
# from 0.01"): its NanoCpus become a quota of NanoCpus / 10,000 us, and the kernel refuses a
# quota under 1 ms (runc fails the start with a raw error), while one that rounds to 0, below
# 0.00001 core, is taken as no limit at all. The floor applies to the value as asked, so
# nothing that rounds up to 0.01 gets past it.
MIN_CPU = 0.01
CPU_DECIMALS = 3

MIN_MEMORY = 64 * 1024**2
# One meaning for every engine: memory sizes are binary, whatever the case or suffix, as Docker
# reads them (go-units RAMInBytes) and as the original MLHub's users typed them: "2G", "2g",
# "2Gi" and "2GiB" are all 2 GiB; "256m" is 256 MiB (never millibytes). Kubernetes gets the
# bytes as "2Gi" (kube_quantity), so its own decimal "G" never comes into play.
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_MEMORY_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:ib?|b)?$", re.IGNORECASE)
# A GPU count in text ("count:2"), as the portal stores it: bare digits are device indices.
_GPU_COUNT = re.compile(r"^count:(\d+)$")


def validate_workspace_name(name: str) -> str:
    """Return `name` if it is a valid workspace (named server) name, else raise."""
    if not isinstance(name, str) or not re.match(WORKSPACE_NAME_PATTERN, name):
        raise ResourceError(
            f"workspace name {name!r} is not valid: use 1-30 lowercase letters, digits and "
            "hyphens, starting with a letter"
        )
    return name


def _number(value: float) -> str:
    # 2.0 -> "2", 1.5 -> "1.5": messages read like what people typed.
    return f"{value:g}"


def _cores(value: float) -> str:
    return f"{_number(value)} core" if value == 1 else f"{_number(value)} cores"


def parse_cpu(value: Any) -> float:
    """Cores, at least MIN_CPU, rounded to a millicore: 2, 0.5, "1.5", or Kubernetes-style
    millicores "500m"."""
    text = str(value).strip()
    try:
        if isinstance(value, bool):  # True is an int; "cpu: true" is a mistake
            raise ValueError
        if isinstance(value, str) and text.endswith("m"):
            cpu = float(text[:-1]) / 1000
        else:
            cpu = float(value)  # OverflowError: an int too large for a float
        if not math.isfinite(cpu):  # "nan", "inf", "1e400"
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ResourceError(
            f"cpu {value!r} is not a number of cores (like 1, 0.5 or '1.5')"
        ) from None
    if cpu < MIN_CPU:
        raise ResourceError(f"cpu {text} is below the minimum of {_cores(MIN_CPU)}")
    return round(cpu, CPU_DECIMALS)


def parse_memory(value: Any) -> int:
    """Bytes as an int: ints are bytes; strings like "512M", "1.5G", "256m", "1024K", "2GiB"."""
    if isinstance(value, bool):
        raise ResourceError(f"memory {value!r} is not a size (like '512M' or '2G')")
    if isinstance(value, int):
        size = value
    else:
        match = _MEMORY_PATTERN.match(str(value).strip())
        if not match:
            raise ResourceError(f"memory {value!r} is not a size (like '512M' or '2G')")
        number, unit = match.groups()
        size = int(float(number) * _MEMORY_UNITS[unit.lower()])
    if size <= 0:
        raise ResourceError(f"memory {value!r} must be above 0")
    return size


def format_memory(size: int) -> str:
    """The shortest exact form: 2147483648 -> "2G", 1.5 GiB -> "1536M", 1000 -> "1000"."""
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def kube_quantity(size: int) -> str:
    """Bytes as a Kubernetes quantity in binary units: 2147483648 -> "2Gi", 1000 -> "1000"."""
    text = format_memory(size)
    return text if text[-1].isdigit() else f"{text}i"


def gpu_count_text(count: int) -> str:
    """A GPU count in the text form parse_gpus reads back: 2 -> "count:2"."""
    return f"count:{count}"


def gpus_text(gpus: str | tuple[str, ...] | list[str] | int | None) -> str:
    """GPUs as the text parse_gpus reads back the same: "", "all", "0,1" or "count:2"."""
    if gpus is None:
        return ""
    if isinstance(gpus, int):
        return gpu_count_text(gpus)
    return gpus if isinstance(gpus, str) else ",".join(gpus)


def parse_gpus(value: Any, ids_allowed: bool = True) -> str | list[str] | int | None:
    """GPUs: None for none; a count as an int (a JSON number such as 2, or "count:2"); or, where
    the engine lets a workspace name them (Docker, `ids_allowed`), "all" or device indices as
    strings ("0,1" or [0, 1]).

    None, "", 0 and "count:0" mean no GPU. Docker reads `--gpus 2` as a count while people often
    mean the device "2": a number is a count, text digits are indices. Kubernetes assigns GPUs
    itself, so there any digits are a count and indices or "all" are refused.
    """
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _GPU_COUNT.match(value.strip()):
        value = int(_GPU_COUNT.match(value.strip()).group(1))
    elif isinstance(value, str) and not ids_allowed and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ResourceError(f"gpus {value} must be a count of 0 or more")
        return value or None
    if not ids_allowed:
        raise ResourceError(
            f"gpus {value!r} is not a number: Kubernetes assigns GPUs itself, ask for a count "
            "such as 1"
        )
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    if isinstance(value, str):
        items: list[Any] = [item.strip() for item in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ResourceError(
            f"gpus {value!r} is not a count (like 2), 'all' or device indices such as '0,1'"
        )
    indices = []
    for item in items:
        if isinstance(item, bool) or not re.match(r"^\d+$", str(item).strip()):
            raise ResourceError(f"gpus {value!r} is not 'all' or device indices such as '0,1'")
        indices.append(str(int(str(item).strip())))
    if len(set(indices)) != len(indices):
        raise ResourceError(f"gpus {value!r} names a device twice")
    return indices or None


def parse_expires_at(value: Any) -> int:
    """Epoch seconds, 0 = never: from None/""/0, an int, digits, or an ISO 8601 datetime."""
    if value is None or value == "" or value == 0:
        return 0
    if isinstance(value, bool):
        raise ResourceError(f"expires_at {value!r} is not a time")
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = int(float(value))
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ResourceError(
                f"expires_at {value!r} is not epoch seconds or an ISO datetime"
            ) from None
        if moment.tzinfo is None:  # a naive time from the portal is UTC (USE_TZ stores UTC)
            moment = moment.replace(tzinfo=UTC)
        seconds = int(moment.timestamp())
    if seconds < 0:
        raise ResourceError(f"expires_at {value!r} is before 1970")
    return seconds


def parse_ssh_keys(value: Any) -> tuple[str, ...]:
    """`ssh_keys`: a list of at most SSH_KEYS_MAX "<type> <base64>" public keys; None or []
    for none. Messages give the key's position, never its text (a private key pasted by
    mistake must not reach a log)."""
    if value is None or value == []:
        return ()
    if not isinstance(value, list):
        raise ResourceError('ssh_keys must be a list of public keys ("<type> <base64>")')
    if len(value) > SSH_KEYS_MAX:
        raise ResourceError(f"ssh_keys has {len(value)} keys, above the maximum of {SSH_KEYS_MAX}")
    for number, key in enumerate(value, 1):
        # fullmatch: "$" alone would let a trailing newline, a second line, through.
        if (
            not isinstance(key, str)
            or len(key) > SSH_KEY_LENGTH_MAX
            or not re.fullmatch(SSH_KEY_PATTERN, key)
        ):
            raise ResourceError(
                f'ssh_keys: key {number} is not an OpenSSH public key "<type> <base64>" of '
                "type ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (without a comment)"
            )
    return tuple(value)


@dataclass(frozen=True)
class Limits:
    """What one hub allows. Zero defaults are filled in: the first image, min(1 core, cpu_max),
    min(2G, memory_max)."""

    images: tuple[str, ...]
    cpu_max: float
    memory_max: int
    gpus_max: int = 0  # 0 = no GPU allowed; else at most this many device indices
    default_image: str = ""
    default_cpu: float = 0.0
    default_memory: int = 0
    # "all" hands over every GPU of the host, whatever gpus_max says: opt in explicitly.
    allow_all_gpus: bool = False
    # Docker lets a workspace name device indices; Kubernetes only takes a count.
    gpu_ids: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: fill the defaults once, here
        set_(self, "images", tuple(self.images))
        if not self.images:
            raise ResourceError("no workspace image is allowed: configure at least one")
        if not self.cpu_max >= MIN_CPU:  # NaN too
            raise ResourceError(
                f"cpu_max {_number(self.cpu_max)} is below the minimum of {_cores(MIN_CPU)}"
            )
        if self.memory_max < MIN_MEMORY:
            raise ResourceError(f"memory_max must be at least {format_memory(MIN_MEMORY)}")
        if self.gpus_max < 0:
            raise ResourceError(f"gpus_max {self.gpus_max} must be 0 or more")
        set_(self, "default_image", self.default_image or self.images[0])
        default_cpu = self.default_cpu or min(1.0, self.cpu_max)
        if not default_cpu >= MIN_CPU:
            raise ResourceError(
                f"default cpu {_number(default_cpu)} is below the minimum of {_cores(MIN_CPU)}"
            )
        set_(self, "default_cpu", round(default_cpu, CPU_DECIMALS))
        set_(self, "default_memory", self.default_memory or min(2 * 1024**3, self.memory_max))
        # Defaults outside the limits would refuse every spawn: fail at configuration time.
        if self.default_image not in self.images:
            raise ResourceError(f"default image {self.default_image!r} is not an allowed image")
        if self.default_cpu > self.cpu_max:
            raise ResourceError(f"default cpu {_number(self.default_cpu)} is above cpu_max")
        if not MIN_MEMORY <= self.default_memory <= self.memory_max:
            raise ResourceError("default memory must lie between 64M and memory_max")


@dataclass(frozen=True)
class WorkspaceResources:
    image: str
    cpu: float
    memory: int
    gpus: str | tuple[str, ...] | int | None = None  # "all", device indices, or a count
    shm_size: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def to_options(self) -> dict[str, Any]:
        """The JSON-able `user_options` a hub spawn request carries."""
        gpus = self.gpus if not isinstance(self.gpus, tuple) else ",".join(self.gpus)
        return {
            "image": self.image,
            "cpu": float(self.cpu),
            "memory": format_memory(self.memory),
            "gpus": gpus,
            "shm_size": None if self.shm_size is None else format_memory(self.shm_size),
            "env": dict(self.env),
        }


# The user_options keys that are resources, in the order pages and the API show them.
RESOURCE_OPTIONS = tuple(f.name for f in fields(WorkspaceResources))


def _given(options: dict[str, Any], key: str) -> bool:
    return options.get(key) not in (None, "")


def _reserved_env(name: str) -> str | None:
    """Why `name` is reserved (case-insensitive), or None."""
    upper = name.upper()
    if upper in RESERVED_ENV_NAMES:
        return RESERVED_ENV_NAMES[upper]
    for prefix, reason in RESERVED_ENV_PREFIXES.items():
        if upper.startswith(prefix):
            return reason
    return None


def _check_env(env: Any) -> dict[str, str]:
    """`env` as {NAME: value}, or raise. Messages never quote a value: it may be a secret."""
    if env in (None, ""):
        return {}
    if not isinstance(env, dict):
        raise ResourceError("env must be an object of NAME: value strings")
    if len(env) > ENV_COUNT_MAX:
        raise ResourceError(f"env has {len(env)} variables, above the maximum of {ENV_COUNT_MAX}")
    total = 0
    for key, value in env.items():
        if isinstance(key, str) and len(key) > ENV_NAME_MAX:
            raise ResourceError(
                f"env name {key[:20]!r}... is {len(key)} characters long, above the "
                f"maximum of {ENV_NAME_MAX}"
            )
        # fullmatch: "$" alone would let a trailing newline through.
        if not isinstance(key, str) or not re.fullmatch(ENV_NAME_PATTERN, key):
            raise ResourceError(f"env name {key!r} is not valid: use letters, digits and _")
        reason = _reserved_env(key)
        if reason:
            raise ResourceError(
                f"env name {key!r} is reserved ({reason}); see docs/configuration.md"
            )
        if not isinstance(value, str):
            raise ResourceError(f"env {key} must be a string, not {type(value).__name__}")
        if _ENV_SURROGATE.search(value):
            raise ResourceError(f"env {key} is not valid text: it holds a lone UTF-16 surrogate")
        control = _ENV_CONTROL.search(value)
        if control:
            raise ResourceError(
                f"env {key} contains the control character U+{ord(control.group()):04X}; "
                "values may hold tab and newline but no other control characters"
            )
        size = len(value.encode())
        if size > ENV_VALUE_MAX:
            raise ResourceError(
                f"env {key} is {size} bytes long, above the maximum of {ENV_VALUE_MAX} bytes"
            )
        total += len(key) + 1 + size  # as the process gets it: NAME=value
    if total > ENV_TOTAL_MAX:
        raise ResourceError(
            f"env is {total} bytes in all (NAME=value), above the maximum of {ENV_TOTAL_MAX} bytes"
        )
    return dict(env)


def resources_from_options(options: dict[str, Any] | None, limits: Limits) -> WorkspaceResources:
    """Check `user_options` against `limits`, fill defaults, or raise ResourceError.

    Keys other than image, cpu, memory, gpus, shm_size and env are ignored (the hub and the
    portal may carry their own, e.g. expires_at).
    """
    options = options or {}
    if not isinstance(options, dict):
        raise ResourceError("options must be an object")

    image = options.get("image") or limits.default_image
    if image not in limits.images:
        raise ResourceError(
            f"image {image!r} is not allowed; allowed images: {', '.join(limits.images)}"
        )

    cpu = parse_cpu(options["cpu"]) if _given(options, "cpu") else limits.default_cpu
    if cpu > limits.cpu_max:
        raise ResourceError(f"cpu {_number(cpu)} is above the maximum of {_cores(limits.cpu_max)}")

    memory = parse_memory(options["memory"]) if _given(options, "memory") else None
    memory = limits.default_memory if memory is None else memory
    if memory < MIN_MEMORY:
        raise ResourceError(
            f"memory {format_memory(memory)} is below the minimum of {format_memory(MIN_MEMORY)}"
        )
    if memory > limits.memory_max:
        raise ResourceError(
            f"memory {format_memory(memory)} is above the maximum of "
            f"{format_memory(limits.memory_max)}"
        )

    gpus = parse_gpus(options.get("gpus"), ids_allowed=limits.gpu_ids)
    if gpus is not None and limits.gpus_max == 0:
        raise ResourceError("GPUs are not allowed on this hub")
    if isinstance(gpus, int) and gpus > limits.gpus_max:
        raise ResourceError(f"gpus {gpus} is above the maximum of {limits.gpus_max}")
    if gpus == "all" and not limits.allow_all_gpus:
        raise ResourceError(
            f"gpus 'all' is not allowed; list at most {limits.gpus_max} device indices "
            "such as '0,1'"
        )
    if isinstance(gpus, list) and len(gpus) > limits.gpus_max:
        raise ResourceError(
            f"gpus {','.join(gpus)} asks for {len(gpus)} GPUs, above the maximum of "
            f"{limits.gpus_max}"
        )

    shm_size = parse_memory(options["shm_size"]) if _given(options, "shm_size") else None
    # /dev/shm is a tmpfs charged to the container's memory: more than the limit cannot be used.
    if shm_size is not None and shm_size > memory:
        raise ResourceError(
            f"shm_size {format_memory(shm_size)} is above the memory of {format_memory(memory)}"
        )

    return WorkspaceResources(
        image=image,
        cpu=cpu,
        memory=memory,
        gpus=tuple(gpus) if isinstance(gpus, list) else gpus,
        shm_size=shm_size,
        env=_check_env(options.get("env")),
    )
