#!/bin/sh
# test_aws.sh — the aws profile end to end against the strict stand-in (tests/standin/server.py) on loopback.
#
# Usage: sh tests/e2e/test_aws.sh     (from anywhere; UBPIPE=path overrides ./ubpipe)
#
# The stand-in checks every request's SigV4 signature with botocore, S3's multipart rules and the EMR
# JSON 1.1 API, and injects faults on demand.  Covered:
#  1. signatures: good ones pass (header and presigned, also for requests made by botocore's own
#     client), a wrong secret / unknown key / wrong region / tampered presigned URL / missing session
#     token are refused with a clear message that never shows the secret;
#  2. faults on S3 (through `ubpipe s3 cp`, which uses the lake backend): 503 SlowDown, connection
#     reset, a slow reply, a 200 CompleteMultipartUpload carrying an <Error> — once: recovered within
#     the retry budget, the object byte-identical; always: a clear failure after exactly the budget of
#     attempts, and no multipart upload left (ListMultipartUploads, asked with botocore, is empty);
#  3. `ubpipe run pipelines/user_behavior.yaml --profile aws --only <the four lake/EMR tasks>` with
#     faults on the way: objects land byte-identical, the steps sent are exactly the ones
#     `ubpipe plan --format json` shows, the sensor walks RUNNING → COMPLETED; a scripted FAILED fails the task with the failure reason and log file; the
#     secret key appears in no output, journal or log;
#  4. the same pipeline with retries: 0: a permanent CompleteMultipartUpload error and a wrong secret
#     on the EMR API each fail their task with a clear message, and no upload is left.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
SPEC=pipelines/user_behavior.yaml
NORETRY=pipelines/.test_aws_noretry.yaml
BUCKET=ubpipe-e2e
CLUSTER=j-2AXXXXXXGAPLF
DS=2021-05-01
TASKS=movie_review_to_raw_data_lake,spark_script_to_s3,start_emr_movie_classification_script,wait_for_movie_classification_transformation

pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_aws: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }
has() { case $2 in *"$3"*) ok ;; *) ko "$1: [$3] not in: $2" ;; esac; }
hasnt() { case $2 in *"$3"*) ko "$1: [$3] should not be in: $2" ;; *) ok ;; esac; }
finish() { echo "test_aws: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ubpipe-aws.XXXXXX") || exit 1
SPIDS=
cleanup() {
  for p in $SPIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -f "$ROOT/$NORETRY"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ -x "$UBPIPE" ] || { ko "ubpipe binary '$UBPIPE' (run make first)"; finish; }
python3 -c 'import botocore' 2>/dev/null || { ko "python3-botocore is installed (sh scripts/deps.sh install)"; finish; }

