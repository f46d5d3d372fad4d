#!/bin/sh
# The gateway user's login shell and ForceCommand: whatever is asked (a shell, a command, a
# subsystem), nothing runs; only a word on how to go on. Forwarding needs no shell.
echo "This is MLHub's SSH gateway: it has no shell. Reach a workspace through it with the" \
    "ssh_config block the portal shows for the workspace (ProxyJump)." >&2
exit 1
