/* lua_transform.c — lua.transform: stream a CSV lake object through a sandboxed Lua function into another. */
#include "lua/luahost.h"
#include "base/mem.h"
#include "io/csv.h"
#include "io/stream.h"
#include "op.h"

#include <lauxlib.h>
#include <lua.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_AT (64 * 1024)

static const ub_param params[] = {
    { .name = "from", .type = UB_T_LAKEREF, .required = 1,
      .desc = "CSV object to read (AREA:KEY), with a header; *.zst is decompressed" },
    { .name = "to", .type = UB_T_LAKEREF, .required = 1,
      .desc = "CSV object to write, replaced atomically; *.zst is compressed" },
    { .name = "script", .type = UB_T_PATH, .required = 1,
      .desc = "Lua file that returns the function, or a table holding it" },
    { .name = "function", .type = UB_T_STR, .def = "transform",
      .desc = "name of the function in the table the script returns" },
    { .name = "mode", .type = UB_T_ENUM, .def = "row", .choices = "row|batch",
      .desc = "row: f(row, ctx) per row; batch: f(rows, ctx) per batch_size rows" },
    { .name = "batch_size", .type = UB_T_INT, .def = "1000", .choices = "1..10000000",
      .desc = "rows per call in batch mode" },
    { .name = "reuse_row", .type = UB_T_BOOL, .def = "false",
      .desc = "row mode: one row table for every call, refilled (faster; the function must not keep it)" },
    { .name = "header", .type = UB_T_LIST,
      .desc = "output columns, in order (default: from the first returned row)" },
    { .name = "bare_quotes", .type = UB_T_BOOL, .def = "true",
      .desc = "a '\"' inside an unquoted input field is data (false: an error)" },
    { .name = "params", .type = UB_T_MAP,
      .desc = "values handed to the function as ctx.params (templated strings)" },
    { .name = "lua_path", .type = UB_T_LIST,
      .desc = "more directories for require, after the script's own" },
    { .name = "grant", .type = UB_T_LIST,
      .desc = "capabilities beyond the sandbox: os, io.read:DIR, io.write:DIR" },
    { .name = "max_instructions", .type = UB_T_INT, .def = "1000000", .choices = "1..2147483647",
      .desc = "Lua instructions per call" },
    { .name = "max_total_instructions", .type = UB_T_INT, .def = "0",
      .desc = "Lua instructions of all calls together (0: no cap)" },
    { .name = "max_memory_mb", .type = UB_T_INT, .def = "64", .choices = "1..65536",
      .desc = "MiB the transform's Lua state may hold" },
    { .name = "max_seconds", .type = UB_T_DURATION, .def = "10s",
      .desc = "wall clock per call, Lua and C functions alike" },
    { .name = NULL },
};

/* One transform.  The outer function owns every C resource; the driver,
 * which runs in Lua's protected mode, only uses them, so a Lua error that
 * unwinds it loses nothing. */
typedef struct tx {
    ub_opctx   *c;
    ub_lua     *H;
    ub_csv     *csv;
    ub_writer  *w;
    ub_buf      ob;          /* output text not yet written */
    const char *from, *to, *script, *fn, *display;
    int         batch;
    int         reuse;       /* row mode: one row table, refilled for each call */
    long long   batch_size;
    size_t      nin;         /* input columns */
    size_t      nout;        /* output columns; 0 = not known yet */
    int         declared;    /* the header came from the spec */
    uint64_t    rows_in, rows_out, first_row, first_line;
    int         failed;      /* err holds the message */
    int         io_failed;   /* ... and it is a lake/stream error (retryable) */
    ub_err      err;
} tx;

/* Stack slots of the driver. */
enum { S_TX = 1, S_FN, S_CTX, S_INHDR, S_OUTHDR, S_BATCH, S_INSET };

static int tx_fail(tx *x, int io, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tx_fail(tx *x, int io, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err.msg, sizeof x->err.msg, fmt, ap);
    va_end(ap);
    x->failed = 1;
    x->io_failed = io;
    return -1;
}

