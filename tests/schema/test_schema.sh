#!/bin/sh
# The JSON Schema and the loader must agree:
#  1. schemas/pipeline.schema.json is exactly what `ubpipe schema` generates from the operator tables;
#  2. every pipeline and example in the repository validates against it (a real validator: python3-jsonschema);
#  3. every golden spec the loader rejects for its shape is rejected by the schema too.
set -u
UBPIPE=${UBPIPE:-./ubpipe}
PY=/usr/bin/python3
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

tmp=$(mktemp)
$UBPIPE schema > "$tmp"
if cmp -s "$tmp" schemas/pipeline.schema.json; then ok; else
  bad "schemas/pipeline.schema.json is stale: run '$UBPIPE schema > schemas/pipeline.schema.json'"; fi
rm -f "$tmp"

# shape errors: specs the loader rejects before any template is rendered
shape="unknown_key missing_required wrong_type unknown_op bad_lakeref many_errors tab_indent yaml_syntax"
for f in pipelines/*.yaml examples/*.yaml tests/golden/cases/ok_minimal.yaml; do
  [ -f "$f" ] || continue
  if $PY tests/schema/check.py schemas/pipeline.schema.json "$f" >/dev/null; then ok; else
    bad "$f does not validate against the schema"; $PY tests/schema/check.py schemas/pipeline.schema.json "$f"; fi
  if $UBPIPE validate -q "$f" 2>/dev/null; then ok; else bad "$f is refused by the loader"; fi
done
for n in $shape; do
  f=tests/golden/cases/$n.yaml
  if $UBPIPE validate -q "$f" 2>/dev/null; then bad "$f: the loader accepts it"; else ok; fi
  if $PY tests/schema/check.py schemas/pipeline.schema.json "$f" >/dev/null 2>&1; then
    bad "$f: the schema accepts a spec the loader rejects"; else ok; fi
done
echo "test_schema: $pass passed, $fail failed"
[ "$fail" = 0 ]
