/* date.c — ds parsing and arithmetic, durations. */
#include "base/date.h"
#include "base/parse.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int mdays(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

int ub_date_parse(const char *s, ub_date *out, ub_err *err)
{
    static const char *const months[] = { "January", "February", "March", "April", "May", "June", "July",
                                          "August", "September", "October", "November", "December" };
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return ub_err_set(err, "'%s' is not a date of the form YYYY-MM-DD", s);
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return ub_err_set(err, "'%s' is not a date of the form YYYY-MM-DD", s);
    long long y = 0, m = 0, dd = 0;   /* four and two digits: cannot fail */
    ub_parse_intn(s, 4, 0, 9999, &y, NULL);
    ub_parse_intn(s + 5, 2, 0, 99, &m, NULL);
    ub_parse_intn(s + 8, 2, 0, 99, &dd, NULL);
    ub_date d = { (int)y, (int)m, (int)dd };
    if (d.y < 1000)
        return ub_err_set(err, "'%s': year before 1000", s);
    if (d.m < 1 || d.m > 12)
        return ub_err_set(err, "'%s': month %d does not exist", s, d.m);
    if (d.d < 1 || d.d > mdays(d.y, d.m))
        return ub_err_set(err, "'%s': %s %d has %d days", s, months[d.m - 1], d.y, mdays(d.y, d.m));
    *out = d;
    return 0;
}

/* Howard Hinnant's days_from_civil, in our own words: shift the year so it
 * starts in March, then count eras of 400 years. */
long ub_date_to_days(ub_date d)
{
    long y = d.y - (d.m <= 2);
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (d.m + (d.m > 2 ? -3 : 9)) + 2) / 5 + d.d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

ub_date ub_date_from_days(long z)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp < 10 ? mp + 3 : mp - 9;
    ub_date r = { (int)(y + (m <= 2)), (int)m, (int)d };
    return r;
}

ub_date ub_date_add(ub_date d, long days) { return ub_date_from_days(ub_date_to_days(d) + days); }

void ub_date_format(ub_date d, int nodash, char out[11])
{
    unsigned y = (unsigned)d.y % 10000u, m = (unsigned)d.m % 100u, dd = (unsigned)d.d % 100u;
    char *p = out;
    *p++ = (char)('0' + y / 1000); *p++ = (char)('0' + y / 100 % 10);
    *p++ = (char)('0' + y / 10 % 10); *p++ = (char)('0' + y % 10);
    if (!nodash) *p++ = '-';
    *p++ = (char)('0' + m / 10); *p++ = (char)('0' + m % 10);
    if (!nodash) *p++ = '-';
    *p++ = (char)('0' + dd / 10); *p++ = (char)('0' + dd % 10);
    *p = '\0';
}

ub_date ub_date_yesterday_utc(void)
{
    long days = (long)(time(NULL) / 86400);
    return ub_date_from_days(days - 1);
}

int ub_duration_parse(const char *s, double *secs, ub_err *err)
{
    const char *p = s;
    double total = 0, last = 0;
    int parts = 0;
    if (!*p)
        return ub_err_set(err, "empty duration");
    while (*p) {
        /* digits with an optional fraction: no sign, exponent, hex, inf or nan
         * (strtod alone would take "0x10" and "1e309") */
        const char *q = p;
        while (isdigit((unsigned char)*q))
            q++;
        if (q == p)
            return ub_err_set(err, "'%s' is not a duration (e.g. 90, 90s, 5m, 1h30m)", s);
        if (*q == '.' && isdigit((unsigned char)q[1]))
            for (q++; isdigit((unsigned char)*q); q++)
                ;
        char num[64];
        if ((size_t)(q - p) >= sizeof num)
            return ub_err_set(err, "'%s': number too long for a duration", s);
        memcpy(num, p, (size_t)(q - p));
        num[q - p] = '\0';
        double v = strtod(num, NULL);
        p = q;
        double unit;
        if (!*p && parts == 0)
            unit = 1;
        else if (strncmp(p, "ms", 2) == 0) { unit = 0.001; p += 2; }
        else if (*p == 's') { unit = 1; p++; }
        else if (*p == 'm') { unit = 60; p++; }
        else if (*p == 'h') { unit = 3600; p++; }
        else if (*p == 'd') { unit = 86400; p++; }
        else
            return ub_err_set(err, "'%s' is not a duration (e.g. 90, 90s, 5m, 1h30m)", s);
        if (parts && unit >= last)
            return ub_err_set(err, "'%s': units must go from the largest down, each once (e.g. 1h30m)", s);
        last = unit;
        total += v * unit;
        parts++;
        if (total > UB_DURATION_MAX)
            return ub_err_set(err, "'%s' is longer than %d days, the longest duration", s,
                              (int)(UB_DURATION_MAX / 86400));
    }
    if (!isfinite(total))
        return ub_err_set(err, "'%s' is too long a duration", s);
    *secs = total;
    return 0;
}

double ub_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double ub_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
