#!/bin/sh
# test_kill_resume.sh — crash safety of the reference pipeline (issue 4, reliability).
#
# In a temporary UBPIPE_HOME with a small demo (TEST_KILL_SCALE, default 0.03):
#  1. a clean run of pipelines/user_behavior.yaml gives the reference state: the ds slice of every
#     warehouse table (row counts and the metric's rows) and every lake object (checksums);
#  2. KILL_N times (default 20; `make soak` runs 200): start `run --rerun`, SIGKILL ubpipe at a random
#     moment of the run, then `run` again (resume): it must succeed and leave exactly the reference
#     state — no duplicate row, no partial partition — with no temporary file and no task process left;
#  3. SIGKILL of the local EMR runner (`ubpipe __emr-local-runner`) while a step runs: the step was
#     interrupted, not failed; the run (or the next one) submits it again and ends as the clean run;
#  4. stop PostgreSQL in the middle of a run and start it again: the retries carry the run to success
#     (a copy of the pipeline with retry_delay 1s, so the test does not wait a minute per retry).
# KILL_SEED fixes the random moments (printed on failure).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SCALE=${TEST_KILL_SCALE:-0.03}
N=${KILL_N:-20}
SEED=${KILL_SEED:-$(date +%s)}
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_kill_resume: FAIL: $* (KILL_SEED=$SEED)" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-kill.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_kill_resume: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh >/dev/null || { echo "test_kill_resume: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
D=2021-04-30
SPEC=pipelines/user_behavior.yaml
Q() { sh scripts/stack.sh psql warehouse -X -q -A -t -F, -c "$1"; }
run() { "$UBPIPE" run "$SPEC" --ds $D -q -p movie_review_file="$DEMO/movie_review.csv" "$@"; }
state() {
  Q "SELECT (SELECT count(*) FROM spectrum.user_purchase_staging WHERE insert_date='$D'),
            (SELECT count(*) FROM spectrum.classified_movie_review WHERE insert_date='$D'),
            (SELECT count(*) FROM public.user_behavior_metric WHERE insert_date='$D')"
  Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
     WHERE insert_date='$D' ORDER BY customerid" | md5sum
  (cd "$UBPIPE_HOME/lake" && find . -type f | sort | xargs md5sum)
}
temps() { find "$UBPIPE_HOME" -path "$UBPIPE_HOME/pg" -prune -o -name '*.ubtmp.*' -print | wc -l; }
# ubpipe processes of this test (other people's runs of the same spec may be going on)
tasks_alive() {
  for p in $(pgrep -f "ubpipe run"); do
    tr '\0' '\n' 2>/dev/null < /proc/$p/environ | grep -qx "UBPIPE_HOME=$UBPIPE_HOME" && echo "$p"
  done | wc -l
}

# 1. the reference
t0=$(date +%s%N)
if run; then ok; else ko "clean run failed"; fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ref=$(state)
case $ref in 0,*|*,0,*|*,0) ko "the clean run left an empty table: $ref" ;; *) ok ;; esac

# 2. SIGKILL at random moments, then resume
i=1
kills=0
while [ "$i" -le "$N" ]; do
  at=$(awk -v s="$SEED" -v i="$i" -v ms="$ms" 'BEGIN { srand((s % 100000) * 1000 + i); rand(); printf "%.3f", rand() * ms * 1.1 / 1000 }')
  "$UBPIPE" run "$SPEC" --ds $D -q -p movie_review_file="$DEMO/movie_review.csv" --rerun 2>/dev/null &
  pid=$!                                  # ubpipe itself, not a subshell
  sleep "$at"
  kill -KILL $pid 2>/dev/null && kills=$((kills + 1))
  wait $pid 2>/dev/null
  for _ in $(seq 1 100); do [ "$(tasks_alive)" = 0 ] && break; sleep 0.05; done
  same "task processes left after SIGKILL $i (at ${at}s)" "$(tasks_alive)" 0
  if run 2>"$TMP/resume.err"; then ok; else ko "resume $i (killed at ${at}s) failed: $(cat "$TMP/resume.err")"; fi
  got=$(state)
  if [ "$got" = "$ref" ]; then ok; else
    ko "state after kill $i at ${at}s differs from the clean run"
    printf '%s\n' "$ref" > "$TMP/want"; printf '%s\n' "$got" > "$TMP/got"; diff "$TMP/want" "$TMP/got" | head -10
  fi
  same "temporary files left after kill $i" "$(temps)" 0
  [ "$(temps)" = 0 ] || find "$UBPIPE_HOME" -path "$UBPIPE_HOME/pg" -prune -o -name '*.ubtmp.*' -print >&2
  i=$((i + 1))
done
echo "test_kill_resume: $N runs, $kills killed by SIGKILL mid-run (clean run ${ms} ms), then resumed"

