#!/usr/bin/env bash
# A virtualenv kept in a cache folder under the hash of the Python and pinned requirements:
#   cached-venv.sh CACHE NAME REQUIREMENTS...
# prints CACHE/NAME-<key>, made (empty, `python3 -m venv`) when it is not there yet. The
# caller installs into it: installing 200 packages takes most of a minute even from pip's
# cache, pip over a complete one is a no-op. .ci/run keeps MLHub's own there (NAME venv, in
# /var/cache/mlhub), tests/upgrade/ the release's (NAME release-venv).
# Of CACHE/NAME-*, the two used last stay; older ones (their requirements changed) go.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 CACHE NAME REQUIREMENTS..." >&2; exit 2; }
cache=$1 name=$2
shift 2
# The first line belongs to the key: changing it makes every environment anew (it did once:
# pip runs by the environment's path in the cache, so the scripts it writes, gunicorn and
# jupyterhub, name their Python by that path, which outlives a clone).
key=$( (echo "scripts by the cache's path"; python3 --version; cat "$@") | sha256sum | cut -c1-16)
venv=$cache/$name-$key
mkdir -p "$cache"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
touch "$venv" # used now, for the two used last below
ls -dt "$cache/$name"-* | tail -n +3 | xargs -r rm -rf
echo "$venv"
