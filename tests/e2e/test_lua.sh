#!/bin/sh
# test_lua.sh — Lua in pipelines (issue 6), end to end with the real binary, on small demo data in a temporary
# UBPIPE_HOME (no database needed):
#  1. examples/lua_classifier.yaml, plain and zstd output, equals the reference classifier
#     (tests/bench/classify_baseline.py, written apart from the C and Lua ones);
#  2. examples/quality_check.yaml: passes on good counts (and publishes what the next task reads), fails the
#     run on a broken rule (exit 1, the rule, object and line named, nothing downstream runs);
#  3. examples/enrich.yaml runs (zstd output, a module beside the script);
#  4. grants: lua_grant and a transform's grant shown by plan; io and os only when granted, io inside the
#     granted directory only; an unknown grant refused by validate;
#  5. each sandbox limit of a transform stops it with a clear error (instructions, memory, wall clock, binary
#     chunks, require outside the path).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_lua: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }
has() { case $2 in *"$3"*) ok ;; *) ko "$1: no [$3] in: $2" ;; esac; }
hasnt() { case $2 in *"$3"*) ko "$1: unexpected [$3] in: $2" ;; *) ok ;; esac; }

TMP=$(mktemp -d /tmp/ubpipe-test-lua.XXXXXX) || exit 1
export UBPIPE_HOME="$TMP/home"
trap 'rm -rf "$TMP"' EXIT INT TERM
[ -x build/tools/gendemo ] || make -s build/tools/gendemo >/dev/null 2>&1
build/tools/gendemo --purchases "$TMP/purchases.csv" --reviews "$TMP/reviews.csv" --scale 0.03 >/dev/null ||
  { echo "test_lua: cannot generate the demo data"; exit 1; }
