#!/bin/sh
# test_lineage.sh — OpenLineage events of the reference pipeline (issue 13), on the local stack.
#
# A receiver on 127.0.0.1 (python3 http.server) gets START and COMPLETE for every task, each event valid
# against ../shared/vectors/openlineage/OpenLineage.json (python3-jsonschema, Draft 2020-12), with the
# bearer token, the parent run and the nominal time; generate_user_behavior_metric's inputs are the two
# staging tables and its output user_behavior_metric (postgres://HOST:PORT, DB.SCHEMA.TABLE).
# A refusing and a hanging receiver leave the run's result and metric unchanged, with a warning in the
# task log; the file transport writes the same events; a failed try sends FAIL and a cancelled one ABORT,
# each with the error message facet.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
SCHEMA=${OPENLINEAGE_SCHEMA:-$ROOT/../shared/vectors/openlineage/OpenLineage.json}
[ -f "$SCHEMA" ] || SCHEMA=/work/shared/vectors/openlineage/OpenLineage.json
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_lineage: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-lineage.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
python3 -c 'import jsonschema' 2>/dev/null || { echo "test_lineage: python3-jsonschema is missing"; exit 1; }

sh scripts/stack.sh start >/dev/null || { echo "test_lineage: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=0.02 sh scripts/demo-data.sh >/dev/null || { echo "test_lineage: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
D=2021-04-30
SPEC=pipelines/user_behavior.yaml
Q() { sh scripts/stack.sh psql warehouse -X -q -A -t -F, -c "$1"; }
metric() { Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
              WHERE insert_date = '$D' ORDER BY customerid"; }

# receiver: mode ok (201, records body and Authorization), hang (accepts, never answers)
cat > "$TMP/recv.py" <<'EOF'
import http.server, json, socket, sys, time
mode, portfile, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "hang":
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
    open(portfile, "w").write(str(s.getsockname()[1]))
    conns = []
    while True:
        c, _ = s.accept(); conns.append(c)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                "event": json.loads(body)}) + "\n")
        self.send_response(201); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(srv.server_address[1]))
srv.serve_forever()
EOF
start_recv() {   # mode -> sets PORT
  rm -f "$TMP/port"
  python3 "$TMP/recv.py" "$1" "$TMP/port" "$TMP/received.jsonl" & PIDS="$PIDS $!"
  i=0; while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  PORT=$(cat "$TMP/port")
}

# checks a JSON-lines file of events (key: "event" inside each line when $2 = wrapped)
check_events() {
  python3 - "$1" "$2" "$SCHEMA" <<'EOF'
import json, os, sys, jsonschema
path, wrapped, schema = sys.argv[1], sys.argv[2] == "wrapped", json.load(open(sys.argv[3]))
v = jsonschema.Draft202012Validator(schema)
# each facet against its own schema too (registered by $id, as the vectors' README says)
from referencing import Registry, Resource
fdir = os.path.join(os.path.dirname(sys.argv[3]), "facets")
fschemas = {f[:-5]: json.load(open(os.path.join(fdir, f))) for f in os.listdir(fdir) if f.endswith(".json")}
reg = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in list(fschemas.values()) + [schema]])
def facet_errors(name, key, facet):
    fs = fschemas.get(name)
    if fs is None:
        return ["no facet schema " + name]
    return [e.message[:160] for e in jsonschema.Draft202012Validator(fs, registry=reg).iter_errors({key: facet})]
FACETS = {"parent": "ParentRunFacet", "nominalTime": "NominalTimeRunFacet", "errorMessage": "ErrorMessageRunFacet",
          "sql": "SQLJobFacet", "schema": "SchemaDatasetFacet", "outputStatistics": "OutputStatisticsOutputDatasetFacet"}
def all_facets(e):
    for k, f in e["run"].get("facets", {}).items(): yield k, f
    for k, f in e["job"].get("facets", {}).items(): yield k, f
    for d in e.get("inputs", []) + e.get("outputs", []):
        for k, f in d.get("facets", {}).items(): yield k, f
        for k, f in d.get("outputFacets", {}).items(): yield k, f
def cols(d):   # "name:type" of the schema facet's fields, in ordinal order
    fs = d.get("facets", {}).get("schema", {}).get("fields")
    if fs is None: return None
    return [f["name"] + (":" + f["type"] if "type" in f else "") for f in sorted(fs, key=lambda f: f["ordinal_position"])]
