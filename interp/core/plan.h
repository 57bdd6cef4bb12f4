/* plan.h — `ubpipe plan`, `render` and `graph`: describe, touch nothing. */
#ifndef UB_PLAN_H
#define UB_PLAN_H
#include <stdio.h>
#include "core/engine.h"

/* Plans every task in order and prints the plan (text or json) to out,
 * secrets masked.  Returns 0, or 2 when a task could not be planned (the
 * errors are in the diag). */
int ub_plan_print(ub_engine *e, int json, FILE *out, ub_diag *diag);
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
