/* status.h — `ubpipe status` and `ubpipe logs`: readers of the journal and
 * the try logs a run left (status.c). */
#ifndef UB_STATUS_H
#define UB_STATUS_H
#include "core/engine.h"

typedef struct ub_ds ub_ds;

/* `ubpipe status`: tasks × state × tries × duration of each date from the
 * journal; JSON prints one object per date. */
int ub_run_status(ub_spec *s, const ub_engine_opts *eo, const ub_ds *dates, size_t n, int json, FILE *out,
                  ub_diag *diag);
/* `ubpipe logs`: prints the log of each try (or of one). */
int ub_run_logs(ub_engine *e, const char *task, int try_no, FILE *out, ub_diag *diag);

#endif
