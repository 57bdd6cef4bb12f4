#!/bin/sh
# test_connect_hang.sh — connections that cannot hang a run (issue 14 item 2).  The warehouse is a TCP
# server on 127.0.0.1 that accepts and never answers (python3); every run is under `timeout 60`
# so a hang fails the test instead of stalling it:
#  1. task timeout 3s, default connect_timeout: the task's timeout ends the try stuck in connect
#     (not the 10 s connect_timeout), exit 1;
#  2. connect_timeout=2 in the dsn, no task timeout: the connect gives up with a clear message, exit 1;
#  3. the default connect_timeout (10 s) applies with nothing configured;
#  4. SIGTERM during connect cancels the run, exit 1;
#  5. HTTP (S3) against the same server: an answer that never comes ends each attempt at the
#     low-speed bound (UBPIPE_HTTP_LOW_SPEED_TIME=2 here), exit 1 with curl's reason;
#  6. a lake.put to that S3 with `timeout: 3s`: the task timeout stops the request in flight.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_connect_hang: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }
has() { case $2 in *"$3"*) ok ;; *) ko "$1: no [$3] in: $2" ;; esac; }
hasnt() { case $2 in *"$3"*) ko "$1: [$3] in: $2" ;; *) ok ;; esac; }

TMP=$(mktemp -d /tmp/ubpipe-test-hang.XXXXXX) || exit 1
export UBPIPE_HOME="$TMP/home"
SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

# the silent server: accepts every connection, reads nothing, answers nothing
python3 - "$TMP/port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0)); s.listen(16)
open(sys.argv[1] + '.tmp', 'w').write(str(s.getsockname()[1])); __import__('os').rename(sys.argv[1] + '.tmp', sys.argv[1])
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
SRV=$!
i=0; while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$TMP/port")
[ -n "$PORT" ] || { echo "test_connect_hang: the silent server did not start"; exit 1; }
unset PGCONNECT_TIMEOUT

mkdir -p "$TMP/sql"
echo 'SELECT 1;' > "$TMP/sql/one.sql"
spec() {   # file dsn-extra task-extra
  cat > "$1" <<YAML
pipeline: hang
defaults: { retries: 0 }
profiles:
  local:
    warehouse: { dsn: "host=127.0.0.1 port=$PORT dbname=x user=u sslmode=disable $2", dialect: postgres }
tasks:
  q: { op: sql, sql: sql/one.sql $3 }
YAML
}
run() { timeout 60 "$UBPIPE" run "$@" --ds 2021-05-01 --rerun; }

# 1. the task timeout interrupts the connect
spec "$TMP/t1.yaml" "" ", timeout: 3s"
out=$(run "$TMP/t1.yaml" 2>&1); rc=$?
same "task timeout: exit" "$rc" 1
has "task timeout: message" "$out" "timed out after 3s"
log=$(cat "$UBPIPE_HOME/runs/hang/2021-05-01/logs/q.1.log" 2>&1)
has "task timeout: the connect saw it" "$log" "cannot connect to 'warehouse': stopped while connecting"
hasnt "task timeout: not the connect_timeout" "$out" "connect_timeout=10"
hasnt "task timeout: not killed by the test" "$rc" 124

# 2. connect_timeout in the dsn
spec "$TMP/t2.yaml" "connect_timeout=2" ""
out=$(run "$TMP/t2.yaml" 2>&1); rc=$?
same "connect_timeout: exit" "$rc" 1
has "connect_timeout: message" "$out" "no answer within connect_timeout=2 s"

# 3. the default connect_timeout
spec "$TMP/t3.yaml" "" ""
out=$(run "$TMP/t3.yaml" 2>&1); rc=$?
same "default: exit" "$rc" 1
has "default: message" "$out" "no answer within connect_timeout=10 s"

# 4. SIGTERM while connecting
timeout 60 "$UBPIPE" run "$TMP/t3.yaml" --ds 2021-05-02 >"$TMP/t4.out" 2>&1 &
RUN=$!
i=0; while ! grep -q "start" "$TMP/t4.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -TERM "$RUN"
wait "$RUN"; rc=$?
same "SIGTERM: exit" "$rc" 1
out=$(cat "$TMP/t4.out")
has "SIGTERM: cancelled" "$out" "cancelled"
hasnt "SIGTERM: not the connect_timeout" "$out" "connect_timeout=10"

# 5. HTTP: no first byte
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
out=$(UBPIPE_HTTP_LOW_SPEED_TIME=2 timeout 60 "$UBPIPE" s3 ls s3://bucket/ 2>&1); rc=$?
same "http low speed: exit" "$rc" 1
has "http low speed: message" "$out" "Operation too slow"

# 6. HTTP: the task timeout stops a request in flight
echo 'a,b' > "$TMP/f.csv"
cat > "$TMP/t6.yaml" <<YAML
pipeline: hang6
defaults: { retries: 0 }
profiles:
  local:
    lake: "s3://bucket/lake"
tasks:
  put: { op: lake.put, src: f.csv, dst: "raw:f.csv", timeout: 3s }
YAML
out=$(run "$TMP/t6.yaml" 2>&1); rc=$?
same "http task timeout: exit" "$rc" 1
has "http task timeout: message" "$out" "timed out after 3s"
log=$(cat "$UBPIPE_HOME/runs/hang6/2021-05-01/logs/put.1.log" 2>&1)
has "http task timeout: the request saw it" "$log" "stopped by a cancel"

echo "test_connect_hang: $pass passed, $fail failed"
[ "$fail" = 0 ]
