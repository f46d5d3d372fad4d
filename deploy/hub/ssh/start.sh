#!/bin/sh
# Start MLHub's SSH gateway: write the key lookup's settings, make the host key once, then run
# sshd in the foreground (as PID 1 of the gateway image, or as one supervised process of the
# MLHub image later).
#
# Environment:
#   MLHUB_PORTAL_URL                  where the portal listens, as seen from here, with
#                                     MLHub's path prefix if any (required)
#   MLHUB_SSH_GATEWAY_TOKEN or MLHUB_SSH_GATEWAY_TOKEN_FILE
#                                     the portal's credential for its key lookup (required)
#   (or neither of these: /etc/mlhub/gateway.env is mounted with both)
#   MLHUB_SSH_GATEWAY_LISTEN          address:port sshd listens on (default 0.0.0.0:22)
#   MLHUB_SSH_HOST_KEY_DIR            the gateway's host key (default /etc/mlhub/ssh): keep it
#                                     on a volume, or clients' known_hosts break at each start
#   MLHUB_WORKSPACE_SSH_PORT          the workspaces' sshd port (default 2222), the only port
#                                     the gateway ever forwards to
set -eu

say() { echo "mlhub-ssh-gateway: $*" >&2; }
die() { say "error: $*"; exit 1; }

CONFIG=/etc/mlhub/gateway.env
KEYS_USER=mlhub-keys
listen=${MLHUB_SSH_GATEWAY_LISTEN:-0.0.0.0:22}
key_dir=${MLHUB_SSH_HOST_KEY_DIR:-/etc/mlhub/ssh}
port=${MLHUB_WORKSPACE_SSH_PORT:-2222}

[ "$(id -u)" = 0 ] || die "start it as root: sshd needs root to log people in as mlhub"
case $port in '' | *[!0-9]*) die "MLHUB_WORKSPACE_SSH_PORT=$port is not a port number" ;; esac

url=${MLHUB_PORTAL_URL:-}
token=${MLHUB_SSH_GATEWAY_TOKEN:-}
if [ -z "$token" ] && [ -n "${MLHUB_SSH_GATEWAY_TOKEN_FILE:-}" ]; then
    [ -r "$MLHUB_SSH_GATEWAY_TOKEN_FILE" ] \
        || die "cannot read MLHUB_SSH_GATEWAY_TOKEN_FILE=$MLHUB_SSH_GATEWAY_TOKEN_FILE"
    token=$(cat "$MLHUB_SSH_GATEWAY_TOKEN_FILE")
fi
umask 077
mkdir -p /etc/mlhub
if [ -n "$url$token" ]; then
    [ -n "$url" ] || die "MLHUB_PORTAL_URL is not set"
    [ -n "$token" ] || die "MLHUB_SSH_GATEWAY_TOKEN (or MLHUB_SSH_GATEWAY_TOKEN_FILE) is not set"
    case $url in http://* | https://*) ;; *) die "MLHUB_PORTAL_URL=$url is not an http(s) URL" ;; esac
    printf 'MLHUB_PORTAL_URL=%s\nMLHUB_SSH_GATEWAY_TOKEN=%s\n' "$url" "$token" >"$CONFIG.new"
    mv "$CONFIG.new" "$CONFIG"
elif [ ! -s "$CONFIG" ]; then
    die "set MLHUB_PORTAL_URL and MLHUB_SSH_GATEWAY_TOKEN(_FILE), or mount $CONFIG"
fi
# Read by the key lookup, which sshd runs as KEYS_USER: root's and that user's only.
chown "root:$KEYS_USER" "$CONFIG" 2>/dev/null || say "cannot chown $CONFIG (mounted read-only?)"
chmod 640 "$CONFIG" 2>/dev/null || true
unset token MLHUB_SSH_GATEWAY_TOKEN

mkdir -p "$key_dir"
chmod 700 "$key_dir"
key=$key_dir/ssh_host_ed25519_key
if [ ! -s "$key" ]; then
    ssh-keygen -q -t ed25519 -N '' -C mlhub-gateway -f "$key"
    say "made the host key $key"
fi
# sshd's privilege separation directory (a tmpfs /run starts empty).
mkdir -p /run/sshd
chmod 755 /run/sshd

set -- /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config -h "$key" \
    -o "ListenAddress=$listen" -o "PermitOpen=*:$port"
"$@" -t || die "sshd refuses its configuration (above)"
say "listening on $listen; host key $(ssh-keygen -l -f "$key.pub" | cut -d' ' -f2)"
exec "$@"
