/* luahost.c — the sandboxed Lua state: memory cap, instruction budget, scope and {{ }} templates. */
#include "lua/luahost.h"
#include "base/mem.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lua/luapat.h"
#include "io/classify.h"
#include "stdlib_embed.h"

/*
 * Layout of the state:
 *   globals   the sandbox proper: base (minus dofile, loadfile, load, require,
 *             collectgarbage, print, warn, rawset; xpcall replaced), string
 *             (minus dump), table, math, utf8, and the stdlib modules (each
 *             run with the globals as _ENV).  Only C and the stdlib see it.
 *   view      what templates see of the globals: the same names, every table
 *             behind a read-only proxy (registry K_VIEW).
 *   scope     ds, params, env, ... set by the host (registry K_SCOPE); plain
 *             tables are stored behind proxies that name missing fields.
 *   env       one fresh table per render, __index = scope then view, and the
 *             _ENV of every expression of that render; names a template
 *             assigns live there and die with the render.
 *   cache     expression text -> compiled "return (expr)" (registry K_CACHE).
 * The ub_lua owns the lua_State; ub_lua_free closes it.
 */

#define DEFAULT_INSTRUCTIONS 10000000L
#define DEFAULT_MEMORY       ((size_t)64 << 20)
#define DEFAULT_SECONDS      10.0
#define HOOK_EVERY           1000     /* instructions between budget checks */
#define SNIP_MAX             120      /* bytes of an expression quoted in messages */

struct ub_lua {
    lua_State *L;
    size_t mem_used, mem_cap;  /* bytes held by the state, and its cap */
    long   budget, used;       /* instructions per evaluation, and so far */
    long long total, total_used; /* instructions in all calls (0 = no cap), and so far */
    double seconds;            /* wall clock per call */
    double call_start;         /* GUARD_CLOCK at the start of the call */
    int    budget_hit;         /* the current evaluation ran out of instructions */
    int    mem_hit;            /* an allocation was refused because of the cap */
    char   limit[160];         /* the limit that stopped the current call, or "" */
    char   pending[256];       /* failure of a void call, reported by the next render */
    const char *base;          /* code: directory shown relative in chunk names */
};

/* Registry keys: their addresses are the keys (not const, so that no
 * compiler option can merge them into one object). */
static char K_SCOPE, K_VIEW, K_CACHE, K_ENVMT, K_PROCENVMT, K_CODE, K_LOADED, K_PATH, K_IOOPEN;
/* Keys in a read-only proxy's metatable. */
static char P_REAL, P_PATH;

static ub_lua *host_of(lua_State *L) { return *(ub_lua **)lua_getextraspace(L); }

/* ---- allocator and budget ------------------------------------------------ */

/* lua_Alloc: every byte of the state goes through ub_realloc and is counted;
 * growth past the cap is refused (Lua then collects and retries once, and
 * raises a memory error if that does not help).  Shrinking never fails. */
static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ub_lua *H = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        if (ptr) {
            ub_free(ptr);
            H->mem_used -= old;
        }
        return NULL;
    }
    if (nsize > old && nsize - old > H->mem_cap - H->mem_used) {
        H->mem_hit = 1;
        return NULL;
    }
    void *np = ub_realloc(ptr, nsize);
    if (!np) {
        if (!ptr || nsize > old)
            return NULL;
        np = ptr;              /* a failed shrink keeps the larger block */
    }
    H->mem_used = H->mem_used - old + nsize;
    return np;
}

/* The clock of the per-call wall-clock guard.  It is read at the start of
 * every call (for a transform: every row), so the coarse clock, a few ms
 * of resolution and several times cheaper, is used where Linux has it; the
 * limits it guards are tenths of a second and more. */
