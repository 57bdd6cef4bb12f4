#!/bin/sh
# test_copy_binary.sh — wh.partition's binary COPY (issue 15): against the server's own CSV path.
#
# Each CSV file is loaded twice into the same partition, by a lake.put + wh.partition pipeline:
# with UBPIPE_COPY_BINARY=0 (one COPY ... (FORMAT csv), the server reads every byte) and by
# default (COPY ... (FORMAT binary) of what ubpipe converts, CSV from the first record it does
# not).  Both must end the same: the same exit status, the same task error (message and line),
# and the partition the same byte for byte (COPY ... TO STDOUT (FORMAT binary) of it).  The
# default load's log must say how it loaded: every row in binary, or from which line on as CSV.
#  1. 20,000 rows the server wrote itself (every converted type, its extremes, NULL against
#     empty, quotes, commas, line feeds, UTF-8): all in binary;
#  2. one value at a time in a form the server reads but ubpipe does not convert (TRUE, +5,
#     1.23456 into numeric(8,3), 20210101, 24:00:00, ...): binary up to its line, CSV from it;
#  3. record shapes: CRLF, a BOM, bare and stray quotes, \. (COPY's end-of-data marker), a
#     quoted line feed before the stop (lines count physically), blank lines, too many or too
#     few fields, bytes that are not UTF-8, NUL, no final line end, a 300 kB field;
#  4. data errors (too long, out of range, not a date, NULL into NOT NULL): the same error,
#     naming the same line, either way;
#  5. the server refuses a binary row (a CHECK an event trigger adds to the new table, which
#     ubpipe does not know of; the partition's own CHECK on a partition column in the CSV): the
#     load begins again as CSV and fails as the CSV load does;
#  6. a column type ubpipe does not convert (float8): the whole object as CSV.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_copy_binary: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-copybin.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_copy_binary: cannot start the stack"; exit 1; }
Q() { PGOPTIONS="-c client_min_messages=warning" sh scripts/stack.sh psql warehouse -X -q -A -t -c "$1"; }

D=2021-04-30
P=$TMP/p
F=$TMP/f
mkdir -p "$P" "$F"
cat > "$P/setup.sql" <<'SQL'
CREATE TABLE IF NOT EXISTS public.bin_t (
    b bool, i2 int2, i4 int4, i8 int8, t text, vc varchar(5), ch char(3), n numeric(8,3), nu numeric,
    d date, ts timestamp, nn int NOT NULL, insert_date date
) PARTITION BY LIST (insert_date);
CREATE TABLE IF NOT EXISTS public.bin_f (i int, f float8, insert_date date) PARTITION BY LIST (insert_date);
CREATE TABLE IF NOT EXISTS public.bin_m ("a
b" int, i int, insert_date date) PARTITION BY LIST (insert_date);
SQL
cat > "$P/b.yaml" <<'YAML'
pipeline: copybin
start_date: 2021-04-01
defaults:
  retries: 0
params:
  file: none
  table: public.bin_t
profiles:
  local:
    lake: "file:{{ state_dir }}/lake"
    warehouse:
      dsn: "host={{ state_dir }}/pg user=ubpipe dbname=ubpipe_warehouse"
      dialect: postgres
tasks:
  put:
    op: lake.put
    src: "{{ params.file }}"
    dst: "stage:b/{{ ds }}/b.csv"
  load:
    op: wh.partition
    after: [put]
    conn: warehouse
    table: "{{ params.table }}"
    location: "stage:b/{{ ds }}/"
    setup: setup.sql
YAML
LOG=$UBPIPE_HOME/runs/copybin/$D/logs
Q "DROP TABLE IF EXISTS public.bin_t, public.bin_f, public.bin_m" >/dev/null

# load MODE FILE [TABLE]: loads FILE with UBPIPE_COPY_BINARY=MODE into a fresh partition; prints
# "rc=N", the run's error lines (times and paths taken out) and the md5 of the partition's binary
# dump, on one line each
load() {
  tbl=${3:-public.bin_t}
  Q "DROP TABLE IF EXISTS ${tbl}_p20210430" >/dev/null 2>&1
  UBPIPE_COPY_BINARY=$1 "$UBPIPE" run "$P/b.yaml" --ds $D -q --rerun -p file="$2" -p table="$tbl" 2>"$TMP/err" >/dev/null
  echo "rc=$?"
  sed -e 's/[0-9T:.-]*Z //g' -e "s#$TMP#TMP#g" -e 's/ (try [0-9]*)//' -e 's/load\.[0-9]*\.log/load.N.log/' "$TMP/err" |
    grep -v '^$'
  echo "dump=$(Q "COPY ${tbl}_p20210430 TO STDOUT (FORMAT binary)" 2>/dev/null | md5sum | cut -c1-32)"
}
# check NAME FILE EXPECT [TABLE]: both loads end the same; EXPECT is what the default load's log
# says: "binary N" (all N rows in binary), "csv-from L" (binary up to line L, CSV from it),
# "refused" (the server refused the binary rows) or "csv" (no binary at all)
check() {
  name=$1 file=$2 want=$3 tbl=${4:-}
  csv=$(load 0 "$file" $tbl)
  bin=$(load 1 "$file" $tbl)
  same "$name: the binary load ends as the CSV load" "$bin" "$csv"
  l=$(ls -t "$LOG"/load.*.log | head -n 1)      # the default load's (each run is a new try)
  case $want in
    binary\ *) if grep -q "b.csv': ${want#binary } rows loaded in binary\$" "$l"; then ok; else
                 ko "$name: the log does not say ${want#binary } rows loaded in binary: $(grep -i binary "$l")"; fi ;;
    csv-from\ *) if grep -q "from line ${want#csv-from } on as CSV" "$l"; then ok; else
                   ko "$name: the log does not say CSV from line ${want#csv-from }: $(grep -i 'binary\|csv' "$l")"; fi ;;
    refused) if grep -q "refused the binary rows" "$l"; then ok; else ko "$name: the log does not say refused: $(grep -i binary "$l")"; fi ;;
    csv) if grep -qi "binary" "$l"; then ko "$name: the log speaks of binary: $(grep -i binary "$l")"; else ok; fi ;;
  esac
  echo "$csv" > "$TMP/last"
}
succeeded() { if head -n 1 "$TMP/last" | grep -q '^rc=0$'; then ok; else ko "$1: the load failed: $(cat "$TMP/last")"; fi; }
failed_at() { if grep -q "$2" "$TMP/last"; then ok; else ko "$1: the error does not say '$2': $(cat "$TMP/last")"; fi; }