/* "'KEY' row N (line L)" or "rows N-M (lines L-...)" */
static void where(tx *x, char *dst, size_t n)
{
    if (x->batch && x->rows_in > x->first_row)
        snprintf(dst, n, "'%s' rows %llu-%llu (from line %llu)", x->from, (unsigned long long)x->first_row,
                 (unsigned long long)x->rows_in, (unsigned long long)x->first_line);
    else
        snprintf(dst, n, "'%s' row %llu (line %llu)", x->from, (unsigned long long)x->rows_in,
                 (unsigned long long)x->first_line);
}

static int flush(tx *x, int force)
{
    if (x->ob.err)
        return tx_fail(x, 0, "out of memory");
    if (x->ob.len == 0 || (!force && x->ob.len < FLUSH_AT))
        return 0;
    if (ub_write(x->w, x->ob.p, x->ob.len, &x->err)) {
        x->failed = x->io_failed = 1;
        return -1;
    }
    ub_op_progress(x->c, x->rows_in, x->w->bytes);
    ub_buf_reset(&x->ob);
    return 0;
}

/* Appends the value at idx as one CSV field. */
static int put_value(tx *x, lua_State *L, int idx, const char *col)
{
    char num[64];
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return 0;
    case LUA_TBOOLEAN:
        return ub_buf_adds(&x->ob, lua_toboolean(L, idx) ? "true" : "false");
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
                char w[300];
                where(x, w, sizeof w);
                return tx_fail(x, 0, "%s: column '%s' is %s, which CSV cannot hold", w, col,
                               d != d ? "nan" : "infinite");
            }
            for (int p = 15; p <= 17; p++) {
                snprintf(num, sizeof num, "%.*g", p, d);
                if (strtod(num, NULL) == d)
                    break;
            }
        }
        return ub_buf_adds(&x->ob, num);
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        return ub_csv_put_field(&x->ob, s, n);
    default: {
        char w[300];
        where(x, w, sizeof w);
        return tx_fail(x, 0, "%s: column '%s' is a %s, not a string, number or boolean", w, col,
                       luaL_typename(L, idx));
    }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Output header from the first row (at idx): the input columns it has, in
 * input order, then its other string keys in byte order. */
static int header_from_row(tx *x, lua_State *L, int idx)
{
    int out = S_OUTHDR;
    size_t n = 0;
    lua_newtable(L);                       /* set of names taken */
    int seen = lua_gettop(L);
    for (size_t i = 1; i <= x->nin; i++) {
        lua_rawgeti(L, S_INHDR, (lua_Integer)i);
        lua_pushvalue(L, -1);
        if (lua_gettable(L, idx) != LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_rawseti(L, out, (lua_Integer)++n);
            lua_pushboolean(L, 1);
            lua_rawset(L, seen);
        } else {
            lua_pop(L, 2);
        }
    }
    /* the rest, sorted: collect into a Lua array, sort in C on pointers
     * that stay valid because the array keeps the strings alive */
    lua_newtable(L);
    int rest = lua_gettop(L);
    size_t nr = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            char w[300];
            where(x, w, sizeof w);
            return tx_fail(x, 0, "%s: a returned row has a %s key; rows are tables keyed by column name", w,
                           luaL_typename(L, -1));
        }
        lua_pushvalue(L, -1);
        if (lua_rawget(L, seen) == LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, rest, (lua_Integer)++nr);
        }
        lua_pop(L, 1);
    }
    if (nr) {
        const char **v = lua_newuserdatauv(L, nr * sizeof *v, 0);
        for (size_t i = 0; i < nr; i++) {
            lua_rawgeti(L, rest, (lua_Integer)i + 1);
            v[i] = lua_tostring(L, -1);
            lua_pop(L, 1);                 /* still held by rest */
        }
        qsort(v, nr, sizeof *v, cmp_str);
        for (size_t i = 0; i < nr; i++) {
            lua_pushstring(L, v[i]);
            lua_rawseti(L, out, (lua_Integer)++n);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, seen - 1);
    if (n == 0) {
        char w[300];
        where(x, w, sizeof w);
        return tx_fail(x, 0, "%s: the first returned row has no columns, so there is no header", w);
    }
    x->nout = n;
    return 0;
}

