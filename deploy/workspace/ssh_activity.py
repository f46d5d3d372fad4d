"""Tell the hub that someone is using this workspace over SSH, so idle culling counts it.

The Jupyter server reports its own activity (kernels, terminals, its API) to the hub; an SSH
session is invisible to it. While at least one connection to the workspace's sshd is open,
this posts "active now" for this server to the hub's activity endpoint
(POST /hub/api/users/<user>/activity, the server's own token, scope users:activity!user),
every MLHUB_SSH_ACTIVITY_SECONDS (default 60). The entrypoint (start.sh) runs it beside sshd.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from datetime import UTC, datetime

SSH_PORT = 2222  # the image's sshd (sshd_config)
ESTABLISHED = "01"  # the state column of /proc/net/tcp


def ssh_connections(port: int = SSH_PORT) -> int:
    """Open TCP connections to the local port (this container's network namespace only)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                rows = lines.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state = fields[1], fields[3]
            if state == ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def report_activity(api_url: str, user: str, server: str, token: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"last_activity": now, "servers": {server: {"last_activity": now}}}
    request = urllib.request.Request(
        f"{api_url.rstrip('/')}/users/{user}/activity",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def main() -> int:
    try:
        api_url = os.environ["JUPYTERHUB_API_URL"]
        user = os.environ["JUPYTERHUB_USER"]
        token = os.environ["JUPYTERHUB_API_TOKEN"]
    except KeyError as missing:
        print(
            f"mlhub-ssh-activity: {missing} is not set: SSH does not count as activity",
            file=sys.stderr,
        )
        return 1
    server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    interval = max(1, int(os.environ.get("MLHUB_SSH_ACTIVITY_SECONDS", "60") or 60))
    last_error = ""
    while True:
        time.sleep(interval)
        if not ssh_connections():
            continue
        try:
            report_activity(api_url, user, server, token)
            last_error = ""
        except OSError as error:  # the hub restarting: say it once, try again next time
            if str(error) != last_error:
                print(
                    f"mlhub-ssh-activity: the hub did not take the activity: {error}",
                    file=sys.stderr,
                    flush=True,
                )
            last_error = str(error)


if __name__ == "__main__":
    sys.exit(main())
