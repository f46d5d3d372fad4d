"""A real ssh client (Debian's openssh-client) for the tests of SSH into workspaces: keys, the
portal's ssh_config block made to point at the gateway as published in a test, and the run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path


def new_key(folder: Path, name: str) -> Path:
    path = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True
    )
    return path


def key_add(hub, token: str, key: Path) -> dict:
    response = hub.api(token).post(
        f"{hub.url}/api/v1/ssh-keys/",
        json={"key": key.with_suffix(".pub").read_text()},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def workspace_create(hub, token: str, name: str) -> dict:
    response = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/",
        json={"name": name, "cpu": 0.5, "memory": "512M"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return hub.wait_for_state(token, response.json()["id"], "running")


def config_for(
    workspace: dict,
    gateway_alias: str,
    gateway_port: int,
    key: Path,
    known_hosts: Path | None = None,
    log_level: str = "ERROR",
) -> Path:
    """The API's ssh_config block with the gateway's HostName and Port as published here, and
    this test's key for every host (the jump included). Host keys are thrown away unless a
    `known_hosts` file is given, which is then checked as a person's own would be. INFO
    shows why a forwarding was refused (the jump's ssh says it)."""
    text = workspace["ssh_config"]
    block = re.search(rf"^Host {gateway_alias}\n(    .*\n)+", text, re.MULTILINE).group()
    assert re.search(r"^    HostName .+$", block, re.MULTILINE), text
    ours = re.sub(r"^    HostName .+$", "    HostName 127.0.0.1", block, flags=re.MULTILINE)
    ours = re.sub(r"^    Port \d+$", f"    Port {gateway_port}", ours, flags=re.MULTILINE)
    path = key.parent / f"config-{workspace['name']}-{key.name}"
    path.write_text(
        text.replace(block, ours)
        + "Host *\n"
        + f"    IdentityFile {key}\n"
        + "    IdentitiesOnly yes\n"
        + "    IdentityAgent none\n"
        + "    BatchMode yes\n"
        + f"    StrictHostKeyChecking {'accept-new' if known_hosts else 'no'}\n"
        + f"    UserKnownHostsFile {known_hosts or '/dev/null'}\n"
        + f"    LogLevel {log_level}\n"
        + "    ConnectTimeout 10\n"
    )
    return path


def alias_of(workspace: dict) -> str:
    return re.search(r"^Host (\S+)\n(?:    .*\n)*    ProxyJump ", workspace["ssh_config"], re.M)[1]


def ssh(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    return subprocess.run(["ssh", *args], capture_output=True, text=True, timeout=60, env=env)
