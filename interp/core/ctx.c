/* ctx.c — the operator API (op.h) over an engine and a task. */
#include "core/engine.h"
#include "core/handoff.h"
#include "core/srcmap.h"
#include "base/date.h"
#include "io/fsutil.h"
#include "io/stream.h"
#include <errno.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ub_opctx {
    ub_engine *e;
    ub_task   *t;
    int        try_no;
    ub_arena   arena;          /* rendered values of this task */
    ub_effect *eff;
    size_t     neff, capeff;
    ub_kv     *out;
    size_t     nout, capout;
    ub_buf     err;
    FILE      *log;
    uint64_t   rows, bytes;
    const ub_kv *prev;
    size_t     nprev;
    double     deadline;
    int        fatal;          /* no retry */
    void     (*progress_cb)(void *ud, uint64_t rows, uint64_t bytes);
    void      *progress_ud;
    ub_kv     *in;             /* ub_op_input_file: param -> content hash */
    size_t     nin;
    ub_handoff_in *handoff;    /* following an upstream's file (borrowed); NULL: no */
    void     (*stream_cb)(void *ud, const char *path);
    void      *stream_ud;
    int        lineage;        /* an OpenLineage transport is configured */
    json_t    *schemas;        /* ub_op_dataset_schema: "kind:name" -> fields */
    ub_srcmap *maps;           /* ub_op_file_rendered: where the rendered bytes came from */
};

void ub_ctx_set_handoff(ub_opctx *c, ub_handoff_in *h) { c->handoff = h; }
ub_handoff_in *ub_ctx_handoff(ub_opctx *c) { return c->handoff; }

void ub_ctx_set_stream_cb(ub_opctx *c, void (*cb)(void *ud, const char *path), void *ud)
{
    c->stream_cb = cb;
    c->stream_ud = ud;
}

void ub_op_stream_out(ub_opctx *c, const char *path)
{
    if (c->stream_cb && path)
        c->stream_cb(c->stream_ud, path);
}

ub_opctx *ub_ctx_new(ub_engine *e, ub_task *t, int try_no)
{
    ub_opctx *c = ub_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = e;
    c->t = t;
    c->try_no = try_no;
    ub_buf_init(&c->err, 1 << 16);
    return c;
}

void ub_ctx_free(ub_opctx *c)
{
    if (!c)
        return;
    ub_free(c->eff);
    ub_free(c->out);
    ub_free(c->in);
    json_decref(c->schemas);
    ub_buf_free(&c->err);
    ub_arena_free(&c->arena);
    ub_free(c);
}

void ub_ctx_set_log(ub_opctx *c, FILE *log) { c->log = log; }

size_t ub_ctx_effects(const ub_opctx *c, const ub_effect **out)
{
    *out = c->eff;
    return c->neff;
}

const char *ub_ctx_error(const ub_opctx *c) { return ub_buf_str(&c->err); }

/* ---- identity ---------------------------------------------------------- */
const char *ub_op_task(const ub_opctx *c) { return c->t->id; }
const char *ub_op_ds(const ub_opctx *c) { return c->e->ds; }
const char *ub_op_pipeline(const ub_opctx *c) { return c->e->spec->pipeline; }
int ub_op_planning(const ub_opctx *c) { return c->e->planning; }
int ub_op_try(const ub_opctx *c) { return c->try_no; }
const char *ub_op_state_dir(const ub_opctx *c) { return c->e->state_dir; }
const char *ub_op_spec_dir(const ub_opctx *c) { return c->e->spec->dir; }
const char *ub_op_self_exe(const ub_opctx *c) { return c->e->self_exe; }
int ub_op_cancelled(const ub_opctx *c)
{
    return ub_cancel_requested != 0 || (c->deadline > 0 && ub_now() > c->deadline);
}

void ub_ctx_set_deadline(ub_opctx *c, double deadline) { c->deadline = deadline; }

void ub_ctx_set_prev(ub_opctx *c, const ub_kv *prev, size_t n)
{
    c->prev = prev;
    c->nprev = n;
}

size_t ub_ctx_outputs(const ub_opctx *c, const ub_kv **out)
{
    *out = c->out;
    return c->nout;
}

