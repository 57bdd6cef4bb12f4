/* schedule.h — when `ubpipe serve` starts a pipeline's runs: the pure
 * decision, with the clock and the journal injected (as sched.h does for
 * tasks), so tests/unit/test_schedule.c can drive it.
 *
 * Airflow 2 interval semantics: ds names the start of a day's interval;
 * the run for ds is due once that interval has ended, at ds + 1 day plus
 * the schedule's time of day (UTC).  Days are counted since 1970-01-01
 * (ub_date_to_days).
 */
#ifndef UB_SCHEDULE_H
#define UB_SCHEDULE_H
#include <stddef.h>
#include "base/err.h"

/* Parses "@daily" or a 5-field cron line whose runs fall at most once per
 * UTC day: "M H * * *" with M in 0..59 and H in 0..23.  *minute = minute
 * of the day.  -1 with a reason in err. */
int ub_schedule_parse(const char *text, int *minute, ub_err *err);

typedef struct ub_schedule {
    long start_day;         /* first ds */
    long end_day;           /* last ds; -1 = none */
    int  minute;            /* of the UTC day the runs fall at */
    int  catchup;           /* 1: every missed ds since start_day; 0: only the latest */
    int  max_active_runs;   /* runs in progress at once; 0 = no limit */
    int  paused;
} ub_schedule;

/* What the journal (and the daemon) knows of a ds. */
typedef enum ub_ds_state {
    UB_DS_NONE,             /* never started: due for the scheduler */
    UB_DS_ACTIVE,           /* running or queued (a child, or a CLI run holding the lock) */
    UB_DS_SUCCESS,
    UB_DS_FAILED            /* started and failed: left for a person to clear or trigger */
} ub_ds_state;

typedef ub_ds_state (*ub_ds_state_fn)(void *ud, long day);

/* The latest ds due at now (epoch seconds), not past end_day; LONG_MIN
 * when none is due yet (before start_day's interval has ended). */
long ub_schedule_latest(const ub_schedule *p, double now);

/* The ds to start now, oldest first, at most max: the due ds the schedule
 * covers (every one since start_day with catchup, else only the latest)
 * whose state is UB_DS_NONE, no more than max_active_runs minus the ds
 * already active.  Nothing when paused.  Returns how many were written to
 * out; *waiting (may be NULL) = due ds with state NONE not returned. */
size_t ub_schedule_due(const ub_schedule *p, double now, ub_ds_state_fn state, void *ud, long *out,
                       size_t max, size_t *waiting);

/* The next ds the scheduler will run: the oldest due one not started, or
 * else the next to fall due; LONG_MIN when past end_day. */
long ub_schedule_next(const ub_schedule *p, double now, ub_ds_state_fn state, void *ud);

#endif
