/* parse.h — checked parsing of decimal integers, for options, spec values, dates and durations
 * (atoi and friends are banned: base/banned.h). */
#ifndef UB_PARSE_H
#define UB_PARSE_H
#include "base/err.h"
#include <stddef.h>

/* Parses all of s as a decimal integer from min to max: optional '-' or '+', then digits, and
 * nothing else (no spaces, no trailing junk).  0 with *out set, or -1 with err set (err may be
 * NULL): "empty number", "'12x' is not an integer", "'99' is out of range (1 to 10)"; *out is
 * left alone on error. */
int ub_parse_int(const char *s, long long min, long long max, long long *out, ub_err *err);

/* The same for the n bytes at s (not NUL-terminated: "2021" in "2021-04-30"). */
int ub_parse_intn(const char *s, size_t n, long long min, long long max, long long *out, ub_err *err);

#endif
