#!/bin/sh
# Install MLHub's SSH gateway into an image (run as root in a Dockerfile's RUN, from a copy of
# this folder): its two accounts, sshd's configuration, the key lookup and the start script.
# The gateway's own image and the MLHub image both run it; apt's openssh-server and curl must
# be installed first.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

# The package's host keys are dropped: start.sh makes the gateway's own, kept on a volume.
rm -f /etc/ssh/ssh_host_* /etc/ssh/sshd_config.d/*

# mlhub: the one login, no home, and a "shell" that only says there is none. Its password is
# "*" (none can match) rather than useradd's "!": sshd without PAM refuses an account whose
# password is locked with "!". mlhub-keys: runs the key lookup, the only one besides root who
# may read its token.
install -m 755 "$here/no-shell.sh" /usr/local/bin/mlhub-no-shell
useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/local/bin/mlhub-no-shell mlhub
usermod --password '*' mlhub
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mlhub-keys
install -d -m 755 /etc/mlhub
install -d -m 700 /etc/mlhub/ssh

# sshd runs the lookup only if it and every folder above it are root's and not writable by
# anyone else.
install -m 644 "$here/sshd_config" /etc/ssh/sshd_config
install -m 755 "$here/mlhub-authorized-keys" /usr/local/bin/mlhub-authorized-keys
install -m 755 "$here/start.sh" /usr/local/bin/mlhub-ssh-gateway