lines = [json.loads(l) for l in open(path)]
evs = [l["event"] for l in lines] if wrapped else lines
problems = []
if wrapped:
    for l in lines:
        if l["path"] != "/api/v1/lineage": problems.append("path " + l["path"])
        if l["auth"] != "Bearer t0ken": problems.append("auth %r" % l["auth"])
for e in evs:
    for err in v.iter_errors(e):
        problems.append("%s %s: %s" % (e["job"]["name"], e["eventType"], err.message[:160]))
    for k, f in all_facets(e):
        for err in facet_errors(FACETS.get(k, k), k, f):
            problems.append("%s %s facet %s: %s" % (e["job"]["name"], e["eventType"], k, err))
tasks = {}
parents = set()
for e in evs:
    tasks.setdefault(e["job"]["name"], []).append(e["eventType"])
    parents.add(e["run"]["facets"]["parent"]["run"]["runId"])
    if e["job"]["namespace"] != "ubtest": problems.append("namespace " + e["job"]["namespace"])
    if e["run"]["facets"]["nominalTime"]["nominalStartTime"] != "2021-04-30T00:00:00.000Z": problems.append("nominal")
print("tasks", len(tasks), "all START,COMPLETE", all(sorted(t) == ["COMPLETE", "START"] for t in tasks.values()),
      "parents", len(parents))
m = [e for e in evs if e["job"]["name"] == "user_behavior.generate_user_behavior_metric" and e["eventType"] == "COMPLETE"]
if m:
    print("metric in", sorted(d["name"].split(".", 1)[1] for d in m[0]["inputs"]),
          "out", [d["name"].split(".", 1)[1] for d in m[0]["outputs"]],
          "ns", sorted({d["namespace"].split(":")[0] for d in m[0]["inputs"] + m[0]["outputs"]}),
          "sql", "sql" in m[0]["job"]["facets"])
x = [e for e in evs if e["job"]["name"] == "user_behavior.extract_user_purchase_data" and e["eventType"] == "COMPLETE"]
if x:
    st = x[0]["outputs"][-1].get("outputFacets", {}).get("outputStatistics", {})
    print("extract rows", st.get("rowCount", 0) > 0, "from", [d["name"].split(".", 1)[1] for d in x[0]["inputs"]])
s = [e for e in evs if e["job"]["name"] == "user_behavior.start_emr_movie_classification_script" and e["eventType"] == "COMPLETE"]
if s:
    print("steps", [d["name"].split("/lake/", 1)[-1] for d in s[0]["inputs"]], [d["name"].split("/lake/", 1)[-1] for d in s[0]["outputs"]])
def complete(task):
    return [e for e in evs if e["job"]["name"] == "user_behavior." + task and e["eventType"] == "COMPLETE"]
if m:
    print("metric schema", cols(m[0]["outputs"][0]), "in schemas",
          sorted(d["name"].split(".", 1)[1] + "=" + ",".join(cols(d) or []) for d in m[0]["inputs"]))
if x:
    print("extract schema", cols(x[0]["outputs"][-1]))
for task in ("user_purchase_stage_data_lake_to_stage_tbl", "movie_review_stage_to_stage_tbl"):
    for e in complete(task):
        print(task, "in", [d["name"].split("/lake/", 1)[-1] + "=" + ",".join(cols(d) or []) for d in e["inputs"]],
              "out", [d["name"].split(".", 1)[1] + "=" + ",".join(cols(d) or []) for d in e["outputs"]])
starts = [e for e in evs if e["eventType"] == "START" and any("facets" in d for d in e["inputs"] + e["outputs"])]
print("schema on START", len(starts))
for p in problems[:5]: print("problem", p)
EOF
}
WANT_METRIC="metric in ['spectrum.classified_movie_review', 'spectrum.user_purchase_staging'] out ['public.user_behavior_metric'] ns ['postgres'] sql True"

