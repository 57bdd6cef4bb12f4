#!/bin/sh
# test_sql_quoting.sh — no value can change a statement's structure (issue 9, item 5).
#
# tests/e2e/quoting/corpus.sql puts hostile strings (quotes, backslashes, $$, comment markers,
# newlines, escape-looking text, non-ASCII) through sql.literal (as data) and sql.ident (as table
# names).  On the private PostgreSQL:
#  1. `ubpipe run` against a database whose default is standard_conforming_strings=off: the sessions
#     ubpipe opens set what their quoting relies on, every value reads back byte for byte, and
#     public.victim survives;
#  2. the rendered SQL run by psql with standard_conforming_strings off, then on: the same (the
#     literals do not depend on the session's setting: Redshift reads a backslash as an escape too);
#  3. a NUL byte or invalid UTF-8 is refused with a clear error, by both functions;
#  4. wh.partition (issue 14, item 7) with a table and a column that only quoting can name
#     (mixed case, a space, a double quote; the column from a template) and a reserved word as
#     column: two ds load into the right partitions, and reading them back finds every row; a CSV
#     header name longer than PostgreSQL keeps fails the task and leaves nothing behind.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_sql_quoting: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-quoting.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_sql_quoting: cannot start the stack"; exit 1; }
Q() { PGOPTIONS="-c client_min_messages=warning" sh scripts/stack.sh psql warehouse -X -q -A -t -c "$1"; }
SPEC=tests/e2e/quoting/p.yaml

"$UBPIPE" render "$SPEC" corpus.sql --ds 2021-01-01 > "$TMP/corpus.sql" || ko "render of corpus.sql failed"
N=$(grep -c '^INSERT INTO public.corpus' "$TMP/corpus.sql")
[ "$N" -ge 30 ] && ok || ko "corpus has only $N values"

