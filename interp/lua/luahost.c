/* luahost.c — the sandboxed Lua state and its limits: memory cap, instruction budget, wall clock,
 * read-only views of the sandbox, the template scope.  Templates are in template.c, user code
 * (require, grants, calls) in usercode.c; lua_int.h holds what they share. */
#include "lua/lua_int.h"
#include "base/show.h"
#include "base/mem.h"
#include "base/secret.h"

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

#define DEFAULT_INSTRUCTIONS 10000000L
#define DEFAULT_MEMORY       ((size_t)64 << 20)
#define DEFAULT_SECONDS      10.0
#define HOOK_EVERY           1000     /* instructions between budget checks */

/* Registry keys: their addresses are the keys (not const, so that no
 * compiler option can merge them into one object). */
static char K_SCOPE, K_PROCENVMT;
char ub_lua_key_view, ub_lua_key_cache, ub_lua_key_envmt;
/* Keys in a read-only proxy's metatable. */
static char P_REAL, P_PATH;

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
    ub_lua *H = ub_lua_host_of(L);
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

void ub_lua_budget_reset(ub_lua *H)
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
    ub_buf b = UB_BUF_INIT;
    ub_secret_mask(m, &b);
    fprintf(stderr, "ubpipe: unprotected Lua error: %s\n", b.err ? "(out of memory)" : ub_buf_str(&b));
    abort();
    return 0;
}

void ub_lua_mem_limit_text(const ub_lua *H, char *dst, size_t n)
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
    ub_buf m = UB_BUF_INIT, b = UB_BUF_INIT;
    ub_secret_mask(msg, &m);            /* a spec may log what it read from env */
    ub_buf_addf(&b, "ubpipe: lua %s: %s\n", level, m.err ? "(out of memory)" : ub_buf_str(&m));
    ub_show_fwrite(ub_buf_str(&b), b.len, stderr);    /* user code prints data (base/show.h) */
    ub_buf_free(&m);
    ub_buf_free(&b);
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
    ub_luapat_open(L, pat_meter, ub_lua_host_of(L));

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &K_SCOPE);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ub_lua_key_cache);

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
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ub_lua_key_view);

    lua_createtable(L, 0, 2);                         /* environment metatable */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &K_SCOPE);
    lua_pushvalue(L, view);
    lua_pushcclosure(L, env_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ub_lua_key_envmt);

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
        ub_lua_mem_limit_text(H, m, sizeof m);
        ub_err_set(err, "cannot create the Lua state: %s", H->mem_hit ? m : "out of memory");
        goto fail;
    }
    *(ub_lua **)lua_getextraspace(H->L) = H;
    lua_atpanic(H->L, on_panic);

    lua_pushcfunction(H->L, setup_p);
    int st = lua_pcall(H->L, 0, 0, 0);
    if (st != LUA_OK) {
        char m[64];
        ub_lua_mem_limit_text(H, m, sizeof m);
        const char *msg = lua_type(H->L, -1) == LUA_TSTRING ? lua_tostring(H->L, -1) : "error";
        if (st == LUA_ERRMEM || strstr(msg, "not enough memory"))
            msg = H->mem_hit ? m : "out of memory";
        ub_err_set(err, "cannot set up the Lua sandbox: %s", msg);
        goto fail;
    }
    ub_lua_budget_reset(H);
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
        ub_lua_budget_reset(H);          /* finalizers left by templates get one budget */
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
    ub_lua_mem_limit_text(H, m, sizeof m);
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

long long ub_lua_total_instructions(const ub_lua *H) { return H->total_used; }

int ub_lua_is_stdlib(const char *name)
{
    for (size_t i = 0; ub_stdlib[i].name; i++)
        if (strcmp(ub_stdlib[i].name, name) == 0)
            return 1;
    return 0;
}

void ub_lua_one_line(ub_err *err)
{
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}
