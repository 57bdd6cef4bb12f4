#!/bin/sh
# test_serve_report.sh — reports live in `ubpipe serve` (issue 12 item 5): a real daemon on 127.0.0.1
# (port 0, --no-scheduler) with the reference pipeline on the local stack, two ds run by the CLI.
#  1. /pipelines/P/reports/ID?ds=D is 200 with the daemon's CSP, no inline script or style, and its
#     ubpipe-data/ubpipe-blocks JSON equal to those of `ubpipe report ... --ds D`;
#  2. .../download?ds=D is that file byte for byte, as an attachment;
#  3. a second request is a cache hit (ubpipe_report_cache_hits_total rises, renders do not); a run of
#     the pipeline through the API invalidates it (the next request renders again);
#  4. no ds: the newest successful ds; /reports/ID resolves; the pipeline page links the report;
#     unknown pipeline/report/ds and '..' are 404, a malformed ds 400; the password is in no reply;
#  5. the browser check (tests/browser/serve_report.test.js, when node and chromium are there): the live
#     page draws every chart with no console error or CSP violation; a screenshot in $TEST_OUT;
#  6. the p99 of 200 cached page requests is printed (a figure, not a check).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
OUTDIR=${TEST_OUT:-$ROOT/build/test-out/serve-report}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_serve_report: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$(echo "$2" | cut -c1-300)], want [$(echo "$3" | cut -c1-300)]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-serve-report.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_serve_report: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=${TEST_SERVE_SCALE:-0.02} sh scripts/demo-data.sh >/dev/null ||
  { echo "test_serve_report: demo data failed"; exit 1; }
PW='Pw-e2e-Report-5521'
export UBPIPE_CONN_SOURCE="host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_source password=$PW"
export UBPIPE_SERVE_TOKEN='test-serve-report-token-0123456789'
P=pipelines/user_behavior.yaml
D1=2021-04-30 D2=2021-04-29 D3=2021-04-28
for d in $D2 $D1; do
  "$UBPIPE" run $P -q --ds $d || { echo "test_serve_report: the run of $d failed"; exit 1; }
done
for d in $D1 $D2; do
  "$UBPIPE" report $P user_behavior --ds $d -o "$TMP/cli-$d.html" 2>/dev/null || ko "ubpipe report --ds $d"
done

"$UBPIPE" serve $P --listen 127.0.0.1:0 --no-scheduler > "$TMP/out" 2> "$TMP/err" &
PID=$!
i=0
while [ $i -lt 100 ] && ! grep -q '^serving on ' "$TMP/out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^serving on //p' "$TMP/out" | head -1)
[ -n "$URL" ] || { echo "test_serve_report: serve did not start: $(cat "$TMP/err")"; exit 1; }
REPLIES=$TMP/replies
: > "$REPLIES"
req() {
  p=$1; shift
  code=$(curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' "$@" "$URL$p")
  cat "$TMP/body" "$TMP/hdr" >> "$REPLIES"
  echo "$code"
}
metric() { curl -s "$URL/metrics" | sed -n "s/^$1 //p"; }
# the JSON of <script type="application/json" id=ID> in an HTML file, parsed and dumped canonically
json_of() {
  python3 - "$1" "$2" <<'EOF'
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'<script type="application/json" id="%s">(.*?)</script>' % re.escape(sys.argv[2]), html, re.S)
print(json.dumps(json.loads(m.group(1)), sort_keys=True) if m else 'MISSING')
EOF
}
R=/pipelines/user_behavior/reports/user_behavior

# 1. the live page
same "live page $D1" "$(req "$R?ds=$D1")" 200
cp "$TMP/body" "$TMP/live-$D1.html"
grep -qi "^Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'" "$TMP/hdr" && ok ||
  ko "CSP header on the report page"
grep -qi '^Content-Type: text/html' "$TMP/hdr" && ok || ko "report page content type"
same "ubpipe-data equals the CLI's ($D1)" "$(json_of "$TMP/live-$D1.html" ubpipe-data)" \
  "$(json_of "$TMP/cli-$D1.html" ubpipe-data)"
same "ubpipe-blocks equals the CLI's ($D1)" "$(json_of "$TMP/live-$D1.html" ubpipe-blocks)" \
  "$(json_of "$TMP/cli-$D1.html" ubpipe-blocks)"
[ "$(json_of "$TMP/live-$D1.html" ubpipe-data)" != MISSING ] && ok || ko "no ubpipe-data in the live page"
# no inline script (every <script> is JSON data or has a src) and no <style> / style= attribute
same "inline scripts" "$(grep -o '<script[^>]*>' "$TMP/live-$D1.html" | grep -v 'type="application/json"' |
  grep -vc ' src="/assets/')" 0
same "inline styles" "$(grep -c '<style\| style=' "$TMP/live-$D1.html")" 0
grep -q "<option value=\"$D1\" selected>$D1</option><option value=\"$D2\">$D2</option>" "$TMP/live-$D1.html" && ok ||
  ko "ds picker lists $D1 (selected) and $D2"
grep -q "id=\"ubl-permalink\" href=\"$R?ds=$D1\"" "$TMP/live-$D1.html" && ok || ko "permalink keeps the ds"
grep -q "id=\"ubl-download\" href=\"$R/download?ds=$D1\"" "$TMP/live-$D1.html" && ok || ko "download link"
for a in report.css report.js chart.min.js report-live.css; do
  same "asset $a" "$(req "/assets/$a")" 200
done

# 2. the download is the CLI's file
same "download $D1" "$(req "$R/download?ds=$D1")" 200
cmp -s "$TMP/body" "$TMP/cli-$D1.html" && ok || ko "download differs from ubpipe report's file"
grep -qi "^Content-Disposition: attachment; filename=\"user_behavior-$D1.html\"" "$TMP/hdr" && ok ||
  ko "download is an attachment: $(grep -i disposition "$TMP/hdr")"
