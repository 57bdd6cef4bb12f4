#!/bin/sh
# test_lake_put.sh — lake.put: what is checked is what lands (issue 14 item 4, issue 15 item 3).
#
# A tiny pipeline with a file lake and no database, in a temporary UBPIPE_HOME:
#  1. check: csv reads the file once: from a FIFO, which can be read only once, the lake gets
#     exactly the bytes that were checked (a check followed by a second read for the upload
#     would wait for a writer that never comes, or land bytes nobody checked);
#  2. NUL bytes and invalid UTF-8 are refused naming file:line; a malformed CSV record too;
#     after each refusal the lake keeps its previous object and no temporary file;
#  3. without a check, a file under the state directory lands as a hard link (no copy), a
#     file outside it as a copy; both byte-identical to the source.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_lake_put: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-put.XXXXXX) || exit 1
export UBPIPE_HOME="$TMP/home"
mkdir -p "$UBPIPE_HOME"
bg=
cleanup() { [ -n "$bg" ] && kill "$bg" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
cat > "$TMP/put.yaml" <<'YAML'
pipeline: put_test
start_date: 2021-01-01
params:
  src: none
  check: csv
profiles:
  local:
    lake: "file:{{ state_dir }}/lake"
tasks:
  put:
    op: lake.put
    src: "{{ params.src }}"
    dst: "raw:put/{{ ds }}/object.csv"
    check: "{{ params.check }}"
YAML
D=2021-01-02
OBJ=$UBPIPE_HOME/lake/raw/put/$D/object.csv
put() { "$UBPIPE" run "$TMP/put.yaml" --ds $D --rerun -q "$@"; }
temps() { find "$UBPIPE_HOME" -name '*.ubtmp.*' | wc -l; }

# 1. one read: a FIFO gives its bytes to one reader, once
mkfifo "$TMP/fifo"
printf 'a,b\n1,2\n' > "$TMP/fifo" &
bg=$!
if timeout 60 "$UBPIPE" run "$TMP/put.yaml" --ds $D --rerun -q -p src="$TMP/fifo" 2>"$TMP/err"; then ok
else ko "put from a FIFO failed: $(cat "$TMP/err")"; fi
same "object put from the FIFO" "$(cat "$OBJ" 2>/dev/null)" "$(printf 'a,b\n1,2\n')"
kill "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; bg=
good=$(md5sum < "$OBJ")

# 2. refusals: message with file:line, exit 1, the previous object untouched, no temp left
refused() {   # name file want-message
  if put -p src="$2" 2>"$TMP/err"; then ko "$1: accepted"; else ok; fi
  if grep -qF -- "$3" "$TMP/err"; then ok; else ko "$1: message [$(cat "$TMP/err")], want [$3]"; fi
  same "$1: the lake object" "$(md5sum < "$OBJ")" "$good"
  same "$1: temporary files" "$(temps)" 0
}
printf 'a,b\n1,2\n3,\0004\n' > "$TMP/nul.csv"
refused "NUL byte" "$TMP/nul.csv" "$TMP/nul.csv:3: NUL byte"
printf 'a,b\n1,2\n3,4\n\377,5\n' > "$TMP/latin.csv"
refused "invalid UTF-8" "$TMP/latin.csv" "$TMP/latin.csv:4: invalid UTF-8 (byte 0xFF"
printf 'a,b\n\300\200,1\n' > "$TMP/overlong.csv"
refused "overlong UTF-8" "$TMP/overlong.csv" "$TMP/overlong.csv:2: invalid UTF-8 (byte 0xC0"
printf 'a,b\n1,\342\202' > "$TMP/cut.csv"
refused "UTF-8 cut at the end" "$TMP/cut.csv" "$TMP/cut.csv:2: invalid UTF-8 (the file ends inside a character)"
printf 'a,b\n1,2\n1,2,3\n\377\n' > "$TMP/fields.csv"
refused "CSV error before a bad byte" "$TMP/fields.csv" "$TMP/fields.csv:3: record has 3 fields, expected 2 (header)"
printf 'a,b\n1,\303\251t\303\251 \360\237\231\202\n' > "$TMP/utf8.csv"
if put -p src="$TMP/utf8.csv" 2>"$TMP/err"; then ok; else ko "valid UTF-8 refused: $(cat "$TMP/err")"; fi
same "valid UTF-8 object" "$(md5sum < "$OBJ")" "$(md5sum < "$TMP/utf8.csv")"

# 3. no check: a hard link for a file under the state directory, a copy for one outside
mkdir -p "$UBPIPE_HOME/work"
printf 'x\000y\377\n' > "$UBPIPE_HOME/work/own.bin"
if put -p src="$UBPIPE_HOME/work/own.bin" -p check=none 2>"$TMP/err"; then ok; else ko "linked put failed: $(cat "$TMP/err")"; fi
same "linked object" "$(md5sum < "$OBJ")" "$(md5sum < "$UBPIPE_HOME/work/own.bin")"
same "linked object shares the inode" "$(stat -c %i "$OBJ")" "$(stat -c %i "$UBPIPE_HOME/work/own.bin")"
printf 'outside\n' > "$TMP/outside.bin"
if put -p src="$TMP/outside.bin" -p check=none 2>"$TMP/err"; then ok; else ko "copied put failed: $(cat "$TMP/err")"; fi
same "copied object" "$(cat "$OBJ")" "outside"
if [ "$(stat -c %i "$OBJ")" != "$(stat -c %i "$TMP/outside.bin")" ]; then ok; else ko "a file outside the state directory was linked"; fi
same "the state directory's file is untouched" "$(md5sum < "$UBPIPE_HOME/work/own.bin")" "$(printf 'x\000y\377\n' | md5sum)"
same "temporary files at the end" "$(temps)" 0

# a FIFO nobody writes to: the put waits for a writer only until the task's timeout, which ends the
# try itself (no SIGKILL after the grace), saying what it waited for
mkfifo "$TMP/mute.fifo"
sed 's/^    check: "{{ params.check }}"$/    check: "{{ params.check }}"\n    timeout: 2s\n    retries: 0/' "$TMP/put.yaml" > "$TMP/put2.yaml"
grep -q 'timeout: 2s' "$TMP/put2.yaml" || ko "could not write the timeout copy of the spec"
for chk in csv none; do
  out=$(timeout 30 "$UBPIPE" run "$TMP/put2.yaml" --ds 2021-01-03 --rerun -q -p src="$TMP/mute.fifo" -p check=$chk 2>&1)
  same "FIFO without a writer (check $chk): exit" "$?" 1
  case $out in *"timed out after 2s"*) ok ;; *) ko "FIFO without a writer (check $chk): $out" ;; esac
  log=$(ls -t "$UBPIPE_HOME/runs/put_test/2021-01-03/logs/"put.*.log | head -n 1)
  grep -q "stopped while waiting for a writer on the FIFO" "$log" && ok ||
    ko "FIFO without a writer (check $chk): the try did not end itself: $(cat "$log")"
done

echo "test_lake_put: $pass passed, $fail failed"
[ "$fail" = 0 ]