# 3. the local EMR runner is killed (SIGKILL) while a step runs: the next run succeeds
STEPS=$UBPIPE_HOME/emr/local/steps
runner_pid() {   # the EMR runner of this test's UBPIPE_HOME, if one is alive
  for p in $(pgrep -f "__emr-local-runner"); do
    tr '\0' '\n' 2>/dev/null < /proc/$p/environ | grep -qx "UBPIPE_HOME=$UBPIPE_HOME" && echo "$p"
  done | head -n 1
}
running_step() { grep -l '"State": "RUNNING"' "$STEPS"/*.json 2>/dev/null | head -n 1; }
# The runner is held stopped and let go for a millisecond at a time; each time it is stopped its step
# records are read.  A record says RUNNING from the moment the runner marks a step until it has seen
# the step's child end, so a runner stopped in that window is caught whatever the machine's speed
# (the child may even finish meanwhile: the record changes only when the runner runs again).  A run
# whose three steps all slip through the windows is tried again, up to five times.
killed=
try=0
while [ -z "$killed" ] && [ "$try" -lt 5 ]; do
  try=$((try + 1))
  run --rerun 2>"$TMP/emr.err" &
  pid=$!
  rp=
  while kill -0 $pid 2>/dev/null; do
    if [ -z "$rp" ] || ! kill -0 "$rp" 2>/dev/null; then
      rp=$(runner_pid)
      [ -n "$rp" ] || { sleep 0.002; continue; }
    fi
    kill -STOP "$rp" 2>/dev/null || { rp=; continue; }
    s=$(running_step)
    if [ -n "$s" ]; then
      kill -KILL "$rp" && killed=$s
      kill -CONT "$rp" 2>/dev/null
      break
    fi
    kill -CONT "$rp" 2>/dev/null
    sleep 0.001
  done
  wait $pid
done
if [ -n "$killed" ]; then ok; echo "test_kill_resume: EMR runner killed with step $(basename "$killed" .json) RUNNING (run $try)"
else ko "never caught the EMR runner with a RUNNING step in $try runs"; fi
if run 2>"$TMP/emr2.err"; then ok; else ko "the run after the EMR runner was killed failed: $(cat "$TMP/emr2.err")"; fi
if [ -n "$killed" ] && grep -q '"State": "CANCELLED"' "$killed" && grep -q 'interrupted: runner died' "$killed"; then ok
else ko "the killed runner's step is not CANCELLED as interrupted: $(cat "$killed" 2>/dev/null)"; fi
same "state after the EMR runner was killed" "$(state)" "$ref"
same "temporary files left after the EMR runner was killed" "$(temps)" 0

# 4. PostgreSQL goes away in the middle of a run and comes back: retries carry the run
mkdir -p "$TMP/copy"
cp -r pipelines sql reports "$TMP/copy/"
sed -i 's/^  retries: 2$/  retries: 8/; s/^  retry_delay: 60s$/  retry_delay: 1s/' "$TMP/copy/pipelines/user_behavior.yaml"
grep -q 'retry_delay: 1s' "$TMP/copy/pipelines/user_behavior.yaml" && ok || ko "could not make the fast-retry copy"
# The run gets a session of its own; once a task runs, the whole session (scheduler and tries) is held
# stopped while PostgreSQL shuts down, so the server goes away in the middle of the run however fast the
# machine finishes a run.
setsid "$UBPIPE" run "$TMP/copy/pipelines/user_behavior.yaml" --ds $D --rerun -p movie_review_file="$DEMO/movie_review.csv" \
  2>"$TMP/pg.err" &
pid=$!
J=$UBPIPE_HOME/runs/user_behavior/$D/journal.jsonl
lines=$(wc -l < "$J")
for _ in $(seq 1 1000); do
  tail -n +"$((lines + 1))" "$J" | grep -q '"state":"running"' && break
  sleep 0.005
done
sid=$(ps -o sid= -p $pid | tr -d ' ')
[ "$sid" = "$pid" ] && ok || ko "the run is not in a session of its own (sid [$sid], pid $pid)"
pkill -STOP -s "$sid"
sh scripts/stack.sh stop >/dev/null 2>&1
pkill -CONT -s "$sid"
sleep 2
sh scripts/stack.sh start >/dev/null 2>&1 || ko "cannot restart PostgreSQL"
wait $pid
rc=$?
same "exit status of the run that lost PostgreSQL" "$rc" 0
[ "$rc" = 0 ] || tail -n 20 "$TMP/pg.err" >&2
if grep -q 'retry ' "$TMP/pg.err"; then ok; else ko "no task was retried while PostgreSQL was down: $(cat "$TMP/pg.err")"; fi
same "state after PostgreSQL came back" "$(state)" "$ref"
same "temporary files left after the PostgreSQL restart" "$(temps)" 0

echo "test_kill_resume: $pass passed, $fail failed"
[ "$fail" = 0 ]
