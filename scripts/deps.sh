#!/bin/sh
# deps.sh — the Debian packages ubpipe needs to build, run and test.
#   sh scripts/deps.sh check     exit 0 when all are installed, else print the missing ones
#   sh scripts/deps.sh install   apt-get install what is missing (root), or print the exact command
set -eu
BUILD="build-essential pkg-config libyaml-dev libpq-dev libcurl4-openssl-dev libssl-dev liblua5.4-dev libzstd-dev libexpat1-dev libjansson-dev libmicrohttpd-dev libgraphviz-dev"
RUN="postgresql postgresql-client zstd bc"
TEST="python3 python3-jsonschema python3-yaml python3-botocore man-db"
ALL="$BUILD $RUN $TEST"
missing() {
  for p in $1; do
    dpkg -s "$p" >/dev/null 2>&1 || printf '%s ' "$p"
  done
}
what=${2:-all}
case $what in
build) want=$BUILD ;; run) want="$BUILD $RUN" ;; *) want=$ALL ;;
esac
m=$(missing "$want")
# npm (for the s3rver test helper): any npm will do; a machine whose Node.js does not
# come from Debian already has one, and Debian's npm package would conflict with it
case $what in
run|build) ;;
*) command -v npm >/dev/null 2>&1 || m="$m nodejs npm" ;;
esac
case ${1:-check} in
check)
  [ -z "$m" ] && exit 0
  echo "missing packages: $m"
  exit 1 ;;
install)
  [ -z "$m" ] && exit 0
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
  fi ;;
*) echo "usage: deps.sh check|install [build|run|all]" >&2; exit 2 ;;
esac