#ifdef CLOCK_MONOTONIC_COARSE
#define GUARD_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define GUARD_CLOCK CLOCK_MONOTONIC
#endif

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(GUARD_CLOCK, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Adds n instructions (or matcher steps) to the call and the total; when a
 * limit is passed, fills H->limit and returns -1.  The wall clock of the
 * call is looked at on each charge (every HOOK_EVERY instructions). */
static int charge(ub_lua *H, unsigned long n)
{
    H->used = n > (unsigned long)(LONG_MAX - H->used) ? LONG_MAX : H->used + (long)n;
    H->total_used = n > (unsigned long long)(LLONG_MAX - H->total_used) ? LLONG_MAX
                  : H->total_used + (long long)n;
    if (H->used > H->budget)
        snprintf(H->limit, sizeof H->limit, "instruction budget exceeded (%ld instructions)", H->budget);
    else if (H->total > 0 && H->total_used > H->total)
        snprintf(H->limit, sizeof H->limit, "instruction budget exceeded (%lld instructions in all calls)",
                 H->total);
    else if (H->seconds > 0 && mono_now() - H->call_start > H->seconds)
        snprintf(H->limit, sizeof H->limit, "time limit exceeded (%g s per call)", H->seconds);
    else
        return 0;
    H->budget_hit = 1;
    return -1;
}

/* Count hook.  Once a limit is passed it fires on every instruction, so
 * code that catches the error with pcall is stopped again at its next
 * instruction and the error reaches the host. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    ub_lua *H = host_of(L);
    (void)ar;
    if (!H->budget_hit) {
        if (charge(H, HOOK_EVERY) == 0)
            return;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, H->limit);
    lua_error(L);
}

/* Meter of the string matcher (core/luapat.h): its steps count as
 * instructions, and its clock is the call's. */
static void pat_meter(lua_State *L, void *ud, unsigned long steps)
{
    ub_lua *H = ud;
    if (!H->budget_hit && charge(H, steps) == 0)
        return;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    lua_pushstring(L, H->limit);
    lua_error(L);
}

static void budget_reset(ub_lua *H)
{
    H->used = 0;
    H->budget_hit = 0;
    H->mem_hit = 0;
    H->limit[0] = '\0';
    H->call_start = H->seconds > 0 ? mono_now() : 0;
    lua_sethook(H->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static int on_panic(lua_State *L)
{
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)";
    fprintf(stderr, "ubpipe: unprotected Lua error: %s\n", m);
    abort();
    return 0;
}

static void mem_limit_text(const ub_lua *H, char *dst, size_t n)
{
    size_t mib = (size_t)1 << 20;
    if (H->mem_cap % mib == 0)
        snprintf(dst, n, "memory limit exceeded (%zu MiB)", H->mem_cap / mib);
    else
        snprintf(dst, n, "memory limit exceeded (%.2f MiB)", (double)H->mem_cap / (double)mib);
}

/* ---- read-only strict proxies ------------------------------------------- */

static int has_metatable(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_pop(L, 1);
    return 1;
}

/* Pushes the name of path[key] ("params.x", "params[3]"). */
static void push_child_path(lua_State *L, int path, int key)
{
    const char *p = lua_tostring(L, path);
    switch (lua_type(L, key)) {
    case LUA_TSTRING:
        lua_pushfstring(L, "%s.%s", p, lua_tostring(L, key));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, key))
            lua_pushfstring(L, "%s[%I]", p, lua_tointeger(L, key));
        else
            lua_pushfstring(L, "%s[%f]", p, lua_tonumber(L, key));
        break;
    default:
        lua_pushfstring(L, "%s[%s]", p, luaL_typename(L, key));
        break;
    }
}

static int proxy_index(lua_State *L);
static int proxy_newindex(lua_State *L);
static int proxy_len(lua_State *L);
static int proxy_pairs(lua_State *L);

/* Pushes a read-only view of the table at idx, named path in messages:
 * reading a missing string key raises "undefined variable 'path.key'" (a
 * missing integer key gives nil, so ipairs and # work), nested plain tables
 * come back wrapped the same way, and any assignment is an error. */
static void push_proxy(lua_State *L, int idx, const char *path, size_t pathlen)
{
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 7);
    lua_pushcfunction(L, proxy_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, proxy_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, proxy_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, proxy_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, idx);
    lua_rawsetp(L, -2, &P_REAL);
    lua_pushlstring(L, path, pathlen);
    lua_rawsetp(L, -2, &P_PATH);
    lua_setmetatable(L, -2);
}