# the examples write to ../lake: run copies of them
mkdir -p "$TMP/ex" && cp -r examples/*.yaml examples/lua examples/data "$TMP/ex/"
LAKE=$TMP/lake
DS=2021-05-01

# --- 1. the Lua classifier equals the reference ----------------------------------
python3 tests/bench/classify_baseline.py "$TMP/reviews.csv" "$TMP/ref.csv" $DS >/dev/null 2>&1 ||
  { echo "test_lua: the reference classifier failed"; exit 1; }
out=$("$UBPIPE" run "$TMP/ex/lua_classifier.yaml" --ds $DS -q -p movie_review_file="$TMP/reviews.csv" 2>&1)
same "classifier: exit" "$?" 0
cmp -s "$TMP/ref.csv" "$LAKE/stage/movie_review_lua/$DS/classified.csv" && ok || ko "classifier: plain output differs from the reference"
same "classifier: rows" "$(wc -l < "$LAKE/stage/movie_review_lua/$DS/classified.csv")" "$(wc -l < "$TMP/ref.csv")"
out=$("$UBPIPE" run "$TMP/ex/lua_classifier.yaml" --ds $DS -q --rerun -p movie_review_file="$TMP/reviews.csv" \
      -p classified_name=classified.csv.zst 2>&1)
same "classifier zstd: exit" "$?" 0
zstd -q -dc "$LAKE/stage/movie_review_lua/$DS/classified.csv.zst" > "$TMP/lua_zst.csv" 2>/dev/null
cmp -s "$TMP/ref.csv" "$TMP/lua_zst.csv" && ok || ko "classifier: zstd output differs from the reference"
# at least one positive and one negative review, so the comparison means something
has "reference has positives" "$(cut -d, -f2 "$TMP/ref.csv" | sort -u | tr '\n' ' ')" "true"
has "reference has negatives" "$(cut -d, -f2 "$TMP/ref.csv" | sort -u | tr '\n' ' ')" "false"
plan=$("$UBPIPE" plan "$TMP/ex/lua_classifier.yaml" --ds $DS 2>&1)
has "classifier plan: reused row" "$plan" "transform(row, ctx) per row (one row table, reused)"
has "classifier plan: limits" "$plan" "limits: 1000000 instructions per call, 64 MiB, 10s per call"

# --- 2. the data-quality hook ------------------------------------------------------
out=$("$UBPIPE" run "$TMP/ex/quality_check.yaml" --ds $DS 2>&1)
same "quality good: exit" "$?" 0
has "quality good: log" "$out" "5 customers, 25 reviews: every rule holds"
# 25 reviews in all (published by the hook), 12 of them by 12350: 12/25
same "quality good: share from the published total" \
  "$(grep '^12350,' "$LAKE/stage/review_share/$DS/review_share.csv")" "12350,12,0.480000"
printf 'cid,review_count,review_score\n100,2,1\n200,-3,0\n300,1,1\n' > "$TMP/negative.csv"
out=$("$UBPIPE" run "$TMP/ex/quality_check.yaml" --ds 2021-05-02 -p review_counts_file="$TMP/negative.csv" 2>&1)
same "quality negative: exit" "$?" 1
has "quality negative: message" "$out" "task 'review_counts_to_raw_data_lake' failed: on_success hook of task 'review_counts_to_raw_data_lake': rule 'no_negative_review_count' broken: 'raw:review_counts/2021-05-02/review_counts.csv' line 3: customer 200 has review_count -3"
has "quality negative: on_failure hook ran" "$out" "lua warn: review counts of 2021-05-02 refused"
has "quality negative: downstream skipped" "$out" "skipped  review_share"
[ -e "$LAKE/stage/review_share/2021-05-02/review_share.csv" ] && ko "quality negative: downstream wrote" || ok
printf 'cid,review_count,review_score\n100,2,1\n200,3,0\n300,1,1\n100,1,0\n' > "$TMP/dup.csv"
out=$("$UBPIPE" run "$TMP/ex/quality_check.yaml" --ds 2021-05-03 -p review_counts_file="$TMP/dup.csv" 2>&1)
same "quality duplicate: exit" "$?" 1
has "quality duplicate: message" "$out" "rule 'unique_customer' broken: 'raw:review_counts/2021-05-03/review_counts.csv' line 5: customer 100 is counted again (first on line 2)"
# fixing the file and running again resumes the run
out=$("$UBPIPE" run "$TMP/ex/quality_check.yaml" --ds 2021-05-03 -p min_customers=1 2>&1)
same "quality fixed: exit" "$?" 0
out=$("$UBPIPE" run "$TMP/ex/quality_check.yaml" --ds 2021-05-04 -p min_customers=6 2>&1)
has "quality min_customers" "$out" "rule 'min_customers' broken: 'raw:review_counts/2021-05-04/review_counts.csv' has 5 customers, want at least 6"
plan=$("$UBPIPE" plan "$TMP/ex/quality_check.yaml" --ds $DS 2>&1)
has "quality plan: hook" "$plan" "hook     lua  on_success: quality.review_counts; on_failure: log.warn("

# --- 3. enrichment -------------------------------------------------------------------
out=$("$UBPIPE" run "$TMP/ex/enrich.yaml" --ds $DS -q -p movie_review_file="$TMP/reviews.csv" 2>&1)
same "enrich: exit" "$?" 0
zstd -q -dc "$LAKE/stage/movie_review_enriched/$DS/enriched.csv.zst" > "$TMP/enriched.csv" 2>/dev/null
same "enrich: header" "$(head -1 "$TMP/enriched.csv")" "cid,customer_id,words,positive,length,segment"
# every kept row has a customer id equal to its cid read as a number, and one of the known segments
bad=$(tail -n +2 "$TMP/enriched.csv" | awk -F, '$2 == "" || $1 + 0 != $2 + 0 || $6 !~ /^(founding|regular|recent|other)$/' | wc -l)
same "enrich: rows well formed" "$bad" 0
# the kept rows are the reviews whose cid is all digits (reference: python's csv module)
want=$(python3 -c '
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    print(sum(1 for r in csv.DictReader(f) if r["cid"].isascii() and r["cid"].isdigit()))' "$TMP/reviews.csv")
same "enrich: rows kept" "$(($(wc -l < "$TMP/enriched.csv") - 1))" "$want"

# --- 4. grants -----------------------------------------------------------------------
G=$TMP/g
mkdir -p "$G/lookup" "$G/lua"
printf 'id,v\n1,a\n2,b\n' > "$G/in.csv"
printf 'lookup file\n' > "$G/lookup/names.txt"
cat > "$G/lua/g.lua" <<'EOF'
return {
  uses_io = function(row, ctx) local f = assert(io.open(ctx.params.lookup)) local l = f:read('l') f:close()
    return { id = row.id, v = l } end,
  reads_outside = function(row) local f = assert(io.open('/etc/hostname')) f:close() return row end,
  uses_os = function(row) return { id = row.id, v = type(os.time()) .. ';' .. type(os.execute) } end,
}
EOF
gspec() {  # NAME FUNCTION GRANTS [EXTRA]
  cat > "$G/$1.yaml" <<EOF
pipeline: g_$1
lua_grant: [os]
profiles:
  local: { lake: "file:lake" }
tasks:
  put: { op: lake.put, src: in.csv, dst: "raw:in/{{ ds }}/in.csv", on_success: "log.info('hook at %d', os.time() // 1e9)" }
  t:
    op: lua.transform
    after: put
    from: "raw:in/{{ ds }}/in.csv"
    to: "stage:out/{{ ds }}/out.csv"
    script: lua/g.lua
    function: $2
    grant: $3
    params: { lookup: "$G/lookup/names.txt" }
${4:-}
EOF
}
gspec io_ok uses_io '["io.read:../lookup"]'
out=$("$UBPIPE" plan "$G/io_ok.yaml" --ds $DS 2>&1)
has "plan: transform grant" "$out" "grant    lua  io.read:$G/lua/../lookup"
has "plan: lua_grant of the hooks" "$out" "hook     lua  on_success: log.info('hook at %d', os.time() // 1e9); grants: os"
out=$("$UBPIPE" run "$G/io_ok.yaml" --ds $DS 2>&1)
same "io.read granted: exit" "$?" 0
has "lua_grant os in a hook" "$out" "lua info: hook at 1"
same "io.read granted: output" "$(cat "$G/lake/stage/out/$DS/out.csv")" "id,v
1,lookup file
2,lookup file"
gspec io_out reads_outside '["io.read:../lookup"]'
out=$("$UBPIPE" run "$G/io_out.yaml" --ds $DS 2>&1)
same "io outside: exit" "$?" 1
has "io outside: message" "$out" "'raw/in/$DS/in.csv' row 1 (line 2): g.lua:4: io.open: '/etc/hostname' is outside the granted directories for reading (see 'grant') (traceback: g.lua:4:"
gspec io_none uses_io '[]'
out=$("$UBPIPE" run "$G/io_none.yaml" --ds $DS 2>&1)
same "io not granted: exit" "$?" 1
has "io not granted: message" "$out" "'raw/in/$DS/in.csv' row 1 (line 2): g.lua:2: attempt to index a nil value (global 'io')"
gspec os_none uses_os '[]'
out=$("$UBPIPE" run "$G/os_none.yaml" --ds $DS 2>&1)
has "os not granted: message" "$out" "g.lua:5: attempt to index a nil value (global 'os')"
gspec os_ok uses_os '[os]'
out=$("$UBPIPE" run "$G/os_ok.yaml" --ds $DS 2>&1)
same "os granted: exit" "$?" 0
# os.time is there, os.execute is not, even with the grant
same "os granted: output" "$(sed -n 2p "$G/lake/stage/out/$DS/out.csv")" "1,number;nil"
gspec bad_grant uses_os '[net]'
out=$("$UBPIPE" plan "$G/bad_grant.yaml" --ds $DS 2>&1)
same "unknown grant: plan exit" "$?" 2
has "unknown grant: message" "$out" "lua.transform: unknown grant 'net' (grants: os, io.read:DIR, io.write:DIR)"
sed -i 's/^lua_grant: \[os\]/lua_grant: [os, "io.exec:x"]/' "$G/io_ok.yaml"
out=$("$UBPIPE" validate "$G/io_ok.yaml" 2>&1)
same "unknown lua_grant: validate exit" "$?" 2
has "unknown lua_grant: message" "$out" "lua_grant: unknown grant 'io.exec:x' (grants: os, io.read:DIR, io.write:DIR)"

# --- 5. sandbox limits of a transform -------------------------------------------------
cat > "$G/lua/lim.lua" <<'EOF'
return {
  spin = function(row) while true do end end,
  hog = function(row) local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end end,
  slow = function(row) return { id = (('a'):rep(30)):find(('a*'):rep(30) .. 'b') } end,
  escape = function(row) return require('../../etc/passwd') end,
  missing = function(row) return require('nosuch') end,
  noload = function(row) return load('return 1') end,
}
EOF
lim() {  # NAME FUNCTION EXTRA-KEYS
  gspec "$1" "$2" '[]' "$3"
  sed -i "s|script: lua/g.lua|script: lua/lim.lua|" "$G/$1.yaml"
  "$UBPIPE" run "$G/$1.yaml" --ds $DS 2>&1
}
out=$(lim spin spin "    max_instructions: 100000")
has "limit instructions" "$out" "'raw/in/$DS/in.csv' row 1 (line 2): instruction budget exceeded (100000 instructions) (traceback: lim.lua:2:"
out=$(lim hog hog "    max_memory_mb: 8")
has "limit memory" "$out" "'raw/in/$DS/in.csv' row 1 (line 2): memory limit exceeded (8 MiB)"
out=$(lim slow slow "    max_instructions: 2000000000
    max_seconds: 0.3s")
has "limit wall clock (a pathological pattern)" "$out" "'raw/in/$DS/in.csv' row 1 (line 2): time limit exceeded (0.3 s per call)"
printf '\033Lua\124\000 not text' > "$G/lua/bin.lua"
gspec binary transform '[]'
sed -i "s|script: lua/g.lua|script: lua/bin.lua|" "$G/binary.yaml"
out=$("$UBPIPE" run "$G/binary.yaml" --ds $DS 2>&1)
has "no binary chunks" "$out" "script 'bin.lua': "
has "no binary chunks: why" "$out" "attempt to load a binary chunk"
out=$(lim noload noload "")
has "no load" "$out" "lim.lua:7: attempt to call a nil value (global 'load')"
out=$(lim escape escape "")
has "require: no path escape" "$out" "module name '../../etc/passwd' is not NAME or NAME.NAME..."
out=$(lim missing missing "")
has "require: not found" "$out" "module 'nosuch' not found"
hasnt "require: not found, no C path" "$out" "package.cpath"

echo "test_lua: $pass passed, $fail failed"
[ "$fail" = 0 ]