/* ---- errors ------------------------------------------------------------ */
__attribute__((format(printf, 2, 0)))
static void vfail(ub_opctx *c, const char *fmt, va_list ap)
{
    if (c->err.len)
        return;                              /* keep the first error */
    ub_buf_vaddf(&c->err, fmt, ap);
}

int ub_op_fail(ub_opctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, fmt, ap);
    va_end(ap);
    return -1;
}

int ub_op_fatal(ub_opctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, fmt, ap);
    va_end(ap);
    c->fatal = 1;
    return -1;
}

int ub_ctx_fatal(const ub_opctx *c) { return c->fatal; }

/* A spec error at a node: to the diag in plan mode (exit 2 with a caret),
 * and as the task's error in both modes. */
static void node_error(ub_opctx *c, const ub_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
__attribute__((format(printf, 3, 0)))
static void loc_verror(ub_opctx *c, ub_loc loc, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->e->planning)
        ub_diag_error(c->e->diag, loc, "%s", msg);
    ub_op_fatal(c, "%s:%d:%d: %s", loc.file, loc.line, loc.col, msg);
}

static void node_error(ub_opctx *c, const ub_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    loc_verror(c, n->loc, fmt, ap);
    va_end(ap);
}

static void loc_error(ub_opctx *c, ub_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void loc_error(ub_opctx *c, ub_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    loc_verror(c, loc, fmt, ap);
    va_end(ap);
}

/* where a parameter's problem is shown: its value, or the task's id when the default is used */
static ub_loc param_loc(const ub_opctx *c, const char *key)
{
    const ub_node *n = ub_node_get(c->t->body, key);
    return n ? n->loc : c->t->loc;
}

int ub_op_param_error(ub_opctx *c, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    loc_verror(c, param_loc(c, key), fmt, ap);
    va_end(ap);
    return -1;
}

void ub_op_log(ub_opctx *c, const char *fmt, ...)
{
    if (!c->log)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ub_buf b = UB_BUF_INIT;
    ub_secret_mask(msg, &b);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(c->log, "%s %s: %s\n", ts, c->t->id, ub_buf_str(&b));
    fflush(c->log);
    ub_buf_free(&b);
}

void ub_op_progress(ub_opctx *c, uint64_t rows, uint64_t bytes)
{
    c->rows = rows;
    c->bytes = bytes;
    if (c->progress_cb)
        c->progress_cb(c->progress_ud, rows, bytes);
}

void ub_op_input_file(ub_opctx *c, const char *param, const char *path, const char *hashhex)
{
    ub_kv *p = ub_realloc(c->in, (c->nin + 1) * sizeof *p);
    if (!p)
        return;
    c->in = p;
    p[c->nin].key = ub_arena_strdup(&c->arena, param);
    p[c->nin].val = ub_arena_strdup(&c->arena, hashhex);
    if (p[c->nin].key && p[c->nin].val) {
        c->nin++;
        ub_op_log(c, "read %s (%s): content hash %s", param, path, hashhex);
    }
}

void ub_ctx_set_lineage(ub_opctx *c, int on) { c->lineage = on; }

int ub_op_lineage_wanted(const ub_opctx *c) { return c->lineage; }

void ub_op_dataset_schema(ub_opctx *c, const char *kind, const char *name, size_t n, const char *const *names,
                          const char *const *types)
{
    ub_buf key = UB_BUF_INIT;
    json_t *fields = json_array();
    if (!c->lineage || !fields || !n)
        goto out;
    if (!c->schemas && !(c->schemas = json_object()))
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_pack("{s:s, s:I}", "name", names[i] ? names[i] : "", "ordinal_position", (json_int_t)(i + 1));
        if (f && types && types[i])
            json_object_set_new(f, "type", json_string(types[i]));
        if (!f || json_array_append_new(fields, f))
            goto out;
    }
    ub_buf_addf(&key, "%s:%s", kind, name);
    if (!key.err)
        json_object_set(c->schemas, ub_buf_str(&key), fields);
out:
    json_decref(fields);
    ub_buf_free(&key);
}

