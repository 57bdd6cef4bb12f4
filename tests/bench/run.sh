#!/bin/sh
# make bench — performance of ubpipe against the tools a user would otherwise use, measured in the same
# run and reported as ratios.  Real-scale demo data in a private stack under $BENCH_HOME
# (default /tmp/ubpipe-bench).  Nothing here is a pass/fail test: it prints a table.
#   BENCH_SCALE10=1  also run the whole pipeline on 10x data for the peak-RSS check (a few minutes)
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=$ROOT/ubpipe
export UBPIPE_HOME=${BENCH_HOME:-/tmp/ubpipe-bench}
mkdir -p "$UBPIPE_HOME" && chmod 755 "$UBPIPE_HOME"
W=$UBPIPE_HOME/bench
mkdir -p "$W"
DS=2021-04-30
now() { date +%s.%N; }
el() { echo "$2 - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
best() {   # best of N runs of a command, seconds
  n=$1; shift; b=
  for _ in $(seq "$n"); do
    t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
    t=$(el "$t0" "$t1")
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
med() {    # median of N runs of a command, seconds
  n=$1; shift
  for _ in $(seq "$n"); do t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); el "$t0" "$t1"; done | median
}
jdur() {   # JOURNAL TASK: seconds from the last "running" to the state after it
  python3 - "$1" "$2" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [e for e in ev if e.get("task") == sys.argv[2] and "state" in e]   # not the decision records
run = [k for k, e in enumerate(ev) if e["state"] == "running"]
i = run[-1] if run else len(ev)
if i + 1 < len(ev) and ev[i + 1]["state"] == "success":   # else nothing: a failed try is no figure
    print(round(ev[i + 1]["ts"] - ev[i]["ts"], 3))
PY
}
row() { printf '%-44s %12s %12s %10s  %s\n' "$1" "$2" "$3" "$4" "$5"; }

command -v bc >/dev/null || { echo "bench: needs bc (apt-get install bc)"; exit 1; }
sh scripts/stack.sh start >/dev/null
sh scripts/demo-data.sh >/dev/null
eval "$(sh scripts/stack.sh env)"
DEMO=$UBPIPE_HOME/demo
echo "ubpipe bench — $(nproc) cores, demo scale 1 ($(wc -c < "$DEMO/movie_review.csv") review bytes), ds $DS"
echo
row "measure" "ubpipe" "baseline" "ratio" "target"

# --- the interpreter -------------------------------------------------------
t=$(best 20 "$UBPIPE" plan pipelines/user_behavior.yaml --ds $DS)
row "plan of the reference pipeline (s)" "$t" "-" "-" "<= 0.010 s"
for n in 1000 10000 20000; do
  f=$W/spec$n.yaml
  if [ ! -f "$f" ]; then
    { echo "pipeline: big$n"; echo "tasks:"
      i=0; while [ $i -lt $n ]; do
        if [ $i = 0 ]; then printf '  t%d:\n    op: noop\n' $i
        else printf '  t%d:\n    op: noop\n    after: [t%d, t%d]\n' $i $((i - 1)) $((i / 2)); fi
        i=$((i + 1)); done; } > "$f"
  fi
  eval "v$n=\$(best 3 \"\$UBPIPE\" validate -q \"\$f\")"
done
row "validate 10,000 tasks (s)" "$v10000" "-" "-" "<= 1 s"
row "validate 20,000 / 10,000 tasks" "$(ratio "$v20000" "$v10000")" "-" "-" "~2 (linear)"
row "validate 10,000 / 1,000 tasks" "$(ratio "$v10000" "$v1000")" "-" "-" "~10 (linear)"

# --- classification ---------------------------------------------------------
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinterp -o "$W/classify_bench" tests/bench/classify_bench.c "$BUILD/libubpipe.a" \
   $(pkg-config --libs yaml-0.1 libpq libcurl openssl lua5.4 libzstd expat jansson) -lm -lpthread || exit 1
cb=
for _ in 1 2 3; do
  out=$("$W/classify_bench" "$DEMO/movie_review.csv" "$W/classified.csv" $DS)
  s=${out%% *}
  if [ -z "$cb" ] || [ "$(echo "$s < $cb" | bc -l)" = 1 ]; then cb=$s; cbytes=$(echo "$out" | cut -d' ' -f2); fi
done
gbs=$(echo "scale=2; $cbytes / $cb / 1000000000" | bc -l)
py=$(best 1 python3 tests/bench/classify_baseline.py "$DEMO/movie_review.csv" "$W/classified_py.csv" $DS)
cmp -s "$W/classified.csv" "$W/classified_py.csv" && same=identical || same=DIFFERENT
row "classify demo reviews (s)" "$cb" "$py" "$(ratio "$py" "$cb")x" ">= 30x python; outputs $same"
row "classify throughput (GB/s, one core)" "$gbs" "-" "-" ">= 1 GB/s"

# --- extract and load against psql \copy -------------------------------------
SQL="SELECT invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country FROM retail.user_purchase WHERE invoice_date < '2021-05-01'"
fresh() { rm -rf "$UBPIPE_HOME/runs" "$UBPIPE_HOME/lake" "$UBPIPE_HOME/work" "$UBPIPE_HOME/hdfs" "$UBPIPE_HOME/emr"; }
fresh   # nothing left from an earlier bench (e.g. the 10x lake objects)
"$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q -p movie_review_file="$DEMO/movie_review.csv" >/dev/null 2>&1
ex=$(best 3 "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --only extract_user_purchase_data)
pex=$(best 3 psql "$UBPIPE_CONN_SOURCE" -X -q -c "\\copy ($SQL) to '$W/psql_extract.csv' csv header")
row "extract 541,909 rows (s)" "$ex" "$pex" "$(ratio "$ex" "$pex")" "<= 1.2 x psql \\copy"
# the partition load as the scheduler sees it: journal start to end of the task
LOADF=$UBPIPE_HOME/lake/stage/user_purchase/$DS/user_purchase.csv
JRN=$UBPIPE_HOME/runs/user_behavior/$DS/journal.jsonl
cat > "$W/load.sql" <<SQL
BEGIN;
DROP TABLE IF EXISTS bench_load;
CREATE TABLE bench_load (LIKE spectrum.user_purchase_staging INCLUDING DEFAULTS);
\\copy bench_load (invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country) from '$LOADF' csv header
COMMIT;
SQL
# interleaved, so that both sides see the same load of the machine; the task also as one CSV COPY
: > "$W/ld"; : > "$W/ldcsv"; : > "$W/pld"
for _ in 1 2 3 4 5; do
  "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --only user_purchase_stage_data_lake_to_stage_tbl >/dev/null 2>&1
  jdur "$JRN" user_purchase_stage_data_lake_to_stage_tbl >> "$W/ld"
  UBPIPE_COPY_BINARY=0 "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q \
    --only user_purchase_stage_data_lake_to_stage_tbl >/dev/null 2>&1
  jdur "$JRN" user_purchase_stage_data_lake_to_stage_tbl >> "$W/ldcsv"
  med 1 psql "$UBPIPE_CONN_WAREHOUSE" -X -q -f "$W/load.sql" >> "$W/pld"
done
ld=$(median < "$W/ld"); ldcsv=$(median < "$W/ldcsv"); pld=$(median < "$W/pld")
row "partition load, task in the journal (s)" "$ld" "$pld" "$(ratio "$ld" "$pld")" "<= 1.1 x psql \\copy (medians of 5)"
row "  the same with UBPIPE_COPY_BINARY=0 (s)" "$ldcsv" "$pld" "$(ratio "$ldcsv" "$pld")" "(one CSV COPY, as psql's)"

# --- the whole run against the serial psql floor (issue 15) ----------------------
# ubpipe's reference run from fresh state (no journal, empty lake, work dir and
# hdfs; the warehouse keeps its setup) against the same work done one step after
# another with psql: the extract, CREATE TABLE + \copy of it, one read of the
# review file, \copy of the classified reviews, the metric SELECT into a table.
# Medians of 3 of each total.  Each timed run starts with nothing of the run before it still
# going on (settle: VACUUM, so that autovacuum has nothing left to do; sync and a CHECKPOINT,
# so that no writeback is pending): the floor's COPYs return before their data is on disk and
# leave tables for autovacuum to set hint bits in, ubpipe's commits return after, with the
# rows frozen; without it one side would pay for the work the other left behind.
settle() {   # SOURCE_DSN
  psql "$1" -X -q -c VACUUM
  psql "$UBPIPE_CONN_WAREHOUSE" -X -q -c VACUUM
  sync
  psql "$UBPIPE_CONN_WAREHOUSE" -X -q -c CHECKPOINT
}
whole() {   # SOURCE_DSN REVIEW_FILE TAG: prints the whole-run and floor seconds (medians of 3), peak RSS (MB)
  src=$1 reviews=$2 tag=$3
  fresh
  UBPIPE_CONN_SOURCE=$src "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q -p movie_review_file="$reviews" >/dev/null 2>&1
  awk 'FNR == 1 && NR != 1 { next } { print }' "$UBPIPE_HOME/lake/stage/movie_review/$DS"/part-* > "$W/floor_reviews_$tag.csv"
  "$UBPIPE" render pipelines/user_behavior.yaml generate_user_behavior_metric.sql --ds $DS 2>/dev/null |
    sed -e 's/spectrum\.user_purchase_staging/bench_floor_purchase/g' -e 's/spectrum\.classified_movie_review/bench_floor_review/g' \
        -e 's/public\.user_behavior_metric/bench_floor_metric/g' > "$W/floor_metric.sql"
  psql "$UBPIPE_CONN_WAREHOUSE" -X -q -c "DROP TABLE IF EXISTS bench_floor_metric; CREATE TABLE bench_floor_metric (LIKE public.user_behavior_metric)"
  : > "$W/whole_$tag"; : > "$W/floor_$tag"; : > "$W/rss_$tag"
  for _ in 1 2 3; do
    fresh
    settle "$src"
    t0=$(now)
    UBPIPE_CONN_SOURCE=$src /usr/bin/time -f %M -o "$W/rss1" "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q \
      -p movie_review_file="$reviews" >/dev/null 2>&1
    t1=$(now)
    el "$t0" "$t1" >> "$W/whole_$tag"
    echo "scale=1; $(tail -n 1 "$W/rss1") / 1024" | bc -l >> "$W/rss_$tag"
    settle "$src"
    t0=$(now)
    psql "$src" -X -q -c "\\copy ($SQL_ASOF) to '$W/floor_extract.csv' csv header"
    psql "$UBPIPE_CONN_WAREHOUSE" -X -q -c "DROP TABLE IF EXISTS bench_floor_purchase" \
      -c "CREATE TABLE bench_floor_purchase (LIKE spectrum.user_purchase_staging INCLUDING DEFAULTS)" \
      -c "ALTER TABLE bench_floor_purchase ALTER COLUMN insert_date SET DEFAULT '$DS'" \
      -c "\\copy bench_floor_purchase (invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country) from '$W/floor_extract.csv' csv header"
    cat "$reviews" > /dev/null
    psql "$UBPIPE_CONN_WAREHOUSE" -X -q -c "DROP TABLE IF EXISTS bench_floor_review" \
      -c "CREATE TABLE bench_floor_review (LIKE spectrum.classified_movie_review)" \
      -c "\\copy bench_floor_review from '$W/floor_reviews_$tag.csv' csv header"
    psql "$UBPIPE_CONN_WAREHOUSE" -X -q -1 -f "$W/floor_metric.sql"
    t1=$(now)
    el "$t0" "$t1" >> "$W/floor_$tag"
  done >/dev/null 2>&1
  echo "$(median < "$W/whole_$tag") $(median < "$W/floor_$tag") $(sort -n "$W/rss_$tag" | tail -n 1)"
}
SQL_ASOF="SELECT invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country FROM retail.user_purchase WHERE invoice_date < '$(date -u -d "$DS + 1 day" +%F)'"
set -- $(whole "$UBPIPE_CONN_SOURCE" "$DEMO/movie_review.csv" x1)
row "whole run vs serial psql floor, 1x (s)" "$1" "$2" "$(ratio "$1" "$2")" "<= 0.8 x (medians of 3, fresh state)"
m1=$3 whole1=$1
# the same without the streaming hand-off (the load waits for the extract and the upload)
export UBPIPE_HANDOFF=0
set -- $(whole "$UBPIPE_CONN_SOURCE" "$DEMO/movie_review.csv" x1off)
unset UBPIPE_HANDOFF
row "  the same with UBPIPE_HANDOFF=0 (s)" "$1" "$2" "$(ratio "$1" "$2")" "(the hand-off's share)"
# the same with every partition load one CSV COPY (no binary conversion)
export UBPIPE_COPY_BINARY=0
set -- $(whole "$UBPIPE_CONN_SOURCE" "$DEMO/movie_review.csv" x1csv)
unset UBPIPE_COPY_BINARY
row "  the same with UBPIPE_COPY_BINARY=0 (s)" "$1" "$2" "$(ratio "$1" "$2")" "(the binary COPY's share)"

# --- fingerprints (issue 13) ---------------------------------------------------------
# The ds is complete now (the last whole run above), so a run of it again is a no-op: the process, the
# spec, the journal and the decision of every task (each task's fingerprint components: parameters
# rendered, small files hashed, connections; nothing executed).  Timed in one process (python's clock
# around each run), medians of N.
pmed() {   # N CMD...: median seconds of N runs
  python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
ts = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append(time.perf_counter() - t0)
print("%.4f" % statistics.median(ts))
PY
}
RUN1="$UBPIPE run pipelines/user_behavior.yaml --ds $DS -p movie_review_file=$DEMO/movie_review.csv"
case $($RUN1 2>&1) in *"up to date"*) uptodate=yes ;; *) uptodate=NO ;; esac
noop=$(pmed 10 $RUN1 -q)
row "no-op rerun of a complete ds (s)" "$noop" "-" "-" "<= 0.100 s (median of 10; up to date: $uptodate)"
# What fingerprinting adds to a whole run.  It cannot be switched off, so it is measured two ways:
# (1) side by side: the whole run from fresh state as it is, and with tests/bench/fp_nohash.so
#     preloaded, which makes XXH3_128bits_update a no-op, so that nothing feeds the content hash: not the
#     hashes pg.extract and lake.put compute while they stream (the bulk of the cost; the small
#     files' one-shot hashes of the decision still run); medians of 3, interleaved;
# (2) from its parts, as a bound that does not depend on the load of the moment: the no-op rerun
#     above (every task's components computed, plus a process start and a spec load) and the hash
#     of the bytes the tries stream (fp_bench feeds the same files the same way: pg.extract in
#     64 KiB blocks of rows, lake.put in blocks; the file lake links the extract into the lake, no second
#     hash), medians of 3.
cc -O2 -std=c11 -D_DEFAULT_SOURCE -o "$W/fp_bench" tests/bench/fp_bench.c $(pkg-config --libs libxxhash) || exit 1
cc -O2 -shared -fPIC -o "$W/fp_nohash.so" tests/bench/fp_nohash.c || exit 1
: > "$W/fp_on"; : > "$W/fp_off"
for _ in 1 2 3; do
  for mode in off on; do          # "on" last: the ds is left complete with real hashes
    fresh
    pre=; [ $mode = off ] && pre=$W/fp_nohash.so
    t0=$(now)
    LD_PRELOAD=$pre "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q -p movie_review_file="$DEMO/movie_review.csv" >/dev/null 2>&1
    t1=$(now)
    el "$t0" "$t1" >> "$W/fp_$mode"
  done
