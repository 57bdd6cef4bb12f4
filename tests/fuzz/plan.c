/* plan.c — fuzz target: a spec that loads is planned — the engine renders
 * params, profiles and every task's parameters (templates, lake refs,
 * connections), the plan is printed as text and JSON, the graph as DOT and
 * Mermaid.  Planning touches nothing outside the temporary directory. */
#include "fz.h"
#include "core/engine.h"
#include "core/plan.h"
#include "core/spec.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300], state[300];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/pipeline.yaml", fz_dir());
        snprintf(state, sizeof state, "%s/state", fz_dir());
        if (!(devnull = fopen("/dev/null", "w")))
            abort();
    }
    fz_write(path, data, size);
    ub_diag d;
    ub_diag_init(&d);
    ub_spec *s = ub_spec_load(path, &d);
    if (s) {
        ub_engine_opts o = { .ds = "2021-05-01", .planning = 1, .state_dir = state };
        ub_engine *e = ub_engine_new(s, &o, &d);
        if (e) {
            ub_plan_print(e, NULL, 0, devnull, &d);
            ub_plan_print(e, NULL, 1, devnull, &d);
            ub_engine_free(e);
        }
        ub_plan_graph(s, "dot", devnull);
        ub_plan_graph(s, "mermaid", devnull);
    }
    ub_diag_flush(&d, devnull);
    ub_spec_free(s);
    ub_diag_free(&d);
    return 0;
}