static int write_header(tx *x, lua_State *L)
{
    for (size_t i = 1; i <= x->nout; i++) {
        size_t n;
        lua_rawgeti(L, S_OUTHDR, (lua_Integer)i);
        const char *s = lua_tolstring(L, -1, &n);
        if (i > 1)
            ub_buf_addc(&x->ob, ',');
        ub_csv_put_field(&x->ob, s, n);
        lua_pop(L, 1);
    }
    ub_buf_addc(&x->ob, '\n');
    return flush(x, 0);
}

/* Writes the row table at idx. */
static int write_row(tx *x, lua_State *L, int idx)
{
    if (x->nout == 0) {
        if (header_from_row(x, L, idx) || write_header(x, L))
            return -1;
    }
    for (size_t i = 1; i <= x->nout; i++) {
        lua_rawgeti(L, S_OUTHDR, (lua_Integer)i);
        lua_pushvalue(L, -1);
        lua_gettable(L, idx);
        if (i > 1)
            ub_buf_addc(&x->ob, ',');
        if (put_value(x, L, -1, lua_tostring(L, -2)) && x->failed)
            return -1;
        lua_pop(L, 2);
    }
    if (!x->declared) {
        /* a key the header does not have would be lost: refuse it */
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            int known = 0;
            for (size_t i = 1; i <= x->nout && !known; i++) {
                lua_rawgeti(L, S_OUTHDR, (lua_Integer)i);
                known = lua_rawequal(L, -1, -2);
                lua_pop(L, 1);
            }
            if (!known) {
                char w[300];
                where(x, w, sizeof w);
                return tx_fail(x, 0, "%s: returned column '%s' is not in the output header (taken from the first "
                               "row; declare 'header' to choose the columns)", w,
                               lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
            }
        }
    }
    ub_buf_addc(&x->ob, '\n');
    x->rows_out++;
    return flush(x, 0);
}

/* The function's result at idx: nil, a row, or an array of rows. */
static int take_result(tx *x, lua_State *L, int idx)
{
    char w[300];
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, idx)))
        return 0;
    if (t != LUA_TTABLE) {
        where(x, w, sizeof w);
        return tx_fail(x, 0, "%s: the function returned a %s; want a row table, an array of rows or nil", w,
                       luaL_typename(L, idx));
    }
    if (lua_rawgeti(L, idx, 1) == LUA_TTABLE) {
        lua_pop(L, 1);
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, idx, i) != LUA_TTABLE) {
                where(x, w, sizeof w);
                return tx_fail(x, 0, "%s: item %lld of the returned array is a %s, not a row table", w,
                               (long long)i, luaL_typename(L, -1));
            }
            if (write_row(x, L, lua_gettop(L)))
                return -1;
            lua_pop(L, 1);
        }
        return 0;
    }
    lua_pop(L, 1);
    if (x->batch) {
        if (lua_next(L, idx) == 0)         /* {} : no rows */
            return 0;
        lua_pop(L, 2);
        where(x, w, sizeof w);
        return tx_fail(x, 0, "%s: in batch mode the function must return an array of rows (or nil)", w);
    }
    lua_pushnil(L);
    if (lua_next(L, idx) == 0)             /* {} : dropped */
        return 0;
    lua_pop(L, 2);
    return write_row(x, L, idx);
}

static int call_fn(tx *x, lua_State *L, int arg)
{
    char w[300];
    ub_err e;
    lua_pushinteger(L, (lua_Integer)x->first_row);
    lua_setfield(L, S_CTX, "row");
    lua_pushinteger(L, (lua_Integer)x->first_line);
    lua_setfield(L, S_CTX, "line");
    lua_pushvalue(L, S_FN);
    lua_pushvalue(L, arg);
    lua_pushvalue(L, S_CTX);
    if (ub_lua_call(x->H, 2, 1, &e)) {
        where(x, w, sizeof w);
        return tx_fail(x, 0, "%s: %s", w, e.msg);
    }
    int rc = take_result(x, L, lua_gettop(L));
    lua_pop(L, 1);
    return rc;
}

/* Pushes the current record as a table keyed by the header. */
static void push_record(tx *x, lua_State *L)
{
    const ub_csv_field *f = ub_csv_fields(x->csv);
    lua_createtable(L, 0, (int)x->nin);
    for (size_t i = 0; i < x->nin; i++) {
        lua_rawgeti(L, S_INHDR, (lua_Integer)i + 1);
        lua_pushlstring(L, f[i].p, f[i].n);
        lua_rawset(L, -3);
    }
}

