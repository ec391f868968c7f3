#!/bin/sh
# As the official image: a new data folder gets POSTGRES_USER (superuser, POSTGRES_PASSWORD) and POSTGRES_DB;
# every host may connect with a password; the server runs as the postgres user.
set -eu
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$password_file"
  chown postgres "$password_file"
  runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ "$database" != postgres ]; then
    runuser -u postgres -- postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE DATABASE "$database" OWNER "$user";
SQL
  fi
fi
if [ "${1:-}" = postgres ]; then exec runuser -u postgres -- "$@"; fi
exec "$@"
