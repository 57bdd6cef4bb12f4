/* parse.c — checked parsing of decimal integers. */
#include "base/parse.h"
#include <limits.h>
#include <string.h>

/* s is quoted at most 64 bytes long in messages */
#define QUOTE(s, n) (int)((n) > 64 ? 64 : (n)), (s), (n) > 64 ? "..." : ""

static int not_int(ub_err *err, const char *s, size_t n)
{
    if (err)
        ub_err_set(err, "'%.*s%s' is not an integer", QUOTE(s, n));
    return -1;
}

static int out_of_range(ub_err *err, const char *s, size_t n, long long min, long long max)
{
    if (err)
        ub_err_set(err, "'%.*s%s' is out of range (%lld to %lld)", QUOTE(s, n), min, max);
    return -1;
}

int ub_parse_intn(const char *s, size_t n, long long min, long long max, long long *out, ub_err *err)
{
    size_t i = 0;
    int neg = 0;
    /* accumulated as a negative number, whose range is one larger */
    long long v = 0;
    if (n == 0) {
        if (err)
            ub_err_set(err, "empty number");
        return -1;
    }
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return not_int(err, s, n);
    int over = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return not_int(err, s, n);
        int d = s[i] - '0';
        if (v < (LLONG_MIN + d) / 10)
            over = 1;  /* keep going: trailing junk is the first thing to name */
        else
            v = v * 10 - d;
    }
    if (over || (!neg && v == LLONG_MIN))
        return out_of_range(err, s, n, min, max);
    if (!neg)
        v = -v;
    if (v < min || v > max)
        return out_of_range(err, s, n, min, max);
    *out = v;
    return 0;
}

int ub_parse_int(const char *s, long long min, long long max, long long *out, ub_err *err)
{
    return ub_parse_intn(s, s ? strlen(s) : 0, min, max, out, err);
}

int ub_parse_dec(const char *s, long long min, long long max, long long *out, ub_err *err)
{
    size_t n = s ? strlen(s) : 0;
    size_t i = n && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    size_t digits = strspn(s ? s + i : "", "0123456789");
    if (n && i + digits == n && digits) {            /* a number, perhaps oddly written */
        size_t z = i;
        while (z + 1 < n && s[z] == '0')
            z++;                                     /* the digits without leading zeros */
        if (s[0] == '+') {
            if (err)
                ub_err_set(err, "'%.*s%s': write it without the '+'", QUOTE(s, n));
            return -1;
        }
        if (s[0] == '-' && s[z] == '0') {            /* -0, -00 */
            if (err)
                ub_err_set(err, "'%.*s%s': write 0", QUOTE(s, n));
            return -1;
        }
        if (z > i) {
            if (err)
                ub_err_set(err, "'%.*s%s': a leading zero is ambiguous (octal in YAML 1.1); write %s%.*s",
                           QUOTE(s, n), s[0] == '-' ? "-" : "", (int)(n - z > 64 ? 64 : n - z), s + z);
            return -1;
        }
    }
    return ub_parse_intn(s, n, min, max, out, err);
}

int ub_parse_range(const char *s, long long *lo, long long *hi)
{
    if (!s || !*s)
        return 0;
    const char *dots = strstr(s, "..");
    long long a, b;
    if (!dots || ub_parse_intn(s, (size_t)(dots - s), LLONG_MIN, LLONG_MAX, &a, NULL) ||
        ub_parse_int(dots + 2, a, LLONG_MAX, &b, NULL))
        return -1;
    *lo = a;
    *hi = b;
    return 0;
}
