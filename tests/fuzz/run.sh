#!/bin/sh
# Runs the libFuzzer targets of tests/fuzz.
# Usage: sh tests/fuzz/run.sh [BUILD_DIR] [SECONDS] [TARGET...]
#   SECONDS = 0: regression mode — each target runs once over every input of
#   its committed corpus (tests/fuzz/corpus/<target>/), as `make test` does.
#   SECONDS > 0: a campaign of at most that many seconds per target;
#   new inputs go to BUILD/corpus/<target>/ (the committed corpus is only
#   read), crashes to BUILD/crashes/<target>-*.
#   FUZZ_RUNS=N   a target also stops after N executions (the issue's campaign:
#                 make fuzz FUZZ_S=3600 FUZZ_RUNS=10000000 FUZZ_JOBS=2)
#   FUZZ_JOBS=N   targets fuzzed at once (default 1)
#   The targets' scratch files go to TMPDIR, by default /dev/shm when it is
#   writable: the spec, plan and journal targets write a file per input, and
#   on a disk their fsyncs made them several times slower.
# tests/fuzz/<target>.dict, when present, is the target's libFuzzer dictionary.
# A crash input becomes a regression seed: fix the bug, then copy the file
# into tests/fuzz/corpus/<target>/.
set -u
# can clang build a libFuzzer target here?  (also: sh tests/fuzz/run.sh --check)
can_build() {
  command -v clang >/dev/null 2>&1 || {
    echo "clang is not installed (the fuzz targets need clang with libFuzzer: apt-get install clang libclang-rt-14-dev)"
    return 1; }
  d=$(mktemp -d) || return 1
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *p, size_t n) { (void)p; (void)n; return 0; }\n' > "$d/t.c"
  if ! clang -fsanitize=fuzzer,address,undefined -o "$d/t" "$d/t.c" >/dev/null 2>&1; then
    rm -rf "$d"
    echo "clang cannot link -fsanitize=fuzzer,address,undefined (install libclang-rt-14-dev)"
    return 1
  fi
  rm -rf "$d"
}
if [ "${1:-}" = --check ]; then
  can_build
  exit $?
fi
BUILD=${1:-build-fuzz}
SECS=${2:-0}
[ $# -ge 2 ] && shift 2 || shift $#
if ! why=$(can_build); then
  echo "skip: $why"
  exit 0
fi
mkdir -p "$BUILD"
if [ -z "${UB_FUZZ_BUILT:-}" ]; then
  make -s FUZZ=1 CC=clang BUILD="$BUILD" OPT='-O1 -g' fuzz-bins >"$BUILD/make.log" 2>&1 || {
    tail -n 30 "$BUILD/make.log"; echo "FAIL: building the fuzz targets"; exit 1; }
fi
targets=${*:-$(for f in tests/fuzz/*.c; do basename "$f" .c; done)}
if [ "$SECS" != 0 ] && [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
jobs=${FUZZ_JOBS:-1}
if [ "$SECS" != 0 ] && [ "$jobs" -gt 1 ] && [ "$(echo $targets | wc -w)" -gt 1 ]; then
  # one run.sh per target, FUZZ_JOBS at once; each prints its own line
  for t in $targets; do echo "$t"; done |
    UB_FUZZ_BUILT=1 FUZZ_JOBS=1 xargs -P "$jobs" -n 1 sh "$0" "$BUILD" "$SECS" > "$BUILD/campaign.out"
  grep -E '^(ok|FAIL) ' "$BUILD/campaign.out"
  grep -A 8 '^FAIL ' "$BUILD/campaign.out" | grep '^      '
  np=$(grep -c '^ok ' "$BUILD/campaign.out"); nf=$(grep -c '^FAIL ' "$BUILD/campaign.out")
  echo "fuzz targets: $np passed, $nf failed"
  [ "$nf" = 0 ]
  exit $?
fi
runs=
[ -n "${FUZZ_RUNS:-}" ] && runs=-runs=$FUZZ_RUNS
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0 npass=0 nfail=0
for t in $targets; do
  bin=$BUILD/fuzz/$t
  seeds=tests/fuzz/corpus/$t
  log=$BUILD/fuzz/$t.log
  if [ "$SECS" = 0 ]; then
    # every committed input, once
    if "$bin" -rss_limit_mb=2048 -timeout=25 "$seeds"/* >"$log" 2>&1; then
      npass=$((npass + 1)); echo "ok    fuzz/$t: $(ls "$seeds" | wc -l) inputs"
    else
      nfail=$((nfail + 1)); fail=1; echo "FAIL  fuzz/$t"; tail -n 40 "$log" | sed 's/^/      /'
    fi
  else
    mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes"
    dict=
    [ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
    t0=$(date +%s)
    "$bin" $dict $runs -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
      -artifact_prefix="$BUILD/crashes/$t-" "$BUILD/corpus/$t" "$seeds" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - t0 ))
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
    if [ "$rc" = 0 ]; then
      npass=$((npass + 1)); echo "ok    fuzz/$t: ${execs:-?} executions in ${took}s, cov ${cov:-?}, 0 crashes"
    else
      nfail=$((nfail + 1)); fail=1; echo "FAIL  fuzz/$t: crash after ${execs:-?} executions (log $log)"
      grep -E 'ERROR: |runtime error|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/      /'
    fi
  fi
done
echo "fuzz targets: $npass passed, $nfail failed"
exit $fail