/* Refills the reused row table (at S_BATCH in row mode): the record's
 * fields, and nothing else: keys the last call added and a metatable it
 * set are removed, so each call sees what a fresh table would hold.  The
 * keys stay in the table's hash part, so refilling allocates only the
 * strings. */
static void refill_record(tx *x, lua_State *L)
{
    const ub_csv_field *f = ub_csv_fields(x->csv);
    lua_pushnil(L);
    while (lua_next(L, S_BATCH)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, S_INSET) == LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_pushnil(L);
            lua_rawset(L, S_BATCH);           /* clearing a field during next is allowed */
        }
        lua_pop(L, 1);
    }
    if (lua_getmetatable(L, S_BATCH)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_setmetatable(L, S_BATCH);
    }
    for (size_t i = 0; i < x->nin; i++) {
        lua_rawgeti(L, S_INHDR, (lua_Integer)i + 1);
        lua_pushlstring(L, f[i].p, f[i].n);
        lua_rawset(L, S_BATCH);
    }
}

static int driver(lua_State *L)
{
    tx *x = lua_touserdata(L, S_TX);
    lua_settop(L, S_TX);
    ub_err e;

    if (ub_lua_load_file(x->H, x->script, x->display, &e))
        return tx_fail(x, 0, "script '%s': %s", x->display, e.msg), 0;
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, x->fn);
        lua_remove(L, -2);
    }
    if (lua_type(L, -1) != LUA_TFUNCTION)
        return tx_fail(x, 0, "script '%s' must return a function, or a table with a function '%s' (got a %s)",
                       x->display, x->fn, luaL_typename(L, -1)), 0;
    /* S_FN */

    lua_createtable(L, 0, 10);                                  /* S_CTX */
    lua_pushstring(L, ub_op_ds(x->c));
    lua_setfield(L, S_CTX, "ds");
    lua_pushstring(L, ub_op_task(x->c));
    lua_setfield(L, S_CTX, "task");
    lua_pushstring(L, ub_op_pipeline(x->c));
    lua_setfield(L, S_CTX, "pipeline");
    lua_pushstring(L, x->from);
    lua_setfield(L, S_CTX, "input");
    lua_pushstring(L, x->to);
    lua_setfield(L, S_CTX, "output");
    lua_newtable(L);
    size_t np = ub_op_map_len(x->c, "params");
    for (size_t i = 0; i < np; i++) {
        const char *v = ub_op_map_val(x->c, "params", i);
        if (!v)
            return tx_fail(x, 0, "%s", "cannot render 'params'"), 0;
        lua_pushstring(L, v);
        lua_setfield(L, -2, ub_op_map_key(x->c, "params", i));
    }
    lua_setfield(L, S_CTX, "params");

    /* the input header */
    int n = ub_csv_next(x->csv, &x->err);
    if (n < 0)
        return x->failed = 1, 0;
    if (n == 0)
        return tx_fail(x, 0, "'%s': empty input, expected a header line", x->from), 0;
    x->nin = (size_t)n;
    ub_csv_expect_fields(x->csv, x->nin);
    lua_createtable(L, n, 0);                                   /* S_INHDR */
    const ub_csv_field *f = ub_csv_fields(x->csv);
    lua_createtable(L, n, 0);                                   /* ctx.header */
    for (int i = 0; i < n; i++) {
        lua_pushlstring(L, f[i].p, f[i].n);
        lua_pushvalue(L, -1);
        lua_rawseti(L, S_INHDR, i + 1);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, S_CTX, "header");

    lua_newtable(L);                                            /* S_OUTHDR */
    size_t nh = ub_op_list_len(x->c, "header");
    for (size_t i = 0; i < nh; i++) {
        const char *h = ub_op_list_item(x->c, "header", i);
        if (!h)
            return tx_fail(x, 0, "%s", "cannot render 'header'"), 0;
        lua_pushstring(L, h);
        lua_rawseti(L, S_OUTHDR, (lua_Integer)i + 1);
    }
    if (nh) {
        x->nout = nh;
        x->declared = 1;
        if (write_header(x, L))
            return 0;
    }
    if (x->reuse)
        lua_createtable(L, 0, (int)x->nin + 2);                 /* S_BATCH: the row */
    else
        lua_newtable(L);                                        /* S_BATCH */
    lua_createtable(L, 0, (int)x->nin);                         /* S_INSET */
    for (size_t i = 1; i <= x->nin; i++) {
        lua_rawgeti(L, S_INHDR, (lua_Integer)i);
        lua_pushboolean(L, 1);
        lua_rawset(L, S_INSET);
    }
    lua_Integer inbatch = 0;

    /* Each row leaves garbage that dies young (its strings, the tables the
     * function builds): the generational collector reclaims it cheaply. */
    lua_gc(L, LUA_GCGEN, 0, 0);

    while ((n = ub_csv_next(x->csv, &x->err)) > 0) {
        if (ub_op_cancelled(x->c))
            return tx_fail(x, 1, "'%s': cancelled at row %llu", x->from, (unsigned long long)x->rows_in), 0;
        x->rows_in++;
        if (!x->batch || inbatch == 0) {
            x->first_row = x->rows_in;
            x->first_line = ub_csv_line(x->csv);
        }
        if (x->reuse) {
            refill_record(x, L);
            if (call_fn(x, L, S_BATCH))
                return 0;
            continue;
        }
        push_record(x, L);
        if (!x->batch) {
            int rc = call_fn(x, L, lua_gettop(L));
            lua_pop(L, 1);
            if (rc)
                return 0;
            continue;
        }
        lua_rawseti(L, S_BATCH, ++inbatch);
        if (inbatch >= x->batch_size) {
            if (call_fn(x, L, S_BATCH))
                return 0;
            lua_newtable(L);
            lua_replace(L, S_BATCH);
            inbatch = 0;
        }
    }
    if (n < 0)
        return x->failed = 1, 0;
    if (x->batch && inbatch > 0 && call_fn(x, L, S_BATCH))
        return 0;
    if (x->nout == 0 && x->declared == 0) {
        /* no row came back: the output is the input's header, or nothing */
        lua_settop(L, S_OUTHDR);
        for (size_t i = 1; i <= x->nin; i++) {
            lua_rawgeti(L, S_INHDR, (lua_Integer)i);
            lua_rawseti(L, S_OUTHDR, (lua_Integer)i);
        }
        x->nout = x->nin;
        if (write_header(x, L))
            return 0;
    }
    flush(x, 1);
    return 0;
}