# start_standin NAME ARGS...: starts the stand-in, sets PORT
start_standin() {
  name=$1; shift
  python3 tests/standin/server.py "$@" >"$TMP/$name.log" 2>&1 &
  SPIDS="$SPIDS $!"
  PORT=
  i=0
  while [ $i -lt 100 ]; do
    PORT=$(sed -n 's/^standin: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/$name.log")
    [ -n "$PORT" ] && return 0
    sleep 0.1; i=$((i + 1))
  done
  cat "$TMP/$name.log"; return 1
}

AK=AKIDUBPIPETEST0000001
SK='ubpipe/test/Secret+Key/0123456789abcdefXYZ'
start_standin main --bucket $BUCKET --cluster $CLUSTER --access-key $AK --secret-key "$SK" --region eu-west-1 ||
  { ko "stand-in starts"; finish; }
EP=http://127.0.0.1:$PORT
ok

unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_EMR AWS_DEFAULT_REGION \
      AWS_MAX_ATTEMPTS UBPIPE_AWS_MAX_ATTEMPTS UBPIPE_CONN_EMR 2>/dev/null
export AWS_ENDPOINT_URL=$EP AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=eu-west-1
export AWS_CONFIG_FILE="$TMP/none" AWS_SHARED_CREDENTIALS_FILE="$TMP/none"
export UBPIPE_HOME="$TMP/home"
# small multipart settings so a 12 MiB file goes in three parts (5, 5 and 2 MiB)
export UBPIPE_S3_MULTIPART_THRESHOLD=5m UBPIPE_S3_PART_SIZE=5m
# what the aws profile of the spec reads; nothing here talks to PostgreSQL or Redshift
export UBPIPE_EMR_CLUSTER_ID=$CLUSTER UBPIPE_SOURCE_DSN="host=/nonexistent dbname=none"
export UBPIPE_REDSHIFT_DSN="host=redshift.invalid port=5439 dbname=dev user=ubpipe sslmode=require"
export UBPIPE_REDSHIFT_IAM_ROLE=arn:aws:iam::123456789012:role/ubpipe-spectrum

ctl() { # ctl METHOD WHAT [JSON]
  if [ $# -ge 3 ]; then curl -sf -X "$1" "$EP/__standin/$2" --data-binary "$3"; else curl -sf -X "$1" "$EP/__standin/$2"; fi
}
fault() { ctl POST faults "$1" >/dev/null; }
obj_md5() { curl -sf "$EP/__standin/object?bucket=$BUCKET&key=$1" | md5sum | cut -d' ' -f1; }
md5() { md5sum < "$1" | cut -d' ' -f1; }
# op_status OP: the statuses the stand-in answered to OP, in order (000 = connection reset)
op_status() { ctl GET log | python3 -c "
import json, sys
print(' '.join('%03d' % e['status'] for e in json.load(sys.stdin) if e['op'] == '$1'))"; }
# uploads in progress, asked with botocore's own S3 client (an independent implementation)
mpu_count() { python3 - "$EP" "$AK" "$SK" "$BUCKET" <<'EOF'
import sys
import botocore.session
from botocore.config import Config
ep, ak, sk, bucket = sys.argv[1:5]
s3 = botocore.session.get_session().create_client(
    "s3", region_name="eu-west-1", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
    config=Config(s3={"addressing_style": "path"}))
print(len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])))
EOF
}

head -c 100000 /dev/urandom > "$TMP/small.bin"
head -c 12582912 /dev/urandom > "$TMP/big.bin"     # 12 MiB: 3 parts
BIGMD5=$(md5 "$TMP/big.bin")
SMALLMD5=$(md5 "$TMP/small.bin")

# ---- 1. signatures ------------------------------------------------------------------------------
if "$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/sig/small.bin" 2>"$TMP/err"; then ok; else ko "signed put: $(cat "$TMP/err")"; fi
same "signed put lands byte-identical" "$(obj_md5 sig/small.bin)" "$SMALLMD5"
WRONG='wrong/Secret+Key/9876543210zyxwvuABC'
out=$(AWS_SECRET_ACCESS_KEY=$WRONG "$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/sig/wrong.bin" 2>&1)
same "wrong secret: exit status" "$?" "1"
has "wrong secret: refused" "$out" "403 SignatureDoesNotMatch"
hasnt "wrong secret: not printed" "$out" "$WRONG"
same "wrong secret: nothing stored" "$(curl -s -o /dev/null -w '%{http_code}' "$EP/__standin/object?bucket=$BUCKET&key=sig/wrong.bin")" "404"
out=$(AWS_ACCESS_KEY_ID=AKIDUNKNOWN000000000 "$UBPIPE" s3 ls "s3://$BUCKET/" 2>&1)
has "unknown access key: refused" "$out" "403 InvalidAccessKeyId"
out=$(AWS_REGION=us-west-2 "$UBPIPE" s3 ls "s3://$BUCKET/" 2>&1)
has "wrong region: refused" "$out" "AuthorizationHeaderMalformed"
# credentials from a profile of the shared credentials file
printf '[e2e]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AK" "$SK" > "$TMP/credentials"
out=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=e2e AWS_SHARED_CREDENTIALS_FILE="$TMP/credentials" \
      "$UBPIPE" s3 ls "s3://$BUCKET/sig/" 2>&1)
