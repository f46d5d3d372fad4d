#!/bin/sh
# The workspace image's entrypoint: start the workspace user's own sshd when the spawner passed
# the owner's SSH public keys (MLHUB_SSH_AUTHORIZED_KEYS, one a line), then run the command
# (jupyterhub-singleuser) in this process's place, as before.
#
# SSH is an extra: whatever goes wrong with it is said in the log and the server starts anyway.
# The keys are the owner's as of this start; keys added or removed later count from the next.
set -eu

say() { echo "mlhub-workspace: $*" >&2; }

SSHD=/usr/sbin/sshd
SSHD_CONFIG=/etc/mlhub/sshd_config

# The host key lives in the work folder (the volume kept across stops), so the workspace keeps
# its identity and people's known_hosts stay right after a restart; a workspace without a
# writable work folder gets a new key at each start.
host_key_path() {
    work=${JUPYTERHUB_ROOT_DIR:-$HOME/work}
    if mkdir -p "$work/.mlhub-ssh" 2>/dev/null && [ -w "$work/.mlhub-ssh" ]; then
        chmod 700 "$work/.mlhub-ssh"
        echo "$work/.mlhub-ssh/ssh_host_ed25519_key"
    else
        say "the work folder $work is not writable: the SSH host key is new at each start"
        echo "$HOME/.ssh/mlhub_host_ed25519_key"
    fi
}

# In a subshell: its umask and failures stay here.
start_sshd() (
    if [ ! -x "$SSHD" ]; then
        say "this image has no sshd (openssh-server): SSH into this workspace is off"
        return 0
    fi
    if [ "$(id -u)" = 0 ]; then
        # The sshd is the workspace user's own; a root one would be a different thing.
        say "running as root: the workspace's sshd runs only as the workspace user; SSH is off"
        return 0
    fi
    mask=$(umask)
    umask 077
    mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh" || return 1
    # Replaced at every start: only the owner's keys of this start.
    printf '%s\n' "$MLHUB_SSH_AUTHORIZED_KEYS" >"$HOME/.ssh/authorized_keys" || return 1
    chmod 600 "$HOME/.ssh/authorized_keys" || return 1

    key=$(host_key_path)
    # A key someone made readable would be refused as unprotected: tighten it, keep it.
    if [ -f "$key" ]; then chmod 600 "$key"; fi
    if ! ssh-keygen -y -f "$key" >/dev/null 2>&1; then
        rm -f "$key" "$key.pub"
        ssh-keygen -q -t ed25519 -N '' -C mlhub-workspace -f "$key" >/dev/null || return 1
    fi
    if ! problem=$("$SSHD" -t -f "$SSHD_CONFIG" -h "$key" 2>&1); then
        say "sshd refuses its configuration: $problem"
        return 1
    fi
    # Sessions create files as the Jupyter server does.
    umask "$mask"
    # From a subshell that exits at once: the sshd becomes the child of the container's init
    # (the spawner runs it with one), which reaps it, while the server below stays this
    # process. -D -e: the sshd stays in that child's foreground and logs to the container's log.
    ("$SSHD" -D -e -f "$SSHD_CONFIG" -h "$key" </dev/null &)
    say "sshd listens on port 2222 for $(id -un) with $(grep -c . "$HOME/.ssh/authorized_keys") key(s)"
    # While someone is logged in over SSH, tell the hub (idle culling counts it as use).
    (python3 /usr/local/lib/mlhub/ssh_activity.py </dev/null &)
)

if [ -n "${MLHUB_SSH_AUTHORIZED_KEYS:-}" ]; then
    start_sshd || say "sshd did not start; SSH into this workspace is off"
fi
# Public keys only, but nothing in the workspace needs them after this.
unset MLHUB_SSH_AUTHORIZED_KEYS
exec "$@"
