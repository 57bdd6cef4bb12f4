#!/bin/sh
# test_fingerprint.sh — runs that know what changed (issue 13), on the local stack.
#
# In a temporary UBPIPE_HOME, with a copy of pipelines/, sql/ and reports/: run a ds, then change exactly one
# input at a time (a -p value, a SQL file, the step JSON, the vendor file's content, the PySpark script,
# a connection's target, an upstream output) and run the ds again: the tasks that ran (the journal's
# "run" decisions of that run) are exactly the dependent ones, and the metric equals ref_metric.py.
# Nothing changed, a YAML comment or a key reorder runs nothing; `status` shows stale tasks and
# `plan --format json` the action and reason; an older journal (no fingerprints) runs everything and
# says so once.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_fingerprint: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-fp.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_fingerprint: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=0.02 sh scripts/demo-data.sh >/dev/null || { echo "test_fingerprint: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
mkdir -p "$TMP/copy" && cp -r pipelines sql reports "$TMP/copy/"
SPEC=$TMP/copy/pipelines/user_behavior.yaml
REV=$TMP/reviews.csv
cp "$DEMO/movie_review.csv" "$REV"
D=2021-04-30
J=$UBPIPE_HOME/runs/user_behavior/$D/journal.jsonl
Q() { sh scripts/stack.sh psql warehouse -X -q -A -t -F, -c "$1"; }
run() { "$UBPIPE" run "$SPEC" --ds $D -q -p movie_review_file="$REV" "$@"; }
# the tasks the last run ran: the decisions after the journal's last run line, if a run line was
# written since the previous call (an up-to-date ds writes nothing)
ran() { python3 - "$J" "$TMP/last" <<'EOF'
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
last = int(open(sys.argv[2]).read()) if os.path.exists(sys.argv[2]) else 0
open(sys.argv[2], "w").write(str(len(lines)))
starts = [i for i, r in enumerate(lines) if "run" in r and i >= last]
if starts:
    print(" ".join(sorted(r["task"] for r in lines[starts[-1]:] if r.get("decision") == "run")))
else:
    print("")
EOF
}
PURCH=$DEMO/user_purchase.csv     # the purchases the reference reads (the source table, as a CSV)
metric_ok() {
  got=$(Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
           WHERE insert_date = '$D' ORDER BY customerid")
  want=$(python3 tests/e2e/ref_metric.py --purchases "$PURCH" --reviews "$REV" --ds $D | tail -n +2)
  if [ -n "$got" ] && [ "$got" = "$want" ]; then ok; else ko "$1: the metric differs from ref_metric.py"; fi
}
ALL="end_of_data_pipeline extract_user_purchase_data generate_user_behavior_metric movie_review_stage_to_stage_tbl movie_review_to_raw_data_lake publish_user_behavior_report spark_script_to_s3 start_emr_movie_classification_script user_purchase_stage_data_lake_to_stage_tbl user_purchase_to_stage_data_lake wait_for_movie_classification_transformation"
EMR_DOWN="end_of_data_pipeline generate_user_behavior_metric movie_review_stage_to_stage_tbl publish_user_behavior_report start_emr_movie_classification_script wait_for_movie_classification_transformation"
PURCHASE_DOWN="end_of_data_pipeline generate_user_behavior_metric publish_user_behavior_report user_purchase_stage_data_lake_to_stage_tbl"

# first run: everything
if run; then ok; else ko "first run failed"; fi
same "first run" "$(ran)" "$ALL"
metric_ok "first run"

# nothing changed: nothing runs, and it says up to date
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" 2>&1)
same "no-op run" "$(ran)" ""
case $out in *"up to date"*) ok ;; *) ko "no-op run does not say up to date: $out" ;; esac

# a YAML comment and a key reorder change nothing
python3 - "$SPEC" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  movie_review_to_raw_data_lake:\n    op: lake.put\n    src: \"{{ params.movie_review_file }}\"\n"
              "    dst: \"raw:movie_review/{{ ds }}/movie.csv\"\n",
              "  movie_review_to_raw_data_lake:   # the vendor file\n    dst: \"raw:movie_review/{{ ds }}/movie.csv\"\n"
              "    op: lake.put\n    # where it comes from\n    src: \"{{ params.movie_review_file }}\"\n")
