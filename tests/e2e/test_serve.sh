#!/bin/sh
# test_serve.sh — `ubpipe serve` end to end: a real daemon on 127.0.0.1 (port 0) with the reference
# pipeline on the local stack, driven with curl.
#  1. POST trigger and backfill reach the journal and the warehouse (metric = tests/e2e/ref_metric.py);
#  2. POST clear re-runs a task (its tries go up, the run ends in success again);
#  3. 401 without token, 403 with a wrong Origin or without CSRF, 403 in --read-only, 404 for unknown
#     names and '..'; security headers on every reply;
#  4. the connection's password appears in no reply;
#  5. a second daemon on the same state dir exits 2; SIGTERM makes the daemon exit 0;
#  6. the scheduler starts the due ds of a scheduled copy (catchup false: only the latest).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
SCALE=${TEST_SERVE_SCALE:-0.02}
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_serve: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-serve.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; rm -f pipelines/.test_serve.yaml
}
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_serve: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=$SCALE sh scripts/demo-data.sh >/dev/null || { echo "test_serve: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
# a password in the source connection (the local server trusts the socket, so it is not checked): it
# must appear in no reply
PW='Pw-e2e-Secret-9413'
export UBPIPE_CONN_SOURCE="host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_source password=$PW"
export UBPIPE_SERVE_TOKEN='test-serve-token-0123456789'
TOKEN=$UBPIPE_SERVE_TOKEN
Q() { sh scripts/stack.sh psql warehouse -X -q -A -t -F, -c "$1"; }
metric() { Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
              WHERE insert_date = '$1' ORDER BY customerid"; }
ref() { python3 tests/e2e/ref_metric.py --purchases "$DEMO/user_purchase.csv" --reviews "$DEMO/movie_review.csv" \
          --ds "$1" | tail -n +2; }
REPLIES=$TMP/replies      # every body the daemon sent, for the password check
: > "$REPLIES"

NSTART=0
start() {   # start ARGS...: the daemon in the background; sets PID and URL (fresh output files each
            # time, so a previous daemon's first line is never read)
  NSTART=$((NSTART + 1)); OUT=$TMP/out.$NSTART; ERR=$TMP/err.$NSTART
  "$UBPIPE" serve "$@" > "$OUT" 2> "$ERR" &
  PID=$!
  i=0
  while [ $i -lt 100 ] && ! grep -q '^serving on ' "$OUT" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
  URL=$(sed -n 's/^serving on //p' "$OUT" | head -1)
  [ -n "$URL" ] || { ko "serve did not start: $(cat "$ERR")"; return 1; }
}
stop() {    # stop: SIGTERM, and the exit status
  kill -TERM "$PID"; wait "$PID"; rc=$?; PID=; return $rc
}
# req METHOD PATH [curl args...]: prints the status; the body is in $TMP/body, headers in $TMP/hdr
req() {
  m=$1 p=$2; shift 2
  code=$(curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' -X "$m" "$@" "$URL$p")
  cat "$TMP/body" >> "$REPLIES"; echo >> "$REPLIES"
  echo "$code"
}
auth() { m=$1 p=$2; shift 2; req "$m" "$p" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
jq_() { python3 -c "import json,sys; d=json.load(open('$TMP/body')); print($1)"; }
# wait_run DS [tries-of-task TASK N]: until the run of DS ends (success or failed); prints its state
wait_run() {
  i=0
  while [ $i -lt 300 ]; do
    code=$(req GET "/api/v1/pipelines/user_behavior/runs/$1")
    if [ "$code" = 200 ]; then
      st=$(jq_ 'd["state"]')
      if [ -n "${2:-}" ]; then
        n=$(jq_ "len([t for t in d['tasks'] if t['id']=='$2'][0]['tries'])")
        [ "$n" -ge "$3" ] && [ "$st" = success -o "$st" = failed ] && { echo "$st"; return; }
      elif [ "$st" = success ] || [ "$st" = failed ]; then echo "$st"; return; fi
    fi
    sleep 0.5; i=$((i + 1))
  done
  echo timeout
}

P=pipelines/user_behavior.yaml
start "$P" --listen 127.0.0.1:0 --no-scheduler || exit 1
case $URL in http://127.0.0.1:[0-9]*) ok ;; *) ko "first line names the URL: [$URL]" ;; esac

# 3. auth and names
same "GET pipelines" "$(req GET /api/v1/pipelines)" 200
same "pipelines list" "$(jq_ '[p["pipeline"] for p in d]')" "['user_behavior']"
grep -qi "^Content-Security-Policy: default-src 'self'.*frame-ancestors 'none'" "$TMP/hdr" && ok || ko "CSP header"
grep -qi '^X-Content-Type-Options: nosniff' "$TMP/hdr" && ok || ko "nosniff header"
same "POST without token" "$(req POST /api/v1/pipelines/user_behavior/runs -d '{"ds":"2021-04-30"}')" 401
same "POST with a wrong token" "$(req POST /api/v1/pipelines/user_behavior/pause -H 'Authorization: Bearer nope')" 401
same "login with a wrong token" "$(req POST /login --data-urlencode token=wrong)" 401
same "login" "$(req POST /login --data-urlencode "token=$TOKEN")" 303
grep -qi '^Set-Cookie: ubpipe_session=[0-9a-f]\{64\}; HttpOnly; SameSite=Strict; Path=/' "$TMP/hdr" && ok ||
  ko "session cookie: $(grep -i set-cookie "$TMP/hdr")"
COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: \(ubpipe_session=[0-9a-f]*\);.*/\1/p' "$TMP/hdr" | tr -d '\r')
same "cookie POST from another Origin" "$(req POST /api/v1/pipelines/user_behavior/pause -H "Cookie: $COOKIE" \
  -H 'Origin: http://evil.example' -H 'X-Ubpipe-Csrf: x')" 403
same "cookie POST without CSRF" "$(req POST /api/v1/pipelines/user_behavior/pause -H "Cookie: $COOKIE" \
  -H "Origin: $URL")" 403
same "unknown pipeline" "$(req GET /api/v1/pipelines/nope/runs)" 404
same "dotdot pipeline" "$(req GET /api/v1/pipelines/../runs)" 404
same "encoded dotdot" "$(req GET '/api/v1/pipelines/user_behavior/runs/..%2F..%2F..%2Fetc/tasks/x/logs?try=1')" 404
same "unknown ds" "$(req GET /api/v1/pipelines/user_behavior/runs/2021-01-01)" 404
same "bad date" "$(req GET /api/v1/pipelines/user_behavior/runs/2021-13-45)" 404
grep -q '"error"' "$TMP/body" && ok || ko "404 body is {\"error\": ...}"
same "bad backfill" "$(auth POST /api/v1/pipelines/user_behavior/runs -d '{"from":"2021-04-02","to":"2021-04-01"}')" 400
same "body not JSON" "$(auth POST /api/v1/pipelines/user_behavior/runs -d 'ds=2021')" 400

# 1. trigger and backfill
D1=2021-04-30
same "trigger" "$(auth POST /api/v1/pipelines/user_behavior/runs -d "{\"ds\":\"$D1\"}")" 202
same "run $D1" "$(wait_run $D1)" success
same "journal of $D1" "$("$UBPIPE" status $P --ds $D1 --format json |
  python3 -c 'import json,sys; print(sorted({t["state"] for t in json.load(sys.stdin)["tasks"]}))')" "['success']"
got1=$(metric $D1)
[ -n "$got1" ] && [ "$got1" = "$(ref $D1)" ] && ok || ko "metric of triggered $D1 differs from ref_metric.py"
same "backfill" "$(auth POST /api/v1/pipelines/user_behavior/runs -d '{"from":"2021-03-20","to":"2021-03-21"}')" 202
same "backfill queued" "$(jq_ 'd["queued"]')" "['2021-03-20', '2021-03-21']"
for D in 2021-03-20 2021-03-21; do
  same "run $D" "$(wait_run $D)" success
  got=$(metric $D)
  [ -n "$got" ] && [ "$got" = "$(ref $D)" ] && ok || ko "metric of backfilled $D differs from ref_metric.py"
done
same "runs list" "$(req GET '/api/v1/pipelines/user_behavior/runs')" 200
same "runs newest first" "$(jq_ '[r["ds"] for r in d["runs"]], d["total"]')" "['2021-04-30', '2021-03-21', '2021-03-20'] 3"
same "runs paginated" "$(req GET '/api/v1/pipelines/user_behavior/runs?limit=1&offset=1&from=2021-03-01&to=2021-03-31')" 200
same "runs page" "$(jq_ '[r["ds"] for r in d["runs"]], d["total"]')" "['2021-03-20'] 2"
case $(jq_ 'd["runs"][0]["start"]') in 20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z) ok ;;
  *) ko "start is RFC 3339 UTC: $(jq_ 'd["runs"][0]["start"]')" ;; esac

# 2. clear the last task of the DAG: it runs again
same "dag" "$(req GET /api/v1/pipelines/user_behavior/dag)" 200
LAST=$(jq_ 'd["tasks"][-1]["id"]')
FIRST=$(jq_ 'd["tasks"][0]["id"]')
same "clear" "$(auth POST "/api/v1/pipelines/user_behavior/runs/$D1/tasks/$LAST/clear" -d '{"downstream":false}')" 202
same "cleared run" "$(wait_run $D1 "$LAST" 2)" success
same "first task not re-run" "$(jq_ "len([t for t in d['tasks'] if t['id']=='$FIRST'][0]['tries'])")" 1
same "metric after clear" "$(metric $D1)" "$got1"
same "clear of an unknown task" "$(auth POST "/api/v1/pipelines/user_behavior/runs/$D1/tasks/nope/clear" -d '{}')" 404
same "effects shown" "$(req GET "/api/v1/pipelines/user_behavior/runs/$D1")" 200
same "effects of the extract" "$(jq_ "[t for t in d['tasks'] if t['id']=='$FIRST'][0]['effects'][0]['kind']")" sql

# a CLI run of a ds in flight: the daemon's request waits for its lock, then resumes to nothing
D4=2021-04-10
"$UBPIPE" run $P --ds $D4 -q & CLI=$!
i=0; while [ $i -lt 200 ] && [ ! -s "$UBPIPE_HOME/runs/user_behavior/$D4/journal.jsonl" ]; do sleep 0.05; i=$((i + 1)); done
same "trigger of a ds the CLI runs" "$(auth POST /api/v1/pipelines/user_behavior/runs -d "{\"ds\":\"$D4\"}")" 202
wait $CLI; same "CLI run of $D4" $? 0
same "run $D4 after the daemon's turn" "$(wait_run $D4)" success
same "no task of $D4 ran twice" "$(jq_ "sorted({len(t['tries']) for t in d['tasks']})")" "[1]"
grep -q "another ubpipe is running" "$UBPIPE_HOME/serve/runs.log" 2>/dev/null && ko "the daemon raced the CLI's lock" || ok

# live events: a trigger shows as "event: run" on /api/v1/events
curl -s -N -m 6 -o "$TMP/events" "$URL/api/v1/events" & EV=$!
sleep 1
same "trigger (events)" "$(auth POST /api/v1/pipelines/user_behavior/runs -d "{\"ds\":\"$D1\"}")" 202
wait $EV
cat "$TMP/events" >> "$REPLIES"
grep -q "^data: {\"pipeline\":\"user_behavior\",\"ds\":\"$D1\",\"state\":\"queued\"}" "$TMP/events" && ok ||
  ko "events stream: $(head -c 300 "$TMP/events")"
grep -q '^event: run$' "$TMP/events" && ok || ko "events carry 'event: run'"
same "run $D1 after the no-op trigger" "$(wait_run $D1)" success
# bounded request bodies
head -c 100000 /dev/zero | tr '\0' 'x' > "$TMP/big"
same "body over 64 KiB" "$(auth POST /api/v1/pipelines/user_behavior/runs --data-binary @"$TMP/big")" 413

# logs
same "log" "$(req GET "/api/v1/pipelines/user_behavior/runs/$D1/tasks/$FIRST/logs?try=1")" 200
SIZE=$(sed -n 's/^X-Ubpipe-Log-Size: *\([0-9]*\).*/\1/p' "$TMP/hdr" | tr -d '\r')
[ -n "$SIZE" ] && [ "$SIZE" -gt 0 ] && ok || ko "log size header: [$SIZE]"
same "log range" "$(req GET "/api/v1/pipelines/user_behavior/runs/$D1/tasks/$FIRST/logs?try=1&offset=1&max=5")" 200
same "log range size" "$(wc -c < "$TMP/body" | tr -d ' ')" 5
same "log of a try that never was" "$(req GET "/api/v1/pipelines/user_behavior/runs/$D1/tasks/$FIRST/logs?try=9")" 404
code=$(curl -s -m 20 -o "$TMP/sse" -w '%{http_code}' \
  "$URL/api/v1/pipelines/user_behavior/runs/$D1/tasks/$FIRST/logs/stream?try=1")
cat "$TMP/sse" >> "$REPLIES"
same "log stream of a finished try" "$code" 200
grep -q '^event: end' "$TMP/sse" && ok || ko "log stream ends with event: end"
same "metrics" "$(req GET /metrics)" 200
grep -q '^ubpipe_runs{pipeline="user_behavior",state="success"} 4$' "$TMP/body" && ok || ko "metrics runs by state"
grep -q '^ubpipe_scheduler_last_tick_timestamp_seconds ' "$TMP/body" && ok || ko "metrics last tick"
same "pause" "$(auth POST /api/v1/pipelines/user_behavior/pause)" 200
same "paused" "$(req GET /api/v1/pipelines && jq_ 'd[0]["paused"]')" "200
True"
same "unpause" "$(auth POST /api/v1/pipelines/user_behavior/unpause)" 200

# 5. one daemon per state dir; SIGTERM exits 0
"$UBPIPE" serve "$P" --listen 127.0.0.1:0 > /dev/null 2> "$TMP/err2"
same "second daemon exit status" $? 2
grep -q 'another ubpipe serve' "$TMP/err2" && ok || ko "second daemon message: $(cat "$TMP/err2")"
stop
same "SIGTERM exit status" $? 0
[ -f "$UBPIPE_HOME/serve/paused/user_behavior" ] && ko "unpause persisted" || ok

# read-only, on IPv6 loopback (when the machine has it); the origin check takes the bracketed URL
if [ -f /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
  start "$P" --listen '[::1]:0' --read-only --no-scheduler || exit 1
  case $URL in "http://[::1]:"[0-9]*) ok ;; *) ko "first line names the IPv6 URL: [$URL]" ;; esac
  same "IPv6 GET" "$(req GET /api/v1/pipelines/user_behavior/runs -g)" 200
  same "IPv6 read-only POST" "$(auth POST /api/v1/pipelines/user_behavior/pause -g -H "Origin: $URL")" 403