/* Wraps the value on top in place when it is a plain table (no metatable);
 * its name is path[key] for the values at those indexes. */
static void wrap_top(lua_State *L, int path, int key)
{
    if (lua_type(L, -1) != LUA_TTABLE || has_metatable(L, -1))
        return;
    push_child_path(L, path, key);
    size_t n;
    const char *p = lua_tolstring(L, -1, &n);
    push_proxy(L, -2, p, n);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* Pushes the real table and the path of the proxy at idx. */
static void proxy_parts(lua_State *L, int idx)
{
    lua_getmetatable(L, idx);
    lua_rawgetp(L, -1, &P_REAL);
    lua_rawgetp(L, -2, &P_PATH);
    lua_remove(L, -3);
}

static int proxy_index(lua_State *L)
{
    lua_settop(L, 2);
    proxy_parts(L, 1);                 /* 3 real, 4 path */
    lua_pushvalue(L, 2);
    lua_gettable(L, 3);                /* 5 value */
    if (lua_isnil(L, 5)) {
        if (lua_type(L, 2) == LUA_TNUMBER)
            return 1;
        push_child_path(L, 4, 2);
        return luaL_error(L, "undefined variable '%s'", lua_tostring(L, -1));
    }
    wrap_top(L, 4, 2);
    return 1;
}

static int proxy_newindex(lua_State *L)
{
    lua_settop(L, 3);
    proxy_parts(L, 1);                 /* 4 real, 5 path */
    push_child_path(L, 5, 2);
    return luaL_error(L, "cannot assign to '%s': '%s' is read-only",
                      lua_tostring(L, -1), lua_tostring(L, 5));
}

static int proxy_len(lua_State *L)
{
    proxy_parts(L, 1);
    lua_pop(L, 1);
    lua_len(L, -1);
    return 1;
}

static int proxy_next(lua_State *L)
{
    lua_settop(L, 2);
    proxy_parts(L, 1);                 /* 3 real, 4 path */
    lua_pushvalue(L, 2);
    if (!lua_next(L, 3))               /* 5 key, 6 value */
        return 0;
    wrap_top(L, 4, 5);
    return 2;
}

static int proxy_pairs(lua_State *L)
{
    lua_pushcfunction(L, proxy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* ---- environments -------------------------------------------------------- */

/* __index of a template's environment: scope, then the sandbox view. */
static int env_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
        return 1;
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "undefined variable '%s'", lua_tostring(L, 2));
    return luaL_error(L, "undefined variable");
}

/* __index of the process-environment proxy (env.HOME). */
static int procenv_index(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    const char *v = k ? getenv(k) : NULL;
    if (!v)
        return luaL_error(L, "undefined environment variable '%s'", k ? k : luaL_typename(L, 2));
    lua_pushstring(L, v);
    return 1;
}

static int procenv_newindex(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
    return luaL_error(L, "cannot assign to 'env.%s': 'env' is read-only", k);
}

/* log(level, message), handed to stdlib/log.lua. */
static int host_log(lua_State *L)
{
    const char *level = luaL_checkstring(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    fprintf(stderr, "ubpipe: lua %s: %s\n", level, msg);
    return 0;
}

/* is_positive(s), handed to stdlib/text.lua as text.is_positive: the
 * classifier's own fast path (io/classify.h), so a Lua transform gives the
 * built-in classifier's answer at its speed.  One linear pass over a string
 * that already exists, with no allocation, so it is not metered. */
static int host_is_positive(lua_State *L)
{
    size_t n;
    int t = lua_type(L, 1);
    if (t == LUA_TNIL || t == LUA_TNONE) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (t != LUA_TSTRING)
        return luaL_error(L, "text.is_positive: want a string, got a %s value", luaL_typename(L, 1));
    const char *s = lua_tolstring(L, 1, &n);
    lua_pushboolean(L, ub_classify_positive(s, n));
    return 1;
}

/* xpcall(f, h, ...) whose handler runs after the error has unwound, not at
 * the error point: there Lua keeps hooks off, so a handler called for a
 * budget error raised by the hook could loop forever.  Without the debug
 * library a handler cannot look at the failed stack, so nothing is lost. */
static int sandbox_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checkany(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_remove(L, 2);
    lua_insert(L, 1);                  /* h, f, args... */
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    lua_pushvalue(L, 1);               /* h, err, h */
    lua_insert(L, -2);                 /* h, h, err */
    lua_pcall(L, 1, 1, 0);             /* h, handler result (or its error) */
    lua_pushboolean(L, 0);
    lua_replace(L, 1);
    return 2;
}

/* ---- setup --------------------------------------------------------------- */

static int setup_p(lua_State *L)
{
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base },     { LUA_STRLIBNAME, luaopen_string },
        { LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
        { LUA_UTF8LIBNAME, luaopen_utf8 }, { NULL, NULL }
    };
    /* rawset is dropped because it would write through a read-only proxy */
    static const char *const drop[] = {
        "dofile", "loadfile", "load", "require", "collectgarbage", "print", "warn",
        "rawset", NULL
    };

    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    for (const char *const *d = drop; *d; d++) {
        lua_pushnil(L);
        lua_setglobal(L, *d);
    }
    lua_pushcfunction(L, sandbox_xpcall);
    lua_setglobal(L, "xpcall");
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    /* getmetatable('') must not hand out the string library's metatable */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    /* metered string matching before the stdlib takes its locals */
    ub_luapat_open(L, pat_meter, host_of(L));

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_SCOPE);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_CACHE);

    /* the embedded stdlib: each chunk runs with the sandbox globals as _ENV
     * and gets (name, host functions); its result becomes a global */
    lua_newtable(L);                                  /* host */
    lua_pushcfunction(L, host_log);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, host_is_positive);
    lua_setfield(L, -2, "is_positive");
    int host = lua_gettop(L);
    for (size_t i = 0; ub_stdlib[i].name; i++) {
        const char *name = ub_stdlib[i].name;
        lua_pushfstring(L, "=stdlib/%s.lua", name);
        int st = luaL_loadbufferx(L, ub_stdlib[i].src, ub_stdlib[i].len, lua_tostring(L, -1), "t");
        if (st == LUA_OK) {
            lua_pushstring(L, name);
            lua_pushvalue(L, host);
            st = lua_pcall(L, 2, 1, 0);
        }
        if (st == LUA_ERRMEM)
            return lua_error(L);                      /* reported as a memory error */
        if (st != LUA_OK)
            return luaL_error(L, "stdlib module '%s': %s", name,
                              lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error");
        if (lua_type(L, -1) != LUA_TTABLE)
            return luaL_error(L, "stdlib module '%s' did not return a table", name);
        lua_setglobal(L, name);
        lua_pop(L, 1);                                /* chunk name */
    }
    lua_pop(L, 1);                                    /* host */

    /* what templates see of the sandbox: every table behind a proxy, so a
     * template cannot change string, sql, ... for the templates after it */
    lua_newtable(L);                                  /* view */
    int view = lua_gettop(L);
    lua_pushglobaltable(L);
    int glb = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, glb)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
            size_t n;
            const char *k = lua_tolstring(L, -2, &n);
            push_proxy(L, -1, k, n);
            lua_replace(L, -2);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, view);
    }
    lua_pop(L, 1);                                    /* globals */
    lua_pushvalue(L, view);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_VIEW);

    lua_createtable(L, 0, 2);                         /* environment metatable */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_SCOPE);
    lua_pushvalue(L, view);
    lua_pushcclosure(L, env_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_ENVMT);

    lua_createtable(L, 0, 3);                         /* env proxy metatable */
    lua_pushcfunction(L, procenv_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, procenv_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_PROCENVMT);
    return 0;
}