open(p, "w").write("# a comment at the top\n" + s)
EOF
grep -q 'where it comes from' "$SPEC" && ok || ko "could not reorder the spec"
run; same "comment and reorder" "$(ran)" ""

# status and plan: nothing stale, every action skip
same "status: nothing stale" "$("$UBPIPE" status "$SPEC" --ds $D -p movie_review_file="$REV" --format json |
  python3 -c 'import json,sys; print(sorted({t["state"] for t in json.load(sys.stdin)["tasks"]}))')" "['success']"

# plan honours --only, --downstream and --rerun=T as run does: the tasks its plan says run are the
# tasks the run then runs (two code paths: core/plan.c decides for the plan, core/run.c for the run)
plan_runs() { "$UBPIPE" plan "$SPEC" --ds $D -p movie_review_file="$REV" --format json "$@" | python3 -c 'import json,sys
print(" ".join(sorted(t["id"] for t in json.load(sys.stdin)["tasks"] if t.get("action") == "run")))'; }
same "plan --only --downstream" "$(plan_runs --only movie_review_stage_to_stage_tbl --downstream)" \
  "end_of_data_pipeline generate_user_behavior_metric movie_review_stage_to_stage_tbl publish_user_behavior_report"
for sel in "--only=generate_user_behavior_metric" "--only=movie_review_stage_to_stage_tbl --downstream" \
           "--rerun=user_purchase_stage_data_lake_to_stage_tbl" "--rerun"; do
  want=$(plan_runs $sel)
  run $sel
  same "plan $sel = run $sel" "$want" "$(ran)"
done
same "plan --rerun runs all" "$(plan_runs --rerun)" "$ALL"
# the range form's per-date JSON plan takes the same selection
same "plan --from --to --rerun" "$("$UBPIPE" plan "$SPEC" --from $D --to $D -p movie_review_file="$REV" --rerun \
  --format json | python3 -c 'import json,sys
print(sorted({(t["action"], t["reason"]) for t in json.load(sys.stdin)["tasks"]}))')" "[('run', 'forced (--rerun)')]"
out=$("$UBPIPE" plan "$SPEC" --ds $D --only no_such_task 2>&1); rc=$?
same "plan --only unknown: exit" "$rc" 2
case $out in *"--only: 'no_such_task' is not a task of 'user_behavior'"*) ok ;; *) ko "plan --only unknown: $out" ;; esac
case $("$UBPIPE" plan "$SPEC" --ds $D -p movie_review_file="$REV" --only end_of_data_pipeline) in
  *"With --only: a run would run 1 task and skip 10 (taken as done)."*) ok ;; *) ko "plan --only: no summary line" ;; esac

# a -p value: the same content under another name
cp "$REV" "$TMP/reviews2.csv"
"$UBPIPE" plan "$SPEC" --ds $D -p movie_review_file="$TMP/reviews2.csv" --format json > "$TMP/plan.json"
same "plan: the -p value's task runs" "$(python3 -c 'import json,sys
d = {t["id"]: t for t in json.load(open(sys.argv[1]))["tasks"]}
t = d["movie_review_to_raw_data_lake"]
print(t["action"], t["reason"].split(":")[0], d["extract_user_purchase_data"]["action"])' "$TMP/plan.json")" \
  "run param movie_review_file skip"
same "status: stale with the new -p" "$("$UBPIPE" status "$SPEC" --ds $D -p movie_review_file="$TMP/reviews2.csv" \
  --format json | python3 -c 'import json,sys
print(" ".join(sorted(t["id"] for t in json.load(sys.stdin)["tasks"] if t["state"] == "stale")))')" \
  "$(echo "$EMR_DOWN movie_review_to_raw_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$TMP/reviews2.csv" 2>&1)
same "-p value" "$(ran)" "$(echo "$EMR_DOWN movie_review_to_raw_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
case $out in *'movie_review_to_raw_data_lake: param movie_review_file: '*) ok ;;
  *) ko "-p change: no reason given: $out" ;; esac
run; same "back to the first -p value" "$(ran)" "$(echo "$EMR_DOWN movie_review_to_raw_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
metric_ok "after -p changes"

