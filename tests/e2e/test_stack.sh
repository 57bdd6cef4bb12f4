#!/bin/sh
# test_stack.sh — end-to-end test of the local stack, the demo data, the warehouse DDL and the metric SQL.
#
#   sh tests/e2e/test_stack.sh            (TEST_STACK_SCALE=0.02 by default)
#
# Runs in a temporary UBPIPE_HOME: starts the stack, generates and loads a small demo, checks row counts,
# the table definition, the cluster settings, that a second start/load changes nothing, that the
# generator is deterministic; then creates the warehouse schema, runs the rendered extract and metric SQL
# and compares the metric with tests/e2e/ref_metric.py (an independent Python computation) and with
# hand-worked values; finally stops the stack and removes the directory.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SCALE=${TEST_STACK_SCALE:-0.02}
STACK="sh $ROOT/scripts/stack.sh"
pass=0
fail=0

ok() { pass=$((pass + 1)); }
ko() {
	fail=$((fail + 1))
	echo "test_stack: FAIL: $*" >&2
}
# expect DESC CMD...: the command must succeed
expect() {
	d=$1
	shift
	if "$@"; then ok; else ko "$d"; fi
}
# same DESC GOT WANT
same() {
	if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi
}

TMP=$(mktemp -d /tmp/ubpipe-test-stack.XXXXXX) || exit 1
chmod 755 "$TMP"                         # the cluster's user (postgres, when root) must pass through
export UBPIPE_HOME="$TMP/home"
W=$TMP/work
mkdir -p "$W"
cleanup() {
	$STACK stop >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

sql() { # DB ARGS...: psql, quiet, stop on error
	db=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' $STACK psql "$db" -X -q -v ON_ERROR_STOP=1 "$@"
}
val() { # DB QUERY: one value
	sql "$1" -tA -c "$2"
}

# render DS FILE: the {{ }} blocks these SQL files use, and nothing else
render() {
	bad=$(grep -o '{{[^}]*}}' "$2" | sort -u |
		grep -v -x -F -e '{{ sql.literal(ds) }}' -e '{{ sql.literal(macros.ds_add(ds, 1)) }}')
	[ -z "$bad" ] || { ko "$2 uses template expressions this test cannot render: $bad"; return 1; }
	next=$(date -d "$1 + 1 day" +%F)
	sed -e "s/{{ sql.literal(ds) }}/'$1'/g" \
		-e "s/{{ sql.literal(macros.ds_add(ds, 1)) }}/'$next'/g" "$2"
}

# ---- the stack ----------------------------------------------------------------
t0=$(date +%s%N)
out=$($STACK start)
rc=$?
t1=$(date +%s%N)
same "start exit status" "$rc" 0
same "start prints one line" "$(printf '%s\n' "$out" | wc -l)" 1
case $out in *"initialised and started"*) ok ;; *) ko "first start: $out" ;; esac
echo "test_stack: initdb + start took $(((t1 - t0) / 1000000)) ms"
expect "status says running" sh -c "$STACK status >/dev/null"
expect "socket exists" test -S "$UBPIPE_HOME/pg/.s.PGSQL.5432"
same "data directory mode" "$(stat -c %a "$UBPIPE_HOME/pg")" 700

eval "$($STACK env)"
same "source conninfo" "${UBPIPE_CONN_SOURCE:-}" "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_source"
same "warehouse conninfo" "${UBPIPE_CONN_WAREHOUSE:-}" "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_warehouse"
same "psql with the conninfo" "$(psql "$UBPIPE_CONN_WAREHOUSE" -XtAc 'SELECT current_database()' 2>&1)" ubpipe_warehouse

same "no TCP" "$(val ubpipe_source 'SHOW listen_addresses')" ""
same "wal_level" "$(val ubpipe_source 'SHOW wal_level')" minimal
same "max_wal_senders" "$(val ubpipe_source 'SHOW max_wal_senders')" 0
same "shared_buffers" "$(val ubpipe_source 'SHOW shared_buffers')" 256MB
same "fsync" "$(val ubpipe_source 'SHOW fsync')" on
same "log_directory" "$(val ubpipe_source 'SHOW log_directory')" log
expect "log files in STATE/pg/log" sh -c "ls '$UBPIPE_HOME/pg/log/'*.log >/dev/null"
same "databases" "$(val postgres "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'ubpipe%'")" \
	"ubpipe_source,ubpipe_warehouse"