static int reuse_conflict(ub_opctx *c, int batch, int reuse)
{
    if (batch && reuse)
        return ub_op_fatal(c, "lua.transform: 'reuse_row' is for mode 'row'; in batch mode each row is a table "
                           "of its own");
    return 0;
}

/* Reads the limits of the Lua state. */
static int read_limits(ub_opctx *c, ub_lua_limits *lim, double *secs, long long *total)
{
    long long ins = ub_op_int(c, "max_instructions"), mem = ub_op_int(c, "max_memory_mb");
    *total = ub_op_int(c, "max_total_instructions");
    *secs = ub_op_duration(c, "max_seconds");
    if (ins <= 0 || mem <= 0 || mem > 65536 || *total < 0 || *secs <= 0)
        return ub_op_fatal(c, "lua.transform: max_instructions, max_memory_mb (up to 65536) and max_seconds must "
                           "be positive, max_total_instructions not negative");
    lim->instructions = (long)ins;
    lim->memory = (size_t)mem << 20;
    return 0;
}

/* The directory of the script: require looks there first, and relative
 * lua_path and grant directories are taken from it.  In the task arena. */
static const char *dir_of(ub_opctx *c, const char *path)
{
    const char *slash = strrchr(path, '/');
    char d[4096];
    if (!slash || (size_t)(slash - path) >= sizeof d) {
        ub_op_fail(c, "lua.transform: cannot take the directory of '%s'", path);
        return NULL;
    }
    memcpy(d, path, (size_t)(slash - path));
    d[slash - path] = '\0';
    return ub_op_render(c, d, "lua.transform script directory");
}

