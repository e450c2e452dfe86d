#!/usr/bin/env bash
# Usage: migrations/new-migration.sh NAME
#
# Writes migrations/NNNN_NAME.sql: the DDL that takes a database built from the existing
# migrations/*.sql to the current Marten + Wolverine model. Run it after a model change (a new
# document type, index, projection, extra table...), review the file, and commit it with the change.
#
# How: starts a throwaway PostgreSQL cluster (or uses the server in $LEDGER_TEST_POSTGRES, an Npgsql
# connection string), creates a scratch database, applies the existing scripts with the service's
# `migrate` command, then runs `db-patch` once per schema target (marten://store/ and
# wolverine://messages/main), in the Development environment so the model is the one the service
# builds. The Marten part comes first (schema `ledger`), then Wolverine's (schema `wolverine`).
# The result is applied once more to the scratch database and checked with `db-assert` before it is
# written; with no difference nothing is written.
#
# Needs: the .NET SDK, and PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin, or
# $LEDGER_PG_BIN) unless $LEDGER_TEST_POSTGRES is set. As root, the cluster runs as `postgres`.
set -euo pipefail

if [ $# -ne 1 ] || ! [[ "$1" =~ ^[a-z0-9][a-z0-9_]*$ ]]; then
  echo "usage: $0 NAME   (NAME: lower case letters, digits and _, e.g. add_payouts)" >&2
  exit 2
fi
name=$1
migrations=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$migrations/.." && pwd)
project="$repo/src/CompensationLedger"
work=$(mktemp -d "${TMPDIR:-/tmp}/ledger-migration.XXXXXX")
chmod 755 "$work"

log() { echo "new-migration: $*" >&2; }

pg_started=
scratch_db="ledger_migration_$$"
server_cs=
cleanup() {
  local status=$?
  if [ -n "$pg_started" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1 || true
  elif [ -n "$server_cs" ]; then
    with_server psql -X -q -d postgres -c "drop database if exists \"$scratch_db\" with (force)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Runs a libpq tool (psql) against $LEDGER_TEST_POSTGRES, translating the Npgsql keys it uses.
with_server() {
  local host= port= user= password= kv key value
  IFS=';' read -ra parts <<<"$server_cs"
  for kv in "${parts[@]}"; do
    key=$(echo "${kv%%=*}" | tr '[:upper:]' '[:lower:]' | tr -d ' '); value=${kv#*=}
    case "$key" in
      host|server) host=$value ;;
      port) port=$value ;;
      username|userid|user) user=$value ;;
      password) password=$value ;;
    esac
  done
  PGHOST=$host PGPORT=${port:-5432} PGUSER=$user PGPASSWORD=$password "$@"
}

# 1. A server with an empty scratch database.
if [ -n "${LEDGER_TEST_POSTGRES:-}" ]; then
  server_cs=$LEDGER_TEST_POSTGRES
  command -v psql >/dev/null || { log "psql is needed to create the scratch database on \$LEDGER_TEST_POSTGRES"; exit 1; }
  with_server psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "create database \"$scratch_db\""
  scratch_cs="$server_cs;Database=$scratch_db"
  log "using \$LEDGER_TEST_POSTGRES, scratch database $scratch_db"
else
  pg_bin=${LEDGER_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
  [ -x "$pg_bin/initdb" ] || { log "no PostgreSQL server binaries (install postgresql, or set LEDGER_PG_BIN or LEDGER_TEST_POSTGRES)"; exit 1; }
  mkdir "$work/pg" "$work/socket"
  [ "$(id -u)" = 0 ] && chown postgres: "$work/pg" "$work/socket"
  as_postgres "$pg_bin/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
  # Unix socket only: no TCP port to collide with.
  as_postgres "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$work/socket' -c fsync=off" start >/dev/null
  pg_started=1
  as_postgres "$pg_bin/createdb" -h "$work/socket" -U postgres "$scratch_db"
  scratch_cs="Host=$work/socket;Username=postgres;Database=$scratch_db"
  log "throwaway PostgreSQL $(basename "$(dirname "$pg_bin")") started"
fi

# 2. The service, built once; run from its project folder so its appsettings files are the configuration.
log "building the service"
dotnet build "$project" -c Release -nologo -v quiet -clp:ErrorsOnly >&2
ledger() {
  (cd "$project" &&
    ASPNETCORE_ENVIRONMENT=Development DOTNET_ENVIRONMENT=Development Ledger__SeedDemo=false \
    ConnectionStrings__Ledger="$scratch_cs" \
    dotnet bin/Release/net10.0/CompensationLedger.dll "$@")
}

# 3. The existing migrations, through the same command production uses.
existing=$(find "$migrations" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]_*.sql' | sort)
ledger migrate --folder "$migrations" >&2

# 4. The difference, one target at a time (db-patch writes nothing when there is none).
for target in marten://store/ wolverine://messages/main; do
  file="$work/$(echo "$target" | cut -d: -f1).sql"
  ledger db-patch "$file" -d "$target" >"$work/db-patch.log" 2>&1 || { cat "$work/db-patch.log" >&2; exit 1; }
done
rm -f "$work"/*.drop.sql  # no down migrations: roll forward with a new script

if [ ! -s "$work/marten.sql" ] && [ ! -s "$work/wolverine.sql" ]; then
  log "the database built from migrations/*.sql already matches the model: nothing to write"
  exit 0
fi

last=$(echo "$existing" | sed -n 's#.*/\([0-9]\{4\}\)_.*#\1#p' | tail -n 1)
number=$(printf '%04d' $((10#${last:-0} + 1)))
out="$number"_"$name.sql"
{
  echo "-- $out: generated by migrations/new-migration.sh from the Marten and Wolverine model"
  echo "-- (db-patch against a database built from the earlier migrations). Reviewed before commit."
  echo "-- Applied by the 'migrate' command in one transaction, together with its journal row."
  for part in marten:marten://store/ wolverine:wolverine://messages/main; do
    if [ -s "$work/${part%%:*}.sql" ]; then
      echo
      echo "-- ===== ${part#*:} ====="
      echo
      cat "$work/${part%%:*}.sql"
    fi
  done
} >"$work/$out"

# 5. Check: the new script applies on top of the others, and then the model matches.
mkdir "$work/check"
while IFS= read -r script; do [ -n "$script" ] && cp "$script" "$work/check/"; done <<<"$existing"
cp "$work/$out" "$work/check/"
if ! ledger migrate --folder "$work/check" >&2 || ! ledger db-assert >"$work/db-assert.log" 2>&1; then
  cat "$work/db-assert.log" >&2 2>/dev/null || true
  cp "$work/$out" "$migrations/$out.failed"
  log "the generated script did not apply cleanly or left differences; it is in migrations/$out.failed for inspection"
  exit 1
fi

cp "$work/$out" "$migrations/$out"
log "wrote migrations/$out ($(wc -l <"$migrations/$out") lines): review it, then commit it with the model change"
echo "$migrations/$out"
