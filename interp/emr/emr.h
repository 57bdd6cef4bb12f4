/* emr.h — EMR steps: submit, describe, cancel.  Two backends behind one
 * interface: the local step runner (cluster "local") and the EMR API
 * (AWS JSON 1.1).  Operators never know which one they have.
 *
 * Layer: emr/ may include base/, io/, aws/ and lake/ — never core/ or ops/.
 */
#ifndef UB_EMR_H
#define UB_EMR_H
#include <stddef.h>
#include "base/err.h"
#include "lake/lake.h"

typedef enum {
    UB_STEP_PENDING, UB_STEP_CANCEL_PENDING, UB_STEP_RUNNING, UB_STEP_COMPLETED,
    UB_STEP_CANCELLED, UB_STEP_FAILED, UB_STEP_INTERRUPTED
} ub_step_state;

const char *ub_step_state_name(ub_step_state s);      /* "PENDING", ... */
int         ub_step_state_final(ub_step_state s);     /* COMPLETED, CANCELLED, FAILED, INTERRUPTED */

typedef struct ub_emr_step_status {
    ub_step_state state;
    char name[256];
    char reason[1024];        /* FailureDetails: Reason / Message / LogFile, one line */
} ub_emr_step_status;

typedef struct ub_emr_script { const char *name, *builtin; } ub_emr_script;

typedef struct ub_emr_opts {
    const char *cluster;      /* "local" or a cluster id (j-...) */
    const char *state_dir;    /* ubpipe state directory (local runner keeps steps there) */
    const char *self_exe;     /* ubpipe binary, to start the local runner */
    const char *lake_url;     /* the profile's lake: s3://BUCKET/... URLs map onto it locally */
    const char *hdfs_dir;     /* local "HDFS" scratch directory; NULL = <state_dir>/hdfs */
    const ub_emr_script *scripts;   /* spark-submit script name -> built-in, for the local runner */
    size_t nscripts;
    const char *region;       /* aws */
    const char *base_dir;     /* a relative file: lake_url is relative to it (the spec's
                                 directory); NULL = the working directory */
} ub_emr_opts;

typedef struct ub_emr ub_emr;

ub_emr *ub_emr_open(const ub_emr_opts *o, ub_err *err);
void    ub_emr_free(ub_emr *e);
/* Submits the steps (a JSON array in the AddJobFlowSteps "Steps" shape).
 * On success *ids is an array of *n step ids (caller frees each with
 * ub_free, then the array). */
int ub_emr_add_steps(ub_emr *e, const char *steps_json, char ***ids, size_t *n, ub_err *err);
int ub_emr_describe_step(ub_emr *e, const char *id, ub_emr_step_status *st, ub_err *err);
int ub_emr_cancel_steps(ub_emr *e, char *const *ids, size_t n, ub_err *err);

/* Backends: ub_emr_open picks one by the cluster (emr.c). */
typedef struct ub_emr_ops {
    const char *name;                                  /* "local", "api" */
    int  (*add_steps)(ub_emr *, const char *steps_json, char ***ids, size_t *n, ub_err *);
    int  (*describe_step)(ub_emr *, const char *id, ub_emr_step_status *st, ub_err *);
    int  (*cancel_steps)(ub_emr *, char *const *ids, size_t n, ub_err *);
    void (*free)(ub_emr *);
} ub_emr_ops;

struct ub_emr {
    const ub_emr_ops *ops;
};

ub_emr *ub_emr_local_open(const ub_emr_opts *o, ub_err *err);   /* emr_local.c (private parts: local.h) */
ub_emr *ub_emr_api_open(const ub_emr_opts *o, ub_err *err);     /* emr_api.c: the EMR API over AWS JSON 1.1 */

/* Entry of the hidden verb `ubpipe __emr-local-runner DIR` that executes
 * locally submitted steps in the background. */
int ub_emr_local_runner_main(int argc, char **argv);

#endif
