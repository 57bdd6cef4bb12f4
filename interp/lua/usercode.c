/* usercode.c — user code (hooks, lua.transform) in the sandboxed state: chunks with their own
 * globals, require on the declared path, the grants (os, checked io.open/io.lines), protected
 * calls with tracebacks. */
#include "lua/lua_int.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/fsutil.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Registry:
 *   K_CODE    metatable of every chunk's global table: __index = the code
 *             base, a table holding require and the granted os / io, whose
 *             own __index is the sandbox view.
 *   K_LOADED  module name -> value returned by its file.
 *   K_PATH    array of the directories require searches.
 *   K_IOOPEN  the real io library (only when io is granted).
 */
static char K_CODE, K_LOADED, K_PATH, K_IOOPEN;

int ub_lua_grant_check(const char *g, ub_err *err)
{
    if (strcmp(g, "os") == 0)
        return 0;
    if ((strncmp(g, "io.read:", 8) == 0 || strncmp(g, "io.write:", 9) == 0) && strchr(g, ':')[1])
        return 0;
    return ub_err_set(err, "unknown grant '%s' (grants: os, io.read:DIR, io.write:DIR)", g);
}

char *ub_lua_resolve(const char *item, int grant, const char *base, ub_err *err)
{
    const char *colon = grant ? strchr(item, ':') : NULL;
    const char *dir = grant ? (colon ? colon + 1 : NULL) : item;
    ub_buf b;
    ub_buf_init(&b, PATH_MAX);
    if (!dir || dir[0] == '/' || !base)
        ub_buf_adds(&b, item);
    else
        ub_buf_addf(&b, "%.*s%s/%s", colon ? (int)(colon - item + 1) : 0, item, base, dir);
    char *r = ub_buf_detach(&b, NULL);
    if (!r) {
        if (b.err == E2BIG)
            ub_err_set(err, "%s '%.64s%s' is longer than %d bytes once taken from '%s'",
                       grant ? "grant" : "lua_path", item, strlen(item) > 64 ? "..." : "", PATH_MAX,
                       base ? base : ".");
        else
            ub_err_oom(err);
        ub_buf_free(&b);
    }
    return r;
}

/* Pushes the global table of a new chunk. */
static void push_code_env(lua_State *L)
{
    lua_newtable(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_CODE);
    lua_setmetatable(L, -2);
}

typedef struct file_rd {
    FILE *f;
    char buf[8192];
} file_rd;

static const char *file_read(lua_State *L, void *ud, size_t *n)
{
    file_rd *r = ud;
    (void)L;
    *n = fread(r->buf, 1, sizeof r->buf, r->f);
    return *n ? r->buf : NULL;
}

/* Loads path as a text chunk with a new global table; pushes the function,
 * or raises with the reason.  No C memory is held across a raising call:
 * lua_load itself does not raise. */
static void load_chunk(lua_State *L, const char *path, const char *display)
{
    ub_lua *H = ub_lua_host_of(L);
    size_t bl = H->base ? strlen(H->base) : 0;
    if (!display)
        display = bl && strncmp(path, H->base, bl) == 0 && path[bl] == '/' ? path + bl + 1 : path;
    lua_pushfstring(L, "@%s", display);
    file_rd *r = lua_newuserdatauv(L, sizeof *r, 0);
    const char *bad = NULL;
    int fd = ub_open_regular(path, &bad);     /* a FIFO fails at once, it does not block */
    r->f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!r->f) {
        if (fd >= 0)
            close(fd);
        luaL_error(L, "cannot read '%s': %s", display, bad ? bad : strerror(errno));
    }
    int st = lua_load(L, file_read, r, lua_tostring(L, -2), "t");
    int rerr = ferror(r->f);
    fclose(r->f);
    r->f = NULL;
    if (st != LUA_OK)
        lua_error(L);
    if (rerr)
        luaL_error(L, "cannot read '%s'", display);
    lua_replace(L, -3);                    /* function over the chunk name */
    lua_pop(L, 1);
    push_code_env(L);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
}