else
  echo "test_serve: no IPv6 loopback here: the [::1] listen is not tested"
  start "$P" --listen 127.0.0.1:0 --read-only --no-scheduler || exit 1
fi
same "read-only POST" "$(auth POST /api/v1/pipelines/user_behavior/pause -g)" 403
same "read-only GET" "$(req GET /api/v1/pipelines/user_behavior/runs -g)" 200
stop
same "SIGTERM exit status (read-only)" $? 0
"$UBPIPE" serve "$P" --listen '::1:0' > /dev/null 2> "$TMP/err6"
same "unbracketed IPv6 exit status" $? 2
grep -q 'an IPv6 address goes in brackets' "$TMP/err6" && ok || ko "unbracketed IPv6 message: $(cat "$TMP/err6")"

# SIGTERM with a run in flight: after the grace period the run is cancelled, the daemon exits 0, and
# `ubpipe run` resumes the ds to the right numbers
D5=2021-04-12
# runs.log past 8 MiB is rotated when the next run starts
head -c 9000000 /dev/zero | tr '\0' 'x' > "$UBPIPE_HOME/serve/runs.log"
UBPIPE_SERVE_GRACE=0 start "$P" --listen 127.0.0.1:0 --no-scheduler || exit 1
same "trigger $D5" "$(auth POST /api/v1/pipelines/user_behavior/runs -d "{\"ds\":\"$D5\"}")" 202
for _ in $(seq 1 100); do [ -f "$UBPIPE_HOME/serve/runs.log.1" ] && break; sleep 0.05; done
same "runs.log rotated at the next run" "$(wc -c 2>/dev/null < "$UBPIPE_HOME/serve/runs.log.1")" 9000000
[ "$(wc -c < "$UBPIPE_HOME/serve/runs.log")" -lt 1000000 ] && ok || ko "runs.log after rotation is small"
i=0; st=queued
while [ $i -lt 200 ] && [ "$st" != running ]; do
  sleep 0.1; [ "$(req GET /api/v1/pipelines/user_behavior/runs/$D5)" = 200 ] && st=$(jq_ 'd["state"]'); i=$((i + 1)); done
