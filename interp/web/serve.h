/* serve.h — the `ubpipe serve` daemon: the pipelines it watches and schedules.
 *
 * One ub_serve per process.  For each pipeline it keeps the spec file's
 * path, the last spec that loaded cleanly (NULL if none ever did), the
 * current load error (NULL when the file validates), and the paused flag
 * (persisted in STATE/serve/paused/<pipeline>).  Pages and the API read it
 * under ub_serve_lock()/ub_serve_unlock(): the scheduler thread swaps specs
 * when a file changes.
 */
#ifndef UB_SERVE_H
#define UB_SERVE_H
#include <stddef.h>
#include "base/err.h"
#include "base/diag.h"
#include "base/buf.h"
#include "core/spec.h"

typedef struct ub_serve ub_serve;

typedef struct ub_serve_pipeline {
    char    *path;          /* spec file as given */
    char    *name;          /* pipeline name (from the last good spec) */
    ub_spec *spec;          /* last good spec, owned; NULL if none loaded yet */
    char    *error;         /* current spec error text, owned; NULL = valid */
    int      paused;
} ub_serve_pipeline;

/* Accessors (the struct itself is private to web/serve.c). */
const char *ub_serve_state_dir(const ub_serve *s);
int         ub_serve_read_only(const ub_serve *s);
size_t      ub_serve_npipelines(const ub_serve *s);
/* i-th pipeline; valid while the lock is held. */
ub_serve_pipeline *ub_serve_pipeline_at(ub_serve *s, size_t i);
/* By name; NULL when unknown.  Valid while the lock is held. */
ub_serve_pipeline *ub_serve_find(ub_serve *s, const char *name);
void ub_serve_lock(ub_serve *s);
void ub_serve_unlock(ub_serve *s);

/* --- the daemon (web/serve.c), used by cli/serve.c and web/server.c --- */

/* state_dir: the state directory (copied); self_exe: this binary, run as
 * `SELF run FILE --ds D -q` for every run.  NULL with err on failure. */
ub_serve *ub_serve_new(const char *state_dir, const char *self_exe, int read_only, int scheduler, ub_err *err);
/* Adds a spec file; its errors go to diag.  -1 when it does not load (or
 * names a pipeline already served). */
int  ub_serve_add(ub_serve *s, const char *path, ub_diag *diag);
/* One scheduler tick at wall-clock now: reaps finished runs, re-reads
 * changed spec files, rescans the journals (and queues "run" events for
 * those that changed), starts the requested and the due runs. */
void ub_serve_tick(ub_serve *s, double now);
/* Queues a run of pipeline for ds (only: a task to clear and re-run, with
 * its downstream when downstream).  0, or -1 with status and err set. */
int  ub_serve_request(ub_serve *s, const char *pipeline, const char *ds, const char *only, int downstream,
                      int *status, const char **err);
int  ub_serve_set_paused(ub_serve *s, const char *pipeline, int paused, int *status, const char **err);

/* The state of pipeline's run for ds: "queued" (requested, not started),
 * "running", "success", "failed", or NULL when there is none.  Lock held. */
const char *ub_serve_run_state(ub_serve *s, ub_serve_pipeline *p, const char *ds);
/* The ds that have a journal (or a request), ascending; valid while the
 * lock is held. */
size_t ub_serve_run_list(ub_serve *s, ub_serve_pipeline *p, const char *const **ds);
/* The next ds the scheduler will run, "YYYY-MM-DD", or "" (lock held). */
void ub_serve_next_ds(ub_serve *s, ub_serve_pipeline *p, char out[11]);

/* Events for /api/v1/events: waits up to secs for an event after *seq;
 * appends "event: run\ndata: {...}\n\n" lines for each to out and
 * advances *seq.  *seq = ULLONG_MAX starts from now.  1 when the daemon is
 * stopping. */
int  ub_serve_events_wait(ub_serve *s, unsigned long long *seq, double secs, ub_buf *out);
/* --- the live reports' cache (web/reports_page.c) ---
 * Entries are keyed by a string naming (pipeline, report, ds, params) and
 * carry the pipeline's generation when their queries began; any journal
 * event or spec reload of that pipeline bumps it, and older entries miss. */
/* The pipeline's generation (lock held). */
unsigned long long ub_serve_generation(ub_serve *s, ub_serve_pipeline *p);
/* Appends the cached live page (want_file: the self-contained file) to out:
 * 1 on a hit, 0 on a miss (counted either way).  Takes the lock itself. */
int  ub_serve_report_cached(ub_serve *s, const char *key, int want_file, ub_buf *out);
/* Stores both pages under key (copied), replacing the least recently used
 * entry when full.  p must stay served (pipelines are never removed). */
void ub_serve_report_store(ub_serve *s, ub_serve_pipeline *p, const char *key, unsigned long long gen,
                           const ub_buf *live, const ub_buf *file);
void ub_serve_report_failed(ub_serve *s);
/* One report render at a time (the warehouse's load, and engine setup registers secrets). */
void ub_serve_render_lock(ub_serve *s);
void ub_serve_render_unlock(ub_serve *s);

/* Prometheus text of /metrics. */
void ub_serve_metrics(ub_serve *s, ub_buf *out);
/* 1 once ub_serve_shutdown began. */
int  ub_serve_stopping(ub_serve *s);
/* Stops starting runs, waits up to grace seconds for the running ones,
 * then sends them SIGTERM and waits for them.  Then frees nothing. */
void ub_serve_shutdown(ub_serve *s, double grace);
void ub_serve_free(ub_serve *s);

#endif
