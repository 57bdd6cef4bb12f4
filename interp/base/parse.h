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

/* The same, for numbers people write in a spec or on the command line, where an odd notation
 * is more likely a mistake than a number: decimal digits only, with '-' when negative; no '+',
 * no leading zero ("05", "010": YAML 1.1 reads them as octal), no "-0".  Messages:
 * "'+5': write it without the '+'", "'010': a leading zero is ambiguous (octal in YAML 1.1);
 * write 10", "'-0': write 0", and those of ub_parse_int. */
int ub_parse_dec(const char *s, long long min, long long max, long long *out, ub_err *err);

/* The bounds "MIN..MAX" (an operator parameter's range, op.h) into *lo and *hi; NULL or an
 * empty text leaves them as they are.  -1 on a malformed range (a programming error). */
int ub_parse_range(const char *s, long long *lo, long long *hi);

#endif