done
fon=$(median < "$W/fp_on"); foff=$(median < "$W/fp_off")
row "whole run, hashing on / off (s)" "$fon" "$foff" "$(echo "scale=2; 100 * ($fon - $foff) / $foff" | bc -l)%" \
    "<= 2% (medians of 3, fresh state, interleaved)"
WORKF=$UBPIPE_HOME/work/user_behavior/$DS/user_purchase.csv
h() { for _ in 1 2 3; do "$W/fp_bench" "$1" "$2" | cut -d' ' -f1; done | median; }
hx=$(h rows "$WORKF"); hr=$(h blocks "$DEMO/movie_review.csv")
hs=$(h blocks pipelines/scripts/random_text_classification.py)
fpc=$(echo "$noop + $hx + $hr + $hs" | bc -l)
row "fingerprinting from its parts, bound (s)" "$(printf %.4f "$fpc")" "$fon" \
    "$(echo "scale=2; 100 * $fpc / $fon" | bc -l)%" "XXH3-128: extract $hx, reviews $hr s; + no-op"
# plan (and the no-op run) of a ds whose journal holds 1,000 reruns: the last run's lines appended
# 999 times (its checkpoint lines left out), read once as an older ubpipe left it (no checkpoint),
# then after one run that writes (which starts with a checkpoint); against the journal of one run.
JRN=$UBPIPE_HOME/runs/user_behavior/$DS/journal.jsonl
cp "$JRN" "$W/journal.keep"
p1=$(pmed 15 "$UBPIPE" plan pipelines/user_behavior.yaml --ds $DS)
python3 - "$JRN" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
start = max(i for i, l in enumerate(lines) if l.startswith('{"ts"') and '"run":"start"' in l)
block = [l for l in lines[start:] if not l.startswith('{"checkpoint"')]
with open(sys.argv[1], "a") as f:
    for _ in range(999):
        f.writelines(block)
