#!/usr/bin/env bash
# Build one of MLHub's images, without a container registry if need be:
#   build-image.sh workspace   the lean workspace image Docker mode spawns (deploy/workspace/,
#                              target lean)
#   build-image.sh workspace-ds  the data-science workspace image (the same Dockerfile, target
#                              ds: the lean one, its libraries and tools)
#   build-image.sh hub         the MLHub image: portal, hub, proxy, nginx, SSH (deploy/hub/)
#   build-image.sh postgres    PostgreSQL 15 from Debian for deploy/compose/ without a registry
# (`make workspace-image` builds both workspace images, `make hub-image` the hub's;
# build-workspace-image.sh is the first.)
#
# Environment (all optional):
#   IMAGE          the tag to build (default mlhub-workspace:latest, mlhub-workspace-ds:latest,
#                  mlhub:latest, mlhub-postgres:15)
#   FORCE=1        build even if IMAGE exists and is built from the same files (its label
#                  io.mlhub.build-inputs; not mlhub.*, which containers inherit and MLHub owns);
#                  docker's layer cache still applies
#   BASE_IMAGE     the base; when unset: python:3.11-slim-bookworm if present or pullable,
#                  else a local Debian bookworm base made with debootstrap (no registry needed)
#   BASE_TAG       tag of that local base (default mlhub-base:bookworm, reused when present)
#   DEBIAN_MIRROR  mirror for debootstrap (default: the one apt already uses)
#   TRUST_HOST_CA  1 = trust this host's extra CAs (/usr/local/share/ca-certificates/*.crt)
#                  inside the build and use this host's pip index settings; 0 = never;
#                  auto (default) = 1 when there are such certificates
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
kind=${1:-}
target=""
case $kind in
    workspace)
        context="$repo/deploy/workspace" dockerfile="$repo/deploy/workspace/Dockerfile"
        extra_ca="$context/extra-ca" image=${IMAGE:-mlhub-workspace:latest} target=lean
        inputs_from=(deploy/workspace) ;;
    workspace-ds)
        context="$repo/deploy/workspace" dockerfile="$repo/deploy/workspace/Dockerfile"
        extra_ca="$context/extra-ca" image=${IMAGE:-mlhub-workspace-ds:latest} target=ds
        inputs_from=(deploy/workspace) ;;
    hub)
        # The repository is the context; .dockerignore lets through what these name.
        context=$repo dockerfile="$repo/deploy/hub/Dockerfile"
        extra_ca="$repo/deploy/hub/extra-ca" image=${IMAGE:-mlhub:latest}
        inputs_from=(requirements.txt requirements-ldap.txt pyproject.toml README.md package.json package-lock.json
            .npmrc .dockerignore lib portal hubconfig spawners templates deploy/hub) ;;
    postgres)
        # Debian's PostgreSQL for the compose file where no registry serves postgres:15: only
        # apt over plain HTTP, no extra CA and no pip.
        context="$repo/deploy/compose/postgres" dockerfile="$context/Dockerfile"
        extra_ca="" image=${IMAGE:-mlhub-postgres:15} inputs_from=(deploy/compose/postgres) ;;
    *) echo "usage: $0 workspace|workspace-ds|hub|postgres" >&2; exit 2 ;;
esac
default_base=python:3.11-slim-bookworm
base_tag=${BASE_TAG:-mlhub-base:bookworm}
host_ca_dir=/usr/local/share/ca-certificates

say() { echo "build-image ($kind): $*"; }
die() { echo "build-image ($kind): error: $*" >&2; exit 1; }

docker version >/dev/null 2>&1 \
    || die "no Docker engine answers; start one with deploy/scripts/docker-engine.sh"

# The image says which inputs it was built from: an image of older inputs is rebuilt, so a
# machine that keeps its images (CI's) never tests a workspace image older than the checkout.
inputs=$(cd "$repo" && find "${inputs_from[@]}" \( -name extra-ca -o -name __pycache__ \) -prune \
    -o -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
built_from=$(docker image inspect -f '{{ index .Config.Labels "io.mlhub.build-inputs" }}' "$image" 2>/dev/null || true)
if [ "${FORCE:-0}" != "1" ] && [ "$built_from" = "$inputs" ]; then
    say "$image is built from these inputs ($inputs); skipping (FORCE=1 rebuilds)"
    exit 0
fi

# Debian's own mirror, as apt is configured here (both sources formats), for debootstrap.
apt_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
        | awk '$2 == "bookworm" { print $1; exit }')
    echo "${uri:-http://deb.debian.org/debian/}"
}