# 1. what the server writes, all in binary
Q "COPY (
  SELECT CASE n % 3 WHEN 0 THEN true WHEN 1 THEN false END AS b,
         (n * 7919 % 65536 - 32768)::int2 AS i2,
         (n::bigint * 2654435761 % 4294967296 - 2147483648)::int4 AS i4,
         (n::numeric * 11400714819323198485 % 18446744073709551616 - 9223372036854775808)::int8 AS i8,
         CASE n % 8 WHEN 0 THEN '' WHEN 1 THEN NULL WHEN 2 THEN 'a,b' WHEN 3 THEN 'say \"hi\", \"\"' WHEN 4 THEN E'two\\nlines\\r\\n'
                    WHEN 5 THEN 'ünï €𝄞 日本' WHEN 6 THEN ' lead and trail ' ELSE md5(n::text) END AS t,
         CASE WHEN n % 7 = 0 THEN NULL ELSE left('äbcde', n % 6) END AS vc,
         CASE n % 4 WHEN 0 THEN 'x' WHEN 1 THEN 'ab' WHEN 2 THEN 'abc' END AS ch,
         round(((n::bigint * 7907) % 200000000 - 100000000) / 1000.0, 3)::numeric(8,3) AS n,
         CASE n % 6 WHEN 0 THEN 0 WHEN 1 THEN n::numeric ^ 7 / 3 WHEN 2 THEN -0.0001 * n WHEN 3 THEN 1e30 + n
                    WHEN 4 THEN 123456789.0123 END AS nu,
         DATE '0001-01-01' + (n * 1511 % 3652059) AS d,
         TIMESTAMP '0001-01-01' + (n * 7919 % 3652059) * interval '1 day' + (n::bigint * 1000003 % 86400000000) * interval '1 microsecond' AS ts,
         n AS nn
    FROM generate_series(1, 20000) AS n
  UNION ALL
  SELECT true, -32768, -2147483648, -9223372036854775808, '', '', '', -99999.999, -0.000, '0001-01-01', '0001-01-01 00:00:00', 0
  UNION ALL
  SELECT false, 32767, 2147483647, 9223372036854775807, '\"', 'ÿÿÿÿÿ', 'ÿÿÿ', 99999.999, 0.00000000000000000001, '9999-12-31',
         '9999-12-31 23:59:59.999999', -1
  UNION ALL
  SELECT NULL, 0, 0, 0, NULL, NULL, NULL, 0.000, 10000, '2000-01-01', '1999-12-31 23:59:59.999999', 2147483647
  UNION ALL
  SELECT NULL, -1, -1, -1, ',', ',', ',', -0.001, -10000.0001, '2020-02-29', '2000-02-29 12:00:00.5', -2147483648
) TO STDOUT (FORMAT csv, HEADER true)" > "$F/server.csv"
check "the server's own CSV" "$F/server.csv" "binary 20004"
succeeded "the server's own CSV"