PY
jsize=$(wc -c < "$JRN")
pold=$(pmed 5 "$UBPIPE" plan pipelines/user_behavior.yaml --ds $DS)
"$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q -p movie_review_file="$DEMO/movie_review.csv" --only end_of_data_pipeline >/dev/null 2>&1
p1000=$(pmed 15 "$UBPIPE" plan pipelines/user_behavior.yaml --ds $DS)
n1000=$(pmed 10 $RUN1 -q)
cp "$W/journal.keep" "$JRN"
row "plan, journal of one run (s)" "$p1" "-" "-" "median of 15"
row "plan, journal of 1,000 reruns (s)" "$p1000" "$p1" "$(ratio "$p1000" "$p1")" "~1x one run ($((jsize / 1048576)) MB journal)"
row "plan, 1,000 reruns, no checkpoint yet (s)" "$pold" "-" "-" "a journal of an older ubpipe: read once"
row "no-op rerun, journal of 1,000 reruns (s)" "$n1000" "-" "-" "<= 0.100 s"

# --- memory -------------------------------------------------------------------
rss() {  # peak RSS in MB of the largest process of a command (children included)
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1))
PY
}
mc=$(rss "$W/classify_bench" "$DEMO/movie_review.csv" "$W/classified.csv" $DS)
row "peak RSS, whole run (MB)" "$m1" "-" "-" "<= 64 MB; largest process ubpipe waits for"
row "peak RSS, classifier (step runner) (MB)" "$mc" "-" "-" "<= 64 MB; detached, so measured alone"
if [ "${BENCH_SCALE10:-0}" = 1 ]; then
  H10=$UBPIPE_HOME/x10
  if [ ! -f "$H10/user_purchase.csv" ]; then
    mkdir -p "$H10" && "$BUILD/tools/gendemo" --purchases "$H10/user_purchase.csv" --reviews "$H10/movie_review.csv" --scale 10
    psql "$UBPIPE_CONN_SOURCE" -X -q -c "CREATE DATABASE ubpipe_x10" 2>/dev/null
    psql "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" -X -q -f sql/source/retail.sql >/dev/null
    psql "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" -X -q -c "\\copy retail.user_purchase from '$H10/user_purchase.csv' csv header"
  fi
  set -- $(whole "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" "$H10/movie_review.csv" x10)
  row "whole run vs serial psql floor, 10x (s)" "$1" "$2" "$(ratio "$1" "$2")" "no worse than at 1x"
  m10=$3
  export UBPIPE_COPY_BINARY=0
  set -- $(whole "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" "$H10/movie_review.csv" x10csv)
  unset UBPIPE_COPY_BINARY
  row "  the same with UBPIPE_COPY_BINARY=0 (s)" "$1" "$2" "$(ratio "$1" "$2")" "(the binary COPY's share)"
  mc10=$(rss "$W/classify_bench" "$H10/movie_review.csv" "$W/classified10.csv" $DS)
  row "peak RSS, whole run, 10x data (MB)" "$m10" "-" "-" "<= 64 MB"
  row "peak RSS, classifier, 10x data (MB)" "$mc10" "-" "-" "<= 64 MB"
fi

# --- Lua transforms (issue 6) ---------------------------------------------------
sh tests/bench/lua_bench.sh "$BUILD"