same "run $D5 in flight" "$st" running
stop
same "SIGTERM exit status with a run in flight" $? 0
[ -f "$UBPIPE_HOME/runs/user_behavior/$D5/lock" ] && flock -n "$UBPIPE_HOME/runs/user_behavior/$D5/lock" true && ok ||
  ko "the run of $D5 still holds its lock after the daemon exited"
if "$UBPIPE" run $P --ds $D5 -q; then ok; else ko "resume of $D5 after the daemon stopped"; fi
got=$(metric $D5)
[ -n "$got" ] && [ "$got" = "$(ref $D5)" ] && ok || ko "metric of resumed $D5 differs from ref_metric.py"

# 6. the scheduler: a scheduled copy, catchup false: only the latest due ds runs
TODAY=$(date -u +%Y-%m-%d)
START=$(date -u -d "$TODAY - 3 days" +%Y-%m-%d)
LATEST=$(date -u -d "$TODAY - 1 day" +%Y-%m-%d)
sed -e "s/^start_date: .*/start_date: $START\nschedule: \"@daily\"\ncatchup: false\nmax_active_runs: 1/" $P \
  > pipelines/.test_serve.yaml
# the latest ds ran only its first task from the command line: incomplete, so due again
"$UBPIPE" run pipelines/.test_serve.yaml --ds "$LATEST" -q --only extract_user_purchase_data ||
  ko "partial run of $LATEST"