const json_t *ub_ctx_dataset_schema(const ub_opctx *c, const char *kind, const char *name)
{
    if (!c->schemas || !name)
        return NULL;
    ub_buf key = UB_BUF_INIT;
    ub_buf_addf(&key, "%s:%s", kind, name);
    const json_t *f = key.err ? NULL : json_object_get(c->schemas, ub_buf_str(&key));
    ub_buf_free(&key);
    return f;
}

void ub_ctx_progress_get(const ub_opctx *c, uint64_t *rows, uint64_t *bytes)
{
    *rows = c->rows;
    *bytes = c->bytes;
}

size_t ub_ctx_inputs(const ub_opctx *c, const ub_kv **out)
{
    *out = c->in;
    return c->nin;
}

void ub_ctx_set_progress_cb(ub_opctx *c, void (*cb)(void *ud, uint64_t rows, uint64_t bytes), void *ud)
{
    c->progress_cb = cb;
    c->progress_ud = ud;
}

int ub_op_sleep(ub_opctx *c, double secs)
{
    while (secs > 0 && !ub_op_cancelled(c)) {
        double step = secs > 0.1 ? 0.1 : secs;
        struct timespec ts = { (time_t)step, (long)((step - (double)(time_t)step) * 1e9) };
        nanosleep(&ts, NULL);
        secs -= step;
    }
    return ub_op_cancelled(c);
}

/* ---- effects ----------------------------------------------------------- */
void ub_op_effect(ub_opctx *c, const char *kind, const char *target, const char *fmt, ...)
{
    char small[512];
    ub_buf b = UB_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ub_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (c->neff == c->capeff) {
        size_t cap = c->capeff ? c->capeff * 2 : 8;
        ub_effect *p = ub_realloc(c->eff, cap * sizeof *p);
        if (!p)
            goto out;
        c->eff = p;
        c->capeff = cap;
    }
    ub_effect *ef = &c->eff[c->neff];
    ef->kind = ub_arena_strdup(&c->arena, kind);
    ef->target = ub_arena_strdup(&c->arena, target ? target : "-");
    ef->text = ub_arena_strndup(&c->arena, ub_buf_str(&b), b.len);
    if (ef->kind && ef->target && ef->text)
        c->neff++;
    if (!c->e->planning) {
        snprintf(small, sizeof small, "%s", ub_buf_str(&b));
        ub_op_log(c, "%s %s: %s%s", kind, target ? target : "-", small, b.len >= sizeof small ? "…" : "");
    }
out:
    ub_buf_free(&b);
}

/* ---- parameters -------------------------------------------------------- */
static const ub_param *param_def(ub_opctx *c, const char *key)
{
    for (const ub_param *p = c->t->op->params; p && p->name; p++)
        if (strcmp(p->name, key) == 0)
            return p;
    return NULL;
}

static ub_node *param_node(ub_opctx *c, const char *key)
{
    return ub_node_get(c->t->body, key);
}

int ub_op_has(ub_opctx *c, const char *key)
{
    const ub_param *p = param_def(c, key);
    return param_node(c, key) != NULL || (p && p->def);
}

/* Renders text in the scope; where names it. Result in the task arena. */
static const char *render(ub_opctx *c, const char *text, size_t len, const char *where, const ub_node *at)
{
    if (!ub_tmpl_has_expr(text, len))
        return ub_arena_strndup(&c->arena, text, len);
    ub_buf out = UB_BUF_INIT;
    ub_err err;
    const char *r = NULL;
    size_t failed;
    if (ub_tmpl_render_at(c->e->lua, text, len, where, &out, &err, &failed) == 0)
        r = ub_arena_strndup(&c->arena, ub_buf_str(&out), out.len);
    else if (at)
        loc_error(c, ub_engine_block_loc(c->e->diag, at, failed), "%s", err.msg);
    else
        ub_op_fail(c, "%s: %s", where, err.msg);
    ub_buf_free(&out);
    return r;
}

static const char *render_node(ub_opctx *c, const ub_node *n)
{
    char where[512];
    if (n->kind != UB_SCALAR) {          /* the loader checks types; this keeps a reader safe anyway */
        node_error(c, n, "must be a string, not a %s", ub_node_kind_name(n));
        return NULL;
    }
    snprintf(where, sizeof where, "%s:%d:%d", n->loc.file, n->loc.line, n->loc.col);
    return render(c, n->str, n->len, where, n);
}

