/* run.h — `ubpipe run` and the range form of `plan`:
 * the scheduler core (sched.h) driven by forked task processes, the run
 * journal, resume, backfill, progress and signals.  `status` and `logs`
 * are in status.h. */
#ifndef UB_RUN_H
#define UB_RUN_H
#include "core/engine.h"

typedef struct ub_run_opts {
    int rerun;                 /* run everything, even tasks already successful */
    const char *rerun_tasks;   /* --rerun=T1,T2: force these (and so their downstream), or NULL */
    const char *only;          /* comma-separated task ids, or NULL */
    int downstream;            /* with only: add every task downstream of them */
    int quiet;                 /* no progress lines (failures are still shown) */
    int jobs;                  /* tries at once; 0 = number of online cores */
    int max_active_runs;       /* dates in progress at once; 0 = no limit */
    int log_json;              /* --log-format json: one JSON object per event on stderr */
} ub_run_opts;

/* A date, "YYYY-MM-DD". */
typedef struct ub_ds { char s[11]; } ub_ds;

/* The dates named by --ds D (one), --from D1 --to D2 (every day, in order)
 * or none of them (yesterday, UTC).  *out is the caller's (ub_free). */
int ub_run_dates(const char *ds, const char *from, const char *to, ub_ds **out, size_t *n, ub_err *err);

/* The tasks a run with o considers, each array s->ntasks bytes: sel[i] = 1
 * for a task --only (with --downstream) keeps, every task without --only;
 * force[i] = 1 for a task the run runs whatever its fingerprint says (--rerun:
 * all; --rerun=T1,T2: those, their downstream following from the decision;
 * --only: the selected).  0, or -1 with the error (an unknown task id) on diag. */
int ub_run_selection(ub_spec *s, const ub_run_opts *o, char *sel, char *force, ub_diag *diag);

/* Runs the dates in order (a new engine per date; eo->ds is ignored).
 * 0 every date succeeded, 1 a task failed or the run was cancelled, 2 usage
 * error (diag). */
int ub_run(ub_spec *s, const ub_engine_opts *eo, const ub_ds *dates, size_t n, const ub_run_opts *o,
           ub_diag *diag);
/* `ubpipe plan --from --to`: the dates × tasks grid of what a backfill
 * would run (text), after rendering each date's plan to check it; JSON
 * prints each date's plan, one object per date. */
int ub_run_plan_range(ub_spec *s, const ub_engine_opts *eo, const ub_ds *dates, size_t n, const ub_run_opts *o,
                      int json, FILE *out, ub_diag *diag);
#include "core/status.h"

#endif
