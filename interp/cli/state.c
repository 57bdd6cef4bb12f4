/* state.c — the verbs that read a run's state: status (task states, from the
 * journal) and logs (the log of each try of a task). */
#include "cli/cli.h"
#include <stdio.h>

int ub_cli_status(ub_cli *c)
{
    ub_engine_opts eo;
    ub_cli_engine_opts(c, &eo);
    return ub_run_status(c->spec, &eo, c->dates, c->ndates, ub_cli_json(c), stdout, c->diag);
}

int ub_cli_logs(ub_cli *c)
{
    ub_engine_opts eo;
    ub_cli_engine_opts(c, &eo);
    ub_engine *e = ub_engine_new(c->spec, &eo, c->diag);
    if (!e)
        return UB_EXIT_USAGE;
    int rc = ub_run_logs(e, c->args[1], c->try_no, stdout, c->diag);
    ub_engine_free(e);
    return rc;
}