has "credentials from AWS_PROFILE in the credentials file" "$out" "sig/small.bin"
# presigned URLs: good, tampered
url=$("$UBPIPE" s3 presign "s3://$BUCKET/sig/small.bin" --expires 60)
same "presigned GET byte-identical" "$(curl -sf "$url" | md5sum | cut -d' ' -f1)" "$SMALLMD5"
bad=$(printf '%s' "$url" | sed 's/\(X-Amz-Signature=.\)./\1z/')
same "tampered presigned URL refused" "$(curl -s -o /dev/null -w '%{http_code}' "$bad")" "403"
# an object written by botocore's own client reads back identical through ubpipe
python3 - "$EP" "$AK" "$SK" "$BUCKET" "$TMP/small.bin" <<'EOF' || ko "botocore client put against the stand-in"
import sys
import botocore.session
from botocore.config import Config
ep, ak, sk, bucket, path = sys.argv[1:6]
s3 = botocore.session.get_session().create_client(
    "s3", region_name="eu-west-1", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
    config=Config(s3={"addressing_style": "path"}))
with open(path, "rb") as f:
    s3.put_object(Bucket=bucket, Key="sig/by-botocore.bin", Body=f.read())
EOF
"$UBPIPE" s3 cp "s3://$BUCKET/sig/by-botocore.bin" "$TMP/back.bin" 2>"$TMP/err" || ko "get of a botocore object: $(cat "$TMP/err")"
same "botocore-written object read back identical" "$(md5 "$TMP/back.bin")" "$SMALLMD5"

# session tokens: a second stand-in that requires one
start_standin token --bucket $BUCKET --access-key $AK --secret-key "$SK" --region eu-west-1 \
  --session-token 'FwoGZXIvYXdzEXAMPLETOKEN//0123456789' || ko "second stand-in starts"
TEP=http://127.0.0.1:$PORT
out=$(AWS_ENDPOINT_URL=$TEP AWS_SESSION_TOKEN='FwoGZXIvYXdzEXAMPLETOKEN//0123456789' \
      "$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/tok.bin" 2>&1)
same "with the session token: accepted" "$?:$out" "0:"
out=$(AWS_ENDPOINT_URL=$TEP "$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/tok.bin" 2>&1)
has "without the session token: refused" "$out" "403 AccessDenied"

# ---- 2. S3 faults -------------------------------------------------------------------------------
ctl POST reset >/dev/null
# recoverable, once each
fault '{"op": "PutObject", "kind": "slowdown", "times": 1}'
"$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/f/slowdown.bin" 2>"$TMP/err" || ko "put after one SlowDown: $(cat "$TMP/err")"
same "SlowDown then success" "$(op_status PutObject)" "503 200"
same "SlowDown: object identical" "$(obj_md5 f/slowdown.bin)" "$SMALLMD5"

ctl POST reset >/dev/null
fault '{"op": "UploadPart", "kind": "reset", "times": 1}'
"$UBPIPE" s3 cp "$TMP/big.bin" "s3://$BUCKET/f/reset.bin" 2>"$TMP/err" || ko "multipart after a reset: $(cat "$TMP/err")"
same "connection reset: one part retried (3 parts + 1 reset)" "$(op_status UploadPart | wc -w)" "4"
same "connection reset: object identical" "$(obj_md5 f/reset.bin)" "$BIGMD5"

ctl POST reset >/dev/null
fault '{"op": "CompleteMultipartUpload", "kind": "error-in-200", "code": "InternalError", "times": 1}'
"$UBPIPE" s3 cp "$TMP/big.bin" "s3://$BUCKET/f/c200.bin" 2>"$TMP/err" || ko "complete after a 200 error: $(cat "$TMP/err")"
same "200 with <Error> then success" "$(op_status CompleteMultipartUpload)" "200 200"
same "200 with <Error>: object identical" "$(obj_md5 f/c200.bin)" "$BIGMD5"
same "200 with <Error>: no upload left" "$(mpu_count)" "0"

ctl POST reset >/dev/null
fault '{"op": "GetObject", "kind": "slow", "delay": 3, "times": 1}'
"$UBPIPE" s3 cp "$TMP/big.bin" "s3://$BUCKET/f/slow.bin" 2>/dev/null
UBPIPE_HTTP_LOW_SPEED_TIME=1 "$UBPIPE" s3 cp "s3://$BUCKET/f/slow.bin" "$TMP/slow.bin" 2>"$TMP/err" ||
  ko "get after a slow reply: $(cat "$TMP/err")"
