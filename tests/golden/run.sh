#!/bin/sh
# Golden cases: a spec in, the exact output and exit status out.
#   cases/NAME.yaml   the spec
#   cases/NAME.args   optional: the command line after "ubpipe" (default: validate); the spec is $SPEC
#   cases/NAME.out    expected stdout+stderr
#   cases/NAME.code   expected exit status
#   cases/NAME.env    optional: shell assignments (VAR='value', one a line) set for the command
# UPDATE=1 sh tests/golden/run.sh rewrites .out and .code from the current binary.
set -u
UBPIPE=${UBPIPE:-./ubpipe}
dir=$(dirname "$0")/cases
root=$(pwd)
pass=0 fail=0
for spec in "$dir"/*.yaml; do
  name=$(basename "$spec" .yaml)
  args="validate \$SPEC"
  [ -f "$dir/$name.args" ] && args=$(cat "$dir/$name.args")
  SPEC="tests/golden/cases/$name.yaml"
  cmd=$(printf '%s' "$args" | sed "s|\\\$SPEC|$SPEC|g")
  # the checkout's absolute path shows in plans: it reads <ROOT> in the golden files
  envfile=/dev/null
  [ -f "$dir/$name.env" ] && envfile="$dir/$name.env"
  out=$(env -u UBPIPE_HOME UBPIPE_HOME=/nonexistent/ubpipe-golden timeout 20 \
        sh -c "set -a; . '$envfile'; set +a; $UBPIPE $cmd" 2>&1)
  code=$?
  out=$(printf '%s\n' "$out" | sed "s|$root|<ROOT>|g")
  if [ "${UPDATE:-0}" = 1 ]; then
    printf '%s\n' "$out" > "$dir/$name.out"
    echo "$code" > "$dir/$name.code"
    continue
  fi
  want=$(cat "$dir/$name.out" 2>/dev/null)
  wcode=$(cat "$dir/$name.code" 2>/dev/null)
  if [ "$out" = "$want" ] && [ "$code" = "$wcode" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "golden $name: FAIL (exit $code, want $wcode)"
    printf '%s\n' "$out" > /tmp/golden.$name.got
    diff "$dir/$name.out" /tmp/golden.$name.got | head -20
  fi
done
echo "golden: $pass passed, $fail failed"
[ "$fail" = 0 ]