ub_lua *ub_lua_new(const ub_lua_limits *lim, ub_err *err)
{
    ub_lua *H = ub_calloc(1, sizeof *H);
    if (!H) {
        ub_err_oom(err);
        return NULL;
    }
    H->budget = lim && lim->instructions > 0 ? lim->instructions : DEFAULT_INSTRUCTIONS;
    H->mem_cap = lim && lim->memory ? lim->memory : DEFAULT_MEMORY;
    H->seconds = DEFAULT_SECONDS;
    H->L = lua_newstate(lalloc, H);
    if (!H->L) {
        char m[64];
        mem_limit_text(H, m, sizeof m);
        ub_err_set(err, "cannot create the Lua state: %s", H->mem_hit ? m : "out of memory");
        goto fail;
    }
    *(ub_lua **)lua_getextraspace(H->L) = H;
    lua_atpanic(H->L, on_panic);

    lua_pushcfunction(H->L, setup_p);
    int st = lua_pcall(H->L, 0, 0, 0);
    if (st != LUA_OK) {
        char m[64];
        mem_limit_text(H, m, sizeof m);
        const char *msg = lua_type(H->L, -1) == LUA_TSTRING ? lua_tostring(H->L, -1) : "error";
        if (st == LUA_ERRMEM || strstr(msg, "not enough memory"))
            msg = H->mem_hit ? m : "out of memory";
        ub_err_set(err, "cannot set up the Lua sandbox: %s", msg);
        goto fail;
    }
    budget_reset(H);
    return H;
fail:
    ub_lua_free(H);
    return NULL;
}