# 1. a receiver that answers (every task of the plan sends its events)
NTASKS=$("$UBPIPE" plan $SPEC --ds $D --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tasks"]))')
start_recv ok
export OPENLINEAGE_NAMESPACE=ubtest
if OPENLINEAGE_URL="http://127.0.0.1:$PORT" OPENLINEAGE_API_KEY=t0ken \
   "$UBPIPE" run $SPEC --ds $D -q -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "run with a receiver failed"; fi
want=$(metric)
[ -n "$want" ] && ok || ko "no metric rows"
res=$(check_events "$TMP/received.jsonl" wrapped)
case $res in *"tasks $NTASKS all START,COMPLETE True parents 1"*) ok ;; *) ko "received events: $res" ;; esac
case $res in *"$WANT_METRIC"*) ok ;; *) ko "generate_user_behavior_metric datasets: $res" ;; esac
case $res in *"extract rows True from ['retail.user_purchase']"*) ok ;; *) ko "extract datasets and statistics: $res" ;; esac
case $res in *"steps ['raw/movie_review/$D/'] ['stage/movie_review/$D/']"*) ok ;; *) ko "EMR steps datasets: $res" ;; esac
case $res in *problem*) ko "invalid events: $res" ;; *) ok ;; esac
# the schema facets: the columns of the tables from the warehouse's catalog (sql/postgres/warehouse.sql), of
# the extract and the classified reviews from their CSV headers (sql/extract_user_purchase.sql, the classifier)
STAGING="invoice_number:character varying,stock_code:character varying,detail:character varying,quantity:integer,invoice_date:timestamp without time zone,unit_price:numeric,customer_id:integer,country:character varying,insert_date:date"
REVIEWS="cid:character varying,positive_review:boolean,insert_date:date"
case $res in *"metric schema ['customerid:integer', 'amount_spent:numeric', 'review_score:integer', 'review_count:integer', 'insert_date:date'] in schemas ['spectrum.classified_movie_review=$REVIEWS', 'spectrum.user_purchase_staging=$STAGING']"*) ok ;;
  *) ko "schema facets of generate_user_behavior_metric: $res" ;; esac
case $res in *"extract schema ['invoice_number', 'stock_code', 'detail', 'quantity', 'invoice_date', 'unit_price', 'customer_id', 'country']"*) ok ;;
  *) ko "schema facet of the extract: $res" ;; esac
case $res in *"user_purchase_stage_data_lake_to_stage_tbl in ['stage/user_purchase/$D/=invoice_number,stock_code,detail,quantity,invoice_date,unit_price,customer_id,country'] out ['spectrum.user_purchase_staging=$STAGING']"*) ok ;;
  *) ko "schema facets of the purchases' load: $res" ;; esac
case $res in *"movie_review_stage_to_stage_tbl in ['stage/movie_review/$D/=cid,positive_review,insert_date'] out ['spectrum.classified_movie_review=$REVIEWS']"*) ok ;;
  *) ko "schema facets of the classified reviews' load: $res" ;; esac
case $res in *"schema on START 0"*) ok ;; *) ko "a START event claims columns before the task ran: $res" ;; esac

# the time of a run without a receiver (the baseline of 2. and 3.), two workers as in 2. and 3.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
"$UBPIPE" run $SPEC --ds $D -q -j 2 --rerun -p movie_review_file="$DEMO/movie_review.csv" || ko "run without a receiver failed"
base=$(( $(ms) - t0 ))
# What a receiver that is down may cost a run: each try gives up on its first event after three sends
# (lineage.c: 0.5 s connect / 1 s total timeouts, 0.1 s and 0.2 s between them: 3.3 s at most), the
# scheduler then sends nothing more; the tries already running when the first one gave up (at most
# the 2 workers, each with one wait) are the whole cost.  1.5 s of slack for the machine.
BOUND_REFUSE=$(( 2 * 300 + 1500 )) BOUND_HANG=$(( 2 * 3300 + 1500 ))

# 2. a receiver that refuses connections: same result, a warning in the task log, the time unchanged
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' > "$TMP/closed"
t0=$(ms)
if OPENLINEAGE_URL="http://127.0.0.1:$(cat "$TMP/closed")" \
   "$UBPIPE" run $SPEC --ds $D -q -j 2 --rerun -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "run with a refusing receiver failed"; fi