const char *ub_op_render(ub_opctx *c, const char *text, const char *where)
{
    return render(c, text, strlen(text), where, NULL);
}

/* Relative paths are taken from the spec's directory (like an #include),
 * whether written literally or produced by a template. */
static const char *abs_path(ub_opctx *c, const char *p)
{
    if (p[0] == '/')
        return p;
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b, "%s/%s", c->e->spec->dir, p);
    const char *r = b.err ? NULL : ub_arena_strndup(&c->arena, b.p, b.len);
    ub_buf_free(&b);
    return r;
}

static const char *lakeref_key(ub_opctx *c, const ub_param *p, const char *ref, const ub_node *at)
{
    const char *colon = strchr(ref, ':');
    ub_err err;
    if (!colon) {
        node_error(c, at, "'%s' is not a lake reference AREA:KEY", ref);
        return NULL;
    }
    size_t al = (size_t)(colon - ref);
    if (!ub_lake_is_area(ref, al)) {
        node_error(c, at, "unknown lake area '%.*s' in '%s' (areas: raw, stage, scripts)", (int)al, ref, ref);
        return NULL;
    }
    if (!colon[1] || (colon[1] == '/' && !colon[2])) {
        node_error(c, at, "key '%s': the lake reference '%s' names no key (write AREA:KEY)", p->name, ref);
        return NULL;
    }
    if (ub_lake_ref_relative(ref, colon, &err)) {
        node_error(c, at, "%s", err.msg);
        return NULL;
    }
    ub_buf b = UB_BUF_INIT;
    ub_buf_add(&b, ref, al);
    ub_buf_addc(&b, '/');
    ub_buf_adds(&b, colon + 1);
    const char *key = b.err ? NULL : ub_arena_strndup(&c->arena, b.p, b.len);
    ub_buf_free(&b);
    if (!key)
        return NULL;
    /* a prefix ends in '/', where the parameter accepts one: check it without the slash */
    size_t kl = strlen(key);
    if (kl && key[kl - 1] == '/' && !ub_lakeref_takes_prefix(p)) {
        node_error(c, at, "key '%s' names a lake object, not a prefix: '%s' ends in '/'", p->name, key);
        return NULL;
    }
    char *chk = ub_arena_strndup(&c->arena, key, kl && key[kl - 1] == '/' ? kl - 1 : kl);
    if (!chk || ub_lake_key_check(chk, &err)) {
        node_error(c, at, "%s", chk ? err.msg : "out of memory");
        return NULL;
    }
    return key;
}

/* An operator asking for a key its own table does not declare is a bug in
 * the operator, not a spec error, and must not read as "absent" (NULL,
 * which also means "failed"): it stops the program, naming operator and key,
 * as an assert does (and like assert it is compiled out with NDEBUG, where
 * the key then reads as absent). */
static void declared_or_abort(ub_opctx *c, const ub_param *p, const char *fn, const char *key)
{
#ifndef NDEBUG
    if (!p) {
        fprintf(stderr, "ubpipe: bug: %s(\"%s\"): operator %s declares no parameter '%s'\n", fn, key,
                c->t->op->name, key);
        abort();
    }
#else
    (void)c, (void)p, (void)fn, (void)key;
#endif
}

const char *ub_op_str(ub_opctx *c, const char *key)
{
    const ub_param *p = param_def(c, key);
    declared_or_abort(c, p, "ub_op_str", key);
    ub_node *n = param_node(c, key);
    const char *v;
    if (n) {
        v = render_node(c, n);
    } else if (p && p->def) {
        char where[300];
        snprintf(where, sizeof where, "default of '%s' (%s)", key, c->t->op->name);
        v = render(c, p->def, strlen(p->def), where, NULL);
    } else {
        return NULL;
    }
    if (!v || !p)
        return v;
    if (p->type == UB_T_PATH)
        return abs_path(c, v);
    if (p->type == UB_T_LAKEREF)
        return lakeref_key(c, p, v, n ? n : c->t->body);
    return v;
}