void ub_lua_free(ub_lua *H)
{
    if (!H)
        return;
    if (H->L) {
        budget_reset(H);          /* finalizers left by templates get one budget */
        lua_close(H->L);
    }
    ub_free(H);
}

lua_State *ub_lua_state(ub_lua *H) { return H->L; }

void ub_lua_set_limits(ub_lua *H, double seconds, long long total)
{
    if (seconds > 0)
        H->seconds = seconds;
    if (total > 0)
        H->total = total;
}

/* ---- scope --------------------------------------------------------------- */

/* scope[name] = value at 1 (name at 2 as light userdata), plain tables wrapped */
static int scope_set_p(lua_State *L)
{
    const char *name = lua_touserdata(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_SCOPE);      /* 3 */
    lua_pushstring(L, name);                          /* 4 */
    if (lua_type(L, 1) == LUA_TTABLE && !has_metatable(L, 1))
        push_proxy(L, 1, name, strlen(name));
    else
        lua_pushvalue(L, 1);
    lua_rawset(L, 3);
    return 0;
}

/* pushes value (light userdata at 2, NULL = nil) then does scope_set_p */
static int scope_setstr_p(lua_State *L)
{
    const char *value = lua_touserdata(L, 2);
    if (value)
        lua_pushstring(L, value);
    else
        lua_pushnil(L);
    lua_replace(L, 2);
    lua_insert(L, 1);              /* value, name */
    return scope_set_p(L);
}

static void note_pending(ub_lua *H, int st, const char *what)
{
    char m[64];
    mem_limit_text(H, m, sizeof m);
    if (!H->pending[0])
        snprintf(H->pending, sizeof H->pending, "cannot set '%s' in the template scope: %s", what,
                 st == LUA_ERRMEM ? (H->mem_hit ? m : "out of memory")
                 : lua_type(H->L, -1) == LUA_TSTRING ? lua_tostring(H->L, -1) : "error");
}

void ub_lua_scope_set(ub_lua *H, const char *name)
{
    lua_State *L = H->L;
    if (!lua_checkstack(L, 3)) {
        note_pending(H, LUA_ERRMEM, name);
        lua_pop(L, 1);
        return;
    }
    lua_pushcfunction(L, scope_set_p);
    lua_insert(L, -2);
    lua_pushlightuserdata(L, (void *)name);
    int st = lua_pcall(L, 2, 0, 0);
    if (st != LUA_OK) {
        note_pending(H, st, name);
        lua_pop(L, 1);
    }
}

void ub_lua_scope_setstr(ub_lua *H, const char *name, const char *value)
{
    lua_State *L = H->L;
    if (!lua_checkstack(L, 3)) {
        note_pending(H, LUA_ERRMEM, name);
        return;
    }
    lua_pushcfunction(L, scope_setstr_p);
    lua_pushlightuserdata(L, (void *)name);
    lua_pushlightuserdata(L, (void *)value);
    int st = lua_pcall(L, 2, 0, 0);
    if (st != LUA_OK) {
        note_pending(H, st, name);
        lua_pop(L, 1);
    }
}