same "slow reply: timed out once, then read" "$(md5 "$TMP/slow.bin")" "$BIGMD5"
same "slow reply: the first GET was retried" "$(ctl GET faults)" "[]"

ctl POST reset >/dev/null
"$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/f/a.bin" 2>/dev/null
fault '{"op": "CopyObject", "kind": "error-in-200", "code": "InternalError", "times": 1}'
"$UBPIPE" s3 cp "s3://$BUCKET/f/a.bin" "s3://$BUCKET/f/b.bin" 2>"$TMP/err" || ko "copy after a 200 error: $(cat "$TMP/err")"
same "CopyObject: 200 with <Error>, then success" "$(op_status CopyObject)" "200 200"
same "CopyObject: copy identical" "$(obj_md5 f/b.bin)" "$SMALLMD5"
"$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/f/c.bin" 2>/dev/null
out=$(UBPIPE_S3_LIST_PAGE=1 "$UBPIPE" s3 ls "s3://$BUCKET/f/" 2>&1)
same "ListObjectsV2 pages: keys in order" "$(printf '%s\n' "$out" | awk '{print $NF}' | tr '\n' ' ')" "f/a.bin f/b.bin f/c.bin "
same "ListObjectsV2 pages: one request per key" "$(op_status ListObjectsV2)" "200 200 200"

# permanent: a clear failure after exactly the retry budget, nothing half-finished
ctl POST reset >/dev/null
fault '{"op": "CompleteMultipartUpload", "kind": "error-in-200", "code": "InternalError", "times": -1}'
out=$("$UBPIPE" s3 cp "$TMP/big.bin" "s3://$BUCKET/f/never.bin" 2>&1)
same "permanent 200 <Error>: exit status" "$?" "1"
has "permanent 200 <Error>: message" "$out" "InternalError"
same "permanent 200 <Error>: 3 attempts" "$(op_status CompleteMultipartUpload | wc -w)" "3"
same "permanent 200 <Error>: upload aborted" "$(op_status AbortMultipartUpload)" "204"
same "permanent 200 <Error>: no upload left" "$(mpu_count)" "0"
same "permanent 200 <Error>: no object" "$(curl -s -o /dev/null -w '%{http_code}' "$EP/__standin/object?bucket=$BUCKET&key=f/never.bin")" "404"

ctl POST reset >/dev/null
fault '{"op": "UploadPart", "kind": "slowdown", "times": -1}'
out=$(UBPIPE_AWS_MAX_ATTEMPTS=2 "$UBPIPE" s3 cp "$TMP/big.bin" "s3://$BUCKET/f/never.bin" 2>&1)
same "permanent SlowDown: exit status" "$?" "1"
has "permanent SlowDown: message" "$out" "HTTP 503 SlowDown"
same "permanent SlowDown: no upload left" "$(mpu_count)" "0"

ctl POST reset >/dev/null
fault '{"op": "UploadPart", "kind": "reset", "times": -1}'
out=$("$UBPIPE" s3 cp "$TMP/big.bin" "s3://$BUCKET/f/never.bin" 2>&1)
same "permanent reset: exit status" "$?" "1"
has "permanent reset: message names the attempts" "$out" "(after 3 attempts)"
same "permanent reset: no upload left" "$(mpu_count)" "0"

ctl POST reset >/dev/null
fault '{"op": "PutObject", "kind": "slowdown", "times": -1}'
out=$("$UBPIPE" s3 cp "$TMP/small.bin" "s3://$BUCKET/f/never.bin" 2>&1)
same "permanent SlowDown on PUT: exit status" "$?" "1"
same "permanent SlowDown on PUT: 3 attempts" "$(op_status PutObject)" "503 503 503"

# ---- 3. the pipeline ----------------------------------------------------------------------------
ctl POST reset >/dev/null
python3 - "$TMP/movie.csv" <<'EOF'
import csv, random, sys
random.seed(5)
words = "good bad great awful fine boring superb dull, \"quoted\" movie plot actor".split()
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["cid", "review_str"])
    for i in range(80000):   # about 7 MiB: a multipart upload with the settings above
        w.writerow([str(10000 + i % 4000), " ".join(random.choice(words) for _ in range(12)) +
                    ("\nsecond line" if i % 97 == 0 else "")])