# the vendor file's content
python3 - "$REV" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
lines[1] = lines[1].replace("good", "bad") if "good" in lines[1] else lines[1] + " good"
open(p, "w").write("\n".join(lines))
EOF
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" 2>&1)
same "vendor file content" "$(ran)" "$(echo "$EMR_DOWN movie_review_to_raw_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
case $out in *'movie_review_to_raw_data_lake: input changed (movie_review_file: content)'*) ok ;;
  *) ko "vendor file change: reason: $out" ;; esac
metric_ok "after the vendor file changed"

# a SQL file
printf '\n-- changed by test_fingerprint\n' >> "$TMP/copy/sql/generate_user_behavior_metric.sql"
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" 2>&1)
same "SQL file" "$(ran)" "end_of_data_pipeline generate_user_behavior_metric publish_user_behavior_report"
case $out in *'generate_user_behavior_metric: '*'sql/generate_user_behavior_metric.sql changed'*) ok ;;
  *) ko "SQL change: reason: $out" ;; esac
metric_ok "after the SQL file changed"

# the step JSON (a reformatting still changes its content hash)
sed -i 's/^\[/[ /' "$TMP/copy/pipelines/emr/clean_movie_review.json"
run; same "step JSON" "$(ran)" "$EMR_DOWN"
metric_ok "after the step JSON changed"

# the PySpark script
printf '\n# changed by test_fingerprint\n' >> "$TMP/copy/pipelines/scripts/random_text_classification.py"
run; same "PySpark script" "$(ran)" "$(echo "$EMR_DOWN spark_script_to_s3" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
metric_ok "after the PySpark script changed"

# a connection's target
out=$(UBPIPE_CONN_SOURCE="host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_source connect_timeout=9" \
  "$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" 2>&1)
same "connection target" "$(ran)" "$(echo "$PURCHASE_DOWN extract_user_purchase_data user_purchase_to_stage_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
case $out in *'extract_user_purchase_data: connection source changed'*) ok ;; *) ko "conn change: reason: $out" ;; esac
metric_ok "after the connection changed"
run; same "the connection back" "$(ran)" "$(echo "$PURCHASE_DOWN extract_user_purchase_data user_purchase_to_stage_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
metric_ok "after the connection changed back"

# an upstream output: the source gains a row of ds, the extract alone is re-run (--only, no downstream)
sh scripts/stack.sh psql source -X -q -c "INSERT INTO retail.user_purchase
  SELECT invoice_number || 'x', stock_code, detail, quantity, invoice_date, unit_price, customer_id, country
  FROM retail.user_purchase WHERE invoice_date < '$D'::date + 1 LIMIT 1" >/dev/null 2>&1 || ko "could not add a source row"
"$UBPIPE" run "$SPEC" --ds $D -q -p movie_review_file="$REV" --only extract_user_purchase_data || ko "--only extract failed"
same "--only extract" "$(ran)" "extract_user_purchase_data"
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" 2>&1)
same "upstream output" "$(ran)" "$(echo "$PURCHASE_DOWN user_purchase_to_stage_data_lake" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
case $out in *'user_purchase_to_stage_data_lake: upstream changed (extract_user_purchase_data output)'*) ok ;;
  *) ko "upstream output: reason: $out" ;; esac
# the reference reads the source table as it is now (the added row included)
sh scripts/stack.sh psql source -X -q -c "\\copy (SELECT invoice_number, stock_code, detail, quantity, invoice_date,
  unit_price, customer_id, country FROM retail.user_purchase) TO '$TMP/purchases_now.csv' CSV HEADER" ||
  ko "could not copy the source table out"
PURCH=$TMP/purchases_now.csv
[ "$(wc -l < "$PURCH")" = "$(($(wc -l < "$DEMO/user_purchase.csv") + 1))" ] && ok || ko "the source copy is not the demo plus one row"
metric_ok "after the upstream output changed"

# --only T --rerun: T and its downstream
"$UBPIPE" run "$SPEC" --ds $D -q -p movie_review_file="$REV" --only movie_review_stage_to_stage_tbl --rerun ||
  ko "--only --rerun failed"
same "--only T --rerun" "$(python3 - "$J" <<'EOF'
import json, sys
d = [json.loads(l) for l in open(sys.argv[1]) if '"decision"' in l]
print(" ".join(sorted(r["task"] for r in d[-4:])))
EOF
)" "end_of_data_pipeline generate_user_behavior_metric movie_review_stage_to_stage_tbl publish_user_behavior_report"
ran >/dev/null

