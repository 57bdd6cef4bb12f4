/* api_weak.c — TEMPORARY: weak stand-ins for the JSON API (web/api.h) so the
 * pages link before serve-api's web/api.c is merged; every call answers 503.
 * The real definitions override these; delete this file once api.c is in. */
#include "web/api.h"

#define WEAK __attribute__((weak))

WEAK json_t *ub_api_pipelines(ub_serve *s)
{
    return json_array();
}

WEAK json_t *ub_api_runs(ub_serve *s, const char *pipeline, const char *from, const char *to, size_t limit,
                         size_t offset, int *status, const char **err)
{
    *status = 503;
    *err = "the API is not built in";
    return NULL;
}

WEAK json_t *ub_api_run(ub_serve *s, const char *pipeline, const char *ds, int *status, const char **err)
{
    *status = 503;
    *err = "the API is not built in";
    return NULL;
}

WEAK json_t *ub_api_dag(ub_serve *s, const char *pipeline, int *status, const char **err)
{
    *status = 503;
    *err = "the API is not built in";
    return NULL;
}

WEAK int ub_api_log(ub_serve *s, const char *pipeline, const char *ds, const char *task, int try_no, uint64_t offset,
                    uint64_t max, ub_buf *out, uint64_t *total, int *status)
{
    *status = 503;
    return -1;
}