static int push_env_p(lua_State *L)
{
    lua_newtable(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_PROCENVMT);
    lua_setmetatable(L, -2);
    return 1;
}

void ub_lua_push_env(ub_lua *H)
{
    lua_State *L = H->L;
    if (!lua_checkstack(L, 2)) {
        note_pending(H, LUA_ERRMEM, "env");
        if (lua_checkstack(L, 1))
            lua_pushnil(L);
        return;
    }
    lua_pushcfunction(L, push_env_p);
    int st = lua_pcall(L, 0, 1, 0);
    if (st != LUA_OK) {
        note_pending(H, st, "env");
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* ---- templates ----------------------------------------------------------- */

int ub_tmpl_has_expr(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '{' && s[i + 1] == '{')
            return 1;
    return 0;
}

/* Finds the "}}" closing the block whose expression starts at b.  Quoted
 * strings ('...' and "..." with backslash escapes) and balanced { } inside
 * the expression do not close it.  Returns its offset, or len if none. */
static size_t scan_close(const char *s, size_t len, size_t b)
{
    int depth = 0;
    char quote = 0;
    for (size_t i = b; i < len; i++) {
        char c = s[i];
        if (quote) {
            if (c == '\\')
                i++;
            else if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (depth > 0)
                depth--;
            else if (i + 1 < len && s[i + 1] == '}')
                return i;
        }
    }
    return len;
}

size_t ub_tmpl_block_len(const char *s, size_t len)
{
    if (len < 2 || s[0] != '{' || s[1] != '{')
        return 0;
    size_t close = scan_close(s, len, 2);
    return close >= len ? 0 : close + 2;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Copies at most SNIP_MAX bytes of s into dst as one line ("..." if cut). */
static void snip(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t k = n;
    if (k > SNIP_MAX) {
        k = SNIP_MAX;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;               /* do not cut a UTF-8 sequence */
    }
    if (k + 4 > dstlen)
        k = dstlen - 4;
    for (size_t i = 0; i < k; i++)
        dst[i] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
    if (k < n) {
        memcpy(dst + k, "...", 4);
    } else {
        dst[k] = '\0';
    }
}

/* Skips the "chunk:line: " that Lua puts before messages from chunk src. */
static const char *strip_pos(const char *msg, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || strncmp(msg, src, n) != 0 || msg[n] != ':')
        return msg;
    const char *p = msg + n + 1;
    if (*p < '0' || *p > '9')
        return msg;
    while (*p >= '0' && *p <= '9')
        p++;
    return p[0] == ':' && p[1] == ' ' ? p + 2 : msg;
}

/* Makes err->msg a single line. */
static void one_line(ub_err *err)
{
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

typedef struct eval_ctx {
    const char *expr;           /* trimmed expression text */
    size_t      elen;
    const char *where;
    char        src[LUA_IDSIZE]; /* short_src of the compiled chunk */
} eval_ctx;

/* short_src Lua derives from the chunk name "=where" */
static void chunk_src(eval_ctx *c)
{
    size_t n = strlen(c->where);
    if (n > sizeof c->src - 1)
        n = sizeof c->src - 1;
    memcpy(c->src, c->where, n);
    c->src[n] = '\0';
}

/* (env or nil, ctx) -> value, env.  Compiles "return (expr)" once per
 * distinct text (the cache is keyed by the trimmed text), points its _ENV
 * at the render's environment and runs it. */
static int eval_p(lua_State *L)
{
    eval_ctx *c = lua_touserdata(L, 2);
    if (lua_isnil(L, 1)) {
        lua_newtable(L);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &K_ENVMT);
        lua_setmetatable(L, -2);
        lua_replace(L, 1);
    }
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_CACHE);         /* 2 cache */
    lua_pushlstring(L, c->expr, c->elen);                 /* 3 text */
    lua_pushvalue(L, 3);
    if (lua_rawget(L, 2) != LUA_TFUNCTION) {              /* 4 function */
        lua_pop(L, 1);
        lua_pushliteral(L, "return (");
        lua_pushvalue(L, 3);
        lua_pushliteral(L, "\n)");  /* own line: a trailing -- comment stays harmless */
        lua_concat(L, 3);                                 /* 4 code */
        lua_pushfstring(L, "=%s", c->where);              /* 5 chunk name */
        size_t n;
        const char *code = lua_tolstring(L, 4, &n);
        if (luaL_loadbufferx(L, code, n, lua_tostring(L, 5), "t") != LUA_OK) {
            chunk_src(c);
            return lua_error(L);
        }
        lua_replace(L, 4);
        lua_settop(L, 4);
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 4);
        lua_rawset(L, 2);
    }
    lua_Debug ar;
    lua_pushvalue(L, 4);
    lua_getinfo(L, ">S", &ar);
    memcpy(c->src, ar.short_src, sizeof c->src);
    c->src[sizeof c->src - 1] = '\0';

    lua_pushvalue(L, 1);
    if (!lua_setupvalue(L, 4, 1))
        lua_pop(L, 1);
    lua_pushvalue(L, 4);
    lua_call(L, 0, 1);                                    /* 5 value */
    lua_pushvalue(L, 1);                                  /* 6 env */
    return 2;
}

