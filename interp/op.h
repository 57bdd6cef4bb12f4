/* op.h — the operator API: everything an operator may see.
 *
 * An operator is a static descriptor: a name, a parameter table, and the
 * callbacks check (what the rendered parameters alone show wrong, touching
 * nothing: names, keys), plan (describe every effect, touch nothing) and run
 * (do it).  Operators include this
 * header, interp/lake/lake.h and the interp/io headers — never the spec loader,
 * the DAG or the scheduler.  Adding an operator = one file in interp/ops/,
 * one line in interp/ops/registry.c, its tests and its man page section.
 *
 * Strings handed out by the context live until the task ends; do not free.
 */
#ifndef UB_OP_H
#define UB_OP_H
#include <stdarg.h>
#include <stdint.h>
#include "base/err.h"
#include "lake/lake.h"

typedef enum {
    UB_T_STR,        /* templated string */
    UB_T_INT,        /* integer (not templated) */
    UB_T_BOOL,       /* true / false */
    UB_T_DURATION,   /* 90, 90s, 5m, 1h30m */
    UB_T_PATH,       /* templated local path, relative to the spec's directory */
    UB_T_LAKEREF,    /* templated lake reference "AREA:KEY", AREA in raw|stage|scripts;
                      * a task with one needs the profile's `lake` connection */
    UB_T_CONN,       /* name of a connection of the profile (choices = its kind) */
    UB_T_ENUM,       /* one of choices, "a|b|c" */
    UB_T_LIST,       /* list of templated strings */
    UB_T_MAP         /* mapping of templated strings */
} ub_ptype;

typedef struct ub_param {
    const char *name;
    ub_ptype    type;
    int         required;
    const char *def;        /* default, as spec text; NULL = none */
    const char *choices;    /* UB_T_ENUM: "a|b"; UB_T_INT: "MIN..MAX" (default 0..INT_MAX), checked
                             * when the spec loads; UB_T_CONN: "postgres|warehouse|lake|emr";
                             * UB_T_LAKEREF: NULL = an object only (a key ending in '/' is an
                             * error at the parameter), "object|prefix" = a prefix is accepted */
    const char *desc;       /* one line, for `ubpipe help OP`, the man page and the schema */
} ub_param;

typedef struct ub_opctx ub_opctx;

typedef struct ub_opdesc {
    const char     *name;      /* "pg.extract" */
    const char     *summary;   /* one line */
    const char     *doc;       /* a paragraph for `ubpipe help OP` */
    const ub_param *params;    /* terminated by an entry with name NULL */
    /* optional: checks of the rendered parameters that need no connection, each error at
     * its parameter (ub_op_param_error); called in planning mode before the plan, and by
     * `run` for every task before any task starts, so that they exit 2, not 1 */
    int (*check)(ub_opctx *);
    int (*plan)(ub_opctx *);
    int (*run)(ub_opctx *);
    /* optional: in a later run, sets again (ub_op_set_output) the outputs of an
     * earlier success whose recorded values had a secret masked in the journal,
     * from the rendered parameters alone; touches nothing */
    int (*restore)(ub_opctx *);
} ub_opdesc;

/* ---- identity ---------------------------------------------------------- */
const char *ub_op_task(const ub_opctx *c);        /* task id */
const char *ub_op_ds(const ub_opctx *c);          /* "YYYY-MM-DD" */
const char *ub_op_pipeline(const ub_opctx *c);
int         ub_op_planning(const ub_opctx *c);    /* 1 in plan, 0 in run */
int         ub_op_try(const ub_opctx *c);         /* 1-based try number */

/* ---- parameters (rendered; defaults applied) ---------------------------- */
int         ub_op_has(ub_opctx *c, const char *key);
/* UB_T_STR / PATH / ENUM / CONN: the rendered value; PATH made absolute;
 * LAKEREF: the lake key ("raw/movie_review/2021-05-01/movie.csv").
 * NULL when absent without default, or on error (already reported). */
const char *ub_op_str(ub_opctx *c, const char *key);
long long   ub_op_int(ub_opctx *c, const char *key);
int         ub_op_bool(ub_opctx *c, const char *key);
double      ub_op_duration(ub_opctx *c, const char *key);
/* UB_T_LIST: number of items, and the rendered i-th item. */
size_t      ub_op_list_len(ub_opctx *c, const char *key);
const char *ub_op_list_item(ub_opctx *c, const char *key, size_t i);
/* UB_T_MAP: number of pairs, i-th key (not rendered) and rendered value. */
size_t      ub_op_map_len(ub_opctx *c, const char *key);
const char *ub_op_map_key(ub_opctx *c, const char *key, size_t i);
const char *ub_op_map_val(ub_opctx *c, const char *key, size_t i);
/* Reads the file named by a PATH parameter and renders it as a template
 * (SQL, step JSON).  Template errors name the file, line and column. */
const char *ub_op_file_rendered(ub_opctx *c, const char *key);
/* Where the 1-based character chr (UTF-8 code points, as PostgreSQL counts an error
 * position) of the text ub_op_file_rendered(c, key) last returned came from: "FILE:LINE:COL"
 * into buf (with a note when it falls in the output of a {{ }} block, whose start it names);
 * chr 0: "FILE" alone.  -1 when the file was not rendered in this try or chr is past its text. */
int ub_op_file_where(ub_opctx *c, const char *key, size_t chr, char *buf, size_t cap);
/* Renders arbitrary template text; `where` names it in messages. */
const char *ub_op_render(ub_opctx *c, const char *text, const char *where);

/* A spec error at parameter key (its value, or the task when the default is used):
 * in plan FILE:LINE:COL on the diagnostics (exit 2), in run the task fails for good.
 * For what only the rendered value shows (a name too long for the warehouse). -1. */