static int valid_module_name(const char *s)
{
    int seg = 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (!seg)
                return 0;
            seg = 0;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                   *s == '_' || *s == '-') {
            seg++;
        } else {
            return 0;
        }
    }
    return seg > 0;
}

/* require(name): a stdlib module, or NAME.lua (dots as '/') on the path. */
static int code_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (ub_lua_is_stdlib(name)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &ub_lua_key_view);
        lua_getfield(L, -1, name);
        return 1;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_LOADED);            /* 2 */
    if (lua_getfield(L, 2, name) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (!valid_module_name(name))
        return luaL_error(L, "module name '%s' is not NAME or NAME.NAME... (letters, digits, '_', '-')", name);
    const char *rel = luaL_gsub(L, name, ".", "/");           /* 3 */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_PATH);              /* 4 */
    lua_pushliteral(L, "");                                  /* 5 tried */
    lua_Integer n = luaL_len(L, 4);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 4, i);                                /* 6 dir */
        const char *path = lua_pushfstring(L, "%s/%s.lua", lua_tostring(L, 6), rel);   /* 7 */
        if (access(path, R_OK) == 0) {
            load_chunk(L, path, NULL);
            lua_pushstring(L, name);
            lua_call(L, 1, 1);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushboolean(L, 1);
            }
            lua_pushvalue(L, -1);
            lua_setfield(L, 2, name);
            return 1;
        }
        lua_pushvalue(L, 5);
        if (i > 1)
            lua_pushliteral(L, ", ");
        lua_pushvalue(L, 7);
        lua_concat(L, i > 1 ? 3 : 2);
        lua_replace(L, 5);
        lua_settop(L, 5);
    }
    if (n == 0)
        return luaL_error(L, "module '%s' not found: the spec declares no lua_path", name);
    return luaL_error(L, "module '%s' not found (tried %s)", name, lua_tostring(L, -1));
}

/* ---- grants ----------------------------------------------------------------- */

/* Pushes the real path of p (relative to the base directory), or of its
 * directory joined with its last name when p does not exist yet; nil when
 * neither resolves. */
static void push_real(lua_State *L, const char *p)
{
    ub_lua *H = ub_lua_host_of(L);
    char rp[PATH_MAX];
    if (p[0] != '/' && H->base)
        p = lua_pushfstring(L, "%s/%s", H->base, p);
    else
        lua_pushstring(L, p);
    if (realpath(p, rp)) {
        lua_pushstring(L, rp);
        lua_remove(L, -2);
        return;
    }
    const char *slash = strrchr(p, '/');
    const char *last = slash ? slash + 1 : p;
    if (slash)
        lua_pushlstring(L, p, (size_t)(slash - p) + (slash == p));
    else
        lua_pushliteral(L, ".");
    int ok = realpath(lua_tostring(L, -1), rp) != NULL;
    lua_pop(L, 2);
    if (!ok || !*last || strcmp(last, "..") == 0 || strcmp(last, ".") == 0) {
        lua_pushnil(L);
        return;
    }
    lua_pushfstring(L, "%s%s%s", rp, strcmp(rp, "/") == 0 ? "" : "/", last);
}

/* 1 if real path r is dir or inside one of the directories of the table at t */
static int inside(lua_State *L, int t, const char *r)
{
    lua_Integer n = luaL_len(L, t);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        size_t dl;
        const char *d = lua_tolstring(L, -1, &dl);
        int ok = strncmp(r, d, dl) == 0 && (r[dl] == '/' || r[dl] == '\0' || (dl == 1 && d[0] == '/'));
        lua_pop(L, 1);
        if (ok)
            return 1;
    }
    return 0;
}

/* io.open(path [, mode]) and io.lines(path, ...) behind the grants.
 * upvalues: 1 readable directories, 2 writable directories. */
