#!/bin/sh
# test_sched.sh — the scheduler on the local stack (issue 4), with a small pipeline of SQL tasks
# (pg_sleep, a division by zero, a sequence that fails twice) in a temporary UBPIPE_HOME:
#  1. parallel tasks with --jobs, and none with --jobs 1 (running intervals from the journal);
#  2. a failed task: downstream upstream_failed, the unrelated branch runs to the end, exit 1, a message
#     naming the task and its error;
#  3. fail twice then succeed, with the configured delays (1 s, then 2 s with backoff);
#  4. a timeout stops the query for real (nothing left in pg_stat_activity);
#  5. SIGTERM cancels the running tasks (recorded failed, query cancelled, no child left), exit 1;
#     the next run completes the run;
#  6. resume runs only what is not yet successful; status JSON; logs per try; --log-format json;
#  7. backfill of three days, again (nothing to do), plan grid, max-active-runs, depends_on_past;
#  8. a second ubpipe on the same ds is refused.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_sched: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }
has() { case $2 in *"$3"*) ok ;; *) ko "$1: no [$3] in: $2" ;; esac; }

TMP=$(mktemp -d /tmp/ubpipe-test-sched.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_sched: cannot start the stack"; exit 1; }
Q() { sh scripts/stack.sh psql warehouse -X -q -A -t -F, -c "$1"; }

P=$TMP/p
mkdir -p "$P/sql"
echo 'SELECT pg_sleep({{ params.sleep }});' > "$P/sql/sleep.sql"
echo 'SELECT 1/0;' > "$P/sql/fail.sql"
echo "SELECT 1/(CASE WHEN nextval('flaky_{{ ds_nodash }}') < 3 THEN 0 ELSE 1 END);" > "$P/sql/flaky.sql"
echo "SELECT {{ ds == params.bad_ds and '1/0' or '1' }};" > "$P/sql/bad_day.sql"
common='defaults: { retries: 0, retry_delay: 1s }
params: { sleep: "1", bad_ds: "none" }
profiles:
  local:
    lake: "file:{{ state_dir }}/lake"
    warehouse: { dsn: "host={{ state_dir }}/pg user=ubpipe dbname=ubpipe_warehouse", dialect: postgres }'
cat > "$P/par.yaml" <<EOF
pipeline: par
$common
tasks:
  a: { op: sql, sql: sql/sleep.sql }
  b: { op: sql, sql: sql/sleep.sql }
  c: { op: sql, sql: sql/sleep.sql }
EOF
cat > "$P/branch.yaml" <<EOF
pipeline: branch
$common
tasks:
  bad: { op: sql, sql: sql/fail.sql, retries: 1, retry_delay: 1s }
  after_bad: { op: noop, after: [bad] }
  after_after: { op: noop, after: [after_bad] }
  good: { op: sql, sql: sql/sleep.sql }
  after_good: { op: noop, after: [good] }
EOF
cat > "$P/retry.yaml" <<EOF
pipeline: retry
$common
tasks:
  flaky: { op: sql, sql: sql/flaky.sql, retries: 2, retry_delay: 1s, retry_backoff: true }
  slow: { op: sql, sql: sql/sleep.sql, timeout: 2s }
EOF
cat > "$P/long.yaml" <<EOF
pipeline: long
$common
tasks:
  l1: { op: sql, sql: sql/sleep.sql }
  l2: { op: sql, sql: sql/sleep.sql }
  after: { op: noop, after: [l1, l2] }
EOF
cat > "$P/days.yaml" <<EOF
pipeline: days
$common
tasks:
  first: { op: sql, sql: sql/bad_day.sql }
  second: { op: noop, after: [first] }
EOF
{ cat "$P/days.yaml" | sed 's/^pipeline: days/pipeline: pastdays\ndepends_on_past: true/'; } > "$P/past.yaml"

J() { cat "$UBPIPE_HOME/runs/$1/$2/journal.jsonl"; }
# ts of the first record of TASK in STATE (journal of pipeline $1, ds $2)
ts() { J "$1" "$2" | python3 -c "
import json,sys
for l in sys.stdin:
    r=json.loads(l)
    if r.get('task')=='$3' and r.get('state')=='$4': print(r['ts']); break"; }
states() { "$UBPIPE" status "$P/$1.yaml" --ds "$2" --format json |
  python3 -c 'import json,sys; print(" ".join("%s=%s/%d" % (t["id"], t["state"], t["tries"]) for t in json.load(sys.stdin)["tasks"]))'; }
lt() { python3 -c "import sys; sys.exit(0 if $1 < $2 else 1)"; }
D=2021-01-01

# 1. parallelism: with -j 3 the three 1 s tasks overlap; with -j 1 none starts before the previous ended
if "$UBPIPE" run "$P/par.yaml" --ds $D -q -j 3; then ok; else ko "par -j 3 failed"; fi
if lt "$(ts par $D b running)" "$(ts par $D a success)" && lt "$(ts par $D c running)" "$(ts par $D b success)"; then ok
else ko "-j 3: tasks did not run at the same time"; fi
if "$UBPIPE" run "$P/par.yaml" --ds 2021-01-02 -q -j 1; then ok; else ko "par -j 1 failed"; fi
if lt "$(ts par 2021-01-02 a success)" "$(ts par 2021-01-02 b running)" &&
   lt "$(ts par 2021-01-02 b success)" "$(ts par 2021-01-02 c running)"; then ok
else ko "-j 1: two tasks ran at the same time"; fi

# 2. a failed task: downstream upstream_failed, the other branch runs to the end
out=$("$UBPIPE" run "$P/branch.yaml" --ds $D -j 2 2>&1)
same "exit status with a failed task" "$?" 1
same "states after a failed task" "$(states branch $D)" \
  "bad=failed/2 after_bad=upstream_failed/0 after_after=upstream_failed/0 good=success/1 after_good=success/1"
# the server gives no position for 1/0: the message names the file and where the statement starts
has "message naming the task and its last error" "$out" "task 'bad' failed: $P/sql/fail.sql:1:1: division by zero (in the statement that starts there)"
has "retry line" "$out" "retry    bad (try 1 failed: $P/sql/fail.sql:1:1: division by zero (in the statement that starts there)); next try in 1s"

# 3. fails twice, then succeeds, with 1 s then 2 s between the tries; 4. a timeout
Q "CREATE SEQUENCE flaky_20210101" >/dev/null
out=$("$UBPIPE" run "$P/retry.yaml" --ds $D -j 2 -p sleep=30 2>&1)
same "exit status with a timed-out task" "$?" 1
same "states after retries and a timeout" "$(states retry $D)" "flaky=success/3 slow=failed/1"
delays=$(J retry $D | python3 -c "
import json,sys
last=None; out=[]
for l in sys.stdin:
    r=json.loads(l)
    if r.get('task')!='flaky' or 'state' not in r: continue
    if r['state']=='up_for_retry': last=r['ts']
    if r['state']=='running' and last is not None: out.append(r['ts']-last); last=None
print(' '.join('ok' if d >= want - 0.05 else 'short(%.2f<%d)' % (d, want) for d, want in zip(out, [1, 2])), len(out))")
same "delays between the tries of flaky" "$delays" "ok ok 2"
has "timeout message" "$out" "FAILED   slow (try 1): timed out after 2s"
same "queries left after the timeout" "$(Q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")" 0
has "log of the stopped try" "$(cat "$UBPIPE_HOME/runs/retry/$D/logs/slow.1.log")" "stopped by the scheduler"

# 5. SIGTERM: the running tasks are cancelled and recorded failed; the next run completes
"$UBPIPE" run "$P/long.yaml" --ds $D -q -j 2 -p sleep=60 2>"$TMP/sig.err" &
pid=$!
for _ in $(seq 1 100); do
  [ "$(J long $D 2>/dev/null | grep -c '"running"')" = 2 ] && break
  sleep 0.1
done
sleep 0.5
kill -TERM $pid
wait $pid
same "exit status after SIGTERM" "$?" 1
same "states after SIGTERM" "$(states long $D)" "l1=failed/1 l2=failed/1 after=upstream_failed/0"
has "journal error after SIGTERM" "$(J long $D | grep l1 | tail -n 1)" "cancelled by a signal"
has "message after SIGTERM" "$(cat "$TMP/sig.err")" "cancelled; run the same command again"
same "queries left after SIGTERM" "$(Q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")" 0
same "task processes left after SIGTERM" "$(pgrep -f "ubpipe run $P/long.yaml" | wc -l)" 0
if "$UBPIPE" run "$P/long.yaml" --ds $D -q -p sleep=0; then ok; else ko "run after SIGTERM failed"; fi
same "states after the resumed run" "$(states long $D)" "l1=success/2 l2=success/2 after=success/1"

# 6. resume: only what is not yet successful runs; logs; --log-format json
n0=$(J retry $D | grep -c '"flaky"')
out=$("$UBPIPE" run "$P/retry.yaml" --ds $D -p sleep=0 --log-format json 2>&1)
same "resume exit status" "$?" 0
same "flaky not run again" "$(J retry $D | grep -c '"flaky"')" "$n0"
same "states after resume" "$(states retry $D)" "flaky=success/3 slow=success/2"
bad=$(printf '%s\n' "$out" | python3 -c "
import json,sys
n=0
for l in sys.stdin:
    try: json.loads(l)
    except ValueError: n+=1
print(n)")
same "non-JSON lines with --log-format json" "$bad" 0
has "json success event" "$out" '"event":"task","ds":"2021-01-01","task":"slow","state":"success","try":2'
logs=$("$UBPIPE" logs "$P/retry.yaml" flaky --ds $D)
same "log headers of flaky" "$(printf '%s\n' "$logs" | grep '^===' | tr '\n' ' ')" "=== flaky try 1 === === flaky try 2 === === flaky try 3 === "
has "log of try 2" "$("$UBPIPE" logs "$P/retry.yaml" flaky --ds $D --try 2)" "try 2 of 3, operator sql"
same "one try only with --try" "$("$UBPIPE" logs "$P/retry.yaml" flaky --ds $D --try 2 | grep -c '^===')" 1

# 7. backfill: three days, then again (nothing to do); status and plan over the range
if "$UBPIPE" run "$P/days.yaml" --from 2021-02-01 --to 2021-02-03 -q --max-active-runs 1; then ok; else ko "backfill failed"; fi
same "status of the range" "$("$UBPIPE" status "$P/days.yaml" --from 2021-02-01 --to 2021-02-03 --format json |
  python3 -c '
import json,sys
dec=json.JSONDecoder(); s=sys.stdin.read().strip(); i=0; out=[]
while i < len(s):
    o,i=dec.raw_decode(s,i)
    while i < len(s) and s[i].isspace(): i+=1
    out.append(o["ds"] + ":" + ",".join(t["state"] for t in o["tasks"]))
print(" ".join(out))')" "2021-02-01:success,success 2021-02-02:success,success 2021-02-03:success,success"
if lt "$(ts days 2021-02-01 second success)" "$(ts days 2021-02-02 first running)" &&
   lt "$(ts days 2021-02-02 second success)" "$(ts days 2021-02-03 first running)"; then ok
else ko "--max-active-runs 1: two dates ran at the same time"; fi
lines=$(cat "$UBPIPE_HOME"/runs/days/*/journal.jsonl | wc -l)
out=$("$UBPIPE" run "$P/days.yaml" --from 2021-02-01 --to 2021-02-03 2>&1)
same "second backfill exit status" "$?" 0
same "second backfill journal lines" "$(cat "$UBPIPE_HOME"/runs/days/*/journal.jsonl | wc -l)" "$lines"
same "second backfill: dates already complete" "$(printf '%s\n' "$out" | grep -c 'is already complete')" 3
grid=$("$UBPIPE" plan "$P/days.yaml" --from 2021-01-31 --to 2021-02-02)
has "plan grid header" "$grid" "2021-01-31 2021-02-01 2021-02-02"
same "plan grid row" "$(printf '%s\n' "$grid" | grep '^first' | tr -s ' ')" "first run done done"
# depends_on_past: the failing second day stops the third; without it the third runs
out=$("$UBPIPE" run "$P/past.yaml" --from 2021-03-01 --to 2021-03-03 -p bad_ds=2021-03-02 2>&1)
same "depends_on_past exit status" "$?" 1
same "depends_on_past day 1" "$(states past 2021-03-01)" "first=success/1 second=success/1"
has "depends_on_past message" "$out" "ds=2021-03-03 not started: depends_on_past"
same "depends_on_past: day 3 never ran" "$(test -e "$UBPIPE_HOME/runs/pastdays/2021-03-03/journal.jsonl" && J pastdays 2021-03-03 | grep -c running || echo 0)" 0
"$UBPIPE" run "$P/days.yaml" --from 2021-03-01 --to 2021-03-03 -q -p bad_ds=2021-03-02 2>/dev/null
same "without depends_on_past day 3 runs" "$(states days 2021-03-03)" "first=success/1 second=success/1"

# 8. one scheduler per ds
"$UBPIPE" run "$P/long.yaml" --ds 2021-04-01 -q -p sleep=3 &
pid=$!
for _ in $(seq 1 50); do [ -s "$UBPIPE_HOME/runs/long/2021-04-01/journal.jsonl" ] && break; sleep 0.1; done
out=$("$UBPIPE" run "$P/long.yaml" --ds 2021-04-01 -q -p sleep=0 2>&1)
same "second scheduler on the same ds exit status" "$?" 1
has "second scheduler message" "$out" "another ubpipe is running pipeline 'long' for ds 2021-04-01"
wait $pid
same "first scheduler still succeeds" "$?" 0

echo "test_sched: $pass passed, $fail failed"
[ "$fail" = 0 ]