int ub_op_param_error(ub_opctx *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- connections of the active profile ---------------------------------- */
/* The rendered name of the connection a UB_T_CONN parameter names, when the
 * active profile defines it; NULL and an error at the parameter otherwise.
 * Every UB_T_CONN parameter of a task (and `lake`, for a task with a
 * UB_T_LAKEREF parameter) is checked this way before its plan and run. */
const char *ub_op_conn_name(ub_opctx *c, const char *param);
/* A field of the connection named by a UB_T_CONN parameter: "dsn", "url",
 * "dialect", "cluster", "iam_role", ... (rendered; environment overrides
 * UBPIPE_CONN_<NAME> applied to the main field).  NULL when not set. */
const char *ub_op_conn(ub_opctx *c, const char *param, const char *field);
/* The i-th entry of a mapping field of that connection (e.g. emr "scripts"):
 * returns the value and sets *key, or NULL past the end. */
const char *ub_op_conn_map(ub_opctx *c, const char *param, const char *field, size_t i, const char **key);
/* A field of the connection called name in the active profile (as ub_op_conn, by name). */
const char *ub_op_conn_named(ub_opctx *c, const char *name, const char *field);
/* A report declared under the spec's top-level `reports:` (report operator):
 * its file (absolute), connection (default "warehouse") and title (NULL when
 * unset).  -1 and a task error when the spec declares no such report. */
int ub_op_report_decl(ub_opctx *c, const char *id, const char **file, const char **conn, const char **title);
/* The lake of the profile; run mode only (NULL in plan). */
ub_lake    *ub_op_lake(ub_opctx *c);
const char *ub_op_lake_url(ub_opctx *c);
/* Scratch directory of this pipeline and ds (absolute, created on first
 * use in run mode), and the state directory. */
const char *ub_op_workdir(ub_opctx *c);
const char *ub_op_state_dir(const ub_opctx *c);
/* Absolute directory of the spec file (relative paths are taken from it). */
const char *ub_op_spec_dir(const ub_opctx *c);

/* ---- plan effects -------------------------------------------------------- */
/* kind: "sql", "read", "write", "copy", "delete", "ddl", "emr.step", "wait",
 * "exec", "note".  target: a connection name, lake key, path or "-".
 * Effects are also logged in run mode. */
void ub_op_effect(ub_opctx *c, const char *kind, const char *target, const char *fmt, ...)
     __attribute__((format(printf, 4, 5)));

/* ---- run ------------------------------------------------------------------ */
int  ub_op_fail(ub_opctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));   /* -1 */
/* Fails the task for good: the input itself is wrong (malformed data, a
 * failed step), so another try would fail the same way and is not made. */
int  ub_op_fatal(ub_opctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));  /* -1 */
void ub_op_log(ub_opctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int  ub_op_set_output(ub_opctx *c, const char *key, const char *value);
/* An output of this task recorded by an earlier try (resume), or NULL. */
const char *ub_op_prev_output(ub_opctx *c, const char *key);
void ub_op_progress(ub_opctx *c, uint64_t rows, uint64_t bytes);
/* Reports "I read the file of parameter `param` (path), whose content hash
 * is hashhex", computed while streaming it (io/hashread.h): it joins
 * the task's fingerprint, so a large input is never read an extra time. */
void ub_op_input_file(ub_opctx *c, const char *param, const char *path, const char *hashhex);
int  ub_op_cancelled(const ub_opctx *c);
/* Sleeps up to secs, returning early (non-zero) when the run is cancelled. */
int  ub_op_sleep(ub_opctx *c, double secs);
/* Path of the running ubpipe binary (for helper processes). */
const char *ub_op_self_exe(const ub_opctx *c);

/* ---- streaming hand-off (core/handoff.h) ---------------------------------- */
/* The producer: path is the file this try is writing in place, append-only,
 * holding at the end the bytes of its output (an atomic writer's temporary):
 * a downstream try may follow it.  Nothing happens unless the scheduler asked. */
void ub_op_stream_out(ub_opctx *c, const char *path);
/* The follower: 1 when this try was started before its upstream ended, to
 * follow the file that becomes the lake object *key. */
int  ub_op_stream_in(ub_opctx *c, const char **key);
/* A reader of that file: at its end it waits for more until the producer
 * succeeded (or fails: stopped, the producer gone), and then fails unless the
 * file the producer committed is the one read, whole.  The caller owns it. */
ub_reader *ub_op_stream_open(ub_opctx *c, ub_err *err);
/* Waits until every upstream task succeeded: 0, or -1 when the try is
 * stopped or the scheduler went away (commit nothing then). */
int  ub_op_stream_wait(ub_opctx *c);

/* ---- lineage (core/lineage.h) ---------------------------------------------- */
/* 1 when an OpenLineage transport is configured: only then is it worth a
 * query to learn the columns of a table. */
int  ub_op_lineage_wanted(const ub_opctx *c);
/* The columns of a dataset the try read or wrote, for the schema facet of
 * its OpenLineage events: kind "table" (name: the table as the task names
 * it, on the connection of its conn parameter), "file" (the path as the
 * parameter renders it) or "lake" (the lake key or prefix of the
 * parameter); types may be NULL, or hold NULLs (a CSV header has none).
 * Does nothing unless ub_op_lineage_wanted. */
void ub_op_dataset_schema(ub_opctx *c, const char *kind, const char *name, size_t n, const char *const *names,
                          const char *const *types);

/* ---- registry (interp/ops/registry.c) ------------------------------------- */
const ub_opdesc *ub_op_find(const char *name);
const ub_opdesc *const *ub_op_all(void);   /* NULL-terminated */
const char *ub_ptype_name(ub_ptype t);

#endif
