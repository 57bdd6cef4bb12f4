#!/bin/sh
# Runs every test: unit programs, golden cases, end-to-end scripts.
# Usage: sh tests/run.sh [BUILD_DIR] [unit|golden|fuzz|badinput|e2e]  (e2e includes badinput)
set -u
BUILD=${1:-build}
ONLY=${2:-all}
export UB_SRCDIR=${UB_SRCDIR:-.}
export UBPIPE=${UBPIPE:-./ubpipe}
pass=0 fail=0 failed=""
run() {   # name command...
  name=$1; shift
  log=$(mktemp)
  if "$@" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "ok    $name"
  else
    fail=$((fail + 1)); failed="$failed $name"; echo "FAIL  $name"; tail -n 40 "$log" | sed 's/^/      /'
  fi
  grep -E "[0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1 | sed 's/^/      /'
  rm -f "$log"
}
if [ "$ONLY" = all ] || [ "$ONLY" = unit ]; then
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "unit/$(basename "$t")" "$t"
  done
fi
if [ "$ONLY" = all ] || [ "$ONLY" = golden ]; then
  run golden sh tests/golden/run.sh
  run schema sh tests/schema/test_schema.sh
fi
if [ "$ONLY" = all ] || [ "$ONLY" = fuzz ]; then
  # every libFuzzer target over its committed corpus (regressions; the campaign is `make fuzz`)
  if why=$(sh tests/fuzz/run.sh --check 2>&1); then
    run fuzz sh tests/fuzz/run.sh build-fuzz 0
  else
    echo "skip  fuzz: $why"
  fi
fi
if [ "$ONLY" = all ] || [ "$ONLY" = e2e ] || [ "$ONLY" = badinput ]; then
  # the bad-input catalogue (tests/badinput/CATALOGUE.md): exact message, exit status, nothing half-written
  run badinput sh tests/badinput/run.sh
fi
if [ "$ONLY" = all ] || [ "$ONLY" = e2e ]; then
  for t in tests/e2e/test_*.sh; do
    [ -f "$t" ] || continue
    run "e2e/$(basename "$t" .sh)" sh "$t"
  done
fi
echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