# 2. one value at a time the server reads and ubpipe hands it (line 4)
H=b,i2,i4,i8,t,vc,ch,n,nu,d,ts,nn
ROW='t,1,2,3,x,ab,abc,1.500,2.5,2021-01-01,2021-01-01 10:00:00,1'
# ROW with column number $1 set to $2
row_with() { echo "$ROW" | awk -F, -v OFS=, -v k="$1" -v v="$2" '{ $k = v; print }'; }
odd() {   # NAME COLUMN VALUE EXPECT
  { echo "$H"; echo "$ROW"; echo "$ROW"; row_with "$2" "$3"; echo "$ROW"; } > "$F/odd.csv"
  check "$1 ('$3')" "$F/odd.csv" "$4"
}
odd "bool TRUE" 1 TRUE "csv-from 4";              odd "bool yes" 1 yes "csv-from 4"
odd "bool 1" 1 1 "csv-from 4";                    odd "bool true" 1 true "binary 4"
odd "int2 +5" 2 +5 "csv-from 4";                  odd "int2 007" 2 007 "binary 4"
odd "int4 ' 5 '" 3 " 5 " "csv-from 4";            odd "int8 -0" 4 -0 "binary 4"
odd "varchar(5) trailing spaces" 6 "abcd   " "csv-from 4"
odd "char(3) trailing spaces" 7 "ab   " "csv-from 4"
odd "numeric(8,3) 1.23456 (rounded)" 8 1.23456 "csv-from 4"
odd "numeric(8,3) 1.5" 8 1.5 "binary 4";          odd "numeric(8,3) .5" 8 .5 "csv-from 4"
odd "numeric(8,3) 1e2" 8 1e2 "csv-from 4";        odd "numeric(8,3) NaN" 8 NaN "csv-from 4"
odd "numeric(8,3) 99999.9995 (rounds over)" 8 99999.9995 "csv-from 4"
odd "numeric Infinity" 9 Infinity "csv-from 4";   odd "numeric -0.000" 9 -0.000 "binary 4"
odd "numeric 000123.4500" 9 000123.4500 "binary 4"
odd "date 20210101" 10 20210101 "csv-from 4";     odd "date 2021-1-1" 10 2021-1-1 "csv-from 4"
odd "date epoch" 10 epoch "csv-from 4";           odd "date BC" 10 "2021-01-01 BC" "csv-from 4"
odd "timestamp T" 11 2021-01-01T10:00:00 "csv-from 4"
odd "timestamp without seconds" 11 "2021-01-01 10:00" "csv-from 4"
odd "timestamp 7 fraction digits" 11 "2021-01-01 10:00:00.1234567" "csv-from 4"
odd "timestamp 24:00:00" 11 "2021-01-01 24:00:00" "csv-from 4"
odd "timestamp with a zone" 11 "2021-01-01 10:00:00+02" "csv-from 4"
odd "timestamp .5" 11 "2021-01-01 10:00:00.5" "binary 4"
odd "quoted number" 3 '"5"' "binary 4";           odd "quoted empty number" 3 '""' "csv-from 4"

