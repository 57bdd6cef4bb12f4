/* run.c — the verb `run`: every task of the pipeline for a ds (or a backfill). */
#include "cli/cli.h"
#include "core/plan.h"

int ub_cli_run(ub_cli *c)
{
    ub_engine_opts eo;
    ub_run_opts ro;
    ub_cli_engine_opts(c, &eo);
    ub_cli_run_opts(c, &ro);
    /* a new engine per date, inside ub_run; check the first one here so
     * that spec errors exit 2 before anything runs */
    eo.ds = c->dates[0].s;
    eo.planning = 1;
    ub_engine *e = ub_engine_new(c->spec, &eo, c->diag);
    if (!e)
        return UB_EXIT_USAGE;
    int nrc = ub_plan_preflight(e, c->diag);      /* connections, names and keys, rendered */
    ub_engine_free(e);
    if (nrc)
        return UB_EXIT_USAGE;
    eo.planning = 0;
    return ub_run(c->spec, &eo, c->dates, c->ndates, &ro, c->diag);
}
