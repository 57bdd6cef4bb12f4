#!/bin/sh
# serve_bench.sh — `ubpipe serve` with 1,000 ds × the reference pipeline's 10 tasks in the journal
# (written directly, no stack needed): p50/p99 of GET .../runs (one page of 50) and of the grid page,
# the daemon's RSS, its CPU over 10 idle seconds, and paging a 100 MB log.  Prints figures; not a test.
# Usage: sh tests/bench/serve_bench.sh [N_REQUESTS]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
N=${1:-200}
TMP=$(mktemp -d /tmp/ubpipe-serve-bench.XXXXXX) || exit 1
export UBPIPE_HOME=$TMP/home
export UBPIPE_SERVE_TOKEN=bench-token-0123456789abcdef
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM

python3 - "$UBPIPE_HOME" <<'EOF'
import datetime, json, os, sys
home = sys.argv[1]
tasks = ["extract_user_purchase_data", "user_purchase_to_stage_data_lake",
         "user_purchase_stage_data_lake_to_stage_tbl", "movie_review_to_raw_data_lake", "spark_script_to_s3",
         "start_emr_movie_classification_script", "wait_for_movie_classification_transformation",
         "movie_review_stage_to_stage_tbl", "generate_user_behavior_metric", "end_of_data_pipeline"]
d0 = datetime.date(2021, 3, 2)
for k in range(1000):
    ds = (d0 + datetime.timedelta(days=k)).isoformat()
    d = os.path.join(home, "runs", "user_behavior", ds)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    t = 1.6e9 + k * 86400
    with open(os.path.join(d, "journal.jsonl"), "w") as f:
        for i, task in enumerate(tasks):
            for st in ("queued", "running", "success"):
                f.write(json.dumps({"ts": t, "task": task, "state": st, "try": 1}) + "\n")
                t += 1.5
# one 100 MB log
ds = (d0 + datetime.timedelta(days=999)).isoformat()
with open(os.path.join(home, "runs", "user_behavior", ds, "logs", tasks[0] + ".1.log"), "w") as f:
    line = "2021-01-01T00:00:00Z extract: copied 1000 rows of user_purchase into the stage file\n"
    f.write(line * (100 * 1024 * 1024 // len(line)))
EOF

"$UBPIPE" serve pipelines/user_behavior.yaml --listen 127.0.0.1:0 --no-scheduler > "$TMP/out" 2> "$TMP/err" &
PID=$!
i=0; while [ $i -lt 100 ] && ! grep -q '^serving on ' "$TMP/out"; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^serving on //p' "$TMP/out")
[ -n "$URL" ] || { echo "serve_bench: serve did not start: $(cat "$TMP/err")"; exit 1; }
sleep 2    # the first ticks read every journal

pct() {    # pct PATH: p50 and p99 in ms over N requests
  for _ in $(seq "$N"); do curl -s -o /dev/null -w '%{time_total}\n' "$URL$1"; done |
    sort -n | awk '{ a[NR] = $1 * 1000 } END { printf "p50 %.1f ms  p99 %.1f ms  (n=%d)\n", a[int(NR * 0.5)], a[int(NR * 0.99)], NR }'
}
echo "GET /api/v1/pipelines/user_behavior/runs   $(pct /api/v1/pipelines/user_behavior/runs)"
echo "GET /pipelines/user_behavior (grid)        $(pct /pipelines/user_behavior)"
echo "GET /api/v1/pipelines                      $(pct /api/v1/pipelines)"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")
echo "daemon RSS                                 $((rss / 1024)) MB"
t0=$(awk '{ print $14 + $15 }' "/proc/$PID/stat"); sleep 10; t1=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
hz=$(getconf CLK_TCK)
echo "idle CPU over 10 s                         $(echo "scale=2; ($t1 - $t0) * 100 / $hz / 10" | bc -l) %"
LOG=/api/v1/pipelines/user_behavior/runs/2023-11-26/tasks/extract_user_purchase_data/logs
curl -s -D "$TMP/hdr" -o /dev/null -w "" "$URL$LOG?try=1&offset=0&max=1048576"
size=$(sed -n 's/^X-Ubpipe-Log-Size: *\([0-9]*\).*/\1/p' "$TMP/hdr" | tr -d '\r')
echo "100 MB log: 1 MiB page at offset 50 MB     $(curl -s -o /dev/null -w '%{time_total}' "$URL$LOG?try=1&offset=52428800&max=1048576" | awk '{ printf "%.1f ms", $1 * 1000 }') (log size $size)"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")
echo "daemon RSS after paging the log            $((rss / 1024)) MB"