long long ub_op_int(ub_opctx *c, const char *key)
{
    const char *v = ub_op_str(c, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

int ub_op_bool(ub_opctx *c, const char *key)
{
    const char *v = ub_op_str(c, key);
    return v && strcmp(v, "true") == 0;
}

double ub_op_duration(ub_opctx *c, const char *key)
{
    const char *v = ub_op_str(c, key);
    double d = 0;
    ub_err err;
    if (v && ub_duration_parse(v, &d, &err)) {
        ub_node *n = param_node(c, key);
        if (n)
            node_error(c, n, "%s", err.msg);
        else
            ub_op_fail(c, "%s", err.msg);
    }
    return d;
}

size_t ub_op_list_len(ub_opctx *c, const char *key)
{
    ub_node *n = param_node(c, key);
    return n && n->kind == UB_SEQ ? n->n : 0;
}

const char *ub_op_list_item(ub_opctx *c, const char *key, size_t i)
{
    ub_node *n = param_node(c, key);
    if (!n || n->kind != UB_SEQ || i >= n->n)
        return NULL;
    return render_node(c, n->items[i]);
}

size_t ub_op_map_len(ub_opctx *c, const char *key)
{
    ub_node *n = param_node(c, key);
    return n && n->kind == UB_MAP ? n->n / 2 : 0;
}

const char *ub_op_map_key(ub_opctx *c, const char *key, size_t i)
{
    ub_node *n = param_node(c, key);
    return n && n->kind == UB_MAP && 2 * i < n->n ? n->items[2 * i]->str : NULL;
}

const char *ub_op_map_val(ub_opctx *c, const char *key, size_t i)
{
    ub_node *n = param_node(c, key);
    if (!n || n->kind != UB_MAP || 2 * i >= n->n)
        return NULL;
    const ub_node *v = n->items[2 * i + 1];
    if (v->kind != UB_SCALAR) {
        node_error(c, v, "'%s' values must be strings", key);
        return NULL;
    }
    return render_node(c, v);
}

/* Renders a template file block by block so errors carry FILE:LINE:COL. */
const char *ub_op_file_rendered(ub_opctx *c, const char *key)
{
    const char *path = ub_op_str(c, key);
    ub_node *at = param_node(c, key);
    if (!path)
        return NULL;
    ub_buf text = UB_BUF_INIT, out = UB_BUF_INIT;
    const char *result = NULL;
    const char *bad = NULL;
    int fd = ub_open_regular(path, &bad);     /* a FIFO fails at once, it does not block */
    if (fd < 0 && !bad) {
        if (at)
            node_error(c, at, "cannot read '%s': %s", path, strerror(errno));
        else
            ub_op_fail(c, "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    char chunk[65536];
    for (;;) {
        ssize_t got = fd < 0 ? 0 : read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            bad = strerror(errno);            /* unreadable: EIO, EISDIR... */
            break;
        }
        if (got == 0)
            break;
        if (ub_buf_add(&text, chunk, (size_t)got) || text.len > (16u << 20)) {
            ub_op_fail(c, "'%s' is too large for a template (limit 16 MiB)", path);
            close(fd);
            goto out;
        }
    }
    if (fd >= 0)
        close(fd);
    if (!bad && text.len == 0)
        bad = "is empty";
    if (bad) {
        if (at)
            node_error(c, at, "cannot use '%s': %s", path, bad);
        else
            ub_op_fail(c, "cannot use '%s': %s", path, bad);
        goto out;
    }
    /* display name: relative to the spec directory when inside it */
    const char *disp = path;
    size_t dl = strlen(c->e->spec->dir);
    if (strncmp(path, c->e->spec->dir, dl) == 0 && path[dl] == '/') {
        ub_buf dn = UB_BUF_INIT;
        const char *sp = c->e->spec->path;
        const char *slash = strrchr(sp, '/');
        if (slash)
            ub_buf_add(&dn, sp, (size_t)(slash - sp + 1));
        ub_buf_adds(&dn, path + dl + 1);
        disp = dn.err ? path : ub_arena_strndup(&c->arena, dn.p, dn.len);
        ub_buf_free(&dn);
        if (!disp)
            disp = path;
    }
    ub_diag_source(c->e->diag, disp, ub_buf_str(&text), text.len);
    const char *nul = memchr(ub_buf_str(&text), '\0', text.len);
    if (nul) {
        /* a C string would end there: the rest of the file silently cut off */
        ub_loc loc = { disp, 1, 1 };
        for (const char *q = ub_buf_str(&text); q < nul; q++) {
            if (*q == '\n') {
                loc.line++;
                loc.col = 1;
            } else if (((unsigned char)*q & 0xC0) != 0x80) {
                loc.col++;
            }
        }
        if (c->e->planning)
            ub_diag_error(c->e->diag, loc, "NUL byte in '%s' (a template is text)", path);
        ub_op_fatal(c, "%s:%d:%d: NUL byte in '%s' (a template is text)", disp, loc.line, loc.col, path);
        goto out;
    }
    const char *s = ub_buf_str(&text), *end = s + text.len, *p = s;
    int line = 1, col = 1;
    const char *lp = s;                      /* scan position for line counting */
    ub_srcmap *map = ub_srcmap_new(&c->arena, key, disp);   /* arena-owned; NULL: no positions */
    while (p < end) {
        const char *open = strstr(p, "{{");
        const char *stop = open ? open : end;
        for (int piece = 0; piece < 2; piece++) {    /* line:col at p (a literal piece), then at open */
            for (const char *to = piece ? stop : p; lp < to; lp++) {
                if (*lp == '\n') {
                    line++;
                    col = 1;
                } else if (((unsigned char)*lp & 0xC0) != 0x80) {
                    col++;                   /* columns count characters, as libyaml's do */
                }
            }
            size_t land = out.len + (piece ? (size_t)(stop - p) : 0);    /* where the piece lands in out */
            if (map && (piece ? open != NULL : stop > p) && ub_srcmap_add(map, land, line, col, !piece))
                map = NULL;
        }
        if (!open) {
            ub_buf_add(&out, p, (size_t)(end - p));
            break;
        }
        ub_buf_add(&out, p, (size_t)(open - p));
        size_t blen = ub_tmpl_block_len(open, (size_t)(end - open));
        if (!blen) {
            ub_loc loc = { disp, line, col };
            if (c->e->planning)
                ub_diag_error(c->e->diag, loc, "unterminated '{{' (no matching '}}')");
            ub_op_fail(c, "%s:%d:%d: unterminated '{{' (no matching '}}')", disp, line, col);
            goto out;
        }
        char where[600];
        snprintf(where, sizeof where, "%s:%d:%d", disp, line, col);
        ub_err err;
        if (ub_tmpl_render(c->e->lua, open, blen, where, &out, &err)) {
            ub_loc loc = { disp, line, col };
            if (c->e->planning)
                ub_diag_error(c->e->diag, loc, "%s", err.msg);
            ub_op_fail(c, "%s: %s", where, err.msg);
            goto out;
        }
        p = open + blen;
    }
    if (!out.err)
        result = ub_arena_strndup(&c->arena, ub_buf_str(&out), out.len);
    if (result && map) {
        ub_srcmap_done(map, result, out.len);
        ub_srcmap_link(map, c->maps);
        c->maps = map;
    }
    if (out.err)
        ub_op_fail(c, "out of memory rendering '%s'", path);
out:
    ub_buf_free(&text);
    ub_buf_free(&out);
    return result;
}

int ub_op_file_where(ub_opctx *c, const char *key, size_t chr, char *buf, size_t cap)
{
    const ub_srcmap *m = ub_srcmap_find(c->maps, key);
    ub_buf b = UB_BUF_INIT;
    int rc = -1;
    if (m && cap && ub_srcmap_where(m, chr, &b) == 0 && !b.err) {
        snprintf(buf, cap, "%s", ub_buf_str(&b));
        rc = 0;
    }
    ub_buf_free(&b);
    return rc;
}

/* ---- connections --------------------------------------------------------- */
static const ub_conn *conn_of(ub_opctx *c, const char *param)
{
    const char *name = ub_op_str(c, param);
    if (!name)
        return NULL;
    for (size_t i = 0; i < c->e->nconns; i++)
        if (strcmp(c->e->conns[i].name, name) == 0)
            return &c->e->conns[i];
    ub_buf names = UB_BUF_INIT;
    ub_engine_conn_names(c->e, &names);
    ub_op_param_error(c, param, "connection '%s' is not defined in profile '%s' (its connections: %s)", name,
                      c->e->profile, ub_buf_str(&names));
    ub_buf_free(&names);
    return NULL;
}

const char *ub_op_conn_name(ub_opctx *c, const char *param)
{
    const ub_conn *cn = conn_of(c, param);
    return cn ? cn->name : NULL;
}

int ub_ctx_preflight(ub_opctx *c)
{
    const char *lakeref = NULL;
    int rc = 0;
    for (const ub_param *p = c->t->op->params; p && p->name; p++) {
        if (p->type == UB_T_CONN && ub_op_has(c, p->name) && !ub_op_conn_name(c, p->name))
            rc = -1;
        if (p->type == UB_T_LAKEREF && ub_op_has(c, p->name)) {
            if (!lakeref)
                lakeref = p->name;
            if (!ub_op_str(c, p->name))         /* rendered and checked: an object, a key in the lake */
                rc = -1;
        }
    }
    if (lakeref && !ub_engine_lake_url(c->e)) {
        ub_buf names = UB_BUF_INIT;
        ub_engine_conn_names(c->e, &names);
        rc = ub_op_param_error(c, lakeref, "task '%s' uses the lake (key '%s'), but profile '%s' defines no 'lake' "
                               "connection (its connections: %s)", c->t->id, lakeref, c->e->profile, ub_buf_str(&names));
        ub_buf_free(&names);
    }
    return rc;
}

const char *ub_op_conn(ub_opctx *c, const char *param, const char *field)
{
    const ub_conn *cn = conn_of(c, param);
    if (!cn)
        return NULL;
    for (size_t i = 0; i < cn->nfields; i++)
        if (strcmp(cn->fields[i].key, field) == 0 ||
            (strcmp(cn->fields[i].key, "main") == 0 && strcmp(field, cn->main) != 0 &&
             (strcmp(field, "dsn") == 0 || strcmp(field, "url") == 0 || strcmp(field, "cluster") == 0)))
            return cn->fields[i].val;
    return NULL;
}

const char *ub_op_conn_named(ub_opctx *c, const char *name, const char *field)
{
    for (size_t i = 0; i < c->e->nconns; i++) {
        const ub_conn *cn = &c->e->conns[i];
        if (strcmp(cn->name, name) != 0)
            continue;
        for (size_t j = 0; j < cn->nfields; j++)
            if (strcmp(cn->fields[j].key, field) == 0 ||
                (strcmp(cn->fields[j].key, "main") == 0 && strcmp(field, "dsn") == 0))   /* a string connection */
                return cn->fields[j].val;
        return NULL;
    }
    ub_op_fail(c, "connection '%s' is not defined in profile '%s'", name, c->e->profile);
    return NULL;
}

int ub_op_report_decl(ub_opctx *c, const char *id, const char **file, const char **conn, const char **title)
{
    const ub_node *r = ub_node_get(c->e->spec->root, "reports");
    const ub_node *v = r ? ub_node_get(r, id) : NULL;
    const ub_node *f = v ? ub_node_get(v, "file") : NULL, *cn = v ? ub_node_get(v, "conn") : NULL;
    const ub_node *t = v ? ub_node_get(v, "title") : NULL;
    if (!f || f->kind != UB_SCALAR)
        return ub_op_fail(c, "no report '%s' is declared under the spec's 'reports:'", id);
    *file = abs_path(c, f->str);
    *conn = cn && cn->kind == UB_SCALAR ? cn->str : "warehouse";
    *title = t && t->kind == UB_SCALAR ? t->str : NULL;
    return *file ? 0 : -1;
}

const char *ub_op_conn_map(ub_opctx *c, const char *param, const char *field, size_t i, const char **key)
{
    const ub_conn *cn = conn_of(c, param);
    if (!cn || strcmp(field, "scripts") != 0 || i >= cn->nscripts)
        return NULL;
    *key = cn->scripts[i].key;
    return cn->scripts[i].val;
}

const char *ub_conn_main(const ub_conn *c)
{
    for (size_t j = 0; j < c->nfields; j++)
        if (strcmp(c->fields[j].key, c->main) == 0)
            return c->fields[j].val;
    return NULL;
}

const char *ub_engine_lake_url(const ub_engine *e)
{
    for (size_t i = 0; i < e->nconns; i++)
        if (strcmp(e->conns[i].name, "lake") == 0)
            return ub_conn_main(&e->conns[i]);
    return NULL;
}

ub_lake *ub_engine_lake(ub_engine *e, ub_err *err)
{
    if (e->lake)
        return e->lake;
    const char *url = ub_engine_lake_url(e);
    if (!url) {
        ub_err_set(err, "profile '%s' defines no 'lake' connection", e->profile);
        return NULL;
    }
    e->lake = ub_lake_open(url, e->spec->dir, err);
    return e->lake;
}

const char *ub_op_lake_url(ub_opctx *c)
{
    return ub_engine_lake_url(c->e);
}

ub_lake *ub_op_lake(ub_opctx *c)
{
    if (c->e->planning)
        return NULL;
    ub_err err;
    ub_lake *lake = ub_engine_lake(c->e, &err);
    if (!lake)
        ub_op_fail(c, "%s", err.msg);
    return lake;
}

const char *ub_op_workdir(ub_opctx *c)
{
    if (!c->e->planning && ub_mkdirs(c->e->workdir)) {
        ub_op_fail(c, "cannot create '%s': %s", c->e->workdir, strerror(errno));
        return NULL;
    }
    return c->e->workdir;
}

/* ---- outputs ------------------------------------------------------------- */
int ub_op_set_output(ub_opctx *c, const char *key, const char *value)
{
    if (c->nout == c->capout) {
        size_t cap = c->capout ? c->capout * 2 : 4;
        ub_kv *p = ub_realloc(c->out, cap * sizeof *p);
        if (!p)
            return -1;
        c->out = p;
        c->capout = cap;
    }
    const char *k = ub_arena_strdup(&c->arena, key), *v = ub_arena_strdup(&c->arena, value);
    if (!k || !v)
        return -1;
    c->out[c->nout].key = k;
    c->out[c->nout++].val = v;
    return 0;
}

const char *ub_op_prev_output(ub_opctx *c, const char *key)
{
    for (size_t i = 0; i < c->nprev; i++)
        if (strcmp(c->prev[i].key, key) == 0)
            return c->prev[i].val;
    return NULL;
}

void ub_engine_publish(ub_engine *e, const char *task, const ub_kv *out, size_t n)
{
    lua_State *L = ub_lua_state(e->lua);
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->outputs_ref);
    lua_newtable(L);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, out[i].val);
        lua_setfield(L, -2, out[i].key);
    }
    lua_setfield(L, -2, task);              /* outputs[<task id>] = { ... } */
    lua_pop(L, 1);
}

void ub_engine_publish_journaled(ub_engine *e, ub_task *t, const ub_kv *out, const unsigned char *masked, size_t n)
{
    int any = 0;
    for (size_t i = 0; masked && i < n; i++)
        any |= masked[i];
    ub_kv *kv = any && t->op->restore ? ub_calloc(n ? n : 1, sizeof *kv) : NULL;
    ub_opctx *c = kv ? ub_ctx_new(e, t, 1) : NULL;
    if (!c) {
        ub_free(kv);
        ub_engine_publish(e, t->id, out, n);
        return;
    }
    const ub_kv *fresh = NULL;
    size_t nf = t->op->restore(c) == 0 && !*ub_ctx_error(c) ? ub_ctx_outputs(c, &fresh) : 0;
    for (size_t i = 0; i < n; i++) {
        kv[i] = out[i];
        for (size_t k = 0; masked[i] && k < nf; k++)
            if (strcmp(fresh[k].key, out[i].key) == 0)
                kv[i].val = fresh[k].val;
    }
    ub_engine_publish(e, t->id, kv, n);
    ub_ctx_free(c);
    ub_free(kv);
}

void ub_ctx_publish(ub_opctx *c) { ub_engine_publish(c->e, c->t->id, c->out, c->nout); }
