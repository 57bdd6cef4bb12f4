/* spec.c — fuzz target: YAML bytes through the spec loader (YAML limits,
 * node kinds, key tables, operator checks, profiles) and the DAG. */
#include "fz.h"
#include "core/spec.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/pipeline.yaml", fz_dir());
    fz_write(path, data, size);
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    ub_diag d;
    ub_diag_init(&d);
    ub_spec *s = ub_spec_load(path, &d);
    ub_diag_flush(&d, devnull);     /* the messages quote source lines: exercise that too */
    ub_spec_free(s);
    ub_diag_free(&d);
    return 0;
}
