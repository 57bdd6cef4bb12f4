#!/bin/sh
# test_journal_full.sh — the run journal on a full file system (issue 14 item 9), on a real small tmpfs
# mounted as UBPIPE_HOME (needs root; skips with a message otherwise):
#  1. the disk is full before the first record: run stops, exit 1, the message has the real errno
#     ("No space left on device", never "Success"), no task starts, the journal has no torn line;
#  2. the disk fills in the middle of a record (a short write): the journal is cut back to its last
#     complete line, exit 1;
#  3. a torn last line (as a crash mid-write leaves): the next run cuts it off, says so, and appends
#     its records on lines of their own; status reads the run back.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_journal_full: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }
has() { case $2 in *"$3"*) ok ;; *) ko "$1: no [$3] in: $2" ;; esac; }
hasnt() { case $2 in *"$3"*) ko "$1: [$3] in: $2" ;; *) ok ;; esac; }

TMP=$(mktemp -d /tmp/ubpipe-test-jfull.XXXXXX) || exit 1
H=$TMP/home
mkdir -p "$H"
cleanup() { umount "$H" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
if ! mount -t tmpfs -o size=256k tmpfs "$H" 2>/dev/null; then
  echo "skip: cannot mount a small tmpfs (needs root); the full-disk journal test did not run"
  exit 0
fi
export UBPIPE_HOME="$H"
cat > "$TMP/p.yaml" <<'YAML'
pipeline: jfull
tasks:
  a: { op: noop }
  b: { op: noop, after: [a] }
YAML
run() { timeout 60 "$UBPIPE" run "$TMP/p.yaml" -j 1 "$@"; }
fill() { dd if=/dev/zero of="$H/fill" bs=4096 >/dev/null 2>&1; }
unfill() { rm -f "$H/fill"; }
# every line of the journal ends in LF and is a JSON object
whole() {
  python3 - "$1" <<'PY'
import json, sys
data = open(sys.argv[1], 'rb').read()
if data and not data.endswith(b'\n'):
    print('torn last line: %r' % data[-60:]); sys.exit(1)
for n, line in enumerate(data.split(b'\n')[:-1], 1):
    if not line.strip():
        continue
    try:
        json.loads(line)
    except Exception as e:
        print('line %d is not JSON: %r' % (n, line[:80])); sys.exit(1)
PY
}
J1=$H/runs/jfull/2021-05-01/journal.jsonl
J2=$H/runs/jfull/2021-05-02/journal.jsonl

run --ds 2021-05-01 -q 2>/dev/null
same "first run" "$?" 0

# 1. full before the first record
fill
out=$(run --ds 2021-05-02 2>&1); rc=$?
same "full: exit" "$rc" 1
has "full: errno" "$out" "No space left on device"
has "full: stops" "$out" "stopping the run"
hasnt "full: no Success" "$out" "Success"
hasnt "full: nothing starts" "$out" "start    a"
[ -f "$J2" ] && { r=$(whole "$J2") && ok || ko "full: journal: $r"; }
[ -s "$H/runs/jfull/2021-05-02/logs/a.1.log" ] && ko "full: task a ran" || ok
unfill

# 2. full in the middle of a record: pad the journal so its last page has 20 bytes left
size=$(stat -c %s "$J1")
pad=$(( (4096 - size % 4096) + 4096 - 20 - 1 ))
python3 -c "import sys; sys.stdout.write(' ' * $pad + '\n')" >> "$J1"
size=$(stat -c %s "$J1")
same "padded" "$((size % 4096))" 4076
fill
out=$(run --ds 2021-05-01 --rerun 2>&1); rc=$?
same "short write: exit" "$rc" 1
has "short write: errno" "$out" "No space left on device"
r=$(whole "$J1") && ok || ko "short write: journal: $r"
same "short write: cut back" "$(stat -c %s "$J1")" "$size"
unfill

# 3. a torn tail from a crash: cut off at the next run, the new records on their own lines
printf '{"ts":1,"task":"a","sta' >> "$J1"
out=$(run --ds 2021-05-01 --rerun 2>&1); rc=$?
same "repair: exit" "$rc" 0
has "repair: said" "$out" "cut off a torn last line (23 bytes)"
r=$(whole "$J1") && ok || ko "repair: journal: $r"
st=$("$UBPIPE" status "$TMP/p.yaml" --ds 2021-05-01 --format json 2>&1)
has "repair: status" "$st" '"state": "success"'
same "repair: no fragment left" "$(grep -c '"sta$' "$J1")" 0

echo "test_journal_full: $pass passed, $fail failed"
[ "$fail" = 0 ]
