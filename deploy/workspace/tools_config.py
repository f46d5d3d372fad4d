# The data-science image's tools (/opt/venv/etc/jupyter/jupyter_server_config.py; the quiet
# defaults of both images are /etc/jupyter's file of the same name, loaded as well).
#
# Each tool is a jupyter-server-proxy server: reached at /user/<u>/<ws>/<tool>/ through the
# single-user server, so the hub's login and the workspace's origin guard it as they guard the
# lab, and started on first use, not with the server. None listens where another workspace
# could reach it (VS Code on a Unix socket in a private folder, TensorBoard on the container's
# loopback) and none has a password of its own.
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 -- given by the Jupyter server when it loads this file

NODE = "/opt/mlhub-node/bin/node"
CODE_SERVER = "/opt/code-server"
ICONS = "/usr/local/share/mlhub/icons"
WORK = os.environ.get("JUPYTERHUB_ROOT_DIR") or str(Path.home() / "work")


# VS Code's settings the first time it opens in a workspace (the person's own settings file
# afterwards, theirs to change): no AI chat panel asking to sign in, no extension update checks
# (its gallery is on the internet), no telemetry.
VSCODE_SETTINGS = {
    "chat.disableAIFeatures": True,
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "workbench.secondarySideBar.defaultVisibility": "hidden",  # the chat's, empty without AI
}


def _code_server(unix_socket: str) -> list[str]:
    # The hub is its authentication (--auth none); no telemetry, no update check, no "do you
    # trust this folder" question. Settings and extensions live in the work folder's volume,
    # so they survive a stop.
    data = Path(WORK) / ".mlhub-vscode"
    settings = data / "data" / "User" / "settings.json"
    if not settings.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(VSCODE_SETTINGS, indent=2) + "\n")
    return [
        NODE,
        f"{CODE_SERVER}/out/node/entry.js",
        "--socket",
        unix_socket,
        "--auth",
        "none",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--user-data-dir",
        str(data / "data"),
        "--extensions-dir",
        str(data / "extensions"),
        WORK,
    ]


c.ServerProxy.servers = {
    "vscode": {
        "command": _code_server,
        "unix_socket": True,
        # Its first start unpacks its web bundle's caches: seconds, not the default 5.
        "timeout": 60,
        "launcher_entry": {
            "title": "VS Code",
            "icon_path": f"{CODE_SERVER}/src/browser/media/favicon.svg",
        },
        "new_browser_tab": True,
    },
    "tensorboard": {
        # Its logs: TENSORBOARD_LOGDIR, else the work folder (it finds runs below it).
        "command": [
            "tensorboard",
            "--logdir",
            os.environ.get("TENSORBOARD_LOGDIR") or WORK,
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
        ],
        "timeout": 60,
        "launcher_entry": {"title": "TensorBoard", "icon_path": f"{ICONS}/tensorboard.svg"},
        "new_browser_tab": True,
    },
}


def _cgroup_value(v2: str, v1: str) -> str | None:
    for path in (v2, v1):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return None


# jupyter-resource-usage shows memory and CPU against the limits. The spawners pass the memory
# limit as MEM_LIMIT; where nothing does (a CPU limit set as Docker's nano_cpus, a stock hub
# without limits), the container's own cgroup says what holds.
c.ResourceUseDisplay.track_cpu_percent = True
if not os.environ.get("MEM_LIMIT"):
    _memory = _cgroup_value(
        "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    # v1 says "no limit" with a huge number, v2 with "max".
    if _memory and _memory.isdigit() and int(_memory) < 2**60:
        c.ResourceUseDisplay.mem_limit = int(_memory)
if not os.environ.get("CPU_LIMIT"):
    _cpu = _cgroup_value("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    _fields = (_cpu or "").split()
    if len(_fields) == 2 and _fields[0].isdigit():  # v2: "<quota> <period>" or "max <period>"
        c.ResourceUseDisplay.cpu_limit = int(_fields[0]) / int(_fields[1])