# the table definition, as \d prints it
d=$(sql ubpipe_source -c '\d retail.user_purchase')
for col in "invoice_number|character varying(10)" "stock_code|character varying(20)" \
	"detail|character varying(1000)" "quantity|integer" "invoice_date|timestamp without time zone" \
	"unit_price|numeric(8,3)" "customer_id|integer" "country|character varying(20)"; do
	name=${col%%|*}
	type=${col#*|}
	if printf '%s\n' "$d" | grep -q -E "^ *$name +\| $(printf '%s' "$type" | sed 's/[()]/\\&/g') +\|"; then
		ok
	else
		ko "\\d retail.user_purchase: no column '$name' of type '$type'"
	fi
done
same "retail.user_purchase has 8 columns" \
	"$(val ubpipe_source "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'retail' AND table_name = 'user_purchase'")" 8

# ---- the demo data --------------------------------------------------------------
want_rows=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 541909 * s + 0.5 }')
want_reviews=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 100000 * s + 0.5 }')
out=$(UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh)
same "demo-data exit status" "$?" 0
same "demo-data prints one line" "$(printf '%s\n' "$out" | wc -l)" 1
P=$UBPIPE_HOME/demo/user_purchase.csv
R=$UBPIPE_HOME/demo/movie_review.csv
same "rows in retail.user_purchase" "$(val ubpipe_source 'SELECT count(*) FROM retail.user_purchase')" "$want_rows"
same "lines in user_purchase.csv" "$(($(wc -l <"$P") - 1))" "$want_rows"
same "purchase header" "$(head -n 1 "$P")" \
	"invoice_number,stock_code,detail,quantity,invoice_date,unit_price,customer_id,country"
same "reviews in movie_review.csv (RFC 4180 records)" \
	"$(python3 -c 'import csv,sys; r=csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline=""), strict=True); print(sum(1 for _ in r) - 1)' "$R")" \
	"$want_reviews"
same "review file starts with a BOM and its header" "$(head -c 19 "$R" | od -An -c -w32 | tr -s ' ' | sed 's/^ //')" \
	"357 273 277 c i d , r e v i e w _ s t r \r \n"
same "review records end in CRLF" "$(head -c 300000 "$R" | grep -c "$(printf '\r')\$" | awk '{print ($1 > 10)}')" 1
same "days 2021-03-02 .. 2021-04-30 all present" \
	"$(val ubpipe_source "SELECT count(DISTINCT invoice_date::date) || ' ' || min(invoice_date::date) || ' ' || max(invoice_date::date) FROM retail.user_purchase")" \
	"60 2021-03-02 2021-04-30"
same "about a quarter without customer id" \
	"$(val ubpipe_source "SELECT avg((customer_id IS NULL)::int) BETWEEN 0.20 AND 0.30 FROM retail.user_purchase")" t
same "cancellations: 'C' invoices, negative quantity, ~2% of rows" \
	"$(val ubpipe_source "SELECT bool_and(quantity < 0) AND count(*) BETWEEN 0.01 * $want_rows AND 0.03 * $want_rows FROM retail.user_purchase WHERE invoice_number LIKE 'C%'")" t
same "customer ids within 12346..18287" \
	"$(val ubpipe_source "SELECT min(customer_id) >= 12346 AND max(customer_id) <= 18287 FROM retail.user_purchase")" t
same "descriptions with commas and quotes" \
	"$(val ubpipe_source "SELECT count(*) FILTER (WHERE detail LIKE '%,%') > 0 AND count(*) FILTER (WHERE detail LIKE '%\"%') > 0 FROM retail.user_purchase")" t

# ---- a second start and load change nothing ----------------------------------------
pid1=$(head -n 1 "$UBPIPE_HOME/pg/postmaster.pid")
files1=$(stat -c '%i %Y %s' "$P" "$R")
out=$($STACK start)
same "second start exit status" "$?" 0
case $out in *"already running"*) ok ;; *) ko "second start: $out" ;; esac
same "same postmaster after a second start" "$(head -n 1 "$UBPIPE_HOME/pg/postmaster.pid")" "$pid1"
out=$(UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh)
same "second demo-data exit status" "$?" 0
case $out in *"files present"*"already loaded"*) ok ;; *) ko "second demo-data: $out" ;; esac
same "demo files untouched" "$(stat -c '%i %Y %s' "$P" "$R")" "$files1"
same "rows after the second load" "$(val ubpipe_source 'SELECT count(*) FROM retail.user_purchase')" "$want_rows"

# a half-loaded table is replaced, not appended to
sql ubpipe_source -c "DELETE FROM retail.user_purchase WHERE ctid IN (SELECT ctid FROM retail.user_purchase LIMIT 5)"
out=$(UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh)
case $out in *"rows in ubpipe_source.retail.user_purchase loaded"*) ok ;; *) ko "reload after a change: $out" ;; esac
same "rows after a reload" "$(val ubpipe_source 'SELECT count(*) FROM retail.user_purchase')" "$want_rows"

