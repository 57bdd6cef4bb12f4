#!/bin/sh
# test_secret_rest.sh — a secret never rests in clear (issue 14, item 5), on the local stack.
#
# One secret with the characters that encodings change (space ' " \ % / +), from the environment, used
#   (a) in an EMR step argument, via {{ env.UBPT_SECRET }} in the step JSON (the local runner), and a
#       second, key-safe one (UBPT_TOKEN) in the lake key a step copies, so that the step can only
#       succeed with the clear value (the lake and HDFS are outside UBPIPE_HOME: their names hold it),
#   (b) as the warehouse password, percent-encoded in a URI conninfo,
#   (c) through sql.literal in SQL (an E'' literal, since it holds a backslash);
# then plan (text and JSON), render, run (with the OpenLineage file transport), logs, status (text and
# JSON), and a run that resubmits cancelled steps from the journal.  Every file under UBPIPE_HOME (but
# the PostgreSQL data directory) and every captured output is searched for the secret and each of its
# encodings, computed here by Python: no hit.  The runs succeed and the warehouse holds the secret,
# so it reached where it is needed.  The scanner is shown to find a planted leak.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_secret_rest: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-secrest.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
sh scripts/stack.sh start >/dev/null || { echo "test_secret_rest: cannot start the stack"; exit 1; }

SECRET='Ub9 pa ss'"'"'w%rd/"x\y+z'
export UBPT_SECRET="$SECRET"
TOKEN=Ub9tok3nXq
export UBPT_TOKEN=$TOKEN
# the warehouse as a URI whose password is the secret, percent-encoded (trust authentication on the
# private socket: libpq sends it, the server does not ask)
UBPT_WH_URI=$(python3 -c 'import sys, urllib.parse as u
print("postgresql://ubpipe:%s@/ubpipe_warehouse?host=%s" % (u.quote(sys.argv[1], safe=""), u.quote(sys.argv[2], safe="")))' \
  "$SECRET" "$UBPIPE_HOME/pg")
export UBPT_WH_URI

S=$TMP/spec
export UBPT_DATA=$TMP/data
mkdir -p "$S" "$TMP/out" "$UBPT_DATA"
cat > "$S/p.yaml" <<'Y'
pipeline: secretrest
reports:
  r:
    file: r.md
    conn: warehouse
defaults:
  retries: 0
profiles:
  local:
    lake: "file:{{ env.UBPT_DATA }}/lake"
    warehouse: "{{ env.UBPT_WH_URI }}"
    emr:
      cluster: local
      hdfs: "{{ env.UBPT_DATA }}/hdfs"
      scripts:
        classify.py: classify
tasks:
  put_reviews:
    op: lake.put
    src: reviews.csv
    dst: "raw:rev/{{ env.UBPT_TOKEN }}/{{ ds }}/movie.csv"
  submit:
    op: emr.add_steps
    after: [put_reviews]
    conn: emr
    steps: steps.json
  wait:
    op: emr.wait_steps
    after: [submit]
    conn: emr
    steps: "{{ outputs.submit.step_ids }}"
    resubmit: "{{ outputs.submit.steps_json }}"
    poke_interval: 100ms
  store:
    op: sql
    after: [wait]
    conn: warehouse
    sql: store.sql
Y
# the secret goes into a JSON string: \ and " escaped by the template
cat > "$S/steps.json" <<'J'
[
  {"Name": "copy in", "ActionOnFailure": "CANCEL_AND_WAIT",
   "HadoopJarStep": {"Jar": "command-runner.jar",
     "Args": ["s3-dist-cp", "--src=s3://b/raw/rev/{{ env.UBPT_TOKEN }}/{{ ds }}/", "--dest=/rev/{{ ds }}/"]}},
  {"Name": "classify", "ActionOnFailure": "CANCEL_AND_WAIT",
   "HadoopJarStep": {"Jar": "command-runner.jar",
     "Args": ["spark-submit", "--conf", "spark.ubpt.password={{ (env.UBPT_SECRET:gsub('[\\"]', '\\%0')) }}",
              "s3://b/classify.py", "--input", "/rev/{{ ds }}/", "--output", "/out/{{ ds }}/", "--run-id", "{{ ds }}"]}}
]
J
cat > "$S/store.sql" <<'Q'
CREATE SCHEMA IF NOT EXISTS secret_rest;
CREATE TABLE IF NOT EXISTS secret_rest.t (ds date, v text);
DELETE FROM secret_rest.t WHERE ds = '{{ ds }}';
INSERT INTO secret_rest.t VALUES ('{{ ds }}', {{ sql.literal(env.UBPT_SECRET) }});
Q
printf 'cid,review_str\n1,a good film\n2,bad\n' > "$S/reviews.csv"
cat > "$S/r.md" <<'M'
# The secret, as data

