#!/bin/sh
# test_conn_secret.sh — a password never leaks from a malformed connection string (issue 9, item 6).
#
# libpq's parse error for a malformed URI repeats the URI, password included.  A run whose
# UBPIPE_CONN_WAREHOUSE is such a URI (and keyword/value strings with quoted and percent-encoded
# passwords) must not show the password in stderr/stdout, in the try logs or anywhere in the state dir.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_conn_secret: FAIL: $*" >&2; }

TMP=$(mktemp -d /tmp/ubpipe-test-secret.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
echo "SELECT 1;" > "$TMP/one.sql"
cat > "$TMP/p.yaml" <<'Y'
pipeline: secretleak
defaults:
  retries: 1
  retry_delay: 0s
profiles:
  local:
    lake: "file:{{ state_dir }}/lake"
    warehouse: "host=/nonexistent user=nobody dbname=none"
tasks:
  touch_wh:
    op: sql
    sql: one.sql
Y

# try VALUE PASSWORD: run with UBPIPE_CONN_WAREHOUSE=VALUE; PASSWORD must appear nowhere
try() {
  home=$TMP/home.$pass.$fail
  mkdir -p "$home"
  UBPIPE_HOME=$home UBPIPE_CONN_WAREHOUSE=$1 "$UBPIPE" run "$TMP/p.yaml" --ds 2021-01-01 >"$TMP/out" 2>&1
  code=$?
  if [ "$code" != 0 ]; then ok; else ko "run with [$1] exited 0"; fi
  if grep -q "touch_wh" "$TMP/out"; then ok; else ko "run with [$1] did not name the task: $(head -3 "$TMP/out")"; fi
  hits=$( { grep -l -F -- "$2" "$TMP/out"; grep -rl -F -- "$2" "$home"; } 2>/dev/null | wc -l)
  if [ "$hits" = 0 ]; then ok; else
    ko "password [$2] of [$1] found in $hits file(s):"
    { grep -F -- "$2" "$TMP/out"; grep -rF -- "$2" "$home"; } | head -5 >&2
  fi
  # the try logs exist (so the grep above looked at them)
  if [ -n "$(find "$home" -type f -name '*.log' 2>/dev/null | head -1)" ]; then ok; else ko "no try log under $home"; fi
}

try 'postgresql://pwuser:LeakPw_111@[::1' LeakPw_111
try 'postgresql://pwuser:LeakPw%5F222@[::1' LeakPw_222
try 'postgresql://pwuser:LeakPw%5F222@[::1' 'LeakPw%5F222'
try "host=/nonexistent password='Leak Pw\\'333' user=x dbname=y sslmode=bogus" "Leak Pw'333"
try "host=/nonexistent password='Leak Pw\\'333' user=x dbname=y sslmode=bogus" "Leak Pw\\'333"
try "host=/nonexistent password=LeakPw_444 user=x dbname=y 'unterminated" LeakPw_444
try "postgresql://u@[::1/db?password=LeakPw_555" LeakPw_555

# a value that cannot hold a password is not masked whole: a lake URL stays readable
out=$(UBPIPE_HOME=$TMP/home.plain UBPIPE_CONN_LAKE="file:$TMP/lake.plain" UBPIPE_CONN_WAREHOUSE="host=/nonexistent password=LeakPw_666" \
      "$UBPIPE" render "$TMP/p.yaml" "{{ profile.lake }} {{ profile.warehouse }}" --ds 2021-01-01 2>&1)
case $out in *"file:$TMP/lake.plain"*) ok ;; *) ko "the plain lake URL is hidden: $out" ;; esac
case $out in *LeakPw_666*) ko "the password shows: $out" ;; *) ok ;; esac

echo "test_conn_secret: $pass passed, $fail failed"
[ "$fail" = 0 ]
