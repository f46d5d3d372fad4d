#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (Docker mode, EXECUTION_MODE=local).
#
# - An engine already answers (`docker version`): do nothing.
# - Otherwise, on Debian: install docker.io and iptables with apt-get if dockerd is missing,
#   start dockerd in the background with a log file and wait until it answers.
#
# Never run implicitly by `make run`; `.ci/run` calls it, people run it by hand.
# Environment: DOCKERD_LOG (default /var/log/dockerd.log), DOCKERD_TIMEOUT (seconds, default 60),
# DOCKERD_ADDRESS_POOL (the users' networks' range, default 10.212.0.0/15, cut into /24s).
set -euo pipefail

log_file=${DOCKERD_LOG:-/var/log/dockerd.log}
timeout=${DOCKERD_TIMEOUT:-60}

say() { echo "docker-engine: $*"; }
die() { echo "docker-engine: error: $*" >&2; exit 1; }

if command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then
    say "a Docker engine already answers; nothing to do"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 \
        || die "dockerd is not installed and this is not Debian/Ubuntu (no apt-get); install Docker"
    [ "$(id -u)" -eq 0 ] || die "dockerd is not installed; run this script as root to install docker.io"
    say "installing docker.io and iptables with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io iptables
fi

# dockerd needs root (cgroups, iptables, mounts); rootless Docker is set up differently.
[ "$(id -u)" -eq 0 ] || die "no Docker engine answers and starting dockerd needs root"

# A machine restarted without its /run emptied keeps the pid file of the engine's own
# containerd; dockerd then waits on whatever process has that number now, and gives up
# ("timeout waiting for containerd to start", CI 2026-12-06).
containerd_pid_file=/var/run/docker/containerd/containerd.pid
if [ -f "$containerd_pid_file" ] &&
    [ "$(cat "/proc/$(cat "$containerd_pid_file")/comm" 2>/dev/null)" != containerd ]; then
    say "removing the stale $containerd_pid_file"
    rm -f "$containerd_pid_file"
fi

say "starting dockerd in the background (log: $log_file)"
mkdir -p "$(dirname "$log_file")"
# setsid: the engine must outlive this script's process group (CI steps, terminals).
# Every person gets a network; Docker's default pools hold about 30. Unless daemon.json says
# otherwise (a flag and the file may not both set it), 512 networks of 254 addresses each: a
# 300-person course with room to spare (a warm pool's network holds up to 254 slots).
pool_args=()
if ! grep -qs default-address-pools /etc/docker/daemon.json; then
    pool_args=(--default-address-pool "base=${DOCKERD_ADDRESS_POOL:-10.212.0.0/15},size=24")
fi
setsid nohup dockerd "${pool_args[@]}" >>"$log_file" 2>&1 </dev/null &
dockerd_pid=$!

deadline=$((SECONDS + timeout))
until docker version >/dev/null 2>&1; do
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "docker-engine: error: dockerd exited; last lines of $log_file:" >&2
        tail -n 30 "$log_file" >&2 || true
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "docker-engine: error: dockerd did not answer within ${timeout}s; last lines of $log_file:" >&2
        tail -n 30 "$log_file" >&2 || true
        exit 1
    fi
    sleep 0.2
done
say "dockerd (pid $dockerd_pid) answers: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
