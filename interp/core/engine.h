/* engine.h — one evaluation of a spec for one ds and profile: the template
 * scope, the profile's connections, rendered values and effects.  Shared by
 * plan, run and the CLI; operators never see it (they see op.h).
 */
#ifndef UB_ENGINE_H
#define UB_ENGINE_H
#include <signal.h>
#include <stdio.h>
#include "base/secret.h"
#include "lua/luahost.h"
#include "core/spec.h"

typedef struct ub_effect {
    const char *kind, *target, *text;
} ub_effect;

typedef struct ub_kv { const char *key, *val; } ub_kv;

typedef struct ub_engine_opts {
    const char *ds;              /* NULL = yesterday (UTC) */
    const char *profile;         /* NULL = "local" */
    const ub_kv *params;         /* -p overrides */
    size_t nparams;
    int planning;
    const char *state_dir;       /* NULL = $UBPIPE_HOME or ./.ubpipe */
    const char *self_exe;
} ub_engine_opts;

/* A connection of the active profile, rendered, overrides applied. */
typedef struct ub_conn {
    const char *name;
    ub_loc      loc;
    ub_kv      *fields;     /* dsn, url, dialect, cluster, ... */
    size_t      nfields;
    ub_kv      *scripts;    /* emr: script name -> built-in */
    size_t      nscripts;
    const char *main;       /* the field UBPIPE_CONN_<NAME> overrides */
    int         from_env;   /* main came from the environment */
} ub_conn;

typedef struct ub_engine {
    ub_spec    *spec;
    ub_diag    *diag;
    ub_lua     *lua;
    ub_arena    arena;       /* rendered strings that live as long as the engine */
    char        ds[11], ds_nodash[11];
    const char *profile;
    ub_node    *profile_node;
    ub_conn    *conns;
    size_t      nconns;
    int         planning;
    const char *state_dir, *workdir, *self_exe;
    ub_lake    *lake;        /* opened on first use in run mode */
    int         outputs_ref; /* registry ref of the raw `outputs` table */
    ub_engine_opts opts;     /* as given (borrowed strings): a sibling engine for the same ds */
} ub_engine;

/* Sets up the scope for spec at ds/profile.  Errors (bad ds, unknown
 * profile, template errors in the profile) go to diag; NULL then. */
ub_engine *ub_engine_new(ub_spec *spec, const ub_engine_opts *o, ub_diag *diag);
/* "a, b, c": the connections of the active profile ("none" when it has none), for messages. */
void ub_engine_conn_names(const ub_engine *e, ub_buf *out);
void       ub_engine_free(ub_engine *e);
const char *ub_engine_ds(const ub_engine *e);
const char *ub_engine_profile(const ub_engine *e);
ub_lua     *ub_engine_lua(ub_engine *e);
/* Renders one string from the spec (a scalar node) in the scope. */
const char *ub_engine_render_node(ub_engine *e, const ub_node *n);
/* Where the template error of scalar n is shown: the "{{" of the block that
 * failed (failed: its offset in n->str, from ub_tmpl_render_at), else n's start. */
ub_loc ub_engine_block_loc(const ub_diag *d, const ub_node *n, size_t failed);

/* Task contexts (ctx.c) ------------------------------------------------- */
ub_opctx *ub_ctx_new(ub_engine *e, ub_task *t, int try_no);
void      ub_ctx_free(ub_opctx *c);
size_t    ub_ctx_effects(const ub_opctx *c, const ub_effect **out);
/* What the task needs of the profile, before its plan or run: every UB_T_CONN
 * parameter names a connection the profile defines, and a task with a
 * UB_T_LAKEREF parameter has a `lake`; each UB_T_LAKEREF renders to a valid
 * key (an object where the parameter needs one).  -1 with errors at the parameters. */
int       ub_ctx_preflight(ub_opctx *c);
const char *ub_ctx_error(const ub_opctx *c);          /* "" when none */
int       ub_ctx_fatal(const ub_opctx *c);            /* failed for good: no retry */
/* Publishes the task's outputs to later templates (outputs.<id>.<key>). */
void      ub_ctx_publish(ub_opctx *c);
void      ub_ctx_set_log(ub_opctx *c, FILE *log);
/* ub_op_progress calls cb (the scheduler forwards progress to its view). */
void      ub_ctx_set_progress_cb(ub_opctx *c, void (*cb)(void *ud, uint64_t rows, uint64_t bytes), void *ud);
/* Outputs recorded by an earlier try or run (borrowed; for re-attaching). */
void      ub_ctx_set_prev(ub_opctx *c, const ub_kv *prev, size_t n);
size_t    ub_ctx_outputs(const ub_opctx *c, const ub_kv **out);
/* The last figures of ub_op_progress. */
void      ub_ctx_progress_get(const ub_opctx *c, uint64_t *rows, uint64_t *bytes);
/* Content hashes the try reported (ub_op_input_file): names[i] -> content hash[i]. */
size_t    ub_ctx_inputs(const ub_opctx *c, const ub_kv **out);
/* Lineage wants the columns of datasets (ub_op_lineage_wanted): set when
 * an OpenLineage transport is configured. */
void      ub_ctx_set_lineage(ub_opctx *c, int on);
/* The fields of the SchemaDatasetFacet of dataset kind:name as the try
 * reported them (ub_op_dataset_schema): a borrowed JSON array, or NULL. */
struct json_t;
const struct json_t *ub_ctx_dataset_schema(const ub_opctx *c, const char *kind, const char *name);
/* Deadline (epoch seconds, 0 = none) after which ub_op_cancelled is true. */
void      ub_ctx_set_deadline(ub_opctx *c, double deadline);
/* Publishes given outputs of task id (from the journal, for skipped tasks). */
void      ub_engine_publish(ub_engine *e, const char *task, const ub_kv *out, size_t n);
/* Publishes the outputs of task t that the journal recorded; those recorded with a
 * secret masked (masked[i], may be NULL) are first set again by the operator's
 * restore callback, when it has one (else they stay masked). */
void      ub_engine_publish_journaled(ub_engine *e, ub_task *t, const ub_kv *out, const unsigned char *masked,
                                      size_t n);

/* The value of connection c's main field (the one UBPIPE_CONN_<NAME>
 * overrides: dsn, url or cluster), or NULL. */
const char *ub_conn_main(const ub_conn *c);
/* The profile's lake URL (the main field of its 'lake' connection), or NULL. */
const char *ub_engine_lake_url(const ub_engine *e);
/* The engine's one lake, opened on first use; NULL with err when the profile
 * has no 'lake' connection or it cannot be opened.  The engine owns it. */
ub_lake   *ub_engine_lake(ub_engine *e, ub_err *err);

/* Cancellation flag set by signal handlers. */
extern volatile sig_atomic_t ub_cancel_requested;

#endif
