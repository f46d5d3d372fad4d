"""SSH into workspaces through one gateway, with the keys people registered here.

Everyone logs in to the gateway (OpenSSH, no shell) as the same user (SSH_GATEWAY_USER) and
jumps on to their workspace's own sshd. The gateway's AuthorizedKeysCommand asks the portal
about the offered key's fingerprint (a key belongs to exactly one person: SshKey's unique
fingerprint) and gets back at most one authorized_keys line, which lets that key forward to its
owner's running workspaces and to nothing else:

    restrict,port-forwarding,permitopen="mlhub-alice--thesis:2222" ssh-ed25519 AAAA...

No line (an unknown key, a person who may not use workspaces now, no running workspace): the
gateway refuses the key. Nothing private is ever made or kept here: people's private keys stay
on their machines.
"""

from __future__ import annotations

from django.conf import settings

from lib import labels
from portal.accounts.access import why_refused
from portal.sshkeys.models import SshKey
from portal.workspaces.models import Workspace


def workspace_ssh_host(workspace: Workspace) -> str:
    """Where the gateway reaches a workspace's sshd: its container's name on the person's
    Docker network, or its Service in Kubernetes (the same name, lib/labels.py), named as the
    spawner names it: by the person's hub name (``Dora`` is ``dora`` there)."""
    return labels.container_name(settings.HUB_NAME, workspace.owner.hub_name, workspace.name)


def authorized_keys_line(fingerprint: str) -> str:
    """The authorized_keys line for the key with this fingerprint, or "" to refuse it."""
    key = SshKey.objects.select_related("owner").filter(fingerprint=fingerprint).first()
    if key is None or why_refused(key.owner):
        return ""
    running = Workspace.objects.filter(
        owner=key.owner, state=Workspace.State.RUNNING, deleting_since=None
    ).order_by("name")
    opens = [
        f'permitopen="{workspace_ssh_host(ws)}:{settings.WORKSPACE_SSH_PORT}"' for ws in running
    ]
    if not opens:
        return ""
    # restrict: no shell, pty, agent or X11 forwarding; port-forwarding back on, limited by
    # permitopen to the owner's running workspaces.
    return f"restrict,port-forwarding,{','.join(opens)} {key.public_key}\n"


def ssh_alias(workspace: Workspace, viewer) -> str:
    """The `Host` name a person types: `<hub>-<workspace>` for their own workspaces,
    `<hub>-<owner>-<workspace>` for someone else's (an admin's view)."""
    own = workspace.owner_id == viewer.pk
    parts = [settings.HUB_NAME] + ([] if own else [workspace.owner.username]) + [workspace.name]
    return "-".join(labels.safe_part(part, 40) for part in parts)


def ssh_config(workspace: Workspace, viewer) -> str:
    """The ~/.ssh/config block to copy for one workspace: the gateway as a ProxyJump."""
    gateway = f"{settings.HUB_NAME}-gateway"
    return (
        f"Host {gateway}\n"
        f"    HostName {settings.SSH_GATEWAY_HOST}\n"
        f"    Port {settings.SSH_GATEWAY_PORT}\n"
        f"    User {settings.SSH_GATEWAY_USER}\n"
        f"Host {ssh_alias(workspace, viewer)}\n"
        f"    HostName {workspace_ssh_host(workspace)}\n"
        f"    Port {settings.WORKSPACE_SSH_PORT}\n"
        "    User jovyan\n"
        f"    ProxyJump {gateway}\n"
    )