# paused (persisted in the state dir): the scheduler sees the ds due and holds it
mkdir -p "$UBPIPE_HOME/serve/paused" && : > "$UBPIPE_HOME/serve/paused/user_behavior"
start pipelines/.test_serve.yaml --listen 127.0.0.1:0 || exit 1
same "a partial run is incomplete" "$(req GET "/api/v1/pipelines/user_behavior/runs/$LATEST" && jq_ 'd["state"]')" "200
incomplete"
same "an incomplete run is counted" "$(req GET /metrics && grep -c '^ubpipe_runs{pipeline="user_behavior",state="incomplete"} 1$' "$TMP/body")" "200
1"
i=0; held=
while [ $i -lt 100 ] && [ -z "$held" ]; do
  req GET /metrics > /dev/null; held=$(grep '^ubpipe_runs_due_not_started{pipeline="user_behavior"} 1$' "$TMP/body")
  sleep 0.1; i=$((i + 1)); done
[ -n "$held" ] && ok || ko "paused: the due ds is counted as held"
same "paused: nothing started" "$(req GET "/api/v1/pipelines/user_behavior/runs?from=$START" && jq_ 'd["total"], d["runs"][0]["state"]')" "200
1 incomplete"
same "paused shown" "$(req GET /api/v1/pipelines && jq_ 'd[0]["paused"]')" "200
True"
same "unpause the scheduled copy" "$(auth POST /api/v1/pipelines/user_behavior/unpause)" 200
same "scheduled run of $LATEST resumes the incomplete one" "$(wait_run "$LATEST")" success
same "the resumed run did not redo the first task" \
  "$(grep -c '"task":"extract_user_purchase_data","state":"running"' "$UBPIPE_HOME/runs/user_behavior/$LATEST/journal.jsonl")" 1
