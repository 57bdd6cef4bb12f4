/* lineage.h — OpenLineage RunEvents (spec 2-0-2) for every task try, sent
 * by the try itself: START before the operator runs, then COMPLETE, FAIL or
 * ABORT (cancelled).  Configured from the environment:
 *   OPENLINEAGE_URL (+ OPENLINEAGE_API_KEY: Authorization: Bearer) — HTTP POST
 *     to $OPENLINEAGE_URL/api/v1/lineage;
 *   OPENLINEAGE__TRANSPORT__TYPE=file + OPENLINEAGE__TRANSPORT__LOG_FILE_PATH —
 *     one JSON object a line appended to that file;
 *   OPENLINEAGE_NAMESPACE — the job namespace (default "ubpipe").
 * The job is PIPELINE.TASK; the pipeline run is the parent (ParentRunFacet),
 * the ds the nominal time.  A receiver that is down or slow never fails a
 * try: short timeouts, two retries, then a warning in the task log; once a
 * send failed, the rest of the run sends nothing more (ub_lineage_set_down),
 * so a hanging receiver costs a run one bounded wait, not one per event.
 */
#ifndef UB_LINEAGE_H
#define UB_LINEAGE_H
#include "core/engine.h"

typedef struct ub_lineage ub_lineage;

/* NULL when no transport is configured (nothing to do). */
ub_lineage *ub_lineage_from_env(void);
void        ub_lineage_free(ub_lineage *l);
/* A new random UUID (version 4), "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
void        ub_lineage_uuid(char out[37]);
/* Emits one event of the try c of task t: type START, COMPLETE, FAIL or
 * ABORT; error for FAIL/ABORT.  Failures to deliver are logged to c and
 * return -1. */
int         ub_lineage_emit(ub_lineage *l, ub_engine *e, ub_task *t, ub_opctx *c, const char *run_id,
                            const char *parent_run_id, const char *type, const char *error);

/* The receiver failed: later events of this process (and its children)
 * are not sent, only logged. */
void        ub_lineage_set_down(ub_lineage *l);

#endif
