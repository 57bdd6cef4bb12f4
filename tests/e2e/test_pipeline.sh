#!/bin/sh
# test_pipeline.sh — the reference pipeline end to end on the local stack (issue: right numbers).
#
# In a temporary UBPIPE_HOME: start the private PostgreSQL, generate and load a small demo, then
#  1. run pipelines/user_behavior.yaml for a ds and compare user_behavior_metric with
#     tests/e2e/ref_metric.py (an independent Python computation over the generated files);
#  2. run the same ds again (--rerun): the same rows, no duplicate in any partition;
#  3. run a second ds: both coexist, each right;
#  4. a vendor file with a ragged row, then one with an unterminated quote: the run fails naming the file
#     and line, and every table and lake prefix of that ds keeps its previous content;
#  5. a source row that does not fit the staging table: the partition load fails naming the object and
#     line, and the previous partition stays;
#  6. a metric SQL with a typo: the run fails naming the SQL file, line and column.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SCALE=${TEST_PIPELINE_SCALE:-0.03}
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_pipeline: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-pipeline.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; rm -f pipelines/.test_zst.yaml; }
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_pipeline: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh >/dev/null || { echo "test_pipeline: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
Q() { sh scripts/stack.sh psql warehouse -X -q -A -t -F, -c "$1"; }
run() { "$UBPIPE" run pipelines/user_behavior.yaml -q "$@"; }
metric() { Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
              WHERE insert_date = '$1' ORDER BY customerid"; }
ref() { python3 tests/e2e/ref_metric.py --purchases "$DEMO/user_purchase.csv" --reviews "$2" --ds "$1" | tail -n +2; }

# 1. one ds, against the independent computation
D1=2021-04-30
if run --ds $D1 -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "run $D1 failed"; fi
got=$(metric $D1)
want=$(ref $D1 "$DEMO/movie_review.csv")
same "metric rows for $D1" "$(printf '%s\n' "$got" | wc -l)" "$(printf '%s\n' "$want" | wc -l)"
if [ "$got" = "$want" ] && [ -n "$got" ]; then ok; else
  ko "metric for $D1 differs from ref_metric.py"
  printf '%s\n' "$got" > "$TMP/got"; printf '%s\n' "$want" > "$TMP/want"; diff "$TMP/want" "$TMP/got" | head -5; fi
same "status after success" "$("$UBPIPE" status pipelines/user_behavior.yaml --ds $D1 --format json |
  python3 -c 'import json,sys; print(sorted({t["state"] for t in json.load(sys.stdin)["tasks"]}))')" "['success']"

# 2. the same ds again: nothing changes, no duplicates
counts() { Q "SELECT (SELECT count(*) FROM spectrum.user_purchase_staging WHERE insert_date='$1'),
                     (SELECT count(*) FROM spectrum.classified_movie_review WHERE insert_date='$1'),
                     (SELECT count(*) FROM public.user_behavior_metric WHERE insert_date='$1')"; }
before=$(counts $D1)
if run --ds $D1 --rerun -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "rerun $D1 failed"; fi
same "row counts after a rerun" "$(counts $D1)" "$before"
same "metric after a rerun" "$(metric $D1)" "$got"
if run --ds $D1 -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "resume of a complete run failed"; fi
same "row counts after a no-op run" "$(counts $D1)" "$before"

# 3. a second ds coexists
D2=2021-03-20
if run --ds $D2 -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "run $D2 failed"; fi
same "metric for $D2" "$(metric $D2)" "$(ref $D2 "$DEMO/movie_review.csv")"
same "metric for $D1 untouched by $D2" "$(metric $D1)" "$got"
purch2=$(Q "SELECT count(*) FROM spectrum.user_purchase_staging WHERE insert_date='$D2'")
want2=$(python3 -c "
import csv,sys
n=0
with open('$DEMO/user_purchase.csv', newline='') as f:
    for r in csv.DictReader(f):
        n += r['invoice_date'] < '2021-03-21'
print(n)")
same "as-of extract for $D2 (rows with invoice_date < ds + 1 day)" "$purch2" "$want2"

# 3b. the same pipeline with the extract zstd-compressed end to end (extract → lake → COPY)
sed -e 's|to: "{{ workdir }}/user_purchase.csv"|to: "{{ workdir }}/user_purchase.csv.zst"\n    compress: zstd|' \
    -e 's|src: "{{ workdir }}/user_purchase.csv"|src: "{{ workdir }}/user_purchase.csv.zst"|' \
    -e 's|dst: "stage:user_purchase/{{ ds }}/user_purchase.csv"|dst: "stage:user_purchase/{{ ds }}/user_purchase.csv.zst"|' \
    -e 's|^pipeline: user_behavior|pipeline: user_behavior_zst|' pipelines/user_behavior.yaml > pipelines/.test_zst.yaml
D3=2021-04-10
if "$UBPIPE" run pipelines/.test_zst.yaml -q --ds $D3 -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "zstd run failed"; fi
rm -f pipelines/.test_zst.yaml
zobj=$UBPIPE_HOME/lake/stage/user_purchase/$D3/user_purchase.csv.zst
if [ -f "$zobj" ] && zstd -q -t "$zobj" 2>/dev/null; then ok; else ko "no valid zstd object at $zobj"; fi
same "metric for $D3 (zstd extract)" "$(metric $D3)" "$(ref $D3 "$DEMO/movie_review.csv")"

# 4. bad vendor files: the run fails, naming file and line; the ds keeps its previous content
snapshot() {
  echo "$(counts $D1)|$(metric $D1 | md5sum)|$(cd "$UBPIPE_HOME/lake" && find raw stage -type f | sort | xargs md5sum | md5sum)"
}
s0=$(snapshot)
printf 'cid,review_str\r\n12346,good\r\n12347,too,many,fields\r\n' > "$TMP/ragged.csv"
out=$(run --ds $D1 --rerun -p movie_review_file="$TMP/ragged.csv" 2>&1)
rc=$?
same "exit status with a ragged vendor file" "$rc" "1"
case $out in *"ragged.csv:3: record has 4 fields, expected 2"*) ok ;; *) ko "ragged error text: $out" ;; esac
same "state after a ragged vendor file" "$(snapshot)" "$s0"
printf 'cid,review_str\n12346,good\n12347,"never closed\n12348,fine\n' > "$TMP/unterminated.csv"
out=$(run --ds $D1 --rerun -p movie_review_file="$TMP/unterminated.csv" 2>&1)
same "exit status with an unterminated quote" "$?" "1"
case $out in *"unterminated.csv:3: unterminated quoted field"*) ok ;; *) ko "unterminated error text: $out" ;; esac
same "state after an unterminated quote" "$(snapshot)" "$s0"