# --rerun=T (and --rerun T FILE, FILE --rerun T): T and its downstream, the rest as the fingerprints decide
MR_DOWN="end_of_data_pipeline generate_user_behavior_metric movie_review_stage_to_stage_tbl publish_user_behavior_report"
run --rerun=movie_review_stage_to_stage_tbl || ko "--rerun=T failed"
same "--rerun=T" "$(ran)" "$MR_DOWN"
"$UBPIPE" run -q --rerun movie_review_stage_to_stage_tbl "$SPEC" --ds $D -p movie_review_file="$REV" ||
  ko "--rerun T FILE failed"
same "--rerun T FILE" "$(ran)" "$MR_DOWN"
run --rerun movie_review_stage_to_stage_tbl,spark_script_to_s3 || ko "FILE --rerun T1,T2 failed"
same "FILE --rerun T1,T2" "$(ran)" "$(echo "$EMR_DOWN spark_script_to_s3" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
metric_ok "after --rerun=T"
# with an input changed elsewhere: the forced task's downstream and the changed one's
printf '\n# changed again by test_fingerprint\n' >> "$TMP/copy/pipelines/scripts/random_text_classification.py"
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" --rerun=extract_user_purchase_data 2>&1)
want=$(echo "$EMR_DOWN spark_script_to_s3 $PURCHASE_DOWN extract_user_purchase_data user_purchase_to_stage_data_lake" |
  tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')
same "--rerun=T with another input changed" "$(ran)" "$want"
case $out in *'extract_user_purchase_data: forced (--rerun)'*'spark_script_to_s3: '*'scripts/random_text_classification.py'*) ok ;;
  *) ko "--rerun=T reasons: $out" ;; esac
metric_ok "after --rerun=T with another input changed"
# --rerun FILE: the word after --rerun is the file when run has only it
"$UBPIPE" run --rerun "$SPEC" --ds $D -q -p movie_review_file="$REV" || ko "--rerun FILE failed"
same "--rerun FILE" "$(ran)" "$ALL"
# a task id that is not one: exit 2, the closest id named, nothing run
out=$(run --rerun=movie_review_stage_to_stage 2>&1); rc=$?
same "--rerun=typo: exit" "$rc" 2
case $out in *"--rerun: 'movie_review_stage_to_stage' is not a task of 'user_behavior' (did you mean 'movie_review_stage_to_stage_tbl'?)"*) ok ;;
  *) ko "--rerun=typo: message: $out" ;; esac
out=$("$UBPIPE" run --rerun nope "$SPEC" --ds $D -q 2>&1); rc=$?
same "--rerun nope FILE: exit" "$rc" 2
case $out in *"--rerun: 'nope' is not a task of 'user_behavior'"*) ok ;; *) ko "--rerun nope FILE: message: $out" ;; esac
out=$(run --rerun= 2>&1); rc=$?
same "--rerun= : exit" "$rc" 2
out=$(run --only extract_user_purchase_data --rerun=extract_user_purchase_data 2>&1); rc=$?
same "--only with --rerun=T: exit" "$rc" 2
same "nothing ran after the refused options" "$(ran)" ""

# an older journal: no fingerprints, no decisions, no checkpoints
python3 - "$J" <<'EOF'
import json, sys
p = sys.argv[1]
out = []
for l in open(p):
    r = json.loads(l)
    if "decision" in r or "run" in r or "checkpoint" in r:
        continue
    r.pop("fp", None)
    out.append(json.dumps(r))
open(p, "w").write("\n".join(out) + "\n")
EOF
wc -l < "$J" > "$TMP/last"
"$UBPIPE" status "$SPEC" --ds $D -p movie_review_file="$REV" >/dev/null 2>&1 && ok || ko "status of an older journal failed"
out=$("$UBPIPE" run "$SPEC" --ds $D -p movie_review_file="$REV" 2>&1)
same "older journal" "$(ran)" "$ALL"
same "older journal: said once" "$(printf '%s\n' "$out" | grep -c 'older ubpipe')" 1
metric_ok "after an older journal"
run; same "after the older journal: up to date" "$(ran)" ""

