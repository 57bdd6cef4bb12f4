#!/bin/sh
# test_spec_kinds.sh — no node shape crashes the loader (issue 9, item 3).
#
# tests/e2e/spec_kinds_gen.py writes one spec per (key, shape): every key family of a spec (top level,
# defaults, params, profiles, connections and their fields, scripts, task keys, scheduling keys, operator
# parameters of each type, list items, mapping values) given a list, a mapping, a flow mapping inside a
# list, a list inside a list, a mapping holding a list, null, {} and [].  validate, plan and graph must exit
# 0 or 2 (never a signal), and every error line must start with FILE:LINE:COL.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_spec_kinds: FAIL: $*" >&2; }

TMP=$(mktemp -d /tmp/ubpipe-test-kinds.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
python3 tests/e2e/spec_kinds_gen.py "$TMP" || { echo "test_spec_kinds: generator failed"; exit 1; }
echo 'return function(r) return r end' > "$TMP/s.lua"
n=0 errs=0
cd "$TMP" || exit 1
for f in c_*.yaml; do
  n=$((n + 1))
  for v in validate plan graph; do
    case $v in validate) set -- validate "$f" ;; plan) set -- plan "$f" --ds 2021-01-01 ;; graph) set -- graph "$f" ;; esac
    UBPIPE_HOME=$TMP/home timeout 20 "$UBPIPE" "$@" > out 2>&1
    rc=$?
    case $rc in
    0) ok ;;
    2) ok; errs=$((errs + 1))
       # every message line names FILE:LINE:COL (caret and source lines are indented)
       bad=$(grep -v '^ \|^ubpipe: \|^$' out | grep -v "^$f:[0-9][0-9]*:[0-9][0-9]*: " | head -1)
       if [ -z "$bad" ]; then ok; else ko "$v $f: a message without FILE:LINE:COL: $bad"; fi ;;
    *) ko "$v $f: exit $rc: $(tail -n 2 out)" ;;
    esac
  done
done
# the shapes that crashed before (issue 9) are refused with the promised message
for s in flowmap_in_seq seq_in_seq map_with_seq_in_seq map; do
  "$UBPIPE" validate "c_after__$s.yaml" > out 2>&1
  rc=$?
  if [ "$rc" = 2 ] && grep -q "must be a task id (a string)" out; then ok; else ko "after: $s: exit $rc: $(head -n 1 out)"; fi
done
[ "$n" -ge 300 ] && ok || ko "only $n specs generated"
echo "test_spec_kinds: $n specs x validate/plan/graph, $errs refused with exit 2"
echo "test_spec_kinds: $pass passed, $fail failed"
[ "$fail" = 0 ]