static void strs_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        ub_free(v[i]);
    ub_free(v);
}

/* The items of the list param key ("grant" or "lua_path") with their
 * directories made absolute against base (ub_lua_resolve); grants are
 * checked first.  *out holds *nout strings: the array and each string are
 * yours (strs_free). */
static int resolved_list(ub_opctx *c, const char *key, const char *base, char ***out, size_t *nout)
{
    size_t n = ub_op_list_len(c, key);
    int grant = strcmp(key, "grant") == 0;
    char **v = NULL;
    ub_err err;
    *out = NULL;
    *nout = 0;
    if (!n)
        return 0;
    v = ub_calloc(n, sizeof *v);
    if (!v)
        return ub_op_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *item = ub_op_list_item(c, key, i);
        if (!item)
            goto fail;
        if (grant && ub_lua_grant_check(item, &err)) {
            ub_op_fatal(c, "lua.transform: %s", err.msg);
            goto fail;
        }
        if (!(v[i] = ub_lua_resolve(item, grant, base, &err))) {
            ub_op_fatal(c, "lua.transform: %s", err.msg);
            goto fail;
        }
    }
    *out = v;
    *nout = n;
    return 0;
fail:
    strs_free(v, n);
    return -1;
}

static int plan(ub_opctx *c)
{
    const char *from = ub_op_str(c, "from"), *to = ub_op_str(c, "to"), *script = ub_op_str(c, "script");
    const char *fn = ub_op_str(c, "function"), *mode = ub_op_str(c, "mode");
    const char *lake = ub_op_lake_url(c) ? ub_op_lake_url(c) : "lake";
    ub_lua_limits lim;
    double secs;
    long long total;
    char **g = NULL;
    size_t ng;
    if (!from || !to || !script || !fn || !mode || read_limits(c, &lim, &secs, &total) ||
        reuse_conflict(c, strcmp(mode, "batch") == 0, ub_op_bool(c, "reuse_row")))
        return -1;
    const char *base = dir_of(c, script);
    if (!base || resolved_list(c, "grant", base, &g, &ng))
        return -1;
    ub_op_effect(c, "read", lake, "%s%s", from, ub_is_zstd_name(from) ? " (zstd)" : "");
    ub_op_effect(c, "exec", "lua", "%s: %s(%s, ctx) per %s%s%s", script, fn, strcmp(mode, "batch") ? "row" : "rows",
                 strcmp(mode, "batch") ? "row" : "batch of ", strcmp(mode, "batch") ? "" : ub_op_str(c, "batch_size"),
                 strcmp(mode, "batch") && ub_op_bool(c, "reuse_row") ? " (one row table, reused)" : "");
    ub_op_effect(c, "note", "lua", "limits: %ld instructions per call%s%s, %zu MiB, %gs per call", lim.instructions,
                 total ? ", total " : "", total ? ub_op_str(c, "max_total_instructions") : "", lim.memory >> 20, secs);
    for (size_t i = 0; i < ng; i++)
        ub_op_effect(c, "grant", "lua", "%s", g[i]);
    strs_free(g, ng);
    ub_op_effect(c, "write", lake, "%s%s", to, ub_is_zstd_name(to) ? " (zstd)" : "");
    return 0;
}

