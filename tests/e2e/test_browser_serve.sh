#!/bin/sh
# test_browser_serve.sh — the pages of `ubpipe serve` in a real browser (issue 11).
#
# In a temporary UBPIPE_HOME: start the private PostgreSQL and a small demo, make one failed run
# (a ds with a movie_review_file that does not exist) and one good run with the CLI, then start
# `ubpipe serve --listen 127.0.0.1:0 --no-scheduler pipelines/user_behavior.yaml` and drive Debian's
# chromium with puppeteer-core (tests/browser/serve.test.js): log in with the token; the grid's
# data-state cells equal the API's; a failed cell opens its log; a triggered ds turns from
# queued/running to success without reload; the DAG SVG has one node per task; screenshots of the
# grid, DAG, Gantt and a log page go to $TEST_OUT (default build/test-out/browser-serve).
# Skips (exit 0, "skipped: ...") only when node or chromium is absent.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
OUT=${TEST_OUT:-$ROOT/build/test-out/browser-serve}
command -v node >/dev/null 2>&1 || { echo "test_browser_serve: skipped: node is not installed"; exit 0; }
[ -x "$CHROMIUM" ] || { echo "test_browser_serve: skipped: no chromium at $CHROMIUM"; exit 0; }
if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
    { echo "test_browser_serve: FAIL: npm ci in tests/browser failed"; exit 1; }
fi

TMP=$(mktemp -d /tmp/ubpipe-test-browser.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
export UBPIPE_SERVE_TOKEN=browser-test-token-0123456789
SPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  sh scripts/stack.sh stop >/dev/null 2>&1
  rm -rf "$TMP"
  rm -f pipelines/.test_browser.yaml
}
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_browser_serve: FAIL: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=${TEST_BROWSER_SCALE:-0.02} sh scripts/demo-data.sh >/dev/null ||
  { echo "test_browser_serve: FAIL: demo data failed"; exit 1; }

# the same pipeline (same name, same journal) without retries, so the failure is quick
sed -e 's/^  retries: 2$/  retries: 0/' pipelines/user_behavior.yaml > pipelines/.test_browser.yaml
GOOD=2021-04-30 FAILED=2021-04-29 TRIGGER=2021-04-28
"$UBPIPE" run pipelines/.test_browser.yaml -q --ds $GOOD ||
  { echo "test_browser_serve: FAIL: the run of $GOOD failed"; exit 1; }
if "$UBPIPE" run pipelines/.test_browser.yaml -q --ds $FAILED -p movie_review_file="$TMP/no-such-reviews.csv" \
     >/dev/null 2>&1; then
  echo "test_browser_serve: FAIL: the run of $FAILED with a missing review file succeeded"; exit 1
fi

"$UBPIPE" serve --listen 127.0.0.1:0 --no-scheduler pipelines/user_behavior.yaml >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
BASE=
for _ in $(seq 1 100); do
  BASE=$(sed -n 's/^serving on \(http:[^ ]*\).*/\1/p' "$TMP/serve.out" | head -n 1)
  [ -n "$BASE" ] && break
  kill -0 "$SPID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$BASE" ]; then
  echo "test_browser_serve: FAIL: serve did not say where it listens"; cat "$TMP/serve.err"; exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"
UB_BASE=$BASE UB_TOKEN=$UBPIPE_SERVE_TOKEN UB_PIPELINE=user_behavior UB_FAILED_DS=$FAILED UB_TRIGGER_DS=$TRIGGER \
UB_OUT=$OUT UB_CHROMIUM=$CHROMIUM UB_WAREHOUSE_PSQL="sh scripts/stack.sh psql warehouse -X -q -A -t" node tests/browser/serve.test.js
rc=$?
for f in grid dag gantt log; do
  [ -s "$OUT/$f.png" ] || { echo "test_browser_serve: FAIL: no screenshot $OUT/$f.png"; rc=1; }
done
if [ $rc != 0 ]; then
  echo "--- serve stderr"; tail -n 30 "$TMP/serve.err"
fi
echo "test_browser_serve: screenshots in $OUT"
exit $rc