```sql q
SELECT v, {{ sql.literal(env.UBPT_SECRET) }} AS w FROM secret_rest.t WHERE ds = CAST({{ sql.literal(ds) }} AS DATE)
```

```table
data: q
```
M
D=2021-05-01
O=$TMP/out
u() { "$UBPIPE" "$@"; }

# ---- every verb, outputs captured ----
u plan "$S/p.yaml" --ds $D > "$O/plan.txt" 2>&1; same "plan exit" $? 0
u plan "$S/p.yaml" --ds $D --format json > "$O/plan.json" 2>&1; same "plan json exit" $? 0
u render "$S/p.yaml" store --ds $D > "$O/render_store.txt" 2>&1; same "render store exit" $? 0
u render "$S/p.yaml" submit --ds $D > "$O/render_submit.txt" 2>&1; same "render submit exit" $? 0
u render "$S/p.yaml" '{{ sql.literal(env.UBPT_SECRET) }} {{ profile.warehouse }}' --ds $D > "$O/render_expr.txt" 2>&1
same "render expr exit" $? 0
OPENLINEAGE__TRANSPORT__TYPE=file OPENLINEAGE__TRANSPORT__LOG_FILE_PATH="$UBPIPE_HOME/lineage.jsonl" \
  u run "$S/p.yaml" --ds $D > "$O/run.txt" 2>&1
same "run exit" $? 0
u run "$S/p.yaml" --ds $D --rerun --log-format json > "$O/run_json.txt" 2>&1; same "run json exit" $? 0
for t in put_reviews submit wait store; do
  u logs "$S/p.yaml" $t --ds $D > "$O/logs_$t.txt" 2>&1; same "logs $t exit" $? 0
done
u status "$S/p.yaml" --ds $D > "$O/status.txt" 2>&1; same "status exit" $? 0
u report "$S/p.yaml" r --ds $D -o "$UBPIPE_HOME/r.html" > "$O/report.txt" 2>&1; same "report exit" $? 0
u report "$S/p.yaml" r --ds $D --check > "$O/report_check.txt" 2>&1; same "report --check exit" $? 0
grep -q "E'\*\*\*\*' AS w" "$O/report_check.txt" && ok || ko "report --check: $(cat "$O/report_check.txt")"
u status "$S/p.yaml" --ds $D --format json > "$O/status.json" 2>&1; same "status json exit" $? 0

# the plan shows the masked forms where the secret was (so the scan below looks at real places)
grep -q "E'\*\*\*\*'" "$O/plan.txt" && ok || ko "plan: no E'****' in the SQL: $(grep -n INSERT "$O/plan.txt")"
grep -q 'spark.ubpt.password=\*\*\*\*' "$O/plan.txt" && ok || ko "plan: the step argument is not masked as ****"
grep -q "E'\*\*\*\*' postgresql://ubpipe:\*\*\*\*@" "$O/render_expr.txt" && ok || ko "render: $(cat "$O/render_expr.txt")"