same "only the latest ds" "$(req GET /api/v1/pipelines/user_behavior/runs?from=$START && jq_ '[r["ds"] for r in d["runs"]]')" \
  "200
['$LATEST']"
same "schedule shown" "$(req GET /api/v1/pipelines && jq_ 'd[0]["schedule"], d[0]["next_ds"]')" "200
@daily $TODAY"
# a broken edit keeps the last good spec and shows the error
sleep 1
printf 'tasks: [\n' >> pipelines/.test_serve.yaml
i=0; err=None
while [ $i -lt 30 ] && [ "$err" = None ]; do sleep 0.3; req GET /api/v1/pipelines > /dev/null; err=$(jq_ 'd[0]["error"]'); i=$((i + 1)); done
case $err in *.test_serve.yaml:*) ok ;; *) ko "spec error shown with its location: [$err]" ;; esac
same "last good spec still served" "$(req GET /api/v1/pipelines/user_behavior/dag)" 200
stop
same "SIGTERM exit status (scheduler)" $? 0

# 4. no secret in any reply
if grep -qF "$PW" "$REPLIES"; then ko "the connection password appears in a reply"; else ok; fi
if grep -qF "$TOKEN" "$REPLIES"; then ko "the token appears in a reply"; else ok; fi

echo "test_serve: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