# killed at random moments after an input changed (test_kill_resume's harness: SIGKILL of ubpipe at a
# seeded random moment within the first half of a clean run's length, as the run of one changed input is
# shorter, then resume): the resumed run leaves the state an
# uninterrupted run of the same inputs leaves (every warehouse slice and lake object), the metric equals
# ref_metric.py, no temporary file is left, and the ds is then up to date.  Each round changes one input:
# the vendor file, the SQL file, the PySpark script in turn.  FP_KILL_N rounds (default 4), FP_KILL_SEED.
state() {
  Q "SELECT (SELECT count(*) FROM spectrum.user_purchase_staging WHERE insert_date='$D'),
            (SELECT count(*) FROM spectrum.classified_movie_review WHERE insert_date='$D'),
            (SELECT count(*) FROM public.user_behavior_metric WHERE insert_date='$D')"
  Q "SELECT customerid, amount_spent, review_score, review_count FROM public.user_behavior_metric
     WHERE insert_date='$D' ORDER BY customerid" | md5sum
  (cd "$UBPIPE_HOME/lake" && find . -type f | sort | xargs md5sum)
}
temps() { find "$UBPIPE_HOME" -path "$UBPIPE_HOME/pg" -prune -o -name '*.ubtmp.*' -print | wc -l; }
SEED=${FP_KILL_SEED:-$(date +%s)}
t0=$(date +%s%N); run --rerun >/dev/null 2>&1; ms=$(( ($(date +%s%N) - t0) / 1000000 )); ran >/dev/null
i=1 kills=0
while [ "$i" -le "${FP_KILL_N:-4}" ]; do
  case $((i % 3)) in
    1) python3 - "$REV" <<'EOF'
import sys
p = sys.argv[1]
text = open(p).read()
cid = text.split("\n")[1].split(",")[0]      # one more review of the first reviewer: new content, new metric
open(p, "w").write(text + ("" if text.endswith("\n") else "\n") + cid + ',"a good film, I loved it"\n')
EOF
       ;;
    2) printf '\n-- kill round %s\n' "$i" >> "$TMP/copy/sql/generate_user_behavior_metric.sql" ;;
    0) printf '\n# kill round %s\n' "$i" >> "$TMP/copy/pipelines/scripts/random_text_classification.py" ;;
  esac
  at=$(awk -v s="$SEED" -v i="$i" -v ms="$ms" 'BEGIN { srand((s % 100000) * 1000 + i); rand(); printf "%.3f", 0.02 + rand() * ms * 0.5 / 1000 }')
  "$UBPIPE" run "$SPEC" --ds $D -q -p movie_review_file="$REV" >/dev/null 2>&1 &
  pid=$!
  sleep "$at"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [ $? = 137 ] && kills=$((kills + 1))          # killed, not already finished
  if run 2>"$TMP/resume.err"; then ok; else ko "resume after a kill at ${at}s (round $i, FP_KILL_SEED=$SEED) failed: $(cat "$TMP/resume.err")"; fi
  resumed=$(state)                  # (metric_ok sets got)
  metric_ok "after a kill at ${at}s (round $i, FP_KILL_SEED=$SEED)"
  same "temporary files after a kill at ${at}s (round $i)" "$(temps)" 0
  ran >/dev/null
  run; same "after a kill at ${at}s (round $i): up to date" "$(ran)" ""
  run --rerun >/dev/null 2>&1 || ko "the uninterrupted run of round $i failed"
  ran >/dev/null
  if [ "$resumed" = "$(state)" ]; then ok; else
    ko "state after a kill at ${at}s (round $i, FP_KILL_SEED=$SEED) differs from an uninterrupted run"
    printf '%s\n' "$resumed" > "$TMP/got"; state > "$TMP/want"; diff "$TMP/want" "$TMP/got" | head -10
  fi
  i=$((i + 1))
done
echo "test_fingerprint: ${FP_KILL_N:-4} rounds, $kills killed mid-run (a clean run takes ${ms} ms), resumed"
[ "$kills" -ge 1 ] && ok || ko "no round was killed mid-run (FP_KILL_SEED=$SEED): nothing was tested"

echo "test_fingerprint: $pass passed, $fail failed"
[ "$fail" = 0 ]
