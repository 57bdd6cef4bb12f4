#!/bin/sh
# test_durable.sh — a task journals success only for durable work (issue 9, item 4).
#
# The private cluster runs synchronous_commit=off (scripts/stack.sh) and here also wal_writer_delay=10s,
# so a commit that does not ask for a flush stays in memory for seconds.  The reference pipeline runs to
# success; the server is then stopped as a crash would (`stack.sh crash`: pg_ctl -m immediate), restarted,
# and the pipeline run again normally (a resume, which trusts the journal).  The metric must hold the
# same rows as the independent computation (tests/e2e/ref_metric.py) — a lost COMMIT would leave none.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SCALE=${TEST_DURABLE_SCALE:-0.02}
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_durable: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-durable.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_durable: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh >/dev/null || { echo "test_durable: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
Q() { PGOPTIONS="-c client_min_messages=warning" sh scripts/stack.sh psql warehouse -X -q -A -t -c "$1"; }
# the server's defaults lose an unflushed commit for sure: no flush for 10 s after a commit
Q "ALTER SYSTEM SET wal_writer_delay = '10s'" >/dev/null
Q "ALTER SYSTEM SET wal_writer_flush_after = 0" >/dev/null
Q "SELECT pg_reload_conf()" >/dev/null
same "server synchronous_commit" "$(Q "SHOW synchronous_commit")" "off"
sleep 1    # the wal writer reads the new delay on its next wake-up (at most the old 200 ms)

D=2021-04-30
want=$(python3 tests/e2e/ref_metric.py --purchases "$DEMO/user_purchase.csv" --reviews "$DEMO/movie_review.csv" --ds $D |
       tail -n +2 | wc -l)
[ "$want" -gt 0 ] && ok || ko "the reference computation gives no rows"

run() { "$UBPIPE" run pipelines/user_behavior.yaml -q --ds $D -p movie_review_file="$DEMO/movie_review.csv" "$@"; }
if run; then ok; else ko "first run failed"; fi
# at once, before anything else can flush the WAL
if sh scripts/stack.sh crash >/dev/null; then ok; else ko "immediate stop failed"; fi
sh scripts/stack.sh start >/dev/null || { ko "restart after the immediate stop failed"; exit 1; }

same "metric rows after the immediate stop" "$(Q "SELECT count(*) FROM public.user_behavior_metric WHERE insert_date = '$D'")" "$want"
if run; then ok; else ko "resume after the immediate stop failed"; fi
same "metric rows after the resume" "$(Q "SELECT count(*) FROM public.user_behavior_metric WHERE insert_date = '$D'")" "$want"
same "staged purchases after the resume" \
  "$(Q "SELECT count(*) > 0 FROM spectrum.user_purchase_staging WHERE insert_date = '$D'")" "t"
same "classified reviews after the resume" \
  "$(Q "SELECT count(*) > 0 FROM spectrum.classified_movie_review WHERE insert_date = '$D'")" "t"

echo "test_durable: $pass passed, $fail failed"
[ "$fail" = 0 ]
