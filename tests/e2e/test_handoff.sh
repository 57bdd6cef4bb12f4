#!/bin/sh
# test_handoff.sh — the streaming hand-off (issue 15): a wh.partition load that starts while its
# pg.extract still writes, and commits only after the extract and the upload succeeded.
#
# A small pipeline of its own (extract -> lake.put -> wh.partition of generate_series rows):
#  1. a clean run: the load's "running" comes before the extract's "success" in the journal, its log
#     says it followed the extract, and the partition holds exactly the rows (the same as with
#     UBPIPE_HANDOFF=0);
#  2. the extract fails half-way (a division by zero at row FAILAT) while the load follows it: the
#     load ends upstream_failed, the earlier partition is untouched and no half-built table is left;
#     with a retry of the extract, the load's early try ends with the extract's first failed try;
#  3. an extra object under the partition's lake prefix: the streamed load is rolled back and the
#     prefix loaded the ordinary way (both objects);
#  4. the reference pipeline at a small scale: the same warehouse state with and without the hand-off.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_handoff: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-handoff.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_handoff: cannot start the stack"; exit 1; }
Q() { PGOPTIONS="-c client_min_messages=warning" sh scripts/stack.sh psql warehouse -X -q -A -t -c "$1"; }

D=2021-04-30
P=$TMP/p
mkdir -p "$P"
cat > "$P/ex.sql" <<'SQL'
SELECT n, md5(n::text) AS s
  FROM generate_series(1, {{ params.rows }}) AS n
 WHERE 1 / (CASE WHEN n = {{ params.failat }} THEN 0 ELSE 1 END) = 1
SQL
cat > "$P/setup.sql" <<'SQL'
CREATE TABLE IF NOT EXISTS public.handoff_t (n int, s text, insert_date date) PARTITION BY LIST (insert_date);
SQL
cat > "$P/h.yaml" <<'YAML'
pipeline: handoff
start_date: 2021-04-01
defaults:
  retries: 0
params:
  rows: 300000
  failat: 0
profiles:
  local:
    lake: "file:{{ state_dir }}/lake"
    source: "host={{ state_dir }}/pg user=ubpipe dbname=ubpipe_source"
    warehouse:
      dsn: "host={{ state_dir }}/pg user=ubpipe dbname=ubpipe_warehouse"
      dialect: postgres
tasks:
  ex:
    op: pg.extract
    conn: source
    sql: ex.sql
    to: "{{ workdir }}/t.csv"
  up:
    op: lake.put
    after: [ex]
    src: "{{ workdir }}/t.csv"
    dst: "stage:t/{{ ds }}/t.csv"
  load:
    op: wh.partition
    after: [up]
    conn: warehouse
    table: public.handoff_t
    location: "stage:t/{{ ds }}/"
    setup: setup.sql
YAML
J=$UBPIPE_HOME/runs/handoff/$D/journal.jsonl
LOG=$UBPIPE_HOME/runs/handoff/$D/logs
hrun() { "$UBPIPE" run "$P/h.yaml" --ds $D -q "$@"; }
# TASK STATE: the journal time of the last such record (empty when none)
jts() { python3 - "$J" "$1" "$2" <<'PY'
import json, sys
ts = [e["ts"] for e in map(json.loads, open(sys.argv[1])) if e.get("task") == sys.argv[2] and e.get("state") == sys.argv[3]]
print(ts[-1] if ts else "")
PY
}
jlast() { python3 - "$J" "$1" <<'PY'
import json, sys
st = [e["state"] for e in map(json.loads, open(sys.argv[1])) if e.get("task") == sys.argv[2] and "state" in e]
print(st[-1] if st else "")
PY
}
before() { [ -n "$1" ] && [ -n "$2" ] && [ "$(echo "$1 < $2" | bc -l)" = 1 ]; }
sum() { Q "SELECT count(*), coalesce(sum(n), 0), md5(string_agg(s, '' ORDER BY n)) FROM public.handoff_t WHERE insert_date = '$D'"; }
leftover() { Q "SELECT count(*) FROM pg_class WHERE relname LIKE 'handoff_t_p%__new'"; }

# 1. a clean run streams
if hrun; then ok; else ko "the clean run failed"; fi
same "last state of load" "$(jlast load)" success
if before "$(jts load running)" "$(jts ex success)"; then ok; else
  ko "load did not start before ex ended: running $(jts load running), ex success $(jts ex success)"; fi
