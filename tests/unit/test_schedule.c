/* test_schedule.c — core/schedule.c with an injected clock and journal. */
#include "base/date.h"
#include "core/schedule.h"
#include "t.h"
#include <limits.h>
#include <string.h>

/* A fake journal: the state of each day from day0 on. */
typedef struct fake { long day0; ub_ds_state st[64]; } fake;

static ub_ds_state fake_state(void *ud, long day)
{
    fake *f = ud;
    long i = day - f->day0;
    return i >= 0 && i < 64 ? f->st[i] : UB_DS_NONE;
}

static long day(const char *s)
{
    ub_date d;
    ub_err e;
    if (ub_date_parse(s, &d, &e))
        return -1;
    return ub_date_to_days(d);
}

/* epoch seconds of day s at hh:mm UTC */
static double at(const char *s, int hh, int mm)
{
    return (double)day(s) * 86400.0 + hh * 3600 + mm * 60;
}

static void test_parse(void)
{
    ub_err e;
    int m = -1;
    T_INTEQ(ub_schedule_parse("@daily", &m, &e), 0);
    T_INTEQ(m, 0);
    T_INTEQ(ub_schedule_parse("30 2 * * *", &m, &e), 0);
    T_INTEQ(m, 150);
    T_INTEQ(ub_schedule_parse("  0   23 * * * ", &m, &e), 0);
    T_INTEQ(m, 23 * 60);
    T_INTEQ(ub_schedule_parse("*/5 * * * *", &m, &e), -1);     /* many a day */
    T_INTEQ(ub_schedule_parse("0 2 * * 1", &m, &e), -1);       /* weekly */
    T_INTEQ(ub_schedule_parse("60 2 * * *", &m, &e), -1);
    T_INTEQ(ub_schedule_parse("0 24 * * *", &m, &e), -1);
    T_INTEQ(ub_schedule_parse("0 2 * *", &m, &e), -1);
    T_INTEQ(ub_schedule_parse("0 2 * * * *", &m, &e), -1);
    T_INTEQ(ub_schedule_parse("@hourly", &m, &e), -1);
    T_CHECK(strstr(e.msg, "@hourly") != NULL);
}

/* Airflow 2 semantics: the run for ds falls at ds + 1 day, at the cron's time */
static void test_interval(void)
{
    ub_schedule p = { day("2026-03-01"), -1, 150, 1, 0, 0 };
    T_CHECK(ub_schedule_latest(&p, at("2026-03-02", 2, 29)) == LONG_MIN);
    T_INTEQ(ub_schedule_latest(&p, at("2026-03-02", 2, 30)), day("2026-03-01"));
    T_INTEQ(ub_schedule_latest(&p, at("2026-03-03", 2, 29)), day("2026-03-01"));
    T_INTEQ(ub_schedule_latest(&p, at("2026-03-03", 2, 30)), day("2026-03-02"));
    p.end_day = day("2026-03-05");
    T_INTEQ(ub_schedule_latest(&p, at("2026-04-01", 0, 0)), day("2026-03-05"));
}

/* After downtime every missing ds starts, oldest first; done ones are not redone. */
static void test_catchup(void)
{
    fake f = { day("2026-03-01"), { 0 } };
    ub_schedule p = { f.day0, -1, 0, 1, 0, 0 };
    f.st[0] = UB_DS_SUCCESS;
    f.st[2] = UB_DS_FAILED;           /* failed: left for a person, not restarted */
    long out[16];
    size_t waiting = 99;
    size_t n = ub_schedule_due(&p, at("2026-03-07", 0, 0), fake_state, &f, out, 16, &waiting);
    T_INTEQ(n, 4);
    T_INTEQ(out[0], day("2026-03-02"));
    T_INTEQ(out[1], day("2026-03-04"));
    T_INTEQ(out[2], day("2026-03-05"));
    T_INTEQ(out[3], day("2026-03-06"));
    T_INTEQ(waiting, 0);
    /* once they run, nothing more is due until the next day falls */
    for (int i = 0; i < 6; i++)
        if (f.st[i] == UB_DS_NONE)
            f.st[i] = UB_DS_SUCCESS;
    T_INTEQ(ub_schedule_due(&p, at("2026-03-07", 23, 59), fake_state, &f, out, 16, NULL), 0);
    T_INTEQ(ub_schedule_due(&p, at("2026-03-08", 0, 0), fake_state, &f, out, 16, NULL), 1);
    T_INTEQ(out[0], day("2026-03-07"));
    T_INTEQ(ub_schedule_next(&p, at("2026-03-07", 12, 0), fake_state, &f), day("2026-03-07"));
}

static void test_no_catchup(void)
{
    fake f = { day("2026-03-01"), { 0 } };
    ub_schedule p = { f.day0, -1, 0, 0, 0, 0 };
    long out[16];
    size_t n = ub_schedule_due(&p, at("2026-03-10", 1, 0), fake_state, &f, out, 16, NULL);
    T_INTEQ(n, 1);
    T_INTEQ(out[0], day("2026-03-09"));
    f.st[8] = UB_DS_SUCCESS;
    T_INTEQ(ub_schedule_due(&p, at("2026-03-10", 1, 0), fake_state, &f, out, 16, NULL), 0);
}

static void test_max_active(void)
{
    fake f = { day("2026-03-01"), { 0 } };
    ub_schedule p = { f.day0, -1, 0, 1, 2, 0 };
    long out[16];
    size_t waiting = 0;
    size_t n = ub_schedule_due(&p, at("2026-03-06", 0, 0), fake_state, &f, out, 16, &waiting);
    T_INTEQ(n, 2);
    T_INTEQ(out[0], day("2026-03-01"));
    T_INTEQ(out[1], day("2026-03-02"));
    T_INTEQ(waiting, 3);
    f.st[0] = f.st[1] = UB_DS_ACTIVE;  /* they run: no room */
    T_INTEQ(ub_schedule_due(&p, at("2026-03-06", 0, 0), fake_state, &f, out, 16, &waiting), 0);
    T_INTEQ(waiting, 3);
    f.st[0] = UB_DS_SUCCESS;           /* one ends: the next oldest */
    n = ub_schedule_due(&p, at("2026-03-06", 0, 0), fake_state, &f, out, 16, NULL);
    T_INTEQ(n, 1);
    T_INTEQ(out[0], day("2026-03-03"));
    /* a CLI run holding the lock counts as active: that ds is not started again */
    f.st[2] = UB_DS_ACTIVE;
    T_INTEQ(ub_schedule_due(&p, at("2026-03-06", 0, 0), fake_state, &f, out, 16, NULL), 0);
}

static void test_pause(void)
{
    fake f = { day("2026-03-01"), { 0 } };
    ub_schedule p = { f.day0, day("2026-03-03"), 0, 1, 0, 1 };
    long out[16];
    size_t waiting = 0;
    T_INTEQ(ub_schedule_due(&p, at("2026-03-10", 0, 0), fake_state, &f, out, 16, &waiting), 0);
    T_INTEQ(waiting, 3);               /* end_date bounds them */
    p.paused = 0;
    T_INTEQ(ub_schedule_due(&p, at("2026-03-10", 0, 0), fake_state, &f, out, 16, NULL), 3);
    f.st[0] = f.st[1] = f.st[2] = UB_DS_SUCCESS;
    T_CHECK(ub_schedule_next(&p, at("2026-03-10", 0, 0), fake_state, &f) == LONG_MIN);
}

int main(void)
{
    test_parse();
    test_interval();
    test_catchup();
    test_no_catchup();
    test_max_active();
    test_pause();
    return t_done("schedule");
}