# ---- it reached where it is needed ----
got=$(sh scripts/stack.sh psql warehouse -X -q -A -t -c "SELECT v FROM secret_rest.t WHERE ds = '$D'")
same "the warehouse holds the secret" "$got" "$SECRET"
EMR=$UBPIPE_HOME/emr/local
n_priv=$(grep -l '"PrivateArgs": true' "$EMR"/steps/*.json 2>/dev/null | wc -l)
same "steps with private arguments (two per run)" "$n_priv" 4
same "private files left" "$(ls -A "$EMR/private" 2>/dev/null | wc -l)" 0
same "private dir mode" "$(stat -c %a "$EMR/private")" 700
[ -s "$UBPIPE_HOME/lineage.jsonl" ] && ok || ko "no lineage events written"
# the step copied raw/rev/TOKEN/DS/ into HDFS, and the classifier read it: the clear token reached it
same "classified rows" "$(tail -n +2 "$UBPT_DATA/hdfs/out/$D/part-00000.csv" 2>/dev/null | wc -l)" 2

# ---- a later run resubmits cancelled steps: steps_json comes back from the step file, not as **** ----
python3 - "$EMR" <<'EOF'
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/steps/*.json"):
    r = json.load(open(p))
    r["State"] = "CANCELLED"
    json.dump(r, open(p, "w"), indent=2)
EOF
u run "$S/p.yaml" --ds $D --only wait > "$O/run_resubmit.txt" 2>&1; same "resubmitting run exit" $? 0
grep -q "submitted them again" "$UBPIPE_HOME/runs/secretrest/$D/logs/wait.3.log" 2>/dev/null && ok ||
  ko "the wait task did not resubmit: $(cat "$O/run_resubmit.txt")"
n_priv=$(grep -l '"PrivateArgs": true' "$EMR"/steps/*.json 2>/dev/null | wc -l)
same "resubmitted with the secrets in clear (private files again)" "$n_priv" 6
grep -q '"masked": \["steps_json"\]\|"masked":\["steps_json"\]' "$UBPIPE_HOME/runs/secretrest/$D/journal.jsonl" && ok ||
  ko "the journal does not list steps_json as masked"
u logs "$S/p.yaml" wait --ds $D > "$O/logs_wait2.txt" 2>&1
u status "$S/p.yaml" --ds $D --format json > "$O/status2.json" 2>&1

# ---- the search: the secret and each of its encodings, nowhere ----
cat > "$TMP/scan.py" <<'EOF'
import json, os, sys, urllib.parse as u
secret, home, outdir, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def sql(s): return s.replace("'", "''")
def sqle(s): return s.replace("\\", "\\\\").replace("'", "''")
def js(s): return json.dumps(s, ensure_ascii=False)[1:-1]
def jss(s): return js(s).replace("/", "\\/")
def cq(s): return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
forms = {"raw": secret, "sql": sql(secret), "sql E": sqle(secret), "json": js(secret), "json \\/": jss(secret),
         "json(sql)": js(sql(secret)), "json(sql E)": js(sqle(secret)), "json(json)": js(js(secret)),
         "conninfo quoted": cq(secret)}
for name, safe in (("pct", ""), ("pct uri", "/'")):
    e = u.quote(secret, safe=safe)
    forms[name + " upper"] = e
    forms[name + " lower"] = "".join(c.lower() if i and e[i - 1] == "%" or (i > 1 and e[i - 2] == "%") else c
                                     for i, c in enumerate(e))
forms["form upper"] = u.quote_plus(secret, safe="")
def html(s): return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;")
forms["html"] = html(secret)
forms["html(sql E)"] = html(sqle(secret))
forms["json(pct)"] = js(u.quote(secret, safe=""))
forms["token"] = token
hits = 0
paths = []
for d, dirs, files in os.walk(home):
    if os.path.abspath(d) == os.path.join(os.path.abspath(home), "pg"):
        dirs[:] = []
        continue
    for f in files:
        paths.append(os.path.join(d, f))
    for n in dirs + files:
        for name, f in forms.items():
            if f in n:
                print("name %s holds the %s form" % (os.path.join(d, n), name)); hits += 1
for f in os.listdir(outdir):
    paths.append(os.path.join(outdir, f))
seen = 0
for p in paths:
    try:
        data = open(p, "rb").read()
    except OSError:
        continue
    seen += 1
    for name, f in forms.items():
        if f.encode() in data:
            print("%s holds the %s form" % (p, name)); hits += 1
print("files %d forms %d hits %d" % (seen, len(set(forms.values())), hits))
EOF
res=$(python3 "$TMP/scan.py" "$SECRET" "$UBPIPE_HOME" "$O" "$TOKEN")
case $res in *" hits 0") ok ;; *) ko "the secret rests in clear: $res" ;; esac
nfiles=$(printf '%s\n' "$res" | sed -n 's/^files \([0-9]*\) .*/\1/p')
[ "${nfiles:-0}" -ge 30 ] && ok || ko "too few files searched: $res"
# the files that must have been searched exist
for f in runs/secretrest/$D/journal.jsonl runs/secretrest/$D/logs/submit.1.log emr/local/runner.log lineage.jsonl r.html; do
  [ -s "$UBPIPE_HOME/$f" ] && ok || ko "missing $f"
done
[ -n "$(ls "$EMR"/logs/*.log 2>/dev/null)" ] && ok || ko "no step logs"

# ---- the scanner can fail: a planted leak in the state dir and in an output is found ----
python3 -c 'import sys, urllib.parse as u; print("x" + u.quote(sys.argv[1], safe="") + "y")' "$SECRET" \
  > "$UBPIPE_HOME/runs/planted.txt"
printf "INSERT ... E'%s'\n" "$(printf '%s' "$SECRET" | sed "s/\\\\/\\\\\\\\/g; s/'/''/g")" > "$O/planted_out.txt"
res=$(python3 "$TMP/scan.py" "$SECRET" "$UBPIPE_HOME" "$O" "$TOKEN")
case $res in *"planted.txt holds the pct upper form"*"planted_out.txt holds the sql E form"*) ok ;;
  *) ko "the planted leaks were not found: $res" ;; esac

echo "test_secret_rest: $pass passed, $fail failed"
[ "$fail" = 0 ]
