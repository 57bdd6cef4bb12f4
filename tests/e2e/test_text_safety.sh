#!/bin/sh
# test_text_safety.sh — nothing dropped, nothing garbled (issue 14 items 6 and 8).
#
# A tiny pipeline with a file lake and no database, in a temporary UBPIPE_HOME:
#  1. a task whose error names a path that is not UTF-8: the error (the byte as \xE9) reaches the
#     journal (every line valid JSON), `status` (text and JSON) and --log-format json, never
#     "exited with status 0 without a result";
#  2. plan --format json keeps the effect of a task with invalid UTF-8 in its SQL file and in a -p
#     value (valid JSON, one effect, the summary agrees);
#  3. ESC sequences in a vendor CSV's name and bad record, and in a -p value: run, status, logs and
#     plan print no raw 0x1B (nor BEL), also to a terminal (script(1)) where only ubpipe's own
#     colours may appear;
#  4. files a spec names: a FIFO fails at once (no hang), an unreadable file (chmod 000) names the
#     error — skipped when running as root, which reads it anyway.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_text_safety: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }
has() { if grep -qF -- "$2" "$3"; then ok; else ko "$1: no [$2] in $3:"; sed 's/^/    /' "$3" >&2; fi; }
hasnt() { if grep -qF -- "$2" "$3"; then ko "$1: [$2] in $3"; else ok; fi; }
# no raw ESC or BEL in file $2
clean() { if LC_ALL=C grep -q "$(printf '[\033\007]')" "$2"; then ko "$1: raw control bytes in $2:"; od -c "$2" | head -20 >&2; else ok; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-text.XXXXXX) || exit 1
export UBPIPE_HOME="$TMP/home"
mkdir -p "$UBPIPE_HOME"
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
cat > "$TMP/put.yaml" <<'YAML'
pipeline: text_safety
params: { src: none, tag: x }
profiles:
  local:
    lake: "file:{{ state_dir }}/lake"
    warehouse: { dsn: "host=/nonexistent dbname=x" }
tasks:
  put:
    op: lake.put
    src: "{{ params.src }}"
    dst: "raw:{{ params.tag }}/x.csv"
    check: csv
YAML
J=$UBPIPE_HOME/runs/text_safety

# 1. a non-UTF-8 path in the error --------------------------------------------------------------
LAT1=$(printf "$TMP/caf\351.csv")                          # Latin-1 e-acute: not UTF-8
"$UBPIPE" run "$TMP/put.yaml" --ds 2021-01-01 -p "src=$LAT1" >"$TMP/run1.out" 2>&1
same "run with a missing non-UTF-8 path: exit" "$?" 1
has "run names the path" "caf\\xE9.csv': No such file or directory" "$TMP/run1.out"
hasnt "run: no lost result" "without a result" "$TMP/run1.out"
if python3 -c '
import json, sys
err = None
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("state") == "failed":
        err = r["error"]
sys.exit(0 if err and "caf\\xE9.csv" in err and "No such file" in err else 1)' "$J/2021-01-01/journal.jsonl"
then ok; else ko "journal: every line JSON, the failed record with the error"; cat "$J/2021-01-01/journal.jsonl" >&2; fi
"$UBPIPE" status "$TMP/put.yaml" --ds 2021-01-01 >"$TMP/st1.out" 2>&1
has "status text shows the error" "    error: could not open '$TMP/caf\\xE9.csv': No such file or directory" "$TMP/st1.out"
"$UBPIPE" status "$TMP/put.yaml" --ds 2021-01-01 --format json >"$TMP/st1.json" 2>&1
same "status json: the error" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"][0]["error"])' "$TMP/st1.json")" \
  "could not open '$TMP/caf\\xE9.csv': No such file or directory"