# the generator gives the same bytes again
expect "gendemo runs" build/tools/gendemo --purchases "$W/p.csv" --reviews "$W/r.csv" --scale "$SCALE" --seed 20210430
expect "purchases are deterministic" cmp -s "$W/p.csv" "$P"
expect "reviews are deterministic" cmp -s "$W/r.csv" "$R"
build/tools/gendemo --purchases "$W/p2.csv" --scale "$SCALE" --seed 7
if cmp -s "$W/p2.csv" "$P"; then ko "another seed gives other data"; else ok; fi

# ---- the warehouse -------------------------------------------------------------------
expect "postgres/warehouse.sql" sql ubpipe_warehouse --single-transaction -f sql/postgres/warehouse.sql
expect "postgres/warehouse.sql again (idempotent)" sql ubpipe_warehouse --single-transaction -f sql/postgres/warehouse.sql
same "partitioned spectrum tables" \
	"$(val ubpipe_warehouse "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid")" \
	"classified_movie_review,user_purchase_staging"

# partitions DS: create the ds partitions of both spectrum tables, empty
partitions() {
	n=$(echo "$1" | tr -d -)
	sql ubpipe_warehouse --single-transaction -f - <<EOF
CREATE TABLE IF NOT EXISTS spectrum.user_purchase_staging_$n
    PARTITION OF spectrum.user_purchase_staging FOR VALUES IN ('$1');
ALTER TABLE spectrum.user_purchase_staging_$n ALTER COLUMN insert_date SET DEFAULT '$1';
TRUNCATE spectrum.user_purchase_staging_$n;
CREATE TABLE IF NOT EXISTS spectrum.classified_movie_review_$n
    PARTITION OF spectrum.classified_movie_review FOR VALUES IN ('$1');
TRUNCATE spectrum.classified_movie_review_$n;
EOF
}
# metric DS OUT: run the metric SQL for DS (in one transaction), write the ds slice as CSV
metric() {
	render "$1" sql/generate_user_behavior_metric.sql >"$W/metric.sql" &&
		sql ubpipe_warehouse --single-transaction -f "$W/metric.sql" &&
		sql ubpipe_warehouse -c "\\copy (SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric WHERE insert_date = '$1' ORDER BY customerid) TO '$2' WITH (FORMAT csv, HEADER)"
}

# hand-worked case: cid rules, as-of cut, fan-out, NULL customers (values worked out by hand)
H=2000-01-01
cat >"$W/hand_purchases.csv" <<'EOF'
invoice_number,stock_code,detail,quantity,invoice_date,unit_price,customer_id,country
1,A,"X, ""Y""",2,1999-12-31 10:00:00,1.25,12748,United Kingdom
C2,A,X,-1,2000-01-01 23:59:59,0.5,12748,United Kingdom
3,B,Z,3,2000-01-01 00:00:00,0.333,17,France
4,B,Z,5,2000-01-01 12:00:00,1,,United Kingdom
5,B,Z,7,2000-01-02 00:00:00,1,12748,United Kingdom
6,B,Z,1,2000-01-01 08:00:00,1,2147483647,RSA
7,B,Z,4,2000-01-01 09:00:00,2.5,555,RSA
EOF
printf '\357\273\277cid,review_str\r\n12748,Good film\r\n" 12748 ",not good.\r\n+012748,"a ""good"" one, GOOD"\r\n12748.0,good\r\nabc,good\r\n,good\r\n99999999999,good\r\n2147483648,good\r\n2147483647,"very good"\r\n-0,good\r\n\357\274\220\357\274\22017,good\r\n0017,"multi\nline\r\ngoodness"\r\n"1 7",good\r\n12748,\r\n' \
	>"$W/hand_reviews.csv"
# what the classifier gives for those reviews (by hand), plus a NULL and an empty cid
cat >"$W/hand_classified.csv" <<'EOF'
cid,positive_review,insert_date
12748,true,2000-01-01
" 12748 ",false,2000-01-01
+012748,true,2000-01-01
12748.0,true,2000-01-01
abc,true,2000-01-01
,true,2000-01-01
"",true,2000-01-01
99999999999,true,2000-01-01
2147483648,true,2000-01-01
2147483647,true,2000-01-01
-0,true,2000-01-01
００17,true,2000-01-01
0017,false,2000-01-01
1 7,true,2000-01-01
12748,false,2000-01-01
EOF
want_hand="customerid,amount_spent,review_score,review_count
17,0.99900,0,1
12748,2.00000,2,4
2147483647,1.00000,1,1"
python3 tests/e2e/ref_metric.py --purchases "$W/hand_purchases.csv" --reviews "$W/hand_reviews.csv" \
	--ds "$H" --output "$W/hand_ref.csv" --classified-out "$W/hand_ref_classified.csv"
