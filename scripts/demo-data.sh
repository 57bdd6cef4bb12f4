#!/bin/sh
# demo-data.sh — generate the demo data once and load the purchases into ubpipe_source once.
#
#   sh scripts/demo-data.sh            (UBPIPE_HOME, UBPIPE_DEMO_SCALE=1, UBPIPE_DEMO_SEED=20210430)
#
# 1. builds build/tools/gendemo if needed (GENDEMO=path overrides);
# 2. writes STATE/demo/user_purchase.csv and STATE/demo/movie_review.csv unless they are present and
#    complete: both are written to temporary names and renamed, then a stamp (scale, seed, generator
#    checksum) is written last; files without a matching stamp are regenerated;
# 3. starts the stack if needed and loads user_purchase.csv into ubpipe_source.retail.user_purchase
#    unless the table already holds exactly these rows (same stamp in the table comment and the same
#    row count).  TRUNCATE, \copy and the comment run in one transaction: a killed load leaves the
#    table as it was.
# Prints one summary line; errors go to stderr.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${UBPIPE_HOME:-$PWD/.ubpipe}
case $STATE in
/*) ;;
*) STATE=$PWD/$STATE ;;
esac
STATE=${STATE%/}
DEMO=$STATE/demo
SCALE=${UBPIPE_DEMO_SCALE:-1}
SEED=${UBPIPE_DEMO_SEED:-20210430}
GENDEMO=${GENDEMO:-$ROOT/build/tools/gendemo}
PURCHASES=$DEMO/user_purchase.csv
REVIEWS=$DEMO/movie_review.csv
STACK="sh $ROOT/scripts/stack.sh"
export UBPIPE_HOME="$STATE"

die() {
	printf "demo-data: %s\n" "$*" >&2
	exit 1
}

case $PURCHASES in
*\'*) die "path '$PURCHASES' holds a single quote, which psql's \\copy cannot take; set UBPIPE_HOME elsewhere" ;;
esac

mkdir -p "$DEMO"
if command -v flock >/dev/null 2>&1; then
	exec 8>"$DEMO/.lock"
	flock -w 600 8 || die "another demo-data.sh has held '$DEMO/.lock' for 10 minutes"
fi

# ---- 1. the generator ---------------------------------------------------------
if [ ! -x "$GENDEMO" ] || [ -n "$(find "$ROOT/tools/gendemo.c" -newer "$GENDEMO")" ]; then
	make -s -C "$ROOT" build/tools/gendemo >&2 8>&- ||
		die "cannot build the generator (make build/tools/gendemo)"
fi

# ---- 2. the files -------------------------------------------------------------
stamp="ubpipe demo: scale=$SCALE seed=$SEED gen=$(cksum <"$ROOT/tools/gendemo.c" | cut -d' ' -f1)"
made="present"
if [ "$(cat "$DEMO/.stamp" 2>/dev/null || true)" != "$stamp" ] ||
	[ ! -f "$PURCHASES" ] || [ ! -f "$REVIEWS" ]; then
	rm -f "$DEMO/.stamp"
	t0=$(date +%s%N)
	"$GENDEMO" --purchases "$DEMO/.user_purchase.csv.tmp" --reviews "$DEMO/.movie_review.csv.tmp" \
		--scale "$SCALE" --seed "$SEED" 8>&- || die "gendemo failed"
	mv "$DEMO/.user_purchase.csv.tmp" "$PURCHASES"
	mv "$DEMO/.movie_review.csv.tmp" "$REVIEWS"
	printf '%s\n' "$stamp" >"$DEMO/.stamp.tmp"
	mv "$DEMO/.stamp.tmp" "$DEMO/.stamp"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	made="generated in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
fi
# the purchase file has no line breaks inside fields: one line per row
rows=$(($(wc -l <"$PURCHASES") - 1))

# ---- 3. the source table ------------------------------------------------------
$STACK start >/dev/null 8>&- || die "cannot start the stack"
psql_src() {
	PGOPTIONS='-c client_min_messages=warning' $STACK psql ubpipe_source -X -q -v ON_ERROR_STOP=1 "$@"
}
have=$(psql_src -tA -c "SELECT count(*) FROM retail.user_purchase" 8>&-) ||
	die "cannot count retail.user_purchase"
note=$(psql_src -tA -c "SELECT coalesce(obj_description('retail.user_purchase'::regclass, 'pg_class'), '')" 8>&-) ||
	die "cannot read the comment of retail.user_purchase"
if [ "$have" = "$rows" ] && [ "$note" = "$stamp" ]; then
	loaded="already loaded"
else
	t0=$(date +%s%N)
	psql_src --single-transaction -f - 8>&- <<EOF || die "loading '$PURCHASES' into retail.user_purchase failed (nothing was changed)"
TRUNCATE retail.user_purchase;
\\copy retail.user_purchase FROM '$PURCHASES' WITH (FORMAT csv, HEADER)
COMMENT ON TABLE retail.user_purchase IS '$stamp';
EOF
	psql_src -c "ANALYZE retail.user_purchase" 8>&- || true
	have=$(psql_src -tA -c "SELECT count(*) FROM retail.user_purchase" 8>&-)
	[ "$have" = "$rows" ] || die "retail.user_purchase holds $have rows after the load, want $rows"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	loaded="loaded in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
fi
printf '%s\n' "demo-data: scale $SCALE, files $made ($DEMO), $rows rows in ubpipe_source.retail.user_purchase $loaded"
