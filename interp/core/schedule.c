/* schedule.c — which ds of a pipeline are due (see schedule.h). */
#include "core/schedule.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One cron field that must be a plain number in lo..hi. */
static int cron_num(const char *f, size_t len, int lo, int hi, int *out)
{
    if (len == 0 || len > 2)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (f[i] < '0' || f[i] > '9')
            return -1;
        v = v * 10 + (f[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int ub_schedule_parse(const char *text, int *minute, ub_err *err)
{
    if (strcmp(text, "@daily") == 0 || strcmp(text, "@midnight") == 0) {
        *minute = 0;
        return 0;
    }
    const char *f[5];
    size_t len[5], n = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == 5)
            return ub_err_set(err, "'%s' has more than 5 fields; use @daily or 'M H * * *'", text);
        f[n] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        len[n] = (size_t)(p - f[n]);
        n++;
    }
    if (n != 5)
        return ub_err_set(err, "'%s' is neither @daily nor a 5-field cron line 'M H * * *'", text);
    for (int i = 2; i < 5; i++)
        if (len[i] != 1 || f[i][0] != '*')
            return ub_err_set(err, "'%s': day-of-month, month and day-of-week must be '*' (runs fall once per "
                                   "UTC day)", text);
    int m, h;
    if (cron_num(f[0], len[0], 0, 59, &m))
        return ub_err_set(err, "'%s': the minute must be one number 0..59 (runs fall once per UTC day)", text);
    if (cron_num(f[1], len[1], 0, 23, &h))
        return ub_err_set(err, "'%s': the hour must be one number 0..23 (runs fall once per UTC day)", text);
    *minute = h * 60 + m;
    return 0;
}

long ub_schedule_latest(const ub_schedule *p, double now)
{
    /* ds d is due at (d + 1) * 86400 + minute * 60 */
    double t = floor((now - p->minute * 60.0) / 86400.0) - 1.0;
    if (t < (double)p->start_day)
        return LONG_MIN;
    long d = (long)t;
    if (p->end_day >= 0 && d > p->end_day)
        d = p->end_day;
    return d;
}

size_t ub_schedule_due(const ub_schedule *p, double now, ub_ds_state_fn state, void *ud, long *out,
                       size_t max, size_t *waiting)
{
    size_t n = 0, wait = 0;
    long last = ub_schedule_latest(p, now);
    if (last == LONG_MIN) {
        if (waiting)
            *waiting = 0;
        return 0;
    }
    long first = p->catchup ? p->start_day : last;
    size_t active = 0;
    for (long d = first; d <= last; d++)
        if (state(ud, d) == UB_DS_ACTIVE)
            active++;
    size_t room = max;
    if (p->max_active_runs > 0) {
        size_t cap = (size_t)p->max_active_runs;
        room = active >= cap ? 0 : cap - active;
        if (room > max)
            room = max;
    }
    for (long d = first; d <= last; d++) {
        if (state(ud, d) != UB_DS_NONE)
            continue;
        if (!p->paused && n < room)
            out[n++] = d;
        else
            wait++;
    }
    if (waiting)
        *waiting = wait;
    return n;
}

long ub_schedule_next(const ub_schedule *p, double now, ub_ds_state_fn state, void *ud)
{
    long last = ub_schedule_latest(p, now);
    if (last != LONG_MIN)
        for (long d = p->catchup ? p->start_day : last; d <= last; d++)
            if (state(ud, d) == UB_DS_NONE)
                return d;
    long next = last == LONG_MIN ? p->start_day : last + 1;
    if (p->end_day >= 0 && next > p->end_day)
        return LONG_MIN;
    return next;
}
