#!/bin/sh
# test_setup_race.sh — tasks sharing a setup file never race, whatever -j (issue 9, item 1).
#
# tests/e2e/race/race.yaml: eight sql tasks, no edges, each with the same setup file (CREATE SCHEMA /
# TABLE / INDEX IF NOT EXISTS, CREATE OR REPLACE VIEW) and retries: 0, run with -j 8 on a fresh database,
# RUNS times (20 by default; TEST_SETUP_RACE_RUNS).  PostgreSQL's IF NOT EXISTS is not safe under
# concurrency (the loser fails on pg_namespace_nspname_index / pg_type_typname_nsp_index), so without one
# setup at a time some runs fail.  Every run must succeed with no failed try and eight rows.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
RUNS=${TEST_SETUP_RACE_RUNS:-20}
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_setup_race: FAIL: $*" >&2; }

TMP=$(mktemp -d /tmp/ubpipe-test-race.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_setup_race: cannot start the stack"; exit 1; }
A() { PGOPTIONS="-c client_min_messages=warning" sh scripts/stack.sh psql postgres -X -q -A -t -c "$1"; }
Q() { PGOPTIONS="-c client_min_messages=warning" sh scripts/stack.sh psql race -X -q -A -t -c "$1"; }

failed_runs=0 failed_tries=0
i=0
while [ "$i" -lt "$RUNS" ]; do
  i=$((i + 1))
  A "DROP DATABASE IF EXISTS race" >/dev/null && A "CREATE DATABASE race" >/dev/null ||
    { ko "cannot make a fresh database"; break; }
  rm -rf "$UBPIPE_HOME/runs"
  if "$UBPIPE" run tests/e2e/race/race.yaml --ds 2021-01-01 -j 8 > "$TMP/out.$i" 2>&1; then ok; else
    failed_runs=$((failed_runs + 1)); ko "run $i failed: $(grep -m1 -i 'fail' "$TMP/out.$i")"
  fi
  # every try's log names how it ended; a failed try says "failed:"
  n=$(cat "$UBPIPE_HOME"/runs/race/2021-01-01/logs/*.log 2>/dev/null | grep -c 'failed:')
  tries=$(ls "$UBPIPE_HOME"/runs/race/2021-01-01/logs/ 2>/dev/null | grep -c '\.log$')
  failed_tries=$((failed_tries + n))
  [ "$n" = 0 ] && ok || ko "run $i: $n failed tries"
  [ "$tries" = 8 ] && ok || ko "run $i: $tries try logs, want 8"
  rows=$(Q "SELECT count(*) FROM race.seen")
  [ "$rows" = 8 ] && ok || ko "run $i: $rows rows, want 8"
done
echo "test_setup_race: $RUNS fresh runs with -j 8: $failed_runs failed, $failed_tries failed tries"
echo "test_setup_race: $pass passed, $fail failed"
[ "$fail" = 0 ]