if grep -q "loaded while the extract ran" "$LOG"/load.*.log; then ok; else ko "load's log does not say it streamed"; fi
good=$(sum)
same "rows after the streamed load" "$(echo "$good" | cut -d'|' -f1-2)" "300000|45000150000"
# the same without the hand-off
if UBPIPE_HANDOFF=0 hrun --rerun; then ok; else ko "the run without hand-off failed"; fi
same "the same partition without the hand-off" "$(sum)" "$good"
if before "$(jts ex success)" "$(jts load running)"; then ok; else ko "UBPIPE_HANDOFF=0: load started before ex ended"; fi

# 2. the extract fails half-way: nothing of the load lands
if hrun --rerun -p failat=250000 2>"$TMP/err"; then ko "a failing extract gave a successful run"; else ok; fi
same "last state of ex" "$(jlast ex)" failed
same "last state of up" "$(jlast up)" upstream_failed
same "last state of load" "$(jlast load)" upstream_failed
if before "$(jts load running)" "$(jts ex failed)"; then ok; else ko "load did not follow the failing extract"; fi
same "the partition after a failed extract" "$(sum)" "$good"
same "half-built tables left" "$(leftover)" 0
same "temporary files left" "$(find "$UBPIPE_HOME" -path "$UBPIPE_HOME/pg" -prune -o -name '*.ubtmp.*' -print | wc -l)" 0
# the same with a retry of the extract: its first failed try ends the following load's try at once
# (not counted, no commit); the load does not follow the second try and ends upstream_failed
sed -e 's/^  retries: 0/  retries: 1\n  retry_delay: 1s/' "$P/h.yaml" > "$P/h2.yaml"
if "$UBPIPE" run "$P/h2.yaml" --ds $D -q --rerun -p failat=250000 2>/dev/null; then ko "a failing extract (2 tries) gave a successful run"; else ok; fi
same "last state of load (extract retried)" "$(jlast load)" upstream_failed
if before "$(jts load up_for_retry)" "$(jts ex running)"; then ok; else
  ko "the load's early try did not end before the extract's second try: $(jts load up_for_retry) vs $(jts ex running)"; fi
same "the partition after a failed extract (retried)" "$(sum)" "$good"
same "half-built tables left (retried)" "$(leftover)" 0
# and the next run completes it
if hrun; then ok; else ko "the run after the failed one failed"; fi
same "the partition after the resumed run" "$(sum)" "$good"

# 3. another object under the prefix: loaded the ordinary way, both objects
printf 'n,s\n0,extra\n' > "$UBPIPE_HOME/lake/stage/t/$D/more.csv"
if hrun --rerun; then ok; else ko "the run with two objects failed"; fi
same "rows with the extra object" "$(Q "SELECT count(*), sum(n) FROM public.handoff_t WHERE insert_date = '$D'")" "300001|45000150000"
if grep -q "loading it again" "$LOG"/load.*.log; then ok; else ko "load's log does not say it loaded the prefix again"; fi
rm -f "$UBPIPE_HOME/lake/stage/t/$D/more.csv"

# 4. the reference pipeline: the same state with and without the hand-off
UBPIPE_DEMO_SCALE=0.02 sh scripts/demo-data.sh >/dev/null || ko "demo data failed"
ref() { "$UBPIPE" run pipelines/user_behavior.yaml --ds $D -q -p movie_review_file="$UBPIPE_HOME/demo/movie_review.csv" "$@"; }
state() {
  Q "SELECT (SELECT count(*) FROM spectrum.user_purchase_staging WHERE insert_date='$D'),
            (SELECT count(*) FROM public.user_behavior_metric WHERE insert_date='$D')"
  Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
     WHERE insert_date='$D' ORDER BY customerid" | md5sum
}
if UBPIPE_HANDOFF=0 ref; then ok; else ko "reference run without hand-off failed"; fi
want=$(state)
if ref --rerun; then ok; else ko "reference run with hand-off failed"; fi
same "reference state with the hand-off" "$(state)" "$want"
J=$UBPIPE_HOME/runs/user_behavior/$D/journal.jsonl
if before "$(jts user_purchase_stage_data_lake_to_stage_tbl running)" "$(jts extract_user_purchase_data success)"; then ok
else ko "the reference load did not start before the extract ended"; fi

echo "test_handoff: $pass passed, $fail failed"
[ "$fail" = 0 ]
