#!/bin/sh
# Make the cluster in $PGDATA at the first start (the superuser POSTGRES_USER with its
# password, the database POSTGRES_DB), then run PostgreSQL as the postgres user in the
# foreground: its pid is the container's, so `docker stop` shuts it down cleanly.
set -eu

say() { echo "mlhub-postgres: $*" >&2; }
die() { say "error: $*"; exit 1; }

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
password=${POSTGRES_PASSWORD:-}
if [ -z "$password" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    [ -r "$POSTGRES_PASSWORD_FILE" ] || die "cannot read POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE"
    password=$(cat "$POSTGRES_PASSWORD_FILE")
fi
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "$password" ] || die "set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) for the first start"
    pwfile=$(mktemp)
    printf '%s\n' "$password" >"$pwfile"
    chown postgres "$pwfile"
    # Inside the container (the socket) without a password, as the official image; over the
    # network only with one.
    as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        echo "CREATE DATABASE \"$database\" OWNER \"$user\";" \
            | as_postgres postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
    say "made the cluster in $PGDATA: user $user, database $database"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA"