static int checked_io(lua_State *L, const char *fn)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = strcmp(fn, "open") == 0 ? luaL_optstring(L, 2, "r") : "r";
    int reading = strcmp(mode, "r") == 0 || strcmp(mode, "rb") == 0;
    push_real(L, path);
    const char *r = lua_tostring(L, -1);
    if (!r || !(inside(L, lua_upvalueindex(2), r) || (reading && inside(L, lua_upvalueindex(1), r))))
        return luaL_error(L, "io.%s: '%s' is outside the granted directories for %s (see 'grant')", fn, path,
                          reading ? "reading" : "writing");
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_IOOPEN);
    lua_getfield(L, -1, fn);
    lua_insert(L, 1);
    lua_pop(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int code_io_open(lua_State *L) { return checked_io(L, "open"); }
static int code_io_lines(lua_State *L) { return checked_io(L, "lines"); }

/* (ud = opts) builds the code base, its metatable and the path */
static int code_setup_p(lua_State *L)
{
    const ub_lua_code_opts *o = lua_touserdata(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ub_lua_key_view);              /* 2 view */
    lua_newtable(L);                                         /* 3 base */
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, 3);
    lua_pushcfunction(L, code_require);
    lua_setfield(L, 3, "require");

    lua_createtable(L, 0, 2);                                /* chunk env metatable */
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_CODE);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_LOADED);
    lua_createtable(L, o && o->npath ? (int)o->npath : 0, 0);
    for (size_t i = 0; o && i < o->npath; i++) {
        char rp[PATH_MAX];
        if (!realpath(o->path[i], rp))
            return luaL_error(L, "lua_path: cannot use '%s': %s", o->path[i], strerror(errno));
        lua_pushstring(L, rp);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_PATH);

    /* grants */
    lua_newtable(L);                                          /* 4 readable */
    lua_newtable(L);                                          /* 5 writable */
    int io = 0;
    for (size_t i = 0; o && i < o->ngrants; i++) {
        const char *g = o->grants[i];
        if (strcmp(g, "os") == 0) {
            static const char *const keep[] = { "time", "clock", "date", "difftime", "getenv", NULL };
            luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
            lua_createtable(L, 0, 5);
            for (const char *const *k = keep; *k; k++) {
                lua_getfield(L, -2, *k);
                lua_setfield(L, -2, *k);
            }
            lua_setfield(L, 3, "os");
            lua_pop(L, 1);
            continue;
        }
        int w = strncmp(g, "io.write:", 9) == 0;
        const char *dir = strchr(g, ':') + 1;
        char rp[PATH_MAX];
        if (!realpath(dir, rp))
            return luaL_error(L, "grant '%s': cannot use '%s': %s", g, dir, strerror(errno));
        lua_pushstring(L, rp);
        lua_rawseti(L, w ? 5 : 4, luaL_len(L, w ? 5 : 4) + 1);
        io = 1;
    }
    if (io) {
        luaL_requiref(L, LUA_IOLIBNAME, luaopen_io, 0);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &K_IOOPEN);
        lua_createtable(L, 0, 2);
        lua_pushvalue(L, 4);
        lua_pushvalue(L, 5);
        lua_pushcclosure(L, code_io_open, 2);
        lua_setfield(L, -2, "open");
        lua_pushvalue(L, 4);
        lua_pushvalue(L, 5);
        lua_pushcclosure(L, code_io_lines, 2);
        lua_setfield(L, -2, "lines");
        lua_setfield(L, 3, "io");
    }
    return 0;
}

/* ---- calls -------------------------------------------------------------------- */

/* Message handler: the message and the Lua traceback.  It is C, so it
 * runs to its end even when a limit has set the hook on every instruction. */
static int traceback_h(lua_State *L)
{
    const char *m = lua_tostring(L, 1);
    if (!m) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            m = lua_tostring(L, -1);
        else
            m = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, m, 1);
    return 1;
}

/* err = "<message> (traceback: frame; frame)" from the value on top; frames
 * of C functions are left out. */
