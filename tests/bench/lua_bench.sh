#!/bin/sh
# lua_bench.sh — the Lua review classifier (examples/lua_classifier.yaml, a lua.transform) against the built-in C
# classifier on the real-scale demo reviews, and the per-row cost of a Lua call (an identity function).
# Prints a table; not a pass/fail test (the target is a ratio of at most 3).
#   sh tests/bench/lua_bench.sh [BUILD]       (BUILD: build directory with libubpipe.a, default build)
# Reviews: $LUA_BENCH_REVIEWS, else $UBPIPE_HOME/demo/movie_review.csv (make bench's demo data), else generated
# with build/tools/gendemo at scale 1.  Work files under $BENCH_HOME/lua (default /tmp/ubpipe-bench/lua).
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=$ROOT/ubpipe
W=${BENCH_HOME:-/tmp/ubpipe-bench}/lua
mkdir -p "$W"
DS=2021-04-30
N=${LUA_BENCH_TRIES:-5}
row() { printf '%-44s %12s %12s %10s  %s\n' "$1" "$2" "$3" "$4" "$5"; }
command -v bc >/dev/null || { echo "lua_bench: needs bc (apt-get install bc)"; exit 1; }
[ -x "$UBPIPE" ] && [ -f "$BUILD/libubpipe.a" ] || { echo "lua_bench: build first (make)"; exit 1; }

REV=${LUA_BENCH_REVIEWS:-}
if [ -z "$REV" ] && [ -f "${UBPIPE_HOME:-/nonexistent}/demo/movie_review.csv" ]; then REV=$UBPIPE_HOME/demo/movie_review.csv; fi
if [ -z "$REV" ]; then
  REV=$W/movie_review.csv
  if [ ! -f "$REV" ]; then
    [ -x "$BUILD/tools/gendemo" ] || make -s "$BUILD/tools/gendemo" >/dev/null || exit 1
    "$BUILD/tools/gendemo" --purchases "$W/purchases.csv" --reviews "$REV" >/dev/null || exit 1
  fi
fi

# --- the built-in classifier: best of N --------------------------------------
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinterp -o "$W/classify_bench" tests/bench/classify_bench.c "$BUILD/libubpipe.a" \
   $(pkg-config --libs yaml-0.1 libpq libcurl openssl lua5.4 libzstd expat jansson) -lm -lpthread || exit 1
ct=
for _ in $(seq "$N"); do
  out=$("$W/classify_bench" "$REV" "$W/classified_c.csv" $DS) || exit 1
  s=${out%% *}
  if [ -z "$ct" ] || [ "$(echo "$s < $ct" | bc -l)" = 1 ]; then ct=$s; fi
  rows=$(echo "$out" | cut -d' ' -f3)
done

# --- the Lua transform: the example itself, in a private state and lake -------
rm -rf "$W/ex" "$W/lake" "$W/state"
mkdir -p "$W/ex" && cp -r examples/lua_classifier.yaml examples/lua "$W/ex/" || exit 1
cat > "$W/ex/lua/identity.lua" <<'EOF'
return { transform = function(row, ctx) return row end }
EOF
cat > "$W/ex/identity.yaml" <<'EOF'
pipeline: lua_identity
params: { movie_review_file: reviews.csv }
profiles:
  local: { lake: "file:../lake" }
tasks:
  put: { op: lake.put, src: "{{ params.movie_review_file }}", dst: "raw:movie_review/{{ ds }}/movie.csv" }
  identity:
    op: lua.transform
    after: put
    from: "raw:movie_review/{{ ds }}/movie.csv"
    to: "stage:identity/{{ ds }}/movie.csv"
    script: lua/identity.lua
  identity_cid:
    op: lua.transform
    after: put
    from: "raw:movie_review/{{ ds }}/movie.csv"
    to: "stage:identity/{{ ds }}/cid.csv"
    script: lua/identity.lua
    header: [cid]
EOF
export UBPIPE_HOME=$W/state
# best task duration of N runs of TASK of SPEC (seconds, from `ubpipe status --format json`)
lua_time() {
  spec=$1 task=$2; shift 2; b=
  "$UBPIPE" run "$spec" --ds $DS -q -j 1 -p movie_review_file="$REV" "$@" >/dev/null || return 1
  for _ in $(seq "$N"); do
    "$UBPIPE" run "$spec" --ds $DS -q -j 1 --rerun --only "$task" -p movie_review_file="$REV" "$@" >/dev/null || return 1
    t=$("$UBPIPE" status "$spec" --ds $DS --format json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tasks"]:
    if t["id"] == sys.argv[1]:
        print("%.4f" % t["duration_s"])' "$task")
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
lt=$(lua_time "$W/ex/lua_classifier.yaml" classify_movie_reviews) || { echo "lua_bench: the Lua classifier failed"; exit 1; }
cmp -s "$W/classified_c.csv" "$W/lake/stage/movie_review_lua/$DS/classified.csv" && same=identical || same=DIFFERENT
# the call overhead: an identity function whose output is one column (the C classifier also writes small rows)
ic=$(lua_time "$W/ex/identity.yaml" identity_cid) || { echo "lua_bench: the identity transform failed"; exit 1; }
# and the whole review copied through Lua (the writing of 131 MB included)
it=$(lua_time "$W/ex/identity.yaml" identity) || { echo "lua_bench: the identity transform failed"; exit 1; }

ratio=$(echo "scale=2; $lt / $ct" | bc -l)
us() { echo "scale=3; $1 * 1000000 / $rows" | bc -l; }
row "Lua classifier vs C classifier (s)" "$lt" "$ct" "${ratio}x" "<= 3x; outputs $same"
row "  per row (us)" "$(us "$lt")" "$(us "$ct")" "-" "$rows rows"
row "Lua identity, header [cid] (s)" "$ic" "-" "-" "f(row) return row end"
row "  per row (us)" "$(us "$ic")" "-" "-" "read, parse, call, write cid"
row "  per-row call overhead (us)" "$(echo "scale=3; ($ic - $ct) * 1000000 / $rows" | bc -l)" "-" "-" \
    "(identity - C classifier) / rows"
row "Lua identity, every column (s)" "$it" "-" "-" "the reviews written back"
row "  per row (us)" "$(us "$it")" "-" "-" "read, parse, call, write all"
