#!/bin/sh
# test_oom.sh — allocation failure never crashes: every allocation through ub_realloc is made to fail
# in turn (UBPIPE_FAIL_ALLOC=N) while validating and planning the reference pipeline; each run must
# either succeed or exit 2 with a plain message — never a signal, never a sanitizer report.
set -u
UBPIPE=${UBPIPE:-./ubpipe}
pass=0 fail=0
# a run that succeeds despite the failed allocation must print exactly what a clean run prints
clean_validate=$(UBPIPE_HOME=/nonexistent/oom "$UBPIPE" validate pipelines/user_behavior.yaml 2>&1)
clean_plan=$(UBPIPE_HOME=/nonexistent/oom "$UBPIPE" plan pipelines/user_behavior.yaml --ds 2021-04-30 2>&1)
# how many allocations a clean plan makes bounds the sweep
max=${OOM_MAX:-1500}
step=${OOM_STEP:-7}
n=1
while [ "$n" -le "$max" ]; do
  for verb in validate plan; do
    if [ $verb = validate ]; then
      out=$(UBPIPE_FAIL_ALLOC=$n UBPIPE_HOME=/nonexistent/oom "$UBPIPE" validate pipelines/user_behavior.yaml 2>&1)
      rc=$?; clean=$clean_validate
    else
      out=$(UBPIPE_FAIL_ALLOC=$n UBPIPE_HOME=/nonexistent/oom "$UBPIPE" plan pipelines/user_behavior.yaml --ds 2021-04-30 2>&1)
      rc=$?; clean=$clean_plan
    fi
    case $rc in
      0) if [ "$out" = "$clean" ]; then pass=$((pass + 1)); else
           fail=$((fail + 1)); echo "test_oom: $verb with allocation $n failing: exit 0 but different output"
           printf '%s\n' "$out" > /tmp/oom.got; printf '%s\n' "$clean" | diff - /tmp/oom.got | head -6; fi ;;
      1|2) if printf '%s' "$out" | grep -q "runtime error\|AddressSanitizer\|LeakSanitizer"; then
             fail=$((fail + 1)); echo "test_oom: $verb with allocation $n failing: sanitizer report"; printf '%s\n' "$out" | head -5
           else pass=$((pass + 1)); fi ;;
      *) fail=$((fail + 1)); echo "test_oom: $verb with allocation $n failing: exit $rc"; printf '%s\n' "$out" | tail -3 ;;
    esac
  done
  n=$((n + step))
done
echo "test_oom: $pass passed, $fail failed"
[ "$fail" = 0 ]