static void eval_error(ub_lua *H, int st, const eval_ctx *c, ub_err *err)
{
    lua_State *L = H->L;
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    char e[SNIP_MAX + 8];
    snip(e, sizeof e, c->expr, c->elen);

    if (st == LUA_ERRMEM || (m && strstr(m, "not enough memory"))) {
        char lim[64];
        mem_limit_text(H, lim, sizeof lim);
        ub_err_set(err, "in template '{{ %s }}': %s", e, H->mem_hit ? lim : "out of memory");
    } else if (H->budget_hit) {
        ub_err_set(err, "in template '{{ %s }}': %s", e, H->limit);
    } else if (m) {
        ub_err_set(err, "in template '{{ %s }}': %s", e, strip_pos(m, c->src));
    } else {
        ub_err_set(err, "in template '{{ %s }}': error object is a %s value", e,
                   luaL_typename(L, -1));
    }
    one_line(err);
}

static int add_out(ub_buf *out, const char *p, size_t n, ub_err *err)
{
    if (ub_buf_add(out, p, n) == 0)
        return 0;
    if (out->err == ENOMEM)
        return ub_err_oom(err);
    return ub_err_set(err, "template output larger than %zu bytes", out->max);
}

/* Evaluates one block; env is the stack index of the render's environment
 * (nil until the first block makes it).  No C memory is held across the
 * protected call; out is only touched after it returns. */
static int eval_block(ub_lua *H, int env, eval_ctx *c, ub_buf *out, ub_err *err)
{
    lua_State *L = H->L;
    char e[SNIP_MAX + 8];
    char num[64];
    int rc = -1;

    lua_pushcfunction(L, eval_p);
    lua_pushvalue(L, env);
    lua_pushlightuserdata(L, c);
    budget_reset(H);
    int st = lua_pcall(L, 2, 2, 0);
    if (st != LUA_OK) {
        eval_error(H, st, c, err);
        lua_pop(L, 1);
        goto out;
    }
    lua_replace(L, env);
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        rc = add_out(out, s, n, err);
        break;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1))
            snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, -1));
        else
            snprintf(num, sizeof num, "%.14g", (double)lua_tonumber(L, -1));
        rc = add_out(out, num, strlen(num), err);
        break;
    case LUA_TBOOLEAN:
        rc = lua_toboolean(L, -1) ? add_out(out, "true", 4, err) : add_out(out, "false", 5, err);
        break;
    case LUA_TNIL:
        snip(e, sizeof e, c->expr, c->elen);
        ub_err_set(err, "expression '%s' is nil", e);
        break;
    default:
        snip(e, sizeof e, c->expr, c->elen);
        ub_err_set(err, "in template '{{ %s }}': value is a %s, not a string, number or boolean",
                   e, luaL_typename(L, -1));
        break;
    }
    lua_pop(L, 1);
out:
    return rc;
}