same "ref_metric on the hand case" "$(cat "$W/hand_ref.csv")" "$want_hand"
same "ref_metric classification of the hand case" "$(cat "$W/hand_ref_classified.csv")" "cid,positive_review,insert_date
12748,true,2000-01-01
 12748 ,false,2000-01-01
+012748,true,2000-01-01
12748.0,true,2000-01-01
abc,true,2000-01-01
,true,2000-01-01
99999999999,true,2000-01-01
2147483648,true,2000-01-01
2147483647,true,2000-01-01
-0,true,2000-01-01
００17,true,2000-01-01
0017,false,2000-01-01
1 7,true,2000-01-01
12748,false,2000-01-01"
partitions "$H"
# the staging partition holds what the extract would give for H: rows before H + 1 day
grep -v '^5,' "$W/hand_purchases.csv" >"$W/hand_staging.csv"
sql ubpipe_warehouse -c "\\copy spectrum.user_purchase_staging_20000101 (invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country) FROM '$W/hand_staging.csv' WITH (FORMAT csv, HEADER)"
sql ubpipe_warehouse -c "\\copy spectrum.classified_movie_review_20000101 FROM '$W/hand_classified.csv' WITH (FORMAT csv, HEADER)"
expect "metric SQL on the hand case" metric "$H" "$W/hand_sql.csv"
same "metric SQL on the hand case" "$(cat "$W/hand_sql.csv")" "$want_hand"
expect "metric SQL again" metric "$H" "$W/hand_sql2.csv"
same "metric SQL twice = once" "$(cat "$W/hand_sql2.csv")" "$want_hand"
same "rows of the hand slice" "$(val ubpipe_warehouse "SELECT count(*) FROM public.user_behavior_metric WHERE insert_date = '$H'")" 3

# the demo: extract (as of ds) -> staging partition; ref classification -> classified partition;
# metric SQL vs ref_metric from the extract and from the generated file
for ds in 2021-03-15 2021-04-30; do
	n=$(echo "$ds" | tr -d -)
	render "$ds" sql/extract_user_purchase.sql >"$W/extract.sql"
	sql ubpipe_source -c "\\copy ($(sed '/^--/d' "$W/extract.sql" | tr '\n' ' ')) TO '$W/extract_$n.csv' WITH (FORMAT csv, HEADER)"
	same "extract as of $ds" "$(($(wc -l <"$W/extract_$n.csv") - 1))" \
		"$(val ubpipe_source "SELECT count(*) FROM retail.user_purchase WHERE invoice_date < date '$ds' + 1")"
	python3 tests/e2e/ref_metric.py --purchases "$W/extract_$n.csv" --reviews "$R" --ds "$ds" \
		--output "$W/ref_$n.csv" --classified-out "$W/classified_$n.csv"
	python3 tests/e2e/ref_metric.py --purchases "$P" --reviews "$R" --ds "$ds" --output "$W/ref_gen_$n.csv"
	expect "ref_metric: extract and generated file agree for $ds" cmp -s "$W/ref_$n.csv" "$W/ref_gen_$n.csv"
	partitions "$ds"
	sql ubpipe_warehouse -c "\\copy spectrum.user_purchase_staging_$n (invoice_number, stock_code, detail, quantity, invoice_date, unit_price, customer_id, country) FROM '$W/extract_$n.csv' WITH (FORMAT csv, HEADER)"
	sql ubpipe_warehouse -c "\\copy spectrum.classified_movie_review_$n FROM '$W/classified_$n.csv' WITH (FORMAT csv, HEADER)"
	expect "metric SQL for $ds" metric "$ds" "$W/sql_$n.csv"
	expect "metric SQL = ref_metric for $ds" cmp -s "$W/sql_$n.csv" "$W/ref_$n.csv"
	same "metric for $ds is not empty" "$(awk 'END { print (NR > 1) }' "$W/ref_$n.csv")" 1
	echo "test_stack: ds $ds: $(($(wc -l <"$W/ref_$n.csv") - 1)) customers in the metric"
done
same "earlier slices untouched" "$(val ubpipe_warehouse "SELECT count(*) FROM public.user_behavior_metric WHERE insert_date = '$H'")" 3

# ---- stop and start again --------------------------------------------------------------
expect "stop" sh -c "$STACK stop >/dev/null"
$STACK status >/dev/null
same "status after stop" "$?" 3
out=$($STACK start)
case $out in *" started in"*) ok ;; *) ko "restart: $out" ;; esac
same "data survives a restart" "$(val ubpipe_source 'SELECT count(*) FROM retail.user_purchase')" "$want_rows"
expect "stop again" sh -c "$STACK stop >/dev/null"
out=$($STACK stop)
case $out in *"not running"*) ok ;; *) ko "stop when stopped: $out" ;; esac

echo "test_stack: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
