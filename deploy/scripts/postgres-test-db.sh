#!/usr/bin/env bash
# A local PostgreSQL for the test suite's PostgreSQL pass (.ci/run): installs Debian's server
# if missing, starts the cluster, and makes a role that may create the test databases.
# The database is dropped and made anew. Prints the DATABASE_URL to use. Root only; for CI and developers' machines, not production.
set -euo pipefail
ROLE=${PG_ROLE:-mlhub}
PASSWORD=${PG_PASSWORD:-mlhub-tests}
DB=${PG_DB:-mlhub}

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
fi
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$version" main >&2
  cluster="$version main"
fi
pg_ctlcluster $cluster start >&2 2>&1 || true  # "already running" is fine
for _ in $(seq 1 50); do
  su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='$ROLE'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"create role $ROLE login createdb password '$PASSWORD'\"" >&2
# A fresh database every time: the integration tests expect an empty portal.
su postgres -c "dropdb --if-exists --force $DB" >&2
su postgres -c "createdb -O $ROLE $DB" >&2
echo "postgres://$ROLE:$PASSWORD@127.0.0.1:5432/$DB"