build_debootstrap_base() {
    if docker image inspect "$base_tag" >/dev/null 2>&1; then
        say "using the existing local base $base_tag"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "building the local base $base_tag with debootstrap needs root"
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
    fi
    local mirror rootfs
    mirror=$(apt_mirror)
    rootfs=$(mktemp -d /tmp/mlhub-rootfs.XXXXXX)
    # shellcheck disable=SC2064  # expand now: the variable is local
    trap "rm -rf '$rootfs'" EXIT
    say "no registry: building $base_tag with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/mlhub-debootstrap.log 2>&1 \
        || { tail -n 20 /tmp/mlhub-debootstrap.log >&2; die "debootstrap failed (log above)"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$base_tag" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    say "imported $base_tag"
}

# Pick the base: explicit, the normal public one, or a local debootstrap one.
if [ -n "${BASE_IMAGE:-}" ]; then
    base=$BASE_IMAGE
elif docker image inspect "$default_base" >/dev/null 2>&1; then
    base=$default_base
elif say "trying to pull $default_base" && timeout 30 docker pull -q "$default_base" >/dev/null 2>&1; then
    base=$default_base
else
    say "no registry answers for $default_base"
    build_debootstrap_base
    base=$base_tag
fi
say "base image: $base"

build_args=(--build-arg "BASE_IMAGE=$base")
[ -z "$target" ] || build_args+=(--target "$target")

trust=${TRUST_HOST_CA:-auto}
[ -n "$extra_ca" ] || trust=0   # an image that installs nothing over HTTPS
if [ "$trust" = "auto" ]; then
    if compgen -G "$host_ca_dir/*.crt" >/dev/null; then trust=1; else trust=0; fi
fi

# extra-ca/ is always in the context (the Dockerfile copies it); fill it only when trusting.
[ -z "$extra_ca" ] || find "$extra_ca" -maxdepth 1 -name '*.crt' -delete
if [ "$trust" = "1" ]; then
    compgen -G "$host_ca_dir/*.crt" >/dev/null || die "TRUST_HOST_CA=1 but $host_ca_dir has no .crt"
    cp "$host_ca_dir"/*.crt "$extra_ca/"
    say "trusting the host's extra CAs: $(cd "$extra_ca" && echo *.crt)"
    build_args+=(--build-arg TRUST_HOST_CA=1)

    # The same pip index as this host, so a mirror or proxy index is used in the build too.
    # Local file:// indexes cannot be reached from inside a build; they are left out.
    pip_setting() {
        local key=$1 env_value=$2
        if [ -n "$env_value" ]; then echo "$env_value"; return; fi
        { python3 -m pip config list 2>/dev/null || true; } \
            | sed -n "s/^[^.]*\.$key='\(.*\)'\$/\1/p" | tail -n 1
    }
    only_remote() { tr ' ' '\n' | grep -E '^https?://' | paste -sd ' ' || true; }
    index=$(pip_setting index-url "${PIP_INDEX_URL:-}" | only_remote)
    extra=$(pip_setting extra-index-url "${PIP_EXTRA_INDEX_URL:-}" | only_remote)
    trusted=$(pip_setting trusted-host "${PIP_TRUSTED_HOST:-}")
    skipped=$(pip_setting extra-index-url "${PIP_EXTRA_INDEX_URL:-}" | tr ' ' '\n' \
        | grep -vE '^https?://' | paste -sd ' ' || true)
    [ -z "$skipped" ] || say "pip here also reads $skipped (not reachable in a build); left out"
    say "pip index in the build: ${index:-PyPI, the default}${extra:+ + $extra}"
    build_args+=(--build-arg "PIP_INDEX=$index" --build-arg "PIP_EXTRA_INDEX=$extra"
        --build-arg "PIP_TRUSTED=$trusted")
fi

# Proxies of this shell reach the build too (docker build does not pass them by itself).
for var in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    if [ -n "${!var:-}" ]; then build_args+=(--build-arg "$var=${!var}"); fi
done

say "building $image from $context"
start=$SECONDS
docker build "${build_args[@]}" --label "io.mlhub.build-inputs=$inputs" -f "$dockerfile" \
    -t "$image" "$context"
[ -z "$extra_ca" ] || find "$extra_ca" -maxdepth 1 -name '*.crt' -delete
say "built $image in $((SECONDS - start))s"
