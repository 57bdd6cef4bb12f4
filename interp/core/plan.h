/* plan.h — `ubpipe plan`, `render` and `graph`: describe, touch nothing. */
#ifndef UB_PLAN_H
#define UB_PLAN_H
#include <stdio.h>
#include "core/engine.h"

/* What a run was asked to run (run.h, ub_run_selection), so that the plan
 * shows the same decisions: only[i] = 1 for a task --only keeps (NULL: no
 * --only, the fingerprints decide), force[i] = 1 for a task run whatever its
 * fingerprint says (NULL: none).  Each array has spec->ntasks bytes. */
typedef struct ub_plan_sel {
    const char *only;
    const char *force;
} ub_plan_sel;

/* Plans every task in order and prints the plan (text or json) to out,
 * secrets masked, with what a run selected by sel (may be NULL) would run
 * or skip, and why.  Returns 0, or 2 when a task could not be planned (the
 * errors are in the diag). */
int ub_plan_print(ub_engine *e, const ub_plan_sel *sel, int json, FILE *out, ub_diag *diag);
/* `render`: what names a template text, a task id (all its parameters) or
 * TASK.KEY (one parameter; file parameters show the rendered file). */
/* For `run`, before anything runs (e is a planning engine): what every task
 * needs of the profile and its lake keys (ub_ctx_preflight) and its operator's
 * check of the rendered parameters.  0, or 2 with the errors on diag. */
int ub_plan_preflight(ub_engine *e, ub_diag *diag);
int ub_plan_render(ub_engine *e, const char *what, FILE *out, ub_diag *diag);
/* `graph`: dot or mermaid. */
int ub_plan_graph(const ub_spec *s, const char *format, FILE *out);

#endif
