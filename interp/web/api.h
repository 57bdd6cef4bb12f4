/* api.h — the JSON API of `ubpipe serve` (documented in ubpipe-serve(1)).
 *
 * Every function returns a new json_t reference the caller owns, or NULL
 * with *status set (404 unknown pipeline/ds/task, 400 bad argument, 500)
 * and *err pointing at a static message.  Path parts (pipeline, ds, task)
 * are looked up in the spec and the journal, never joined into paths
 * unchecked.  Times are RFC 3339 UTC strings ("2026-01-02T03:04:05Z") or
 * null.  No secret appears in any reply (base/secret.h masking).
 */
#ifndef UB_API_H
#define UB_API_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/buf.h"
#include "web/serve.h"

/* [{"pipeline","schedule","paused","next_ds","last_run":{"ds","state"}|null,
 *   "error":null|"spec error text"}] */
json_t *ub_api_pipelines(ub_serve *s);

/* {"runs":[{"ds","state","start","end","tasks":[{"id","state","tries","start","end"}]}],
 *  "total":N}, newest ds first; from/to (YYYY-MM-DD, inclusive) may be NULL. */
json_t *ub_api_runs(ub_serve *s, const char *pipeline, const char *from, const char *to, size_t limit,
                    size_t offset, int *status, const char **err);

/* {"ds","state","start","end","tasks":[{"id","op","after":[...],"state",
 *   "tries":[{"try","state","start","end"}],"effects":[...],"outputs":{...}}]} */
json_t *ub_api_run(ub_serve *s, const char *pipeline, const char *ds, int *status, const char **err);

/* {"tasks":[{"id","op","after":[...]}]} from the last good spec. */
json_t *ub_api_dag(ub_serve *s, const char *pipeline, int *status, const char **err);

/* Appends bytes [offset, offset+max) of the masked log of task's try try_no
 * to out; *total = the log's size.  0 ok; -1 with *status (404/400/500). */
int ub_api_log(ub_serve *s, const char *pipeline, const char *ds, const char *task, int try_no,
               uint64_t offset, uint64_t max, ub_buf *out, uint64_t *total, int *status);

/* 1 when try try_no of task has ended (or a later try began), 0 while it
 * may still write its log, -1 when pipeline, ds or task is unknown. */
int ub_api_try_done(ub_serve *s, const char *pipeline, const char *ds, const char *task, int try_no);

#endif
