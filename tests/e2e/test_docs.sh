#!/bin/sh
# test_docs.sh — keeps the man pages and the code in step.
#
#   sh tests/e2e/test_docs.sh            check (run from anywhere; UBPIPE=path overrides ./ubpipe)
#   sh tests/e2e/test_docs.sh --update   rewrite the generated blocks of man/ubpipe-pipeline.5
#
# Checks, against what the binary and the sources say today:
#   ubpipe.1          every command of `ubpipe --help` in SYNOPSIS and COMMANDS, every option in OPTIONS,
#                     every environment variable in ENVIRONMENT, every exit status in EXIT STATUS, the
#                     version in .TH equal to `ubpipe --version`;
#   ubpipe-pipeline.5 every operator of `ubpipe help` has a section holding each parameter name of
#                     `ubpipe help OP` and a block equal to `ubpipe help OP`; the keys every task takes,
#                     the top-level, defaults and connection keys of `ubpipe schema` and every parameter
#                     type are described; the EXAMPLES block equals pipelines/user_behavior.yaml;
#   ubpipe-lua.7      every function and field of stdlib/*.lua and every name of the template scope
#                     (interp/core/engine.c) is described;
#   every page        renders with `man --warnings` without a warning.
# Generated blocks sit between the lines
#   .\" BEGIN GENERATED help OP        (or: file PATH)
#   .\" END GENERATED
# and hold the text escaped for roff (see esc below) between .EX and .EE.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
UBPIPE=${UBPIPE:-./ubpipe}
P1=man/ubpipe.1
P5=man/ubpipe-pipeline.5
P7=man/ubpipe-lua.7
pass=0
fail=0
TMP=$(mktemp -d /tmp/ubpipe-test-docs.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM

ok() { pass=$((pass + 1)); }
ko() {
	fail=$((fail + 1))
	echo "test_docs: FAIL: $*" >&2
}

# esc: text -> roff text lines (backslash, hyphen, the non-ASCII characters in use, leading . and ')
esc() {
	sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e 's/—/\\(em/g' -e 's/…/\\[u2026]/g' -e 's/^\([.'\'']\)/\\\&\1/'
}
# unesc: roff source -> plain words, for looking names up (fonts, \-, \&, \~, \e, quotes of macro args)
unesc() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\~/ /g' -e 's/\\(em/—/g' -e 's/\\e/\\/g' \
		-e 's/"//g'
}
# section FILE NAME: source lines of section NAME (from its .SH to the next .SH)
section() {
	awk -v name="$2" '
		/^\.SH / { s = substr($0, 5); gsub(/"/, "", s); on = (s == name); next }
		on { print }' "$1"
}
# subsection FILE NAME: source lines of subsection NAME (to the next .SS or .SH)
subsection() {
	awk -v name="$2" '
		/^\.S[SH] / { s = substr($0, 5); gsub(/"/, "", s); on = ($1 == ".SS" && s == name); next }
		on { print }' "$1"
}
# tags: the tag lines (the line after each .TP or .TQ) of the source on stdin, unescaped
tags() {
	awk 'tp { print; tp = 0 } /^\.T[PQ]/ { tp = 1 }' | unesc
}
# has_tag WORD: some tag line on stdin holds WORD as a whole word (first, or after a macro name)
has_tag() {
	tags | awk -v w="$1" '{ for (i = 1; i <= NF; i++) if ($i == w) f = 1 } END { exit !f }'
}
# generated KIND ARG FILE: the text a generated block must hold (without .EX/.EE)
generated() {
	case $1 in
	help) "$UBPIPE" help "$2" | esc ;;
	file) esc <"$2" ;;
	esac
}
# block KIND ARG FILE: the lines of that generated block in FILE, without .EX/.EE
block() {
	awk -v key="$1 $2" '
		/^\.\\" END GENERATED/ { on = 0 }
		on && !/^\.E[XE]$/ { print }
		index($0, ".\\\" BEGIN GENERATED ") == 1 && substr($0, 21) == key { on = 1; found = 1 }
		END { exit !found }' "$3"
}

if ! "$UBPIPE" --version >/dev/null 2>&1; then
	echo "test_docs: cannot run '$UBPIPE' (build it first: make)" >&2
	echo "test_docs: 0 passed, 1 failed"
	exit 1
fi

# ---- --update: rewrite every generated block of the pipeline page ------------
if [ "${1:-}" = "--update" ]; then
	out=$TMP/page
	: >"$out"
	skip=0
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'.\" BEGIN GENERATED '*)
			printf '%s\n' "$line" >>"$out"
			set -- ${line#'.\" BEGIN GENERATED '}
			{ echo .EX; generated "$1" "$2"; echo .EE; } >>"$out"
			skip=1
			continue
			;;
		'.\" END GENERATED'*) skip=0 ;;
		esac
		[ "$skip" = 1 ] || printf '%s\n' "$line" >>"$out"
	done <"$P5"
	cp "$out" "$P5"
	echo "test_docs: updated the generated blocks of $P5"
	exit 0
fi

"$UBPIPE" --help >"$TMP/help"
"$UBPIPE" help >"$TMP/helpall"
"$UBPIPE" schema >"$TMP/schema.json"

for p in "$P1" "$P5" "$P7"; do
	[ -f "$p" ] && ok || ko "$p is missing"
done

# ---- ubpipe.1 ------------------------------------------------------------------
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS FILES ENVIRONMENT "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	grep -q "^\.SH \"*$s\"*\$" "$P1" && ok || ko "$P1: no section $s"
done
verbs=$(awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }' "$TMP/help")
[ -n "$verbs" ] && ok || ko "no commands found in 'ubpipe --help'"
for v in $verbs; do
	section "$P1" SYNOPSIS | unesc | grep -q -e "^\.B $v\( \|\$\)" && ok || ko "$P1: command '$v' is not in SYNOPSIS"
	section "$P1" COMMANDS | tags | awk -v v="$v" '$2 == v { f = 1 } END { exit !f }' && ok ||
		ko "$P1: command '$v' has no entry in COMMANDS"
done
opts=$(awk '/^Options:/ { on = 1; next } /^$/ { on = 0 } on' "$TMP/help" |
	grep -o -e '--[a-z][a-z-]*' -e '^ *-[a-zA-Z]' -e ' -[a-zA-Z],' | tr -d ' ,' | sort -u)
[ -n "$opts" ] && ok || ko "no options found in 'ubpipe --help'"
for o in $opts; do
	section "$P1" OPTIONS | has_tag "$o" && ok || ko "$P1: option '$o' has no entry in OPTIONS"
done
envs=$(awk '/^Environment:/ { on = 1 } /^Exit status:/ { on = 0 } on' "$TMP/help" |
	grep -o -e 'UBPIPE_[A-Z_]*' -e 'NO_COLOR' | sort -u)
[ -n "$envs" ] && ok || ko "no environment variables found in 'ubpipe --help'"
for e in $envs; do
	section "$P1" ENVIRONMENT | tags | grep -q -e "^\.B[IR]* $e\( \|\$\)" && ok ||
		ko "$P1: environment variable '$e' has no entry in ENVIRONMENT"
done
codes=$(grep '^Exit status:' "$TMP/help" | grep -o '[0-9]')
[ -n "$codes" ] && ok || ko "no exit status found in 'ubpipe --help'"
for c in $codes; do
	section "$P1" "EXIT STATUS" | tags | grep -q -x ".B $c" && ok || ko "$P1: exit status $c is not described"
done
version=$("$UBPIPE" --version)
grep -q "^\.TH .* \"$version\"" "$P1" && ok || ko "$P1: .TH does not name '$version'"

# ---- ubpipe-pipeline.5 ---------------------------------------------------------
for s in NAME SYNOPSIS DESCRIPTION TYPES TEMPLATES OPERATORS ERRORS LIMITS "JSON SCHEMA" EXAMPLES "SEE ALSO"; do
	grep -q "^\.SH \"*$s\"*\$" "$P5" && ok || ko "$P5: no section $s"
done
ops=$(awk '/^Operators:/ { on = 1; next } on && NF { print $1 }' "$TMP/helpall")
[ -n "$ops" ] && ok || ko "no operators found in 'ubpipe help'"
for op in $ops; do
	if ! grep -q -x "\.SS $op" "$P5"; then
		ko "$P5: operator '$op' has no subsection"
		continue
	fi
	ok
	"$UBPIPE" help "$op" >"$TMP/op"
	params=$(awk '/^Parameters:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' "$TMP/op")
	subsection "$P5" "$op" | unesc >"$TMP/sub"
	for prm in $params; do
		grep -q -w -e "$prm" "$TMP/sub" && ok || ko "$P5: parameter '$prm' of '$op' is not in its subsection"
	done
	generated help "$op" >"$TMP/want"
	if ! block help "$op" "$P5" >"$TMP/got"; then
		ko "$P5: no generated block for 'ubpipe help $op' (add one, then run: sh $0 --update)"
	elif cmp -s "$TMP/want" "$TMP/got"; then
		ok
	else
		ko "$P5: the block of '$op' differs from 'ubpipe help $op' (run: sh $0 --update)"
		diff "$TMP/got" "$TMP/want" | head -n 20 >&2
	fi
done
# no block for an operator that is gone
for op in $(sed -n 's/^\.\\" BEGIN GENERATED help //p' "$P5"); do
	echo "$ops" | grep -q -x -F -e "$op" && ok || ko "$P5: block for '$op', which 'ubpipe help' does not list"
done
common=$(sed -n '/^Every task also takes:/,/^$/p' "$TMP/op" | sed -e 's/^Every task also takes://' -e 's/(.*//' |
	tr ',' '\n' | tr -d ' .' | grep .)
[ -n "$common" ] && ok || ko "no common task keys found in 'ubpipe help OP'"
for k in $common; do
	has_tag "$k" <"$P5" && ok || ko "$P5: task key '$k' has no entry"
done
types=$(for op in $ops; do "$UBPIPE" help "$op"; done |
	awk '/^Parameters:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $2 }' | sort -u)
for t in $types; do
	section "$P5" TYPES | has_tag "$t" && ok || ko "$P5: parameter type '$t' is not in TYPES"
done
if command -v python3 >/dev/null 2>&1; then
	python3 - "$TMP/schema.json" >"$TMP/keys" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
p = s["properties"]
for k in p: print("top", k)
for k in p["defaults"]["properties"]: print("defaults", k)
conn = p["profiles"]["additionalProperties"]["additionalProperties"]["oneOf"][1]["properties"]
for k in conn: print("connection", k)
EOF
	[ -s "$TMP/keys" ] && ok || ko "cannot read the keys of 'ubpipe schema'"
	while read -r kind k; do
		has_tag "$k" <"$P5" && ok || ko "$P5: $kind key '$k' (from 'ubpipe schema') has no entry"
	done <"$TMP/keys"
else
	ko "python3 is needed to read 'ubpipe schema'"
fi
if block file pipelines/user_behavior.yaml "$P5" >"$TMP/got"; then
	generated file pipelines/user_behavior.yaml >"$TMP/want"
	cmp -s "$TMP/want" "$TMP/got" && ok ||
		ko "$P5: the EXAMPLES copy of pipelines/user_behavior.yaml is stale (run: sh $0 --update)"
else
	ko "$P5: no generated block for pipelines/user_behavior.yaml"
fi

# ---- ubpipe-lua.7 --------------------------------------------------------------
for s in NAME DESCRIPTION SCOPE "STANDARD LIBRARY" SANDBOX LIMITS EXAMPLES "SEE ALSO"; do
	grep -q "^\.SH \"*$s\"*\$" "$P7" && ok || ko "$P7: no section $s"
done
n=0
for f in stdlib/*.lua; do
	mod=$(basename "$f" .lua)
	for fn in $(sed -n -e 's/^function M\.\([a-z_][a-z_0-9]*\).*/\1/p' -e 's/^M\.\([a-z_][a-z_0-9]*\) *=.*/\1/p' "$f" |
		sort -u); do
		n=$((n + 1))
		section "$P7" "STANDARD LIBRARY" | tags | grep -q -e "^\.B[IR]* $mod\.$fn\( \|(\|\$\)" && ok ||
			ko "$P7: $mod.$fn (stdlib/$mod.lua) has no entry"
	done
