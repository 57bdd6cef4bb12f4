/* sched.h — the scheduler core: ready set, bounded workers, retries with
 * exponential backoff, timeouts, cancellation, several runs (ds) at once.
 *
 * The core only decides: which try of which task starts when, what happens
 * when a try ends, when a try past its deadline gets SIGTERM and then
 * SIGKILL.  Everything with an effect goes through ub_sched_ops: the clock,
 * starting and stopping tries, waiting for one to end, recording a state
 * change.  run.c implements the ops with forked children and the journal;
 * tests/unit/test_sched.c with a fake clock and scripted tries.
 *
 * Runs are the dates of a backfill, in date order; all share one spec.  A
 * task key is (run, task index in the spec).
 */
#ifndef UB_SCHED_H
#define UB_SCHED_H
#include <signal.h>
#include <stddef.h>
#include "core/spec.h"

typedef enum ub_sstate {
    UB_SS_WAITING,          /* an upstream task is not done yet */
    UB_SS_QUEUED,           /* ready, waiting for a worker */
    UB_SS_RETRY,            /* up_for_retry: not before retry_at */
    UB_SS_RUNNING,
    UB_SS_SUCCESS,          /* succeeded, or need not run (done before, not selected) */
    UB_SS_FAILED,
    UB_SS_UPSTREAM_FAILED
} ub_sstate;

/* How one try ended (filled by ops->wait). */
typedef struct ub_sched_result {
    size_t      run, task;
    int         ok;         /* 1: success */
    int         fatal;      /* failed for good: no retry (ub_op_fatal) */
    const char *error;      /* borrowed until the next call to wait; "" when none */
} ub_sched_result;

typedef struct ub_sched_ops {
    double (*now)(void *ud);                      /* seconds; any epoch */
    /* Opens run r: sets init[i] to UB_SS_SUCCESS for every task that need not
     * run and UB_SS_WAITING for the others; tries[i] to the tries made before
     * (they number the next ones).  -1 with err: the run fails to start. */
    int  (*open_run)(void *ud, size_t r, ub_sstate *init, int *tries, ub_err *err);
    /* Run r is over (every task terminal, or cancelled); ok = all succeeded. */
    void (*close_run)(void *ud, size_t r, int ok);
    /* Starts try_no of task; -1 with err when it cannot be started (that
     * counts as a failed try). */
    int  (*start)(void *ud, size_t r, size_t task, int try_no, ub_err *err);
    /* Asks a running try to stop: hard 0 = politely (SIGTERM), 1 = SIGKILL. */
    void (*stop)(void *ud, size_t r, size_t task, int hard);
    /* Waits at most secs for a try to end: 1 with *res filled, 0 otherwise
     * (also when interrupted by a signal). */
    int  (*wait)(void *ud, double secs, ub_sched_result *res);
    /* A state change: "queued", "running", "success", "up_for_retry" (delay =
     * seconds until the next try), "failed", "upstream_failed". */
    void (*record)(void *ud, size_t r, size_t task, const char *state, int try_no, const char *error,
                   double delay);
    /* Optional (NULL: never).  Task `task` of run r is waiting for an upstream
     * task that is still running: 1 when it may start now anyway — a streaming
     * hand-off (handoff.h): the try follows the upstream's output while it is
     * written and commits nothing before its upstream tasks succeeded.  The
     * core then stops the try (SIGTERM) when an upstream fails and records the
     * task upstream_failed; a try that fails while its upstream is unfinished
     * is not counted (the task waits for its upstream and starts again). */
    int  (*early)(void *ud, size_t r, size_t task);
} ub_sched_ops;

typedef struct ub_sched_cfg {
    const ub_spec *spec;
    size_t nruns;
    int    jobs;              /* tries running at once, >= 1 */
    int    max_active_runs;   /* runs with work in progress at once; 0 = no limit */
    int    depends_on_past;   /* run r opens only when run r-1 succeeded */
    double grace;             /* seconds between SIGTERM and SIGKILL */
    double tick;              /* longest wait between two looks at the clock */
    volatile sig_atomic_t *cancel;   /* set by a signal handler: stop everything */
} ub_sched_cfg;

typedef struct ub_sched_summary {
    size_t runs_ok, runs_failed, runs_not_started;
    size_t tasks_failed;
    int    cancelled;
    /* the first task that failed for good, and its last error */
    long   first_failed_run, first_failed_task;     /* -1 when none */
    char   first_error[1024];
} ub_sched_summary;

/* Delay before the try after failed try number `attempt` (1-based, counted
 * in this invocation): retry_delay, doubled per further failure when
 * retry_backoff, capped at max_retry_delay. */
double ub_sched_retry_delay(const ub_task *t, int attempt);

/* Critical path first: fills rank[i] (ntasks entries) with the longest
 * weighted path from task i to the end of the graph, i itself included, and
 * prio with the task indices in the order tries are started when workers are
 * fewer than ready tasks.  weight (optional, borrowed, ntasks entries indexed
 * like spec->tasks): the expected seconds of each task, e.g. its last duration
 * in the journal; a value <= 0 counts as 1.  NULL: every task counts 1, so
 * paths are measured in tasks, and prio is rank descending, ties in
 * topological order.  With weights, measured durations of equal tasks differ
 * by milliseconds, so paths that tie (ub_sched_paths_tie) with the longest
 * path of their class are ordered as without weights: by path in tasks, then
 * topological order.  Within one run, a ready task earlier in prio always
 * starts first; runs still go in date order.  -1 when out of memory. */
int ub_sched_rank(const ub_spec *spec, const double *weight, double *rank, size_t *prio);

/* Two weighted path lengths (seconds) that count as equal: within
 * UB_SCHED_TIE_SECS or UB_SCHED_TIE_FRAC of the longer one. */
#define UB_SCHED_TIE_SECS 0.1
#define UB_SCHED_TIE_FRAC 0.1
int ub_sched_paths_tie(double a, double b);

/* Runs everything.  Returns 0 when every run succeeded, 1 otherwise
 * (details in *sum).  Ready tasks start critical path first, paths counted
 * in tasks. */
int ub_sched_run(const ub_sched_cfg *cfg, const ub_sched_ops *ops, void *ud, ub_sched_summary *sum);
/* The same with the paths weighted by expected durations (see ub_sched_rank;
 * weight may be NULL). */
int ub_sched_run_weighted(const ub_sched_cfg *cfg, const double *weight, const ub_sched_ops *ops, void *ud,
                          ub_sched_summary *sum);

/* The weights for ub_sched_run_weighted: the duration of each task's last
 * successful try in the journal of the latest ds before `before` (a ds,
 * YYYY-MM-DD; NULL: the latest ds of all) of the pipeline under the state
 * directory (state_dir NULL: $UBPIPE_HOME, else ./.ubpipe); a task with no
 * such try gets the average of the others.  NULL (count tasks) when there is
 * no such journal or nothing in it succeeded.  Owned by the caller (ub_free).
 * In sched_hist.c: the only part of the scheduler that reads files; used by
 * run.c with the first ds of the run. */
double *ub_sched_history(const ub_spec *s, const char *state_dir, const char *before);

const char *ub_sstate_name(ub_sstate s);

#endif