# 3. record shapes
{ echo "$H"; echo "$ROW"; echo "$ROW"; } | sed 's/$/\r/' > "$F/crlf.csv"
check "CRLF line ends" "$F/crlf.csv" "csv-from 1"; succeeded "CRLF line ends"
{ printf '\357\273\277'; echo "$H"; echo "$ROW"; } > "$F/bom.csv"
check "a BOM" "$F/bom.csv" "binary 1"
{ echo "$H"; echo "$ROW"; row_with 5 'ab"c'; echo "$ROW"; } > "$F/bare.csv"
check "a bare quote" "$F/bare.csv" "csv-from 3"
{ echo "$H"; echo "$ROW"; row_with 5 '"ab"c'; echo "$ROW"; } > "$F/after.csv"
check "text after a closing quote" "$F/after.csv" "csv-from 3"
{ echo "$H"; echo "$ROW"; echo "$ROW"; echo '\.'; echo "$ROW"; } > "$F/eod.csv"
check "the end-of-data marker" "$F/eod.csv" "csv-from 4"
{ echo "$H"; row_with 5 '"one
two
three"'; echo "$ROW"; row_with 2 +1; echo "$ROW"; } > "$F/multi.csv"
check "a quoted line feed before the stop" "$F/multi.csv" "csv-from 6"; succeeded "a quoted line feed"
{ echo "$H"; row_with 5 '"one
two"'; echo "$ROW"; row_with 6 abcdefgh; } > "$F/multierr.csv"
check "an error after a quoted line feed" "$F/multierr.csv" "csv-from 5"; failed_at "an error after a quoted line feed" "b.csv:5:"
# a header over two lines (a column name with a line feed): the server counts it as one line
printf '"a\nb",i\n1,2\n+1,2\nx,2\n' > "$F/mlhead.csv"
check "a header over two lines" "$F/mlhead.csv" "csv-from 4" public.bin_m; failed_at "a header over two lines" "b.csv:4:"
{ echo "$H"; echo "$ROW"; echo; echo "$ROW"; } > "$F/blank.csv"
check "a blank line" "$F/blank.csv" "csv-from 3"
{ echo "$H"; echo "$ROW"; echo "$ROW,9"; } > "$F/extra.csv"
check "an extra field" "$F/extra.csv" "csv-from 3"; failed_at "an extra field" "b.csv:3:"
{ echo "$H"; echo "$ROW"; echo "${ROW%,1}"; } > "$F/missing.csv"
check "a missing field" "$F/missing.csv" "csv-from 3"; failed_at "a missing field" "b.csv:3:"
{ echo "$H"; echo "$ROW"; row_with 5 "$(printf 'a\377b')"; } > "$F/utf8.csv"
check "not UTF-8" "$F/utf8.csv" "csv-from 3"
{ echo "$H"; echo "$ROW"; row_with 5 '"never closed'; } > "$F/unterminated.csv"
check "an unterminated quote" "$F/unterminated.csv" "csv-from 3"
{ echo "$H"; echo "$ROW"; printf '%s' "$ROW"; } > "$F/noeol.csv"
check "no final line end" "$F/noeol.csv" "binary 2"; succeeded "no final line end"
{ echo "$H"; echo "$ROW"; printf 't,1,2,3,'; head -c 300000 /dev/zero | tr '\0' y; echo "${ROW#t,1,2,3,x}"; echo "$ROW"; } \
  > "$F/long.csv"
check "a 300 kB field" "$F/long.csv" "binary 3"; succeeded "a 300 kB field"

# 4. data errors: the same error, the same line
bad() {   # NAME COLUMN VALUE [EXPECT]
  { echo "$H"; echo "$ROW"; row_with "$2" "$3"; echo "$ROW"; } > "$F/bad.csv"
  check "$1" "$F/bad.csv" "${4:-csv-from 3}"; failed_at "$1" "b.csv:3:"
}
bad "varchar(5) too long" 6 äbcdef
bad "char(3) too long" 7 abcd
bad "int4 out of range" 3 2147483648
bad "int2 out of range" 2 -32769
bad "int8 not a number" 4 abc
bad "not a date" 10 2021-02-30
bad "numeric(8,3) overflow" 8 100000.000
bad "NULL into NOT NULL" 12 ""
bad "not a bool" 1 maybe

# 5. the server refuses binary rows: the load begins again as CSV and fails as it does
Q "CREATE OR REPLACE FUNCTION public.bin_t_refuse() RETURNS event_trigger LANGUAGE plpgsql AS \$\$
   DECLARE r record;
   BEGIN
     FOR r IN SELECT * FROM pg_event_trigger_ddl_commands()
               WHERE command_tag = 'CREATE TABLE' AND object_identity LIKE 'public.bin_t_p%__new' LOOP
       EXECUTE format('ALTER TABLE %s ADD CHECK (i4 IS DISTINCT FROM 13)', r.object_identity);
     END LOOP;
   END \$\$;
   CREATE EVENT TRIGGER bin_t_refuse ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
     EXECUTE FUNCTION public.bin_t_refuse();" >/dev/null
bad "a CHECK ubpipe does not know" 3 13 refused
{ echo "$H"; echo "$ROW"; row_with 3 14; } > "$F/ok14.csv"
check "a CHECK the rows meet" "$F/ok14.csv" "binary 2"; succeeded "a CHECK the rows meet"
Q "DROP EVENT TRIGGER bin_t_refuse; DROP FUNCTION public.bin_t_refuse()" >/dev/null
# the partition column in the CSV: its CHECK (the ds) takes the value of the ds, refuses another
{ echo "$H,insert_date"; echo "$ROW,$D"; echo "$ROW,$D"; } > "$F/pcol.csv"
check "the partition column, the ds" "$F/pcol.csv" "binary 2"; succeeded "the partition column, the ds"
{ echo "$H,insert_date"; echo "$ROW,$D"; echo "$ROW,2021-05-01"; } > "$F/pcol2.csv"
check "the partition column, another day" "$F/pcol2.csv" refused; failed_at "the partition column, another day" "b.csv:3:"

# 6. a type ubpipe does not convert: all CSV
printf 'i,f\n1,0.1\n2,1e300\n3,\n' > "$F/float.csv"
check "a float8 column" "$F/float.csv" csv public.bin_f; succeeded "a float8 column"

echo "test_copy_binary: $pass passed, $fail failed"
[ "$fail" = 0 ]
