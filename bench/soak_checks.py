"""The soak's end: what was left behind, counted against what the portal says exists.

After the last fault, one sync pass and one cleanup pass (as the schedules run them), the
portal's rows are the truth:
- containers: exactly the running workspaces' (the spawner removes a stopped one's);
- volumes: exactly the workspaces' (deleted ones' go with them);
- networks: only of people with a workspace (the delete of their last removes it);
- the hub: no user the portal does not have, no server the portal does not say is running;
- the proxy: no route to a server the hub does not run;
- the portal: no row starting, stopping or being deleted.

Each returns names, so the report can say what leaked, not just how many.
"""

from __future__ import annotations

import os
import time

import docker
import requests

from lib import env
from lib.labels import LABEL_ORIGIN, container_name, network_name, volume_name
from lib.polling import poll_until
from lib.stack import Stack
from portal.hub.client import HubClient
from tests.faults import operator_command, sync_workspaces

TRANSITIONAL = ("starting", "stopping")


def portal_orm(stack: Stack) -> None:
    """The portal's models in this process, on the stack's database (read-mostly)."""
    import django

    os.environ.update(stack.environ)
    django.setup()


def portal_workspaces() -> list[dict]:
    from portal.workspaces.models import Workspace

    return [
        {
            "owner": w.owner.hub_name,
            "name": w.name,
            "state": w.state,
            "deleting": w.deleting_since is not None,
        }
        for w in Workspace.objects.select_related("owner")
    ]


def portal_people() -> set[str]:
    from portal.accounts.models import User

    return set(User.objects.values_list("hub_name", flat=True))


def settle(timeout: float = 240) -> str:
    """Until no workspace is in between states (or ``timeout``): what was waited for, and how
    long (the last of them, to find in the logs when it was long)."""
    started = time.monotonic()
    last: dict[str, str] = {}

    def settled() -> bool:
        rows = portal_workspaces()
        busy = [r for r in rows if r["state"] in TRANSITIONAL or r["deleting"]]
        if busy:
            last["busy"] = ", ".join(
                f"{r['owner']}/{r['name']} {'deleting' if r['deleting'] else r['state']}"
                for r in busy
            )
        return not busy

    try:
        poll_until(settled, timeout=timeout, what="workspaces to settle", max_wait=2)
        said = "settled"
    except TimeoutError:
        said = "not settled"
    waited = f"{said} after {time.monotonic() - started:.0f} s"
    return f"{waited}, the last waited for: {last['busy']}" if last else waited


def passes(stack: Stack) -> dict[str, str]:
    """One sync and one cleanup pass, as an operator runs them; their output's last lines."""
    synced = sync_workspaces(stack)
    cleaned = operator_command(stack, "cleanup", timeout=300)
    return {
        "sync": f"exit {synced.returncode}: {synced.stdout.strip().splitlines()[-1:]}",
        "cleanup": f"exit {cleaned.returncode}: {cleaned.stdout.strip().splitlines()[-1:]}",
    }


def leaks(stack: Stack, hub_name: str, hub_api: str, hub_token: str) -> dict[str, list[str]]:
    rows = portal_workspaces()
    running = {(r["owner"], r["name"]) for r in rows if r["state"] == "running"}
    existing = {(r["owner"], r["name"]) for r in rows if not r["deleting"]}
    found: dict[str, list[str]] = {}
    found["portal rows in between"] = sorted(
        f"{r['owner']}/{r['name']} {'deleting' if r['deleting'] else r['state']}"
        for r in rows
        if r["state"] in TRANSITIONAL or r["deleting"]
    )
    found.update(_engine_leaks(hub_name, running, existing))
    hub = HubClient(hub_api, hub_token)
    servers = _hub_servers(hub, stopped=False)
    kept = _hub_servers(hub, stopped=True)  # every user, with the servers it keeps stopped
    people = portal_people()
    found["hub users"] = sorted(name for name in kept if name not in people)
    found["hub servers"] = sorted(
        f"{user}/{server}"
        for user, named in servers.items()
        for server in named
        if (user, server) not in running
    )
    # The hub keeps a stopped server's record until it is removed (a delete's remove=True).
    found["hub records of deleted workspaces"] = sorted(
        f"{user}/{server}"
        for user, named in kept.items()
        for server in named
        if server and (user, server) not in existing  # "": each user's default, not a workspace
    )
    found["proxy routes"] = _routes_to_nothing(stack, servers)
    found["hub tokens of deleted workspaces"] = _tokens_of_deleted(hub, existing)
    return found


def _tokens_of_deleted(hub: HubClient, existing: set) -> list[str]:
    """Workspace tokens (portal/workspaces/workspace_tokens.py's note) whose workspace is gone:
    a delete ends them."""
    marker = "MLHub portal: token for workspace "
    left = []
    for user in {owner for owner, _ in existing} | set(portal_people()):
        for token in hub.tokens_list(user):
            note = token.get("note") or ""
            if note.startswith(marker):
                workspace = note[len(marker) :].split(",")[0]  # owner/name
                if tuple(workspace.split("/", 1)) not in existing:
                    left.append(f"{workspace} ({token['id']})")
    return sorted(left)


def _engine_leaks(hub_name, running, existing) -> dict[str, list[str]]:
    client = docker.from_env(timeout=60)
    origin = {"label": f"{LABEL_ORIGIN}={hub_name}"}
    wanted_containers = {container_name(hub_name, u, s) for u, s in running}
    wanted_volumes = {volume_name(hub_name, u, s) for u, s in existing}
    wanted_networks = {network_name(hub_name, u) for u, _ in existing}
    listed = client.api.containers(all=True, filters=origin)  # no inspect: one may go meanwhile
    containers = [c["Names"][0].lstrip("/") for c in listed]
    volumes = [v.name for v in client.volumes.list(filters=origin)]
    networks = [n.name for n in client.networks.list(filters=origin)]
    client.close()
    return {
        "containers": sorted(set(containers) - wanted_containers),
        "volumes": sorted(set(volumes) - wanted_volumes),
        "networks": sorted(set(networks) - wanted_networks),
        "running workspaces without a container": sorted(wanted_containers - set(containers)),
    }


def _hub_servers(hub: HubClient, stopped: bool) -> dict[str, list[str]]:
    """Every hub user and the names of their servers that run or are starting (``stopped``:
    and those the hub keeps stopped), as the portal's own client reads them."""
    users = hub.users_list() if stopped else hub.users_active()
    return {user["name"]: sorted(user.get("servers") or {}) for user in users}


def _routes_to_nothing(stack: Stack, servers: dict[str, list[str]]) -> list[str]:
    """The proxy's routes to a user's server the hub does not run."""
    token = env.env_secret("CONFIGPROXY_AUTH_TOKEN")  # portal_orm: the stack's environment
    response = requests.get(
        f"{stack.address('MLHUB_PROXY_API_URL')}/api/routes",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    response.raise_for_status()
    leaked = []
    for route, target in response.json().items():
        user, server = target.get("user"), target.get("server_name")
        if user is None:
            continue  # the hub's, the portal's (default) and services' routes
        if server not in servers.get(user, []):
            leaked.append(route)
    return sorted(leaked)
