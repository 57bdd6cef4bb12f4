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
#  6. a lake.put to that S3 with `timeout: 3s`: the task timeout stops the request in flight;
#  7. a PostgreSQL stand-in that takes the login and then answers nothing (not even a cancel
#     request): with `timeout: 3s` the try cancels its session setup, gives the connection up
#     5 s later and ends itself with that reason, before the scheduler's SIGKILL (10 s grace);
#  8. the same for a pg.extract, whose COPY never starts.
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
SRV2=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; [ -n "$SRV2" ] && kill "$SRV2" 2>/dev/null; rm -rf "$TMP"; }
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

# 7. a server that takes the login and then says nothing, not even to a cancel request
# (mute: nothing answered; set: the session's SET statements answered, nothing else)
mute_pg() {   # MODE: starts the stand-in, sets SRV2 and PORT2
rm -f "$TMP/port2"
python3 - "$TMP/port2" "$TMP/cancels" "$1" <<'PY' &
import os, socket, struct, sys, threading
def frame(t, body): return t + struct.pack('!I', len(body) + 4) + body
def exact(c, n):
    b = b''
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d: raise EOFError
        b += d
    return b
held = []
def serve(c):
    try:
        while True:
            n, code = struct.unpack('!II', exact(c, 8))
            exact(c, n - 8)
            if code == 80877103: c.sendall(b'N'); continue          # SSLRequest: no TLS
            if code == 80877102:                                    # CancelRequest: never answered
                with open(sys.argv[2], 'a') as f: f.write('cancel\n')
                held.append(c); return
            break
        out = frame(b'R', struct.pack('!I', 0))                     # AuthenticationOk
        for k, v in (('server_version', '15.0'), ('server_encoding', 'UTF8'), ('client_encoding', 'UTF8'),
                     ('standard_conforming_strings', 'on'), ('DateStyle', 'ISO, MDY'), ('integer_datetimes', 'on')):
            out += frame(b'S', k.encode() + b'\0' + v.encode() + b'\0')
        out += frame(b'K', struct.pack('!II', 4242, 99)) + frame(b'Z', b'I')
        c.sendall(out)
        while True:                                                 # queries: only SET gets answers
            t = exact(c, 1); n, = struct.unpack('!I', exact(c, 4)); q = exact(c, n - 4)
            if t == b'Q' and sys.argv[3] == 'set' and q.lstrip().upper().startswith(b'SET'):
                parts = [x for x in q.rstrip(b'\0').split(b';') if x.strip()]
                c.sendall(b''.join(frame(b'C', b'SET\0') for _ in parts) + frame(b'Z', b'I'))
    except Exception:
        pass
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0)); s.listen(16)
open(sys.argv[1] + '.tmp', 'w').write(str(s.getsockname()[1])); os.rename(sys.argv[1] + '.tmp', sys.argv[1])
while True:
    c, _ = s.accept(); held.append(c); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
SRV2=$!
i=0; while [ ! -s "$TMP/port2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT2=$(cat "$TMP/port2")
[ -n "$PORT2" ] || ko "the mute PostgreSQL stand-in did not start"
}
mute_pg mute
cat > "$TMP/t7.yaml" <<YAML
pipeline: hang7
defaults: { retries: 0 }
profiles:
  local:
    warehouse: { dsn: "host=127.0.0.1 port=$PORT2 dbname=x user=u sslmode=disable", dialect: postgres }
tasks:
  q: { op: sql, sql: sql/one.sql, timeout: 3s }
  x: { op: pg.extract, conn: warehouse, sql: sql/one.sql, to: "$TMP/x.csv", timeout: 3s }
YAML
out=$(run "$TMP/t7.yaml" 2>&1); rc=$?
same "mute server: exit" "$rc" 1
has "mute server: the timeout" "$out" "timed out after 3s"
log=$(cat "$UBPIPE_HOME/runs/hang7/2021-05-01/logs/q.1.log" 2>&1)
has "mute server: the try ended itself" "$log" \
  "cannot set up session on 'warehouse': statement cancelled, and the server did not end it within 5 s"
hasnt "mute server: not killed by the scheduler" "$out" "SIGKILL"
[ "$(grep -c cancel "$TMP/cancels" 2>/dev/null)" -ge 1 ] && ok || ko "mute server: no cancel request was sent"
[ -e "$TMP/x.csv" ] && ko "mute server: the extract left a file" || ok
kill "$SRV2" 2>/dev/null

# 8. the session is set up, then the statement (the sql task's, the extract's COPY) is never answered
mute_pg set
sed -i "s/port=[0-9]*/port=$PORT2/" "$TMP/t7.yaml"
out=$(run "$TMP/t7.yaml" 2>&1); rc=$?
same "statement never answered: exit" "$rc" 1
hasnt "statement never answered: not killed by the scheduler" "$out" "SIGKILL"
log=$(cat "$UBPIPE_HOME/runs/hang7/2021-05-01/logs/q.2.log" 2>&1)
has "statement never answered: sql ended itself" "$log" "statement cancelled, and the server did not end it within 5 s"
log=$(cat "$UBPIPE_HOME/runs/hang7/2021-05-01/logs/x.2.log" 2>&1)
has "statement never answered: the extract ended itself" "$log" \
  "extract failed: statement cancelled, and the server did not end it within 5 s"
[ -e "$TMP/x.csv" ] && ko "statement never answered: the extract left a file" || ok
kill "$SRV2" 2>/dev/null

echo "test_connect_hang: $pass passed, $fail failed"
[ "$fail" = 0 ]
