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

#endif