check() {   # WHAT: every value and name read back exactly, nothing dropped
  same "$1: rows" "$(Q "SELECT count(*) FROM public.corpus")" "$N"
  same "$1: values whose bytes differ" "$(Q "SELECT string_agg(i::text, ',') FROM public.corpus
         WHERE convert_to(v, 'UTF8') IS DISTINCT FROM decode(h, 'hex')")" ""
  same "$1: names" "$(Q "SELECT count(*) FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
         WHERE n.nspname = 'corp' AND r.relkind = 'r'")" "$N"
  same "$1: values with no table of that exact name" "$(Q "SELECT string_agg(i::text, ',') FROM public.corpus c
         WHERE NOT EXISTS (SELECT 1 FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
           WHERE n.nspname = 'corp' AND convert_to(r.relname::text, 'UTF8') = decode(c.h, 'hex'))")" ""
  same "$1: public.victim still there" "$(Q "SELECT to_regclass('public.victim') IS NOT NULL")" "t"
}
reset() { Q "DROP TABLE IF EXISTS public.corpus; DROP SCHEMA IF EXISTS corp CASCADE;
             CREATE TABLE IF NOT EXISTS public.victim (x int)" >/dev/null; }

# 1. through ubpipe, on a database whose sessions default to standard_conforming_strings = off
reset
Q "ALTER DATABASE ubpipe_warehouse SET standard_conforming_strings = off" >/dev/null
same "database default" "$(Q "SHOW standard_conforming_strings")" "off"
if "$UBPIPE" run "$SPEC" --ds 2021-01-01 -q > "$TMP/run.out" 2>&1; then ok; else ko "run failed: $(tail -3 "$TMP/run.out")"; fi
check "ubpipe run (server default off)"
Q "ALTER DATABASE ubpipe_warehouse RESET standard_conforming_strings" >/dev/null

# 2. the rendered literals alone, under either setting of the session
for scs in off on; do
  reset
  if PGOPTIONS="-c standard_conforming_strings=$scs -c escape_string_warning=off -c client_min_messages=warning" \
     sh scripts/stack.sh psql warehouse -X -q -v ON_ERROR_STOP=1 -f "$TMP/corpus.sql" > "$TMP/psql.out" 2>&1; then ok
  else ko "psql with standard_conforming_strings=$scs failed: $(tail -3 "$TMP/psql.out")"; fi
  check "psql, standard_conforming_strings=$scs"
done

# 3. what cannot be data is refused, naming the reason
refuse() {  # TEMPLATE MESSAGE
  if "$UBPIPE" render "$SPEC" "$1" --ds 2021-01-01 > "$TMP/r.out" 2>&1; then ko "[$1] rendered: $(cat "$TMP/r.out")"
  elif grep -q "$2" "$TMP/r.out"; then ok; else ko "[$1]: no '$2' in: $(cat "$TMP/r.out")"; fi
}
refuse '{{ sql.literal("a\0b") }}' 'sql.literal: string contains a NUL byte'
refuse '{{ sql.literal("a\255b") }}' 'sql.literal: string is not valid UTF-8'
refuse '{{ sql.literal("\237\160\128") }}' 'sql.literal: string is not valid UTF-8'
refuse '{{ sql.ident{"s", "a\0b"} }}' 'sql.ident: name contains a NUL byte'
refuse '{{ sql.ident("a\192\128") }}' 'sql.ident: name is not valid UTF-8'
refuse '{{ sql.list{"ok", "a\0b"} }}' 'sql.list: string contains a NUL byte'

# 4. names from the spec (and its templates) reach the SQL as identifiers
PART=tests/e2e/quoting/part.yaml
for ds in 2021-01-01 2021-01-02; do
  if "$UBPIPE" run "$PART" --ds "$ds" -q > "$TMP/part.out" 2>&1; then ok
  else ko "wh.partition run $ds failed: $(tail -3 "$TMP/part.out")"; fi
done
same "quoted column: rows per partition" "$(Q "SELECT string_agg(d || '=' || n, ',' ORDER BY d) FROM
       (SELECT \"Load \"\"Day\"\"\"::text AS d, count(*) AS n FROM qp.\"Odd \"\"Table\"\"\" GROUP BY 1) x")" \
     "2021-01-01=2,2021-01-02=2"
same "quoted column: the partitions, by exact name" "$(Q "SELECT string_agg(c.relname, ',' ORDER BY c.relname)
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'qp.\"Odd \"\"Table\"\"\"'::regclass")" \
     'Odd "Table"_p20210101,Odd "Table"_p20210102'
same "quoted column: a row read back" "$(Q "SELECT name FROM qp.\"Odd \"\"Table\"\"\" WHERE id = 2 AND
       \"Load \"\"Day\"\"\" = '2021-01-02'")" "two, with a comma"
same "reserved-word column: rows per partition" "$(Q "SELECT string_agg(d || '=' || n, ',' ORDER BY d) FROM
       (SELECT \"order\"::text AS d, count(*) AS n FROM qp.\"Orders\" GROUP BY 1) x")" "2021-01-01=2,2021-01-02=2"
# a CSV header name the server would cut short: a data error, and the partition is not made
long=$(printf 'h%.0s' $(seq 64))
printf 'id,%s\n1,x\n' "$long" > "$TMP/long.csv"
"$UBPIPE" run "$PART" --ds 2021-01-03 -p csv="$TMP/long.csv" -q > "$TMP/long.out" 2>&1
same "long CSV header name: exit status" "$?" "1"
grep -q "column 2 of the CSV header ('hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh...') is 64 bytes; the postgres dialect keeps at most 63 bytes of a name" \
  "$TMP/long.out" && ok || ko "long CSV header name: no message in: $(cat "$TMP/long.out")"
same "long CSV header name: no partition for that ds" "$(Q "SELECT count(*) FROM pg_class WHERE relname LIKE '%_p20210103%'")" "0"
same "no table left half-made" "$(Q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'qp' AND c.relname LIKE '%__new'")" "0"

echo "test_sql_quoting: $pass passed, $fail failed"
[ "$fail" = 0 ]