same "download $D2" "$(req "$R/download?ds=$D2")" 200
cmp -s "$TMP/body" "$TMP/cli-$D2.html" && ok || ko "download of $D2 differs from ubpipe report's file"

# 3. the cache, and its invalidation by a run
h0=$(metric ubpipe_report_cache_hits_total) r0=$(metric ubpipe_report_renders_total)
same "cached page" "$(req "$R?ds=$D1")" 200
cmp -s "$TMP/body" "$TMP/live-$D1.html" && ok || ko "the cached page differs from the first"
h1=$(metric ubpipe_report_cache_hits_total) r1=$(metric ubpipe_report_renders_total)
[ "$h1" -gt "$h0" ] && ok || ko "cache hits did not rise ($h0 -> $h1)"
same "no render for a cached page" "$r1" "$r0"
same "trigger $D3" "$(req /api/v1/pipelines/user_behavior/runs -X POST -H "Authorization: Bearer $UBPIPE_SERVE_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"ds\":\"$D3\"}")" 202
i=0 st=
while [ $i -lt 300 ]; do
  st=$(curl -s "$URL/api/v1/pipelines/user_behavior/runs/$D3" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state"))' 2>/dev/null)
  [ "$st" = success ] || [ "$st" = failed ] && break
  sleep 0.5; i=$((i + 1))
done
same "run $D3" "$st" success
# the warehouse now holds $D3 too (the report's history and "previous" see it): the CLI's files again
for d in $D1 $D2; do
  "$UBPIPE" report $P user_behavior --ds $d -o "$TMP/cli-$d.html" 2>/dev/null || ko "ubpipe report --ds $d"
done
same "page after the run" "$(req "$R?ds=$D1")" 200
r2=$(metric ubpipe_report_renders_total)
[ "$r2" -gt "$r1" ] && ok || ko "a run of the pipeline did not invalidate the cache (renders $r1 -> $r2)"
same "data after the run (fresh, with $D3)" "$(json_of "$TMP/body" ubpipe-data)" "$(json_of "$TMP/cli-$D1.html" ubpipe-data)"
[ "$(json_of "$TMP/body" ubpipe-data)" != "$(json_of "$TMP/live-$D1.html" ubpipe-data)" ] && ok ||
  ko "the page after the run still shows the data from before it"
grep -q "<option value=\"$D3\">$D3</option>" "$TMP/body" && ok || ko "the picker offers the new ds $D3"

# 4. default ds, short route, links, bad names
same "no ds" "$(req "$R")" 200
grep -q "id=\"ubl-permalink\" href=\"$R?ds=$D1\"" "$TMP/body" && ok || ko "default ds is the newest successful ($D1)"
same "/reports/ID" "$(req "/reports/user_behavior?ds=$D2")" 200
same "/reports/ID data" "$(json_of "$TMP/body" ubpipe-data)" "$(json_of "$TMP/cli-$D2.html" ubpipe-data)"
same "/reports/ID/download" "$(req "/reports/user_behavior/download?ds=$D2")" 200
cmp -s "$TMP/body" "$TMP/cli-$D2.html" && ok || ko "/reports/ID/download differs"
same "pipeline page" "$(req /pipelines/user_behavior)" 200
grep -q "<a href=\"$R\">user_behavior</a>" "$TMP/body" && ok || ko "the pipeline page links its report"
same "unknown report" "$(req /pipelines/user_behavior/reports/nope)" 404
same "unknown report (short)" "$(req /reports/nope)" 404
same "unknown pipeline" "$(req /pipelines/nope/reports/user_behavior)" 404
same "unknown ds" "$(req "$R?ds=2020-01-01")" 404
same "unknown ds download" "$(req "$R/download?ds=2020-01-01")" 404
grep -qi '^Content-Disposition' "$TMP/hdr" && ko "a 404 is an attachment" || ok
same "malformed ds" "$(req "$R?ds=2021-04-30%27%3E%3Cscript%3E")" 400
same "dotdot report" "$(req '/pipelines/user_behavior/reports/..%2F..%2Fetc')" 404
same "dotdot" "$(req '/pipelines/user_behavior/reports/../download')" 404
same "extra segment" "$(req "$R/download/x")" 404
same "password in replies" "$(grep -c "$PW" "$REPLIES")" 0

# 5. the browser
if command -v node >/dev/null 2>&1 && [ -x "$CHROMIUM" ]; then
  if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund >/dev/null 2>&1) || ko "npm ci in tests/browser"
  fi
  if UB_BASE=$URL UB_REPORT_PATH="$R" UB_DS=$D2 UB_OUT=$OUTDIR UB_CHROMIUM=$CHROMIUM \
       node tests/browser/serve_report.test.js > "$TMP/browser.out" 2>&1; then ok
  else ko "browser: $(grep -v '^ok:' "$TMP/browser.out" | head -20)"; fi
  cat "$TMP/browser.out"
else
  echo "test_serve_report: browser check skipped (no node or chromium)"
fi

# 6. the figure: 200 cached page requests
req "$R?ds=$D1" >/dev/null
for _ in $(seq 1 200); do curl -s -o /dev/null -w '%{time_total}\n' "$URL$R?ds=$D1"; done | sort -n |
  awk '{ t[NR] = $1 } END { printf "test_serve_report: cached page over %d requests: p50 %.1f ms, p99 %.1f ms\n",
       NR, t[int(NR * 0.5)] * 1000, t[int(NR * 0.99)] * 1000 }'

kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
same "SIGTERM exit" "$rc" 0
echo "test_serve_report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