done
[ "$n" -gt 0 ] && ok || ko "no stdlib functions found in stdlib/*.lua"
scope=$(grep -o 'ub_lua_scope_set[a-z]*(e->lua, "[a-z_]*"' interp/core/engine.c | sed 's/.*"\(.*\)"/\1/' | sort -u)
[ -n "$scope" ] && ok || ko "no template scope names found in interp/core/engine.c"
for v in $scope; do
	section "$P7" SCOPE | has_tag "$v" && ok || ko "$P7: scope name '$v' has no entry in SCOPE"
done

# ---- rendering -----------------------------------------------------------------
if command -v man >/dev/null 2>&1; then
	for p in "$P1" "$P5" "$P7"; do
		MANWIDTH=80 MANPAGER=cat PAGER=cat man --warnings -l "$p" >"$TMP/out" 2>"$TMP/err"
		rc=$?
		if [ "$rc" = 0 ] && [ ! -s "$TMP/err" ] && [ -s "$TMP/out" ]; then
			ok
		else
			ko "$p does not render cleanly (man exit status $rc)"
			head -n 20 "$TMP/err" >&2
		fi
	done
else
	ko "man is missing (install man-db): the pages cannot be checked"
fi

echo "test_docs: $pass passed, $fail failed"
[ "$fail" = 0 ]