refuse=$(( $(ms) - t0 ))
same "metric with a refusing receiver" "$(metric)" "$want"
grep -l 'warning: OpenLineage' "$UBPIPE_HOME"/runs/user_behavior/$D/logs/*.log >/dev/null 2>&1 && ok ||
  ko "no warning in the task logs with a refusing receiver"
[ $((refuse - base)) -le $BOUND_REFUSE ] && ok ||
  ko "a refusing receiver cost the run $((refuse - base)) ms (${refuse} ms against ${base} ms), more than $BOUND_REFUSE"

# 3. a receiver that accepts and never answers
start_recv hang
t0=$(ms)
if OPENLINEAGE_URL="http://127.0.0.1:$PORT" \
   "$UBPIPE" run $SPEC --ds $D -q -j 2 --rerun -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "run with a hanging receiver failed"; fi
hang=$(( $(ms) - t0 ))
same "metric with a hanging receiver" "$(metric)" "$want"
[ $((hang - base)) -le $BOUND_HANG ] && ok ||
  ko "a hanging receiver cost the run $((hang - base)) ms (${hang} ms against ${base} ms), more than $BOUND_HANG"
echo "test_lineage: run without a receiver ${base} ms, refusing ${refuse} ms, hanging ${hang} ms"

# 4. the file transport: the same events as the HTTP receiver got in 1. (each event's job, type, datasets
# with their facets' names, run and job facets' names; run ids and times differ)
if OPENLINEAGE__TRANSPORT__TYPE=file OPENLINEAGE__TRANSPORT__LOG_FILE_PATH="$TMP/events.jsonl" \
   "$UBPIPE" run $SPEC --ds $D -q --rerun -p movie_review_file="$DEMO/movie_review.csv"; then ok; else ko "run with the file transport failed"; fi
res=$(check_events "$TMP/events.jsonl" plain)
case $res in *"tasks $NTASKS all START,COMPLETE True parents 1"*"$WANT_METRIC"*) ok ;; *) ko "file events: $res" ;; esac
case $res in *problem*) ko "invalid file events: $res" ;; *) ok ;; esac
same "the file transport writes the events the receiver got" "$(python3 - "$TMP/received.jsonl" "$TMP/events.jsonl" <<'EOF'
import json, sys
def shape(e):
    ds = lambda l: sorted((d["namespace"], d["name"], sorted(d.get("facets", {})), sorted(d.get("outputFacets", {}))) for d in l)
    return json.dumps([e["job"]["name"], e["eventType"], ds(e["inputs"]), ds(e["outputs"]),
                       sorted(e["run"]["facets"]), sorted(e["job"]["facets"]),
                       [d.get("facets", {}).get("schema", {}).get("fields") for d in e["outputs"]]])
http = sorted(shape(json.loads(l)["event"]) for l in open(sys.argv[1]))
file = sorted(shape(json.loads(l)) for l in open(sys.argv[2]))
print("same" if http == file and http else "differ: %d http, %d file; first difference %s" %
      (len(http), len(file), next((a + " / " + b for a, b in zip(http, file) if a != b), "-")))
EOF
)" "same"

# 5. a failing task sends FAIL with the error message facet
: > "$TMP/events2.jsonl"
printf 'a,b\n1\n' > "$TMP/ragged.csv"
OPENLINEAGE__TRANSPORT__TYPE=file OPENLINEAGE__TRANSPORT__LOG_FILE_PATH="$TMP/events2.jsonl" \
  "$UBPIPE" run $SPEC --ds $D -q --rerun -p movie_review_file="$TMP/ragged.csv" >/dev/null 2>&1 && ko "a ragged file ran"
same "FAIL event with errorMessage" "$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["eventType"] == "FAIL" and e["job"]["name"].endswith("movie_review_to_raw_data_lake"):
        print("errorMessage" in e["run"]["facets"])' "$TMP/events2.jsonl")" "True"

# 6. a cancelled run sends ABORT for the try it stopped, with the error: a session holds the metric table
# in SHARE mode, so generate_user_behavior_metric waits on its lock until SIGINT stops the run
sh scripts/stack.sh psql warehouse -X -q -c "BEGIN; LOCK TABLE public.user_behavior_metric IN SHARE MODE;
  SELECT pg_sleep(60)" >/dev/null 2>&1 & LOCKER=$!
PIDS="$PIDS $LOCKER"
: > "$TMP/events3.jsonl"
OPENLINEAGE__TRANSPORT__TYPE=file OPENLINEAGE__TRANSPORT__LOG_FILE_PATH="$TMP/events3.jsonl" \
  "$UBPIPE" run $SPEC --ds $D -q --rerun -p movie_review_file="$DEMO/movie_review.csv" >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 1000 ] && ! grep -q '"eventType":"START".*generate_user_behavior_metric' "$TMP/events3.jsonl"; do
  sleep 0.01; i=$((i + 1))
done
sleep 0.3
kill -INT $pid
wait $pid
same "exit status of a cancelled run" "$?" 1
kill "$LOCKER" 2>/dev/null
same "ABORT of the stopped try" "$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["job"]["name"].endswith("generate_user_behavior_metric") and e["eventType"] != "START":
        print(e["eventType"], "errorMessage" in e["run"]["facets"])' "$TMP/events3.jsonl")" "ABORT True"

echo "test_lineage: $pass passed, $fail failed"
[ "$fail" = 0 ]