# the file exists, a name that is not UTF-8 and a bad record: the CSV error crosses the result pipe
printf 'a,b\n1,2\n3\n' > "$LAT1"
"$UBPIPE" run "$TMP/put.yaml" --ds 2021-01-02 -p "src=$LAT1" --log-format json >"$TMP/run2.out" 2>"$TMP/run2.json"
same "run of a bad CSV with a non-UTF-8 name: exit" "$?" 1
if python3 -c '
import json, sys
errs = [e.get("error", "") for e in map(json.loads, open(sys.argv[1], encoding="utf-8")) if e.get("event") == "task"]
sys.exit(0 if any("caf\\xE9.csv:3" in e for e in errs) and not any("without a result" in e for e in errs) else 1)' "$TMP/run2.json"
then ok; else ko "--log-format json: every line JSON, the CSV error with its line"; cat "$TMP/run2.json" >&2; fi
"$UBPIPE" status "$TMP/put.yaml" --ds 2021-01-02 >"$TMP/st2.out" 2>&1
has "status: the CSV error" "caf\\xE9.csv:3: record has 1 field, expected 2 (header)" "$TMP/st2.out"

# 2. plan --format json keeps the effects ------------------------------------------------------
cat > "$TMP/sql.yaml" <<'YAML'
pipeline: text_safety_sql
params: { note: none }
profiles:
  local:
    warehouse: { dsn: "host=/nonexistent dbname=x" }
tasks:
  q: { op: sql, sql: q.sql }
YAML
printf "SELECT 'caf\351'; -- {{ params.note }}\n" > "$TMP/q.sql"
"$UBPIPE" plan "$TMP/sql.yaml" --ds 2021-01-01 --format json -p "note=$(printf 'x\377y')" >"$TMP/plan.json" 2>&1
same "plan json: exit" "$?" 0
if python3 -m json.tool "$TMP/plan.json" >/dev/null; then ok; else ko "plan json is not JSON"; cat "$TMP/plan.json" >&2; fi
same "plan json: the effect is kept, bytes as \\xNN" \
  "$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(len(p["tasks"][0]["effects"]), p["summary"]["sql"], p["tasks"][0]["effects"][0]["text"].splitlines()[1])' "$TMP/plan.json")" \
  "1 1 SELECT 'caf\\xE9'; -- x\\xFFy"
if command -v jq >/dev/null 2>&1; then
  same "plan json through jq" "$(jq -r '.tasks[0].effects | length' "$TMP/plan.json")" 1
fi