# 5. a source row that does not fit the staging table (a source whose country column is wider): the
#    partition load fails naming the lake object and line, and the partition keeps its previous rows
PSQL() { sh scripts/stack.sh psql "$@" -X -q -v ON_ERROR_STOP=1 >/dev/null; }
PSQL source -c "CREATE DATABASE ubpipe_wide" 2>/dev/null
PSQL ubpipe_wide -c "CREATE SCHEMA IF NOT EXISTS retail;
  CREATE TABLE retail.user_purchase (invoice_number varchar(10), stock_code varchar(20), detail varchar(1000),
    quantity int, invoice_date timestamp, unit_price numeric(8,3), customer_id int, country varchar(100));
  INSERT INTO retail.user_purchase VALUES ('536365','85123A','A ROW THAT FITS',6,'2021-03-02 08:26:00',2.55,17850,'Norway'),
    ('536366','22633','A ROW THAT DOES NOT FIT',6,'2021-03-02 08:28:00',1.85,17850,'The United Kingdom of Great Britain')"
p0=$(Q "SELECT count(*), sum(quantity) FROM spectrum.user_purchase_staging WHERE insert_date='$D1'")
out=$(UBPIPE_CONN_SOURCE="host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_wide" run --ds $D1 --rerun \
  --only extract_user_purchase_data,user_purchase_to_stage_data_lake,user_purchase_stage_data_lake_to_stage_tbl \
  -p movie_review_file="$DEMO/movie_review.csv" 2>&1)
same "exit status with a row that does not fit" "$?" "1"
case $out in *"stage/user_purchase/$D1/user_purchase.csv:3: value too long"*) ok ;; *) ko "row-fit error text: $out" ;; esac
same "partition after a failed load" "$(Q "SELECT count(*), sum(quantity) FROM spectrum.user_purchase_staging WHERE insert_date='$D1'")" "$p0"
same "metric after a failed load" "$(metric $D1)" "$got"
# 6. a metric SQL naming a column that does not exist: the error names the SQL file, line and column
#    (the column counted here by awk on the file, not by ubpipe), and the metric keeps its rows
mkdir -p "$TMP/tree" && cp -R pipelines sql reports "$TMP/tree/"
sed 's/^       p\.amount_spent,$/       p.amount_spent_typo,/' sql/generate_user_behavior_metric.sql \
  > "$TMP/tree/sql/generate_user_behavior_metric.sql"
at=$(awk 'i = index($0, "p.amount_spent_typo") { print NR ":" i; exit }' "$TMP/tree/sql/generate_user_behavior_metric.sql")
same "the typo is in the copy" "${at:+yes}" "yes"
out=$("$UBPIPE" run "$TMP/tree/pipelines/user_behavior.yaml" -q --ds $D1 --rerun --only generate_user_behavior_metric \
  -p movie_review_file="$DEMO/movie_review.csv" 2>&1)
same "exit status with a broken metric SQL" "$?" "1"
want_msg="ubpipe: task 'generate_user_behavior_metric' failed: $TMP/tree/pipelines/../sql/generate_user_behavior_metric.sql:$at: column p.amount_spent_typo does not exist"
case $out in *"$want_msg"*) ok ;; *) ko "broken metric SQL error text: $out (want $want_msg)" ;; esac
same "metric after a broken metric SQL" "$(metric $D1)" "$got"

leftover=$(find "$UBPIPE_HOME" -name '*.ubtmp.*' | wc -l)
same "temporary files left behind" "$leftover" "0"

echo "test_pipeline: $pass passed, $fail failed"
[ "$fail" = 0 ]
