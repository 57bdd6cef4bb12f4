#!/bin/sh
# test_make_setup.sh — `make test` sets up what the tests need, as `make run` does (issue 9, item 2).
#
#  1. the test target runs `sh scripts/deps.sh install test` before it builds or runs anything;
#  2. deps.sh (a copy, in a scratch tree, with dpkg/id/apt-get/npm stand-ins on PATH): as a user it prints
#     the exact apt-get command for the missing test packages and stops; as root it installs them, then
#     runs `npm ci` in every npm helper directory (tests/e2e/s3rver, tests/browser) whose node_modules is
#     missing; the run group does not pull the test packages;
#  3. the lists hold what the tests and the other layers need (chromium, jsonschema, clang, ...);
#  4. on this machine, after make test's setup, `deps.sh check all` finds nothing missing.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_make_setup: FAIL: $*" >&2; }
has() { case $2 in *"$3"*) ok ;; *) ko "$1: no [$3] in [$2]" ;; esac; }
hasnt() { case $2 in *"$3"*) ko "$1: [$3] in [$2]" ;; *) ok ;; esac; }

TMP=$(mktemp -d /tmp/ubpipe-test-setup.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

# 1. the order of make test's commands
make -s -n test > "$TMP/n" 2>/dev/null
first=$(head -n 1 "$TMP/n")
if [ "$first" = "sh scripts/deps.sh install test" ]; then ok; else ko "make test starts with [$first], not the setup"; fi
if grep -q '^sh tests/run.sh' "$TMP/n"; then ok; else ko "make -n test does not run tests/run.sh"; fi

# 2. deps.sh against stand-ins
T=$TMP/tree
mkdir -p "$T/scripts" "$T/tests/e2e/s3rver" "$T/tests/browser" "$TMP/bin"
cp scripts/deps.sh "$T/scripts/"
echo '{}' > "$T/tests/e2e/s3rver/package.json"; echo '{}' > "$T/tests/e2e/s3rver/package-lock.json"
echo '{}' > "$T/tests/browser/package.json"; echo '{}' > "$T/tests/browser/package-lock.json"
cat > "$TMP/bin/dpkg" <<'S'
#!/bin/sh
for m in $STUB_MISSING; do [ "$2" = "$m" ] && exit 1; done
exit 0
S
cat > "$TMP/bin/id" <<'S'
#!/bin/sh
echo "$STUB_UID"
S
cat > "$TMP/bin/apt-get" <<'S'
#!/bin/sh
echo "apt-get $*" >> "$STUB_LOG"
S
cat > "$TMP/bin/npm" <<'S'
#!/bin/sh
echo "npm $*" >> "$STUB_LOG"
while [ $# -gt 0 ]; do [ "$1" = --prefix ] && mkdir -p "$2/node_modules" && touch "$2/node_modules/.package-lock.json"; shift; done
S
chmod +x "$TMP/bin/"*
export STUB_LOG=$TMP/log
deps() { PATH=$TMP/bin:$PATH sh "$T/scripts/deps.sh" "$@"; }

: > "$STUB_LOG"
out=$(STUB_UID=1000 STUB_MISSING="python3-jsonschema chromium" deps install test 2>&1); rc=$?
[ "$rc" = 1 ] && ok || ko "as a user with missing packages: exit $rc"
has "user: exact command" "$out" "sudo apt-get install -y python3-jsonschema chromium"
hasnt "user: no apt-get run" "$(cat "$STUB_LOG")" "apt-get"

: > "$STUB_LOG"
out=$(STUB_UID=0 STUB_MISSING="python3-jsonschema chromium" deps install test 2>&1); rc=$?
[ "$rc" = 0 ] && ok || ko "as root: exit $rc: $out"
log=$(cat "$STUB_LOG")
has "root: apt-get install" "$log" "apt-get install -y -qq --no-install-recommends python3-jsonschema chromium"
has "root: npm ci of s3rver" "$log" "npm ci --prefix tests/e2e/s3rver"
has "root: npm ci of browser" "$log" "npm ci --prefix tests/browser"

: > "$STUB_LOG"
out=$(STUB_UID=0 STUB_MISSING="" deps install test 2>&1); rc=$?
[ "$rc" = 0 ] && ok || ko "nothing missing: exit $rc: $out"
[ -s "$STUB_LOG" ] && ko "nothing missing, yet: $(cat "$STUB_LOG")" || ok
out=$(STUB_UID=0 STUB_MISSING="" deps check test 2>&1) && ok || ko "check after install: $out"

: > "$STUB_LOG"
rm -rf "$T/tests/e2e/s3rver/node_modules"
out=$(STUB_UID=0 STUB_MISSING="chromium" deps install run 2>&1)
hasnt "run group: chromium" "$(cat "$STUB_LOG")" "chromium"
hasnt "run group: npm" "$(cat "$STUB_LOG")" "npm"
out=$(STUB_UID=0 STUB_MISSING="" deps check test 2>&1); rc=$?
[ "$rc" = 1 ] && ok || ko "check with a stale npm helper: exit $rc"
has "check names the npm helper" "$out" "npm ci --prefix tests/e2e/s3rver"

# 3. what the lists must hold
all=$(sh scripts/deps.sh list all | tr '\n' ' ')
for p in python3-jsonschema python3-yaml chromium libmicrohttpd-dev libgraphviz-dev libcmark-dev libjs-chart.js \
         clang libclang-rt-14-dev libpq-dev postgresql; do
  has "package list" " $all" " $p "
done
hasnt "run group without chromium" " $(sh scripts/deps.sh list run | tr '\n' ' ')" " chromium "

# 4. this machine, as make test's setup left it
out=$(sh scripts/deps.sh check all 2>&1) && ok || ko "deps.sh check all: $out"

echo "test_make_setup: $pass passed, $fail failed"
[ "$fail" = 0 ]