static int run(ub_opctx *c)
{
    tx x;
    memset(&x, 0, sizeof x);
    ub_buf_init(&x.ob, (size_t)1 << 30);
    x.c = c;
    ub_reader *r = NULL;
    char **g = NULL, **lp = NULL;
    const char **path = NULL;
    size_t ng = 0, nlp = 0, npath = 0;
    ub_lua_limits lim;
    double secs;
    long long total;
    int rc = -1;
    ub_err err;

    x.from = ub_op_str(c, "from");
    x.to = ub_op_str(c, "to");
    x.script = ub_op_str(c, "script");
    x.fn = ub_op_str(c, "function");
    const char *mode = ub_op_str(c, "mode");
    ub_lake *lake = ub_op_lake(c);
    if (!x.from || !x.to || !x.script || !x.fn || !mode || !lake || read_limits(c, &lim, &secs, &total))
        goto out;
    x.batch = strcmp(mode, "batch") == 0;
    x.batch_size = ub_op_int(c, "batch_size");
    x.reuse = ub_op_bool(c, "reuse_row");
    if (reuse_conflict(c, x.batch, x.reuse))
        goto out;
    if (x.batch && (x.batch_size <= 0 || x.batch_size > 10000000)) {
        ub_op_fatal(c, "lua.transform: batch_size must be between 1 and 10000000");
        goto out;
    }
    const char *slash = strrchr(x.script, '/');
    x.display = slash ? slash + 1 : x.script;
    const char *base = dir_of(c, x.script);
    if (!base || resolved_list(c, "grant", base, &g, &ng) || resolved_list(c, "lua_path", base, &lp, &nlp))
        goto out;
    npath = nlp + 1;
    path = ub_calloc(npath, sizeof *path);
    if (!path) {
        ub_op_fail(c, "out of memory");
        goto out;
    }
    path[0] = base;
    for (size_t i = 0; i < nlp; i++)
        path[i + 1] = lp[i];

    x.H = ub_lua_new(&lim, &err);
    if (!x.H) {
        ub_op_fail(c, "lua.transform: %s", err.msg);
        goto out;
    }
    ub_lua_set_limits(x.H, secs, total);
    ub_lua_code_opts co = { .path = path, .npath = npath, .grants = (const char *const *)g, .ngrants = ng,
                            .base = base };
    if (ub_lua_code_setup(x.H, &co, &err)) {
        ub_op_fatal(c, "lua.transform: %s", err.msg);
        goto out;
    }

    ub_csv_opts copts = { 0, ub_op_bool(c, "bare_quotes") };
    if (!(r = ub_lake_open_read_decoded(lake, x.from, &err))) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    if (!(x.csv = ub_csv_open(r, &copts, &err)) || !(x.w = ub_lake_open_write(lake, x.to, &err))) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    if (ub_is_zstd_name(x.to)) {
        ub_writer *z = ub_zstd_writer(x.w, 0, &err);  /* z owns the lake writer from here */
        if (!z) {
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        x.w = z;
    }

    if (ub_lua_protect(x.H, driver, &x, &err)) {
        ub_op_fatal(c, "'%s': %s", x.from, err.msg);
        goto out;
    }
    if (x.failed) {
        if (x.io_failed)
            ub_op_fail(c, "%s", x.err.msg);
        else
            ub_op_fatal(c, "%s", x.err.msg);
        goto out;
    }
    ub_writer *w = x.w;
    x.w = NULL;
    if (ub_writer_commit(w, &err)) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)x.rows_in);
    ub_op_set_output(c, "rows_in", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)x.rows_out);
    ub_op_set_output(c, "rows_out", num);
    ub_op_set_output(c, "output", x.to);
    ub_op_log(c, "transformed %llu rows of %s into %llu rows of %s", (unsigned long long)x.rows_in, x.from,
              (unsigned long long)x.rows_out, x.to);
    rc = 0;
out:
    ub_writer_abort(x.w);                 /* nothing half-written becomes visible */
    ub_csv_free(x.csv);
    ub_reader_close(r);
    ub_lua_free(x.H);
    ub_buf_free(&x.ob);
    strs_free(g, ng);
    strs_free(lp, nlp);
    ub_free(path);
    return rc;
}

const ub_opdesc ub_op_lua_transform = {
    .name = "lua.transform",
    .summary = "stream a CSV lake object through a Lua function",
    .doc = "Reads a CSV object of the lake (with a header; *.zst decompressed) as a stream and calls a Lua "
           "function of the script for each row, f(row, ctx), or for each batch of rows, f(rows, ctx). A row is a "
           "table keyed by the input header; the function returns the row, a changed or new row, nil to drop it, "
           "or an array of rows. The rows are written as CSV to another object, replaced atomically: on any error "
           "nothing is written. The output header is 'header', or else the columns of the first returned row (the "
           "input columns it has, in input order, then the others sorted). The function runs in the sandbox of "
           "ubpipe-lua(7) with its own Lua state, under per-call instruction and wall-clock limits and a memory "
           "cap; 'grant' gives more, and plan shows it. Errors name the input object, the row and its line, and "
           "the Lua traceback.",
    .params = params,
    .plan = plan,
    .run = run,
};
