/* spec.h — a pipeline spec, loaded and checked.
 *
 * ub_spec_load reads the YAML, checks every key against the tables (top
 * level, task keys, each operator's parameter table, profile connections),
 * resolves `after`, and orders the tasks (interp/core/dag.c).  Every problem
 * is reported to the ub_diag with its location; the spec is returned only
 * when there were none.  All strings and nodes live in the spec's arena.
 */
#ifndef UB_SPEC_H
#define UB_SPEC_H
#include <stddef.h>
#include "base/buf.h"
#include "base/diag.h"
#include "core/node.h"
#include "op.h"

typedef struct ub_task {
    const char      *id;
    ub_loc           loc;        /* of the id */
    ub_node         *body;
    const ub_opdesc *op;
    size_t           index;      /* position in the spec */
    size_t          *after;      /* indices of upstream tasks */
    ub_node        **after_nodes;
    size_t           nafter;
    /* scheduling, defaults applied */
    int              retries;
    double           retry_delay, max_retry_delay, timeout;
    int              retry_backoff;
} ub_task;

typedef struct ub_spec {
    ub_arena    arena;
    const char *path;           /* as given */
    const char *dir;            /* absolute directory of the spec file */
    ub_node    *root;
    const char *pipeline, *description, *start_date;
    /* `ubpipe serve` scheduling (core/schedule.h): schedule NULL = none */
    const char *schedule, *end_date;
    int         sched_minute;   /* minute of the UTC day the runs fall at; -1 without schedule */
    int         catchup;        /* default 1 */
    int         max_active_runs;/* 0 = no limit */
    ub_node    *defaults, *params, *profiles, *tasks_node;
    ub_task    *tasks;
    size_t      ntasks;
    size_t     *order;          /* topological order, ties in spec order */
} ub_spec;

ub_spec *ub_spec_load(const char *path, ub_diag *diag);
void     ub_spec_free(ub_spec *s);

/* 1 when a UB_T_LAKEREF parameter accepts a prefix (a key ending in '/'), op.h. */
int ub_lakeref_takes_prefix(const ub_param *p);

/* What the tasks need of the profiles (needs.c): every connection a task names
 * (UB_T_CONN parameters, literal or default; `lake` for a task with a
 * UB_T_LAKEREF parameter) and every report's connection is defined in every
 * profile the spec declares (the empty `local` profile when it declares
 * none).  Errors at the parameter, or at the task when the default is used. */
void ub_spec_check_needs(const ub_spec *s, ub_diag *diag);
/* 1 when name is a key of every task (op, after, the hooks) or a scheduling key (retries,
 * timeout, ...): an operator parameter of that name would read the scheduler's value too. */
int  ub_spec_key_reserved(const char *name);

/* Connection fields a profile may set, NULL-terminated (for checks and docs). */
extern const char *const ub_conn_fields[];

/* DAG (dag.c): fills s->order, reports unknown references, self-edges and
 * cycles ("a -> b -> c -> a").  0 ok, -1 errors reported. */
int ub_dag_build(ub_spec *s, ub_diag *diag);

#endif