# 3. ESC sequences never reach the terminal raw -------------------------------------------------
ESCF=$(printf "$TMP/v\033[2Jx.csv")                        # a name that clears the screen
printf 'a,b\n1,2\n\033[31mred\033[0m,3,4\n' > "$ESCF"
TAG=$(printf 't\033]0;pwned\007')                           # sets the window title
"$UBPIPE" run "$TMP/put.yaml" --ds 2021-01-03 -p "src=$ESCF" >"$TMP/run3.out" 2>&1
same "run of a CSV with ESC in its name and data: exit" "$?" 1
clean "run output" "$TMP/run3.out"
has "run shows the name escaped" "v\\x1B[2Jx.csv:3: record has 3 fields, expected 2 (header)" "$TMP/run3.out"
"$UBPIPE" status "$TMP/put.yaml" --ds 2021-01-03 >"$TMP/st3.out" 2>&1
clean "status output" "$TMP/st3.out"
"$UBPIPE" logs "$TMP/put.yaml" put --ds 2021-01-03 >"$TMP/logs3.out" 2>&1
clean "logs output" "$TMP/logs3.out"
has "logs show it escaped" "v\\x1B[2Jx.csv:3" "$TMP/logs3.out"
if LC_ALL=C grep -q "$(printf '\033')" "$J/2021-01-03/logs/put.1.log"; then ok; else ko "the log file keeps the raw bytes"; fi
"$UBPIPE" run "$TMP/put.yaml" --ds 2021-01-04 -p "src=$ESCF" -p "tag=$TAG" >"$TMP/run4.out" 2>&1
same "run with ESC in a -p value (a lake key): exit" "$?" 2
clean "run output (-p)" "$TMP/run4.out"
has "run names the key escaped, before any task" "invalid lake key 'raw/t\\x1B]0;pwned\\x07/x.csv': control character 0x1B" "$TMP/run4.out"
"$UBPIPE" plan "$TMP/put.yaml" --ds 2021-01-04 -p "src=$ESCF" -p "tag=$TAG" >"$TMP/plan4.out" 2>&1
clean "plan output (-p)" "$TMP/plan4.out"
"$UBPIPE" plan "$TMP/put.yaml" --ds 2021-01-05 -p "src=$ESCF" >"$TMP/plan5.out" 2>&1
clean "plan output" "$TMP/plan5.out"
has "plan shows the name escaped" "read     file  $TMP/v\\x1B[2Jx.csv" "$TMP/plan5.out"
# on a terminal (script(1) gives one): ubpipe's own colours only, never the file's or the -p's
# (the commands in a file: script(1) writes its command line into its log as it is)
cat > "$TMP/tty.sh" <<'SH'
"$UBPIPE" run "$TMP/put.yaml" --ds 2021-01-06 -p "src=$ESCF"
"$UBPIPE" plan "$TMP/put.yaml" --ds 2021-01-07 -p "src=$ESCF" -p "tag=$TAG"
"$UBPIPE" status "$TMP/put.yaml" --ds 2021-01-06
"$UBPIPE" logs "$TMP/put.yaml" put --ds 2021-01-06
SH
if command -v script >/dev/null 2>&1; then
  UBPIPE=$UBPIPE TMP=$TMP ESCF=$ESCF TAG=$TAG script -qec "sh '$TMP/tty.sh'" "$TMP/tty.out" >/dev/null 2>&1
  if [ -s "$TMP/tty.out" ]; then
    if LC_ALL=C grep -q "$(printf '\033\\[2J\\|\033\\]0;\\|\033\\[31mred\\|\007')" "$TMP/tty.out"; then
      ko "terminal output carries a sequence from the data"; od -c "$TMP/tty.out" | head -30 >&2
    else ok; fi
    has "terminal: the file name escaped" "v\\x1B[2Jx.csv:3: record has 3 fields" "$TMP/tty.out"
    has "terminal: the -p value escaped in the plan (the lake key check)" "invalid lake key 'raw/t\\x1B]0;pwned\\x07/x.csv'" "$TMP/tty.out"
  else
    echo "test_text_safety: skip: script(1) gave no output"
  fi
else
  echo "test_text_safety: skip: no script(1) for a terminal"
fi

# 4. files a spec names: a FIFO, an unreadable file --------------------------------------------
mkfifo "$TMP/fifo.sql"
sed 's/q.sql/fifo.sql/' "$TMP/sql.yaml" > "$TMP/fifo.yaml"
timeout 10 "$UBPIPE" plan "$TMP/fifo.yaml" --ds 2021-01-01 >"$TMP/fifo.out" 2>&1
same "plan of a spec naming a FIFO: exit (not a hang: 124)" "$?" 2
has "a FIFO is named" "fifo.yaml:7:22: cannot use '$TMP/fifo.sql': is a FIFO, not a file" "$TMP/fifo.out"
timeout 10 "$UBPIPE" validate "$TMP/fifo.sql" >"$TMP/fifo2.out" 2>&1
same "validate of a FIFO as the spec: exit" "$?" 2
has "the spec FIFO is named" "cannot use: is a FIFO, not a file" "$TMP/fifo2.out"
printf 'SELECT 1;\n' > "$TMP/locked.sql"
chmod 000 "$TMP/locked.sql"
sed 's/q.sql/locked.sql/' "$TMP/sql.yaml" > "$TMP/locked.yaml"
if cat "$TMP/locked.sql" >/dev/null 2>&1; then
  echo "test_text_safety: skip: chmod 000 does not stop this user (root) from reading; the EIO case is in the golden case bad_files_kinds"
else
  "$UBPIPE" plan "$TMP/locked.yaml" --ds 2021-01-01 >"$TMP/locked.out" 2>&1
  same "plan of an unreadable file: exit" "$?" 2
  has "the unreadable file is named" "locked.yaml:7:22: cannot read '$TMP/locked.sql': Permission denied" "$TMP/locked.out"
fi

echo "test_text_safety: $pass passed, $fail failed"
[ "$fail" = 0 ]
