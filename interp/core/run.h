/* run.h — `ubpipe run`: execute the tasks of one ds in order, with retries,
 * a journal, resume and subsets. */
#ifndef UB_RUN_H
#define UB_RUN_H
#include "core/engine.h"

typedef struct ub_run_opts {
    int rerun;                 /* run everything, even tasks already successful */
    const char *only;          /* comma-separated task ids, or NULL */
    int downstream;            /* with only: add every task downstream of them */
    int quiet;
} ub_run_opts;

/* 0 all tasks succeeded, 1 a task failed, 2 usage error (diag). */
int ub_run(ub_engine *e, const ub_run_opts *o, ub_diag *diag);
/* `ubpipe status`: tasks × state × tries × duration from the journal. */
int ub_run_status(ub_engine *e, int json, FILE *out);
/* `ubpipe logs`: prints the log of each try (or of one). */
int ub_run_logs(ub_engine *e, const char *task, int try_no, FILE *out, ub_diag *diag);

#endif