EOF
ctl POST emr-script '{"default": {"states": ["RUNNING", "COMPLETED"]}}' >/dev/null
fault '[{"op": "PutObject", "kind": "slowdown", "times": 1},
        {"op": "UploadPart", "kind": "reset", "times": 1},
        {"op": "AddJobFlowSteps", "kind": "slowdown", "times": 1},
        {"op": "DescribeStep", "kind": "throttle", "times": 1}]'
P="-p bucket=$BUCKET -p movie_review_file=$TMP/movie.csv"
# shellcheck disable=SC2086
out=$("$UBPIPE" run $SPEC --profile aws --ds $DS $P --only $TASKS 2>&1)
same "pipeline run against the stand-in: exit status" "$?" "0"
[ "$(echo "$out" | grep -c '^  ok ')" = 4 ] && ok || ko "four tasks ok: $out"
same "every injected fault was used" "$(ctl GET faults)" "[]"
same "raw movie review byte-identical" "$(obj_md5 raw/movie_review/$DS/movie.csv)" "$(md5 "$TMP/movie.csv")"
same "spark script byte-identical" "$(obj_md5 scripts/random_text_classification.py)" \
  "$(md5 pipelines/scripts/random_text_classification.py)"
same "the vendor file went up as a multipart upload" "$(op_status CompleteMultipartUpload)" "200"
same "no upload left" "$(mpu_count)" "0"
# shellcheck disable=SC2086
"$UBPIPE" plan $SPEC --profile aws --ds $DS $P --format json > "$TMP/plan.json"
ctl GET emr-steps > "$TMP/sent.json"
cmp=$(python3 - "$TMP/plan.json" "$TMP/sent.json" "$CLUSTER" <<'EOF'
import json, sys
plan = json.load(open(sys.argv[1]))
sent = json.load(open(sys.argv[2]))
task = [t for t in plan["tasks"] if t["id"] == "start_emr_movie_classification_script"][0]
want = [json.loads(e["text"]) for e in task["effects"] if e["kind"] == "emr.step"]
targets = {e["target"] for e in task["effects"] if e["kind"] == "emr.step"}
if len(sent) != 1:
    print("%d AddJobFlowSteps calls" % len(sent))
elif sent[0]["cluster"] != sys.argv[3] or targets != {sys.argv[3]}:
    print("cluster %s, plan %s" % (sent[0]["cluster"], targets))
elif sent[0]["steps"] != want:
    print("steps differ:\n%s\n%s" % (json.dumps(sent[0]["steps"]), json.dumps(want)))
elif len(want) != 3 or "{{" in json.dumps(want):
    print("unexpected plan steps %s" % json.dumps(want))
else:
    print("same")
EOF
)
same "steps sent = steps planned, rendered" "$cmp" "same"
same "DescribeStep: a throttle, then RUNNING and COMPLETED polls" \
  "$(op_status DescribeStep | tr ' ' '\n' | sort | uniq -c | awk '{printf "%sx%s ", $1, $2}')" "6x200 1x400 "
logs=$("$UBPIPE" logs $SPEC wait_for_movie_classification_transformation --ds $DS 2>&1)
has "sensor log: completed" "$logs" "completed"

# a scripted FAILED: the sensor fails the task with the failure details
ctl POST reset >/dev/null
ctl POST emr-script '{"default": {"states": ["RUNNING", "COMPLETED"]},
  "by_name": {"Classify movie reviews": {"states": ["FAILED"], "failure": {
    "Reason": "Step failed with exitCode 1",
    "Message": "Exception in thread main: java.lang.OutOfMemoryError: Java heap space",
    "LogFile": "s3://ubpipe-e2e/logs/j-2AXXXXXXGAPLF/steps/stderr.gz"}}}}' >/dev/null
# shellcheck disable=SC2086
out=$("$UBPIPE" run $SPEC --profile aws --ds $DS $P --only $TASKS --rerun 2>&1)
same "scripted FAILED: exit status" "$?" "1"
has "scripted FAILED: reason" "$out" "FAILED: Step failed with exitCode 1; Exception in thread main: java.lang.OutOfMemoryError: Java heap space; log: s3://ubpipe-e2e/logs/j-2AXXXXXXGAPLF/steps/stderr.gz"
has "scripted FAILED: names the step" "$out" "(Classify movie reviews)"
st=$("$UBPIPE" status $SPEC --ds $DS --format json 2>&1)
has "status shows the failure reason" "$st" "java.lang.OutOfMemoryError"
same "one DescribeStep round over the 3 steps (no retry of a FAILED step)" "$(op_status DescribeStep | wc -w)" "3"

