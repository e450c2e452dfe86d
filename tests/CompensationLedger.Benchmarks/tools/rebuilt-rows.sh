#!/bin/bash
# The rebuild's output alone, table by table, on a kept ledger (issue #7, PROFILING.md "The service's own rows by raw SQL"):
# each rebuilt table's final rows copied out (binary COPY, not timed), then written again by binary COPY into a copy of the table,
# one table at a time, with the wall time and PostgreSQL's CPU (the postmaster's own and its reaped backends') of each.
# The benchmark's scenario 5 does the same two tables at a time as its second baseline.
# usage: rebuilt-rows.sh PORT DB [after]   ("after": indexes built after the fill, as the swap-in rebuilds of report tables do)
set -euo pipefail
P=$1; DB=$2; MODE=${3:-with}
PSQL="psql -h 127.0.0.1 -p $P -U postgres -d $DB -Atq"
export PGOPTIONS="-c default_toast_compression=lz4"   # as the service's connections (LedgerDatabase)
PM=$(pgrep -f "postgres -D .* -p $P " | head -1); TICK=$(getconf CLK_TCK)
pgcpu() { local s=0; for pid in $PM $(pgrep -P "$PM"); do read -ra f < "/proc/$pid/stat"; s=$((s + f[13] + f[14] + f[15] + f[16])); done; echo $s; }
DIR=$(mktemp -d); chmod 777 "$DIR"; trap 'rm -rf "$DIR"; $PSQL -c "set client_min_messages = warning" -c "drop schema if exists rebuilt_rows cascade"' EXIT
TABLES=$($PSQL -c "select table_name from information_schema.tables where table_schema = 'ledger' and table_type = 'BASE TABLE'
  and (table_name in ('mt_doc_claim', 'mt_doc_fund', 'mt_doc_fraudcase', 'mt_doc_fundterms', 'mt_doc_casecoverage', 'mt_doc_fundindexentry', 'mt_doc_exchangerate')
  or table_name = 'fund_entitlements' or (table_name like 'report\_%' and table_name <> 'report_claim_totals_checkpoint')) order by pg_total_relation_size(('ledger.' || table_name)::regclass) desc")
$PSQL -c "drop schema if exists rebuilt_rows cascade; create schema rebuilt_rows"
for t in $TABLES; do
  $PSQL -c "\copy ledger.$t to $DIR/$t.bin with (format binary)"
  if [ "$MODE" = after ] && [ "$t" != mt_doc_claim ]; then $PSQL -c "create table rebuilt_rows.$t (like ledger.$t including defaults including constraints)"
  else $PSQL -c "create table rebuilt_rows.$t (like ledger.$t including all)"; fi
done
$PSQL -c "checkpoint"
for t in $TABLES; do
  b=$(pgcpu); s=$(date +%s.%N)
  $PSQL -c "\copy rebuilt_rows.$t from $DIR/$t.bin with (format binary)"
  if [ "$MODE" = after ] && [ "$t" != mt_doc_claim ]; then
    $PSQL -c "select indexdef from pg_indexes where schemaname = 'ledger' and tablename = '$t'" \
      | sed "s/ ON ledger\./ ON rebuilt_rows./; s/INDEX \([a-z0-9_]*\) ON/INDEX rr_\1 ON/" | while read -r ix; do $PSQL -c "$ix"; done
  fi
  e=$(date +%s.%N); a=$(pgcpu)
  echo "$t: $(du -m "$DIR/$t.bin" | cut -f1) MB, wall $(echo "$e - $s" | bc) s, PostgreSQL CPU $(echo "scale=1; ($a - $b) / $TICK" | bc) s"
done
