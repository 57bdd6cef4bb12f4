#!/bin/sh
# test_report.sh — reports on the local stack (issue 12).
#
# In a temporary UBPIPE_HOME: start the private PostgreSQL, load a small demo, run the reference pipeline
# for two ds (its publish_user_behavior_report task writes the report into the lake), then
#  1. `ubpipe report` of the reference report for both ds; the embedded ubpipe-data equals psql's answers
#     to the same questions (written here in SQL, not taken from ubpipe);
#  2. no src/href in the file names anything outside it; the lake copy of the operator is a complete page;
#  3. a report whose data holds markup and "</script>": escaped in the page, and the browser test
#     (tests/browser/report.test.js, when puppeteer-core is installed) opens both files offline;
#  4. the read-only transaction: a query that writes fails naming its block; a SQL error names FILE:LINE:COL;
#     an unknown column names the key; a query over the row cap fails.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-$ROOT/ubpipe}
case $UBPIPE in /*) ;; *) UBPIPE=$ROOT/$UBPIPE ;; esac
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_report: FAIL: $*" >&2; }
same() { if [ "$2" = "$3" ]; then ok; else ko "$1: got [$2], want [$3]"; fi; }

TMP=$(mktemp -d /tmp/ubpipe-test-report.XXXXXX) || exit 1
chmod 755 "$TMP"
export UBPIPE_HOME="$TMP/home"
OUT=${REPORT_TEST_OUT:-$TMP/out}
mkdir -p "$OUT"
cleanup() { sh scripts/stack.sh stop >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

sh scripts/stack.sh start >/dev/null || { echo "test_report: cannot start the stack"; exit 1; }
UBPIPE_DEMO_SCALE=${TEST_REPORT_SCALE:-0.03} sh scripts/demo-data.sh >/dev/null || { echo "test_report: demo data failed"; exit 1; }
DEMO=$UBPIPE_HOME/demo
PSQL="sh scripts/stack.sh psql warehouse -X -q -A -t"

D1=2021-04-29 D2=2021-04-30
for d in $D1 $D2; do
  if "$UBPIPE" run pipelines/user_behavior.yaml -q --ds $d -p movie_review_file="$DEMO/movie_review.csv"; then ok
  else ko "run $d failed"; fi
done

# 1. the report for both ds, against psql
for d in $D1 $D2; do
  prev=$(date -u -d "$d - 1 day" +%F)
  if "$UBPIPE" report pipelines/user_behavior.yaml user_behavior --ds $d -o "$OUT/user_behavior-$d.html" 2>"$TMP/err"
  then ok; else ko "report $d failed: $(cat "$TMP/err")"; fi
  cat "$TMP/err" >&2
  # psql's answers, as JSON {name: rows}
  $PSQL -c "SELECT json_build_object(
    'today', (SELECT json_build_array(count(*), COALESCE(sum(amount_spent),0)::text,
                     sum(review_score)::float8 / NULLIF(sum(review_count),0), COALESCE(sum(review_count),0))
                FROM public.user_behavior_metric WHERE insert_date = '$d'),
    'previous', (SELECT json_build_array(count(*), COALESCE(sum(amount_spent),0)::text,
                     sum(review_score)::float8 / NULLIF(sum(review_count),0), COALESCE(sum(review_count),0))
                FROM public.user_behavior_metric WHERE insert_date = '$prev'),
    'history', (SELECT json_agg(json_build_array(insert_date::text, n, s::text) ORDER BY insert_date)
                  FROM (SELECT insert_date, count(*) n, sum(amount_spent) s FROM public.user_behavior_metric
                         WHERE insert_date <= '$d' GROUP BY insert_date) h),
    'customers', (SELECT json_agg(json_build_array(customerid, amount_spent::text, review_score, review_count)
                          ORDER BY amount_spent DESC, customerid)
                    FROM public.user_behavior_metric WHERE insert_date = '$d'),
    'top', (SELECT json_agg(json_build_array(customerid, amount_spent::text, review_score, review_count,
                    review_score::float8 / NULLIF(review_count,0)) ORDER BY amount_spent DESC, customerid)
              FROM (SELECT * FROM public.user_behavior_metric WHERE insert_date = '$d'
                     ORDER BY amount_spent DESC, customerid LIMIT 20) t))" > "$TMP/psql.json"
  res=$(python3 - "$OUT/user_behavior-$d.html" "$TMP/psql.json" <<'PY'
import json, re, sys
from decimal import Decimal
html = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'<script type="application/json" id="ubpipe-data">(.*?)</script>', html, re.S)
data = json.loads(m.group(1), parse_float=Decimal)
want = json.loads(open(sys.argv[2]).read(), parse_float=Decimal)
def norm(v):
    if isinstance(v, str):
        try: return Decimal(v)
        except Exception: return v
    if isinstance(v, float): return Decimal(repr(v))
    return Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v
def close(a, b):
    a, b = norm(a), norm(b)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= abs(b) * Decimal('1e-12')
    return a == b
bad = []
for name, rows in want.items():
    rows = rows if rows and isinstance(rows[0], list) else ([rows] if rows else [])
    got = data[name]['rows']
    if len(got) != len(rows): bad.append('%s: %d rows, psql %d' % (name, len(got), len(rows))); continue
    for i, (g, w) in enumerate(zip(got, rows)):
        if len(g) != len(w) or not all(close(x, y) for x, y in zip(g, w)):
            bad.append('%s row %d: %r vs psql %r' % (name, i, g, w)); break
print('; '.join(bad) if bad else 'same')
print(len(data['customers']['rows']), file=sys.stderr)
PY
)
  same "ubpipe-data of $d against psql" "$res" "same"
  # 2. nothing outside the file
  ext=$(grep -Eoi '(src|href)[[:space:]]*=[[:space:]]*["'"'"']?[[:space:]]*(https?:)?//' "$OUT/user_behavior-$d.html" | head -3)
  same "external src/href in the $d report" "$ext" ""
  same "ubpipe-data elements in the $d report" "$(grep -c 'id="ubpipe-data"' "$OUT/user_behavior-$d.html")" "1"
  lake="$UBPIPE_HOME/lake/stage/reports/user_behavior/$d/index.html"
  if [ -s "$lake" ] && tail -c 20 "$lake" | grep -q '</html>'; then ok; else ko "operator's report for $d not in the lake ($lake)"; fi
  same "the lake copy has the same data" \
    "$(grep -o '<script type="application/json" id="ubpipe-data">[^<]*' "$lake" | md5sum)" \
    "$(grep -o '<script type="application/json" id="ubpipe-data">[^<]*' "$OUT/user_behavior-$d.html" | md5sum)"
done
# the same ds twice: the same bytes (no clock, no path in the page), so a rerun leaves the lake as it was
"$UBPIPE" report pipelines/user_behavior.yaml user_behavior --ds $D2 -o "$TMP/again.html" 2>/dev/null
if cmp -s "$TMP/again.html" "$OUT/user_behavior-$D2.html"; then ok; else ko "a second rendering of $D2 differs"; fi
"$UBPIPE" plan pipelines/user_behavior.yaml --ds $D2 > "$TMP/plan.txt" 2>&1
if grep -q "report query history" "$TMP/plan.txt" && grep -q "stage/reports/user_behavior/$D2/index.html\|reports/user_behavior/$D2/index.html" "$TMP/plan.txt"
then ok; else ko "plan does not show the report's queries and destination"; fi

# 3. hostile data
mkdir -p "$TMP/spec"
cat > "$TMP/spec/p.yaml" <<YAML
pipeline: hostile
reports:
  xss: { file: xss.md, title: "Hostile <b>title</b>" }
profiles:
  local:
    warehouse: "host=$UBPIPE_HOME/pg user=ubpipe dbname=ubpipe_warehouse"
tasks:
  nothing: { op: noop }
YAML
cat > "$TMP/spec/xss.md" <<'MD'
# Escaping <i>check</i>

<script>window.pwned = 1</script>

```sql rows
SELECT * FROM (VALUES (1, '<img src=x onerror="window.pwned=1">', 3.5),
                      (2, '</script><script>window.pwned=1</script>', 1.25),
                      (3, 'plain, with "quotes"', 2.0)) AS t(n, label, amount)
```

```table
data: rows
```

```chart
type: bar
data: rows
x: label
y: amount
```

```chart
type: pie
data: rows
x: label
y: amount
```

```chart
type: doughnut
data: rows
x: label
y: [amount]
```

First label: {{ rows.label }}.
MD
if "$UBPIPE" report "$TMP/spec/p.yaml" xss -o "$OUT/xss.html" 2>"$TMP/err"; then ok; else ko "xss report: $(cat "$TMP/err")"; fi
same "raw <script> elements (inline code only)" "$(grep -c '<script>window.pwned' "$OUT/xss.html")" "0"
same "raw <img> in the page" "$(grep -c '<img src=x' "$OUT/xss.html")" "0"
if grep -q '&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;' "$OUT/xss.html"; then ok; else ko "escaped value in the narrative"; fi
same "closing script tags" "$(grep -o '</script>' "$OUT/xss.html" | wc -l)" "$(grep -o '<script' "$OUT/xss.html" | wc -l)"
if grep -q 'Hostile &lt;b&gt;title&lt;/b&gt;' "$OUT/xss.html"; then ok; else ko "title not escaped"; fi

# currencies: 'currency CODE' in a block and in the narrative (plain 'currency' stays US dollars)
cat > "$TMP/spec/xss.md" <<'MD'
```sql money
SELECT 1234.5::numeric AS amount, -7::numeric AS loss
```

```value
data: money
column: amount
format: currency GBP
```

Spent {{ money.amount | currency EUR }}, lost {{ money.loss | currency JPY }}, in dollars {{ money.amount | currency }},
in francs {{ money.amount | currency CHF }}.
MD
if "$UBPIPE" report "$TMP/spec/p.yaml" xss -o "$OUT/money.html" 2>"$TMP/err"; then ok; else ko "currency report: $(cat "$TMP/err")"; fi
grep -q 'Spent €1,234.50, lost -¥7, in dollars \$1,234.50' "$OUT/money.html" && ok ||
  ko "currencies in the narrative: $(grep -o 'Spent[^<]*' "$OUT/money.html")"
grep -q "in francs CHF$(printf '\302\240')1,234.50" "$OUT/money.html" && ok || ko "a code without a symbol: $(grep -o 'in francs[^<]*' "$OUT/money.html")"

# 4. database errors name the block
bad() {  # name, markdown, expected message fragment
  printf '%s\n' "$2" > "$TMP/spec/xss.md"
  "$UBPIPE" report "$TMP/spec/p.yaml" xss -o "$TMP/bad.html" > "$TMP/err" 2>&1
  code=$?
  same "$1: exit status" "$code" "1"
  if grep -qF -- "$3" "$TMP/err"; then ok; else ko "$1: want [$3] in: $(cat "$TMP/err")"; fi
  if [ -e "$TMP/bad.html" ]; then ko "$1: an output file was written"; rm -f "$TMP/bad.html"; else ok; fi
}
$PSQL -c "CREATE SEQUENCE IF NOT EXISTS public.report_test_seq" >/dev/null
bad "a query that writes" '```sql w
SELECT nextval('"'public.report_test_seq'"') AS n
```' "xss.md:1:1: query 'w': ERROR: cannot execute nextval() in a read-only transaction"
same "the sequence did not move" "$($PSQL -c "SELECT last_value || ',' || is_called FROM public.report_test_seq")" "1,false"
bad "a statement that is not a query" '```sql w
CREATE TABLE public.pwned AS SELECT 1 AS x
```' "xss.md:1:1: query 'w': ERROR: syntax error at or near \"CREATE\" (a query is one SELECT, VALUES or WITH ... SELECT)"
same "nothing was created" "$($PSQL -c "SELECT to_regclass('public.pwned') IS NULL")" "t"
bad "a SQL error" 'intro

```sql q
SELECT nosuchcolumn FROM public.user_behavior_metric
```' "xss.md:3:1: query 'q': ERROR: column \"nosuchcolumn\" does not exist"
bad "an unknown column" '```sql q
SELECT 1 AS a, 2 AS b
```

```chart
type: bar
data: q
x: a
y: [b, c]
```' "xss.md:9:8: chart block: query 'q' has no column 'c' (columns: a, b)"
bad "the row cap" '```sql q
SELECT generate_series(1, 20001) AS n
```' "xss.md:1:1: query 'q' returns more than 10000 rows (the row cap)"
bad "an unknown column in the text" '```sql q
SELECT 1 AS a
```

See {{ q.zz }}.' "xss.md:5:1: {{ q.zz }}: query 'q' has no column 'zz'"

# the browser test, when puppeteer-core is installed (make test installs it)
if [ -d tests/browser/node_modules/puppeteer-core ]; then
  if UB_OUT="$OUT" UB_REPORT="$OUT/user_behavior-$D2.html" UB_XSS="$OUT/xss.html" UB_MONEY="$OUT/money.html" \
     node tests/browser/report.test.js > "$TMP/browser.log" 2>&1; then ok; else ko "browser test: $(cat "$TMP/browser.log")"; fi
  grep -c '^ok:' "$TMP/browser.log" | sed 's/^/test_report: browser checks passed: /'
else
  echo "test_report: SKIP browser checks (tests/browser/node_modules missing: cd tests/browser && npm ci)"
fi

echo "test_report: $pass passed, $fail failed"
[ "$fail" = 0 ]