# a run cancelled while the sensor waits: the open steps are cancelled (CancelSteps), and the next run
# of the sensor finds them CANCELLED, submits them again and completes
ctl POST reset >/dev/null
ctl POST emr-script '{"default": {"states": ["RUNNING"]}}' >/dev/null
# shellcheck disable=SC2086
"$UBPIPE" run $SPEC --profile aws --ds $DS $P --only $TASKS --rerun -q > "$TMP/cancel.out" 2>&1 &
bg=$!
for _ in $(seq 100); do
  [ -n "$(op_status DescribeStep)" ] && break
  sleep 0.1
done
sleep 0.3
kill -TERM $bg
wait $bg
same "a cancelled run: exit status" "$?" "1"
same "a cancelled run sends CancelSteps" "$(op_status CancelSteps)" "200"
ctl POST emr-script '{"default": {"states": ["COMPLETED"]}}' >/dev/null
# shellcheck disable=SC2086
out=$("$UBPIPE" run $SPEC --profile aws --ds $DS $P --only wait_for_movie_classification_transformation 2>&1)
same "the next run completes: exit status" "$?" "0"
same "the next run submitted the cancelled steps again" "$(ctl GET emr-steps | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "2"
has "sensor log: submitted again" "$("$UBPIPE" logs $SPEC wait_for_movie_classification_transformation --ds $DS 2>&1)" "submitted them again"

# no secret anywhere
hasnt "secret key in the run output" "$out" "$SK"
leak=$(grep -rlF "$SK" "$UBPIPE_HOME" 2>/dev/null)
same "secret key in the journal or logs" "$leak" ""

# ---- 4. failures of a task, with retries: 0 ------------------------------------------------------
sed -e 's/^  retries: 2$/  retries: 0/' -e 's/^pipeline: user_behavior$/pipeline: user_behavior_aws_noretry/' \
  $SPEC > "$NORETRY"
ctl POST reset >/dev/null
fault '{"op": "CompleteMultipartUpload", "kind": "error-in-200", "code": "InternalError", "times": -1}'
# shellcheck disable=SC2086
out=$("$UBPIPE" run $NORETRY --profile aws --ds $DS $P --only movie_review_to_raw_data_lake 2>&1)
same "task with a permanent CompleteMultipartUpload error: exit status" "$?" "1"
has "task failure names the object and the error" "$out" "raw/movie_review/$DS/movie.csv"
has "task failure names the error code" "$out" "InternalError"
same "task failure: no upload left" "$(mpu_count)" "0"
same "task failure: no object" "$(curl -s -o /dev/null -w '%{http_code}' "$EP/__standin/object?bucket=$BUCKET&key=raw/movie_review/$DS/movie.csv")" "404"

ctl POST reset >/dev/null
# shellcheck disable=SC2086
out=$(AWS_SECRET_ACCESS_KEY=$WRONG "$UBPIPE" run $NORETRY --profile aws --ds $DS $P \
      --only start_emr_movie_classification_script 2>&1)
same "EMR with a wrong secret: exit status" "$?" "1"
has "EMR with a wrong secret: refused" "$out" "emr AddJobFlowSteps on cluster '$CLUSTER': HTTP 403 InvalidSignatureException"
hasnt "EMR with a wrong secret: not printed" "$out" "$WRONG"
same "EMR with a wrong secret: nothing submitted" "$(ctl GET emr-steps)" "[]"

ctl POST reset >/dev/null
# shellcheck disable=SC2086
out=$(UBPIPE_EMR_CLUSTER_ID=j-NOSUCHCLUSTER "$UBPIPE" run $NORETRY --profile aws --ds $DS $P \
      --only start_emr_movie_classification_script 2>&1)
has "EMR with an unknown cluster" "$out" "InvalidRequestException: Cluster id 'j-NOSUCHCLUSTER' is not valid."

finish
