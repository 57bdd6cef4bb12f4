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
"$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q -p movie_review_file="$DEMO/movie_review.csv" >/dev/null 2>&1
ex=$(best 3 "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --only extract_user_purchase_data)
pex=$(best 3 psql "$UBPIPE_CONN_SOURCE" -X -q -c "\\copy ($SQL) to '$W/psql_extract.csv' csv header")
row "extract 541,909 rows (s)" "$ex" "$pex" "$(ratio "$ex" "$pex")" "<= 1.2 x psql \\copy"
ld=$(best 3 "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --only user_purchase_stage_data_lake_to_stage_tbl)
cat > "$W/load.sql" <<SQL
BEGIN;
DROP TABLE IF EXISTS bench_load;
CREATE TABLE bench_load (LIKE spectrum.user_purchase_staging INCLUDING DEFAULTS);
\\copy bench_load (invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country) from '$W/psql_extract.csv' csv header
COMMIT;
SQL
pld=$(best 3 psql "$UBPIPE_CONN_WAREHOUSE" -X -q -f "$W/load.sql")
row "partition load (s)" "$ld" "$pld" "$(ratio "$ld" "$pld")" "<= 1.2 x psql \\copy"
rd=$(best 3 cat "$DEMO/movie_review.csv")
run=$(best 3 "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --rerun -p movie_review_file="$DEMO/movie_review.csv")
floor=$(echo "$pex + $pld + $rd" | bc -l)
row "whole run (s)" "$run" "$floor" "$(ratio "$run" "$floor")" "<= 1.5 x (floors + one read)"

# --- memory -------------------------------------------------------------------
rss() {  # peak RSS in MB of the largest process of a command (children included)
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1))
PY
}
m1=$(rss "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --rerun -p movie_review_file="$DEMO/movie_review.csv")
mc=$(rss "$W/classify_bench" "$DEMO/movie_review.csv" "$W/classified.csv" $DS)
row "peak RSS, whole run (MB)" "$m1" "-" "-" "<= 64 MB"
row "peak RSS, classifier (step runner) (MB)" "$mc" "-" "-" "<= 64 MB"
if [ "${BENCH_SCALE10:-0}" = 1 ]; then
  H10=$UBPIPE_HOME/x10
  if [ ! -f "$H10/user_purchase.csv" ]; then
    mkdir -p "$H10" && "$BUILD/tools/gendemo" --purchases "$H10/user_purchase.csv" --reviews "$H10/movie_review.csv" --scale 10
    psql "$UBPIPE_CONN_SOURCE" -X -q -c "CREATE DATABASE ubpipe_x10" 2>/dev/null
    psql "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" -X -q -f sql/source/retail.sql >/dev/null
    psql "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" -X -q -c "\\copy retail.user_purchase from '$H10/user_purchase.csv' csv header"
  fi
  m10=$(UBPIPE_CONN_SOURCE="host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_x10" rss "$UBPIPE" run pipelines/user_behavior.yaml --ds $DS -q --rerun -p movie_review_file="$H10/movie_review.csv")
  mc10=$(rss "$W/classify_bench" "$H10/movie_review.csv" "$W/classified10.csv" $DS)
  row "peak RSS, whole run, 10x data (MB)" "$m10" "-" "-" "<= 64 MB"
  row "peak RSS, classifier, 10x data (MB)" "$mc10" "-" "-" "<= 64 MB"
fi

# --- Lua transforms (issue 6) ---------------------------------------------------
sh tests/bench/lua_bench.sh "$BUILD"
