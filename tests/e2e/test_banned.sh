#!/bin/sh
# test_banned.sh — base/banned.h: each banned C library call is a build error with the flags the
# Makefile uses (without -Werror, as a plain `make` builds), and a file that is clean compiles,
# even one that sets _GNU_SOURCE before its first include (banned.h comes in before it).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
CC=${CC:-cc}
# the flags of the Makefile's CFLAGS that matter here
FLAGS="-O2 -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Iinterp -include interp/base/banned.h"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "test_banned: FAIL: $*" >&2; }
TMP=$(mktemp -d /tmp/ubpipe-test-banned.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

compile() {   # name body -> exit status of the compiler, its messages in $TMP/name.err
  printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stdarg.h>\n%s\n' "$2" > "$TMP/$1.c"
  $CC $FLAGS -c -o "$TMP/$1.o" "$TMP/$1.c" 2> "$TMP/$1.err"
}
banned() {    # function call
  if compile "$1" "int f(char *b, const char *s, va_list ap); int f(char *b, const char *s, va_list ap) { (void)ap; $2; return 0; }"; then
    ko "$1 compiled"
  elif grep -q "'$1'.*banned in ubpipe" "$TMP/$1.err" || grep -q "‘$1’.*banned in ubpipe" "$TMP/$1.err"; then
    ok
  else
    ko "$1: no 'banned in ubpipe' error: $(head -3 "$TMP/$1.err")"
  fi
}
banned strcpy 'strcpy(b, s)'
banned strcat 'strcat(b, s)'
banned sprintf 'sprintf(b, "%s", s)'
banned vsprintf 'vsprintf(b, s, ap)'
banned strtok 'strtok(b, ",")'
banned atoi 'return atoi(s)'
banned atol 'return (int)atol(s)'
banned atoll 'return (int)atoll(s)'

if compile clean 'int f(char *b, size_t n, const char *s); int f(char *b, size_t n, const char *s) { return snprintf(b, n, "%s", s) + (int)strtol(s, NULL, 10); }'; then ok; else ko "a clean file did not compile: $(head -3 "$TMP/clean.err")"; fi
printf '#define _GNU_SOURCE 1\n#include <string.h>\nvoid *g(void);\nvoid *g(void) { return memmem("ab", 2, "b", 1); }\n' > "$TMP/gnu.c"
if $CC $FLAGS -Wall -Werror -c -o "$TMP/gnu.o" "$TMP/gnu.c" 2> "$TMP/gnu.err"; then ok; else ko "_GNU_SOURCE file: $(head -3 "$TMP/gnu.err")"; fi
echo "test_banned: $pass passed, $fail failed"
[ "$fail" = 0 ]