int ub_tmpl_render(ub_lua *H, const char *src, size_t len, const char *where,
                   ub_buf *out, ub_err *err)
{
    lua_State *L = H->L;
    int base = lua_gettop(L);
    size_t start = out->len;
    size_t pos = 0;
    int rc = -1;
    char e[SNIP_MAX + 8];

    if (!where || !*where)
        where = "template";
    if (H->pending[0]) {
        ub_err_set(err, "%s", H->pending);
        H->pending[0] = '\0';
        goto out;
    }
    if (!ub_tmpl_has_expr(src, len)) {
        rc = add_out(out, src, len, err);
        goto out;
    }
    if (!lua_checkstack(L, 8)) {
        ub_err_oom(err);
        goto out;
    }
    lua_pushnil(L);                    /* the render's environment, made lazily */
    int env = lua_gettop(L);
    while (pos < len) {
        size_t open = pos;
        while (open + 1 < len && !(src[open] == '{' && src[open + 1] == '{'))
            open++;
        if (open + 1 >= len) {         /* no more blocks */
            if (add_out(out, src + pos, len - pos, err))
                goto out;
            break;
        }
        if (open > pos && add_out(out, src + pos, open - pos, err))
            goto out;
        size_t b = open + 2;
        size_t close = scan_close(src, len, b);
        if (close >= len) {
            snip(e, sizeof e, src + open, len - open > 40 ? 40 : len - open);
            ub_err_set(err, "unterminated '{{' in template '%s%s'", e,
                       len - open > 40 ? "..." : "");
            one_line(err);
            goto out;
        }
        size_t ee = close;
        while (b < ee && is_space(src[b]))
            b++;
        while (ee > b && is_space(src[ee - 1]))
            ee--;
        if (ee == b) {
            ub_err_set(err, "in template '{{ }}': empty expression");
            goto out;
        }
        eval_ctx c = { src + b, ee - b, where, "" };
        if (eval_block(H, env, &c, out, err))
            goto out;
        pos = close + 2;
    }
    rc = 0;
out:
    lua_settop(L, base);
    if (rc && !out->err && out->len > start) {
        out->len = start;             /* nothing half-rendered is left behind */
        if (out->p)
            out->p[start] = '\0';
    }
    return rc;
}

/* ---- user code ------------------------------------------------------------ */

/*
 * Registry:
 *   K_CODE    metatable of every chunk's global table: __index = the code
 *             base, a table holding require and the granted os / io, whose
 *             own __index is the sandbox view.
 *   K_LOADED  module name -> value returned by its file.
 *   K_PATH    array of the directories require searches.
 *   K_IOOPEN  the real io library (only when io is granted).
 */

int ub_lua_grant_check(const char *g, ub_err *err)
{
    if (strcmp(g, "os") == 0)
        return 0;
    if ((strncmp(g, "io.read:", 8) == 0 || strncmp(g, "io.write:", 9) == 0) && strchr(g, ':')[1])
        return 0;
    return ub_err_set(err, "unknown grant '%s' (grants: os, io.read:DIR, io.write:DIR)", g);
}

long long ub_lua_total_instructions(const ub_lua *H) { return H->total_used; }

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
    ub_lua *H = host_of(L);
    size_t bl = H->base ? strlen(H->base) : 0;
    if (!display)
        display = bl && strncmp(path, H->base, bl) == 0 && path[bl] == '/' ? path + bl + 1 : path;
    lua_pushfstring(L, "@%s", display);
    file_rd *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->f = fopen(path, "rb");
    if (!r->f)
        luaL_error(L, "cannot read '%s': %s", display, strerror(errno));
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
    for (size_t i = 0; ub_stdlib[i].name; i++)
        if (strcmp(ub_stdlib[i].name, name) == 0) {
            lua_rawgetp(L, LUA_REGISTRYINDEX, &K_VIEW);
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
    ub_lua *H = host_of(L);
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
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_VIEW);              /* 2 view */
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
        mem_limit_text(H, lim, sizeof lim);
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
    one_line(err);
}

int ub_lua_call(ub_lua *H, int nargs, int nres, ub_err *err)
{
    lua_State *L = H->L;
    int fn = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_h);
    lua_insert(L, fn);
    budget_reset(H);
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
