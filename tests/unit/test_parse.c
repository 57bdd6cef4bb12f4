/* test_parse.c — ub_parse_int: the checked integer parsing that replaces atoi (base/banned.h),
 * and the date and duration parsers built on it. */
#include "base/date.h"
#include "base/parse.h"
#include "t.h"
#include <limits.h>

static long long ok(const char *s, long long min, long long max)
{
    long long v = -12345;
    ub_err err;
    T_INTEQ(ub_parse_int(s, min, max, &v, &err), 0);
    return v;
}

static void bad(const char *s, long long min, long long max, const char *msg)
{
    long long v = 77;
    ub_err err;
    T_INTEQ(ub_parse_int(s, min, max, &v, &err), -1);
    T_STREQ(err.msg, msg);
    T_INTEQ(v, 77); /* untouched */
}

int main(void)
{
    T_INTEQ(ok("0", 0, 10), 0);
    T_INTEQ(ok("10", 0, 10), 10);
    T_INTEQ(ok("-3", -5, 5), -3);
    T_INTEQ(ok("+4", 1, 256), 4);
    T_INTEQ(ok("007", 0, 10), 7);
    T_INTEQ(ok("9223372036854775807", LLONG_MIN, LLONG_MAX), LLONG_MAX);
    T_INTEQ(ok("-9223372036854775808", LLONG_MIN, LLONG_MAX), LLONG_MIN);

    bad("", 0, 10, "empty number");
    bad("-", 0, 10, "'-' is not an integer");
    bad("12x", 0, 100, "'12x' is not an integer");
    bad(" 1", 0, 10, "' 1' is not an integer");
    bad("1 ", 0, 10, "'1 ' is not an integer");
    bad("0x10", 0, 100, "'0x10' is not an integer");
    bad("1e3", 0, 10000, "'1e3' is not an integer");
    bad("11", 0, 10, "'11' is out of range (0 to 10)");
    bad("-1", 0, 10, "'-1' is out of range (0 to 10)");
    bad("9223372036854775808", LLONG_MIN, LLONG_MAX, "'9223372036854775808' is out of range "
                                                     "(-9223372036854775808 to 9223372036854775807)");
    bad("99999999999999999999x", 0, 10, "'99999999999999999999x' is not an integer");
    long long v;
    T_INTEQ(ub_parse_int("5", 0, 10, &v, NULL), 0);   /* err may be NULL */
    T_INTEQ(ub_parse_int("z", 0, 10, &v, NULL), -1);
    T_INTEQ(ub_parse_intn("2021-04-30", 4, 0, 9999, &v, NULL), 0);
    T_INTEQ(v, 2021);
    T_INTEQ(ub_parse_intn("2021-04-30", 0, 0, 9999, &v, NULL), -1);

    /* ub_parse_dec: the notations people write by mistake are refused, saying how */
    {
        ub_err e2;
        long long w = 77;
        T_INTEQ(ub_parse_dec("0", 0, 10, &w, &e2), 0);
        T_INTEQ(w, 0);
        T_INTEQ(ub_parse_dec("-3", -5, 5, &w, &e2), 0);
        T_INTEQ(w, -3);
        T_INTEQ(ub_parse_dec("2147483647", 0, 2147483647, &w, &e2), 0);
        T_INTEQ(w, 2147483647);
        w = 77;
        T_INTEQ(ub_parse_dec("+5", 0, 10, &w, &e2), -1);
        T_STREQ(e2.msg, "'+5': write it without the '+'");
        T_INTEQ(ub_parse_dec("05", 0, 10, &w, &e2), -1);
        T_STREQ(e2.msg, "'05': a leading zero is ambiguous (octal in YAML 1.1); write 5");
        T_INTEQ(ub_parse_dec("010", 0, 100, &w, &e2), -1);
        T_STREQ(e2.msg, "'010': a leading zero is ambiguous (octal in YAML 1.1); write 10");
        T_INTEQ(ub_parse_dec("00", 0, 100, &w, &e2), -1);
        T_STREQ(e2.msg, "'00': a leading zero is ambiguous (octal in YAML 1.1); write 0");
        T_INTEQ(ub_parse_dec("-05", -10, 10, &w, &e2), -1);
        T_STREQ(e2.msg, "'-05': a leading zero is ambiguous (octal in YAML 1.1); write -5");
        T_INTEQ(ub_parse_dec("-0", 0, 10, &w, &e2), -1);
        T_STREQ(e2.msg, "'-0': write 0");
        T_INTEQ(ub_parse_dec(" 5", 0, 10, &w, &e2), -1);
        T_STREQ(e2.msg, "' 5' is not an integer");
        T_INTEQ(ub_parse_dec("0x10", 0, 100, &w, &e2), -1);
        T_STREQ(e2.msg, "'0x10' is not an integer");
        T_INTEQ(ub_parse_dec("1e3", 0, 10000, &w, &e2), -1);
        T_STREQ(e2.msg, "'1e3' is not an integer");
        T_INTEQ(ub_parse_dec("99999999999999999999", 0, 2147483647, &w, &e2), -1);
        T_STREQ(e2.msg, "'99999999999999999999' is out of range (0 to 2147483647)");
        T_INTEQ(ub_parse_dec("", 0, 10, &w, &e2), -1);
        T_STREQ(e2.msg, "empty number");
        T_INTEQ(w, 77);
    }

    /* dates and durations on top of it */
    ub_date d;
    ub_err err;
    T_INTEQ(ub_date_parse("2021-04-30", &d, &err), 0);
    T_INTEQ(d.y, 2021);
    T_INTEQ(d.m, 4);
    T_INTEQ(d.d, 30);
    T_INTEQ(ub_date_parse("2021-02-30", &d, &err), -1);
    T_INTEQ(ub_date_parse("2021-4-30x", &d, &err), -1);
    double s;
    T_INTEQ(ub_duration_parse("1h30m", &s, &err), 0);
    T_CHECK(s == 5400);
    T_INTEQ(ub_duration_parse("1.5s", &s, &err), 0);
    T_CHECK(s == 1.5);
    T_INTEQ(ub_duration_parse("90", &s, &err), 0);
    T_CHECK(s == 90);
    T_INTEQ(ub_duration_parse("1e3s", &s, &err), -1);   /* strtod alone took the exponent */
    T_INTEQ(ub_duration_parse("0x10s", &s, &err), -1);  /* and hex */
    T_INTEQ(ub_duration_parse("", &s, &err), -1);
    char big[400];
    memset(big, '9', 399);
    big[398] = 'd';
    big[399] = '\0';
    T_INTEQ(ub_duration_parse(big, &s, &err), -1);     /* 1e397 days is no duration */
    /* ub_parse_range: an operator parameter's "MIN..MAX" */
    {
        long long lo = 7, hi = 8;
        T_INTEQ(ub_parse_range(NULL, &lo, &hi), 0);
        T_INTEQ(lo, 7);
        T_INTEQ(hi, 8);
        T_INTEQ(ub_parse_range("1..65536", &lo, &hi), 0);
        T_INTEQ(lo, 1);
        T_INTEQ(hi, 65536);
        T_INTEQ(ub_parse_range("-5..-1", &lo, &hi), 0);
        T_INTEQ(lo, -5);
        T_INTEQ(hi, -1);
        T_INTEQ(ub_parse_range("5..1", &lo, &hi), -1);     /* empty range */
        T_INTEQ(ub_parse_range("1-5", &lo, &hi), -1);
        T_INTEQ(ub_parse_range("..5", &lo, &hi), -1);
        T_INTEQ(ub_parse_range("1..", &lo, &hi), -1);
        T_INTEQ(lo, -5);                                    /* left alone on error */
    }
    return t_done("test_parse");
}
