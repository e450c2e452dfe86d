#!/bin/bash
# Rebuilds projections one command at a time against a kept ledger database and prints the process's wall and CPU time
# (user+sys, robust on a shared machine) and peak RSS: the A/B harness for rebuild work (PROFILING.md, "Rebuild speed").
# Keep a ledger: run `--large-only --events N`, and once the log shows "bench: rebuild all:" kill the benchmark process
# (kill -9 its pid): its throwaway cluster (/tmp/ledger-pg-*) keeps running with the ledger_large database.
# Usage: tools/rebuild-one.sh PORT LABEL NAME...   (from a worktree, after `dotnet build -c Release src/CompensationLedger`)
# Profile: DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -F 499 -g -- (the dotnet command below).
set -euo pipefail
PORT=$1; LABEL=$2; shift 2
export ConnectionStrings__Ledger="Host=127.0.0.1;Port=$PORT;Username=postgres;Database=ledger_large"
export ASPNETCORE_ENVIRONMENT=Development
export Auth__SigningKey=benchmark-signing-key-0123456789abcdefghij Auth__Issuer=compensation-ledger-bench
export Logging__LogLevel__Default=Warning
/usr/bin/time -f "$LABEL $* wall=%e s user=%U s sys=%S s maxrss=%M kB" \
    dotnet src/CompensationLedger/bin/Release/net10.0/CompensationLedger.dll rebuild "$@" 2>&1 | grep -E "^rebuild: |wall="
