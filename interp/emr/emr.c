/* emr_common.c — EMR step states and the dispatch of ub_emr_* to a backend by cluster. */
#include "emr/emr.h"
#include <string.h>

const char *ub_step_state_name(ub_step_state s)
{
    switch (s) {
    case UB_STEP_PENDING:        return "PENDING";
    case UB_STEP_CANCEL_PENDING: return "CANCEL_PENDING";
    case UB_STEP_RUNNING:        return "RUNNING";
    case UB_STEP_COMPLETED:      return "COMPLETED";
    case UB_STEP_CANCELLED:      return "CANCELLED";
    case UB_STEP_FAILED:         return "FAILED";
    case UB_STEP_INTERRUPTED:    return "INTERRUPTED";
    }
    return "UNKNOWN";
}

int ub_step_state_final(ub_step_state s)
{
    return s == UB_STEP_COMPLETED || s == UB_STEP_CANCELLED || s == UB_STEP_FAILED ||
           s == UB_STEP_INTERRUPTED;
}

/* Any cluster other than "local" is a cluster id for the EMR API (emr_api.c). */
static ub_emr *open_api(const ub_emr_opts *o, ub_err *err)
{
    return ub_emr_api_open(o, err);
}

/* One row per backend; the first whose cluster matches (NULL = any) opens it. */
static const struct {
    const char *cluster;
    ub_emr *(*open)(const ub_emr_opts *o, ub_err *err);
} backends[] = {
    { "local", ub_emr_local_open },
    { NULL, open_api },
};

ub_emr *ub_emr_open(const ub_emr_opts *o, ub_err *err)
{
    if (!o || !o->cluster || !*o->cluster) {
        ub_err_set(err, "no EMR cluster given (\"local\" or a cluster id)");
        return NULL;
    }
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (!backends[i].cluster || strcmp(backends[i].cluster, o->cluster) == 0)
            return backends[i].open(o, err);
    ub_err_set(err, "cluster '%s': no EMR backend", o->cluster);
    return NULL;
}

void ub_emr_free(ub_emr *e)
{
    if (e)
        e->ops->free(e);
}

int ub_emr_add_steps(ub_emr *e, const char *steps_json, char ***ids, size_t *n, ub_err *err)
{
    *ids = NULL;
    *n = 0;
    if (!steps_json)
        return ub_err_set(err, "no steps given");
    return e->ops->add_steps(e, steps_json, ids, n, err);
}

int ub_emr_describe_step(ub_emr *e, const char *id, ub_emr_step_status *st, ub_err *err)
{
    memset(st, 0, sizeof *st);
    if (!id || !*id)
        return ub_err_set(err, "no step id given");
    return e->ops->describe_step(e, id, st, err);
}

int ub_emr_cancel_steps(ub_emr *e, char *const *ids, size_t n, ub_err *err)
{
    if (n == 0)
        return 0;
    return e->ops->cancel_steps(e, ids, n, err);
}
