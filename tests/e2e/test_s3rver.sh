#!/bin/sh
# test_s3rver.sh — drives `ubpipe s3 cp/ls/presign` against s3rver (an S3 server that checks SigV4) on loopback.
#
# Usage: sh tests/e2e/test_s3rver.sh            (from the repository root)
# UBPIPE=path/to/binary overrides ./ubpipe.  s3rver comes from npm
# (tests/e2e/s3rver/package.json); when it is not installed yet it is
# installed with `npm install --prefix tests/e2e/s3rver`, and when that fails
# the test fails: CI installs it, so a missing server is a failure, not a skip.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
S3DIR=$ROOT/tests/e2e/s3rver
S3RVER=$S3DIR/node_modules/.bin/s3rver
BUCKET=ubpipe-e2e

pass=0
failn=0
ok()   { pass=$((pass + 1)); echo "ok   $1"; }
bad()  { failn=$((failn + 1)); echo "FAIL $1"; }
check() { # check NAME COMMAND...
    name=$1; shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
finish() {
    echo "test_s3rver: $pass passed, $failn failed"
    [ "$failn" -eq 0 ]
    exit $?
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ubpipe-s3e2e.XXXXXX") || exit 1
SPID=
cleanup() {
    if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ ! -x "$UBPIPE" ]; then
    bad "ubpipe binary '$UBPIPE' exists (run make first)"
    finish
fi
if [ ! -x "$S3RVER" ]; then
    if ! command -v npm >/dev/null 2>&1 ||
       ! npm install --prefix "$S3DIR" --no-audit --no-fund >"$TMP/npm.log" 2>&1 ||
       [ ! -x "$S3RVER" ]; then
        cat "$TMP/npm.log" 2>/dev/null
        bad "npm install s3rver"
        finish
    fi
fi

# s3rver on 127.0.0.1, port 0 = a free port chosen by the kernel; the port is
# read back from its "listening on" line.
mkdir -p "$TMP/data" "$TMP/work"
# s3rver's continuation tokens use DES, which OpenSSL 3 only has in its legacy provider.
NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider" \
"$S3RVER" -d "$TMP/data" -a 127.0.0.1 -p 0 --configure-bucket "$BUCKET" >"$TMP/s3rver.log" 2>&1 &
SPID=$!
PORT=
i=0
while [ $i -lt 100 ]; do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/s3rver.log" | head -n 1)
    [ -n "$PORT" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$PORT" ]; then
    cat "$TMP/s3rver.log"
    bad "s3rver starts"
    finish
fi
ok "s3rver starts on port $PORT"

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL_S3 2>/dev/null
export AWS_CONFIG_FILE="$TMP/none" AWS_SHARED_CREDENTIALS_FILE="$TMP/none"
W=$TMP/work

# Deterministic test data (no randomness needed: content just has to differ
# from byte to byte across parts).
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "line %d,\"quoted, with comma\",%d\n", i, i * 7 }' >"$W/small.csv"
: >"$W/empty"
# 13 MiB + 17 bytes: above an 8 MiB threshold, three parts of 5 MiB max.
awk 'BEGIN { for (i = 0; i < 13 * 1024 * 16; i++) printf "%063d\n", i * 2654435761 % 1000003 }' >"$W/big.bin"
printf 'tail-of-big-17...' >>"$W/big.bin"

# 1. local -> s3 -> local, small object
check "cp local to s3" "$UBPIPE" s3 cp "$W/small.csv" "s3://$BUCKET/in/small.csv"
check "cp s3 to local" "$UBPIPE" s3 cp "s3://$BUCKET/in/small.csv" "$W/small.back"
check "small object round trip is byte-identical" cmp -s "$W/small.csv" "$W/small.back"
check "object stored by the server is byte-identical" \
    cmp -s "$W/small.csv" "$TMP/data/$BUCKET/in/small.csv._S3rver_object"

# 2. empty object
check "cp empty file to s3" "$UBPIPE" s3 cp "$W/empty" "s3://$BUCKET/in/empty"
check "cp empty object back" "$UBPIPE" s3 cp "s3://$BUCKET/in/empty" "$W/empty.back"
check "empty object round trip" cmp -s "$W/empty" "$W/empty.back"

# 3. multipart upload (threshold 8 MiB, parts of 5 MiB -> 3 parts, 4 workers),
#    read back in ranged chunks
check "cp big file to s3 (multipart)" env UBPIPE_S3_MULTIPART_THRESHOLD=8M UBPIPE_S3_PART_SIZE=5M \
    "$UBPIPE" s3 cp "$W/big.bin" "s3://$BUCKET/big/big.bin"
check "cp big object back" "$UBPIPE" s3 cp "s3://$BUCKET/big/big.bin" "$W/big.back"
check "multipart round trip is byte-identical" cmp -s "$W/big.bin" "$W/big.back"
"$UBPIPE" s3 ls "s3://$BUCKET/big/" >"$W/big.ls" 2>"$W/err"
BIGSIZE=$(wc -c <"$W/big.bin" | tr -d ' ')
check "ls shows the multipart object with its size" \
    grep -q " $BIGSIZE big/big.bin\$" "$W/big.ls"
# s3rver stores a plain MD5 ETag for multipart objects; its log shows the parts
check "multipart upload sent 3 parts" \
    test "$(grep -c 'Stored part [123] of' "$TMP/s3rver.log")" -eq 3
check "multipart upload completed (no upload left open on the server)" \
    test -z "$(find "$TMP/data/$BUCKET" -path '*_S3rver_uploads/*' -type d 2>/dev/null)"

# 4. stdin / stdout
check "cp stdin to s3" sh -c "'$UBPIPE' s3 cp - 's3://$BUCKET/in/stdin.csv' <'$W/small.csv'"
check "cp s3 to stdout" sh -c "'$UBPIPE' s3 cp 's3://$BUCKET/in/stdin.csv' - >'$W/stdout.csv'"
check "stdin/stdout round trip" cmp -s "$W/small.csv" "$W/stdout.csv"

# 5. server-side copy and destination directory
check "cp s3 to s3 (CopyObject)" "$UBPIPE" s3 cp "s3://$BUCKET/in/small.csv" "s3://$BUCKET/copy/"
check "copied object round trip" sh -c "'$UBPIPE' s3 cp 's3://$BUCKET/copy/small.csv' - | cmp -s - '$W/small.csv'"

# 6. listing with pagination: 23 objects, pages of 5 keys
i=0
while [ $i -lt 23 ]; do
    n=$(printf '%02d' $i)
    echo "object $n" | "$UBPIPE" s3 cp - "s3://$BUCKET/many/obj-$n.txt" || bad "cp many/obj-$n.txt"
    i=$((i + 1))
done
UBPIPE_S3_LIST_PAGE=5 "$UBPIPE" s3 ls "s3://$BUCKET/many/" >"$W/many.ls" 2>"$W/err"
check "ls across pages exits 0" test $? -eq 0
check "ls across pages lists 23 objects" test "$(wc -l <"$W/many.ls" | tr -d ' ')" -eq 23
i=0; : >"$W/many.want"
while [ $i -lt 23 ]; do printf 'many/obj-%02d.txt\n' $i >>"$W/many.want"; i=$((i + 1)); done
awk '{ print $NF }' "$W/many.ls" >"$W/many.got"
check "ls across pages: every key once, in order" cmp -s "$W/many.want" "$W/many.got"
check "ls size column (10 bytes each)" sh -c "awk '{ if (\$3 != 10) exit 1 }' '$W/many.ls'"
UBPIPE_S3_LIST_PAGE=5 "$UBPIPE" s3 ls "s3://$BUCKET/many/obj-1" >"$W/many1.ls" 2>"$W/err"
check "ls with a partial prefix (obj-1*: 10 keys)" test "$(wc -l <"$W/many1.ls" | tr -d ' ')" -eq 10

# 7. presign, then fetch with curl (no credentials in the request)
URL=$("$UBPIPE" s3 presign "s3://$BUCKET/in/small.csv" --expires 300)
check "presign exits 0" test $? -eq 0
check "presigned URL carries a SigV4 signature" sh -c "echo '$URL' | grep -q 'X-Amz-Signature='"
check "curl the presigned URL" curl -sSf -o "$W/presigned.csv" "$URL"
check "presigned download is byte-identical" cmp -s "$W/small.csv" "$W/presigned.csv"
# s3rver 3.7 checks the access key of a SigV4 request, not its signature
# (signatures are covered by the official vectors in test_sigv4).
URL2=$(AWS_ACCESS_KEY_ID=NOTAKEY "$UBPIPE" s3 presign "s3://$BUCKET/in/small.csv")
check "a presigned URL with an unknown key is refused" \
    sh -c "! curl -sSf -o /dev/null '$URL2' 2>/dev/null"

# 8. errors
"$UBPIPE" s3 cp "s3://$BUCKET/in/missing.csv" "$W/missing" 2>"$W/err"
check "missing object fails" test $? -ne 0
check "missing object message names it" grep -q "in/missing.csv" "$W/err"
check "no partial local file after a failed download" test ! -e "$W/missing"
AWS_ACCESS_KEY_ID=NOTAKEY "$UBPIPE" s3 cp "$W/small.csv" "s3://$BUCKET/in/bad.csv" 2>"$W/err"
check "unknown access key is refused" test $? -ne 0
check "unknown access key message has the S3 error code" grep -q "InvalidAccessKeyId" "$W/err"
"$UBPIPE" s3 cp "$W/small.csv" "s3://$BUCKET/../escape" 2>"$W/err"
check "a key with '..' is refused" test $? -ne 0
"$UBPIPE" s3 cp "$W/small.csv" "s3://no-such-bucket-ubpipe/x.csv" 2>"$W/err"
check "missing bucket fails" test $? -ne 0
check "missing bucket message has NoSuchBucket" grep -q "NoSuchBucket" "$W/err"
UBPIPE_AWS_MAX_ATTEMPTS=2 AWS_ENDPOINT_URL="http://127.0.0.1:1" \
    "$UBPIPE" s3 cp "$W/small.csv" "s3://$BUCKET/in/x.csv" 2>"$W/err"
check "unreachable endpoint fails" test $? -ne 0
check "unreachable endpoint: retried (2 attempts)" grep -q "after 2 attempts" "$W/err"
"$UBPIPE" s3 ls "s3://$BUCKET/in/" >"$W/in.ls" 2>"$W/err"
check "failed uploads left no object" sh -c "! grep -q 'bad.csv\|x.csv' '$W/in.ls'"

finish
