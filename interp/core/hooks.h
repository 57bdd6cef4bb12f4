/* hooks.h — task hooks: on_success, on_failure, on_retry, run as sandboxed Lua.
 *
 * A task key on_success / on_failure / on_retry names the hook:
 *   MODULE.FUNCTION   require(MODULE).FUNCTION(task), MODULE on lua_path
 *   FILE.lua          the file (relative to the spec) returns a function,
 *                     called with task
 *   anything else     Lua code, run with `task` as a global and as `...`
 * Each hook runs in a fresh Lua state of its own (the sandbox of
 * ubpipe-lua(7), default limits), with the spec's lua_path and lua_grant.
 * `task` holds id, ds, ds_nodash, pipeline, profile, event, try, error (nil
 * on success), outputs (the task's, strings), params (the spec's params as
 * rendered, scalars), publish(key, value), and rows(ref) - an iterator over
 * the rows of a CSV lake object "AREA:KEY" (tables keyed by its header).
 * An on_success hook publishes outputs by task.publish or by returning a
 * table of key = value; raising an error fails the task (no retry).
 *
 * Call from the thread that publishes outputs (it renders params through the
 * engine's Lua state).
 */
#ifndef UB_HOOKS_H
#define UB_HOOKS_H
#include "core/engine.h"

/* 1 when task t has a hook for event ("on_success", "on_failure", "on_retry"). */
int ub_hooks_has(const ub_task *t, const char *event);

/* Runs t's hook for event, if any (0 when there is none).  error is the
 * try's error (NULL on success).  published/npub (may be NULL) receive the
 * outputs the hook published, which the caller owns and frees with
 * ub_hooks_free.  On error returns -1, err = "on_success hook of task 'x': ...". */
int ub_hooks_run(ub_engine *e, ub_task *t, const char *event, int try_no, const char *error,
                 const ub_kv *outputs, size_t nout, ub_kv **published, size_t *npub, ub_err *err);
void ub_hooks_free(ub_kv *published, size_t npub);

/* One line describing t's hooks and the spec's grants for plan output
 * ("on_success: quality.check; grants: os"), appended to out; 0 when the
 * task has no hook. */
int ub_hooks_describe(const ub_engine *e, const ub_task *t, ub_buf *out);

#endif
