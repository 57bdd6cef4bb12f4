#!/bin/sh
# deps.sh — the Debian packages (and npm helpers) ubpipe needs to build, run and test.
#   sh scripts/deps.sh check [GROUP]     exit 0 when all are there, else print what is missing
#   sh scripts/deps.sh install [GROUP]   apt-get install what is missing (root), or print the exact
#                                        command and exit 1; then `npm ci` in each npm helper
#                                        directory whose node_modules is missing or older than its lock
#   sh scripts/deps.sh list [GROUP]      the group's Debian packages, one a line
# GROUP: build | run (build + run) | test or all (everything: build + run + test).  `make run` uses run,
# `make test` and .ci/run use test.
set -eu
cd "$(dirname "$0")/.."
# build: the compiler and the libraries of PKGS in the Makefile (and the ones being added to it:
# microhttpd for the HTTP server, graphviz for DAG pictures, cmark for Markdown in reports)
BUILD="build-essential pkg-config libyaml-dev libpq-dev libcurl4-openssl-dev libssl-dev liblua5.4-dev libzstd-dev libexpat1-dev libjansson-dev libmicrohttpd-dev libgraphviz-dev libcmark-dev libjs-chart.js libxxhash-dev"
# run: the local stack (chart.js, embedded at build time into reports, is in build)
RUN="postgresql postgresql-client zstd bc"
# test: the test scripts' tools, the browser of the browser tests, clang + its runtime for fuzz targets
TEST="python3 python3-jsonschema python3-yaml python3-botocore man-db chromium clang libclang-rt-14-dev"
ALL="$BUILD $RUN $TEST"
# npm projects of test helpers (package.json + package-lock.json committed, node_modules ignored)
NPM_DIRS="tests/e2e/s3rver tests/browser"

missing() {
  for p in $1; do
    dpkg -s "$p" >/dev/null 2>&1 || printf '%s ' "$p"
  done
}
# the npm helper directories that need `npm ci`
npm_stale() {
  for d in $NPM_DIRS; do
    [ -f "$d/package.json" ] || continue
    if [ ! -d "$d/node_modules" ] ||
       { [ -f "$d/package-lock.json" ] && [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; }; then
      printf '%s ' "$d"
    fi
  done
}

what=${2:-all}
case $what in
build) want=$BUILD ;;
run) want="$BUILD $RUN" ;;
test|all) want=$ALL ;;
*) echo "deps.sh: unknown group '$what' (build, run, test, all)" >&2; exit 2 ;;
esac
m=$(missing "$want")
# npm (for the test helpers): any npm will do; a machine whose Node.js does not come from
# Debian already has one, and Debian's npm package would conflict with it
npm=0
case $what in
run|build) ;;
*) npm=1; command -v npm >/dev/null 2>&1 || m="$m nodejs npm" ;;
esac
m=$(echo $m)                      # one space between names, none at the ends

case ${1:-check} in
list)
  for p in $want; do echo "$p"; done ;;
check)
  s=""
  [ "$npm" = 0 ] || s=$(npm_stale)
  [ -z "$m" ] && [ -z "$s" ] && exit 0
  [ -z "$m" ] || echo "missing packages: $m"
  for d in $s; do echo "missing npm helpers: npm ci --prefix $d"; done
  exit 1 ;;
install)
  if [ -n "$m" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "deps: installing $m"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      # shellcheck disable=SC2086
      apt-get install -y -qq --no-install-recommends $m
    else
      echo "deps: missing packages; run:"
      echo "  sudo apt-get install -y $m"
      exit 1
    fi
  fi
  [ "$npm" = 1 ] || exit 0
  for d in $(npm_stale); do
    echo "deps: npm ci --prefix $d"
    npm ci --prefix "$d" --no-audit --no-fund --loglevel=error ||
      { echo "deps: 'npm ci --prefix $d' failed" >&2; exit 1; }
  done ;;
*) echo "usage: deps.sh check|install|list [build|run|test|all]" >&2; exit 2 ;;
esac