static void code_error(ub_lua *H, int st, ub_err *err)
{
    lua_State *L = H->L;
    char lim[64];
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (st == LUA_ERRMEM || (m && strstr(m, "not enough memory")) || (st == LUA_ERRERR && H->mem_hit)) {
        ub_lua_mem_limit_text(H, lim, sizeof lim);
        ub_err_set(err, "%s", H->mem_hit ? lim : "out of memory");
        return;
    }
    if (!m) {
        ub_err_set(err, "%s", H->budget_hit ? H->limit : "error in the error handler");
        return;
    }
    ub_buf b = UB_BUF_INIT;
    const char *tb = strstr(m, "\nstack traceback:");
    ub_buf_add(&b, m, tb ? (size_t)(tb - m) : strlen(m));
    int frames = 0;
    for (const char *p = tb ? tb + 17 : NULL; p && *p;) {
        while (*p == '\n' || *p == '\t')
            p++;
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && strncmp(p, "[C]:", 4) != 0 && strncmp(p, "(...tail calls...)", 18) != 0) {
            ub_buf_adds(&b, frames++ ? "; " : " (traceback: ");
            ub_buf_add(&b, p, n);
        }
        p += n;
    }
    if (frames)
        ub_buf_addc(&b, ')');
    ub_err_set(err, "%s", b.err ? "out of memory" : ub_buf_str(&b));
    ub_buf_free(&b);
    ub_lua_one_line(err);
}

int ub_lua_call(ub_lua *H, int nargs, int nres, ub_err *err)
{
    lua_State *L = H->L;
    int fn = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_h);
    lua_insert(L, fn);
    ub_lua_budget_reset(H);
    int st = lua_pcall(L, nargs, nres, fn);
    if (st != LUA_OK) {
        code_error(H, st, err);
        lua_settop(L, fn - 1);
        return -1;
    }
    lua_remove(L, fn);
    return 0;
}

int ub_lua_protect(ub_lua *H, int (*fn)(lua_State *), void *ud, ub_err *err)
{
    lua_State *L = H->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4))
        return ub_err_oom(err);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    int rc = ub_lua_call(H, 1, 0, err);
    lua_settop(L, top);
    return rc;
}

int ub_lua_code_setup(ub_lua *H, const ub_lua_code_opts *o, ub_err *err)
{
    H->base = o ? o->base : NULL;
    return ub_lua_protect(H, code_setup_p, (void *)o, err);
}

typedef struct load_args {
    const char *path, *display, *code, *name;
    size_t len;
} load_args;

static int load_file_p(lua_State *L)
{
    load_args *a = lua_touserdata(L, 1);
    load_chunk(L, a->path, a->display);
    lua_getupvalue(L, -1, 1);                   /* its global table */
    lua_insert(L, -2);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1))
        lua_pop(L, 1);
    else
        lua_remove(L, -2);
    return 1;
}

int ub_lua_load_file(ub_lua *H, const char *path, const char *display, ub_err *err)
{
    load_args a = { path, display, NULL, NULL, 0 };
    lua_State *L = H->L;
    if (!lua_checkstack(L, 4))
        return ub_err_oom(err);
    lua_pushcfunction(L, load_file_p);
    lua_pushlightuserdata(L, &a);
    return ub_lua_call(H, 1, 1, err);
}

static int load_string_p(lua_State *L)
{
    load_args *a = lua_touserdata(L, 1);
    lua_pushfstring(L, "=%s", a->name);
    if (luaL_loadbufferx(L, a->code, a->len, lua_tostring(L, -1), "t") != LUA_OK)
        return lua_error(L);
    push_code_env(L);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

int ub_lua_load_string(ub_lua *H, const char *code, size_t len, const char *name, ub_err *err)
{
    load_args a = { NULL, NULL, code, name, len };
    lua_State *L = H->L;
    if (!lua_checkstack(L, 4))
        return ub_err_oom(err);
    lua_pushcfunction(L, load_string_p);
    lua_pushlightuserdata(L, &a);
    return ub_lua_call(H, 1, 1, err);
}
