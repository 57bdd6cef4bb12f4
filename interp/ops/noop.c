/* noop.c — a marker task that does nothing (Airflow's EmptyOperator). */
#include "op.h"

static const ub_param params[] = { { .name = NULL } };

static int plan(ub_opctx *c)
{
    ub_op_effect(c, "note", "-", "marker: nothing to do");
    return 0;
}

static int run(ub_opctx *c)
{
    (void)c;
    return 0;
}

const ub_opdesc ub_op_noop = {
    .name = "noop",
    .summary = "a marker task that does nothing",
    .doc = "Marks a point of the graph, such as the end of a pipeline. It has no parameters and always succeeds.",
    .params = params,
    .plan = plan,
    .run = run,
};
