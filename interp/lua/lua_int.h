/* lua_int.h — private to interp/lua/: the host's state and what luahost.c (the state and its
 * limits), template.c ({{ }}) and usercode.c (require, grants, calls) share.  Nothing outside
 * lua/ includes it; the public API is luahost.h. */
#ifndef UB_LUA_INT_H
#define UB_LUA_INT_H
#include "lua/luahost.h"
#include <lua.h>

/*
 * Layout of the state:
 *   globals   the sandbox proper: base (minus dofile, loadfile, load, require,
 *             collectgarbage, print, warn, rawset; xpcall replaced), string
 *             (minus dump), table, math, utf8, and the stdlib modules (each
 *             run with the globals as _ENV).  Only C and the stdlib see it.
 *   view      what templates see of the globals: the same names, every table
 *             behind a read-only proxy (registry ub_lua_key_view).
 *   scope     ds, params, env, ... set by the host (registry K_SCOPE); plain
 *             tables are stored behind proxies that name missing fields.
 *   env       one fresh table per render, __index = scope then view, and the
 *             _ENV of every expression of that render; names a template
 *             assigns live there and die with the render.
 *   cache     expression text -> compiled "return (expr)" (registry ub_lua_key_cache), at
 *             most UB_LUA_CACHE_MAX texts: then it starts over (ncache counts them).
 * A render's environment has the metatable at ub_lua_key_envmt.  User code
 * keeps its own keys (usercode.c).  The ub_lua owns the lua_State;
 * ub_lua_free closes it.
 */

/* distinct expression texts kept compiled: a spec has far fewer; a long-lived state fed
 * ever new texts (serve, a fuzzer) would otherwise grow, and every GC cycle walk, without end */
#define UB_LUA_CACHE_MAX 4096

struct ub_lua {
    lua_State *L;
    size_t ncache;             /* entries of the expression cache */
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

/* Registry keys shared by the files of lua/: their addresses are the keys
 * (not const, so that no compiler option can merge them into one object). */
extern char ub_lua_key_view;  /* the sandbox as templates and user code see it */
extern char ub_lua_key_cache; /* expression text -> compiled "return (expr)" */
extern char ub_lua_key_envmt; /* metatable of a render's environment */

static inline ub_lua *ub_lua_host_of(lua_State *L) { return *(ub_lua **)lua_getextraspace(L); }

/* A fresh per-call instruction budget and clock (the count hook set again). */
void ub_lua_budget_reset(ub_lua *H);
/* "memory limit exceeded (N MiB)" for the state's cap, into dst. */
void ub_lua_mem_limit_text(const ub_lua *H, char *dst, size_t n);
/* Makes err->msg a single line. */
void ub_lua_one_line(ub_err *err);
/* 1 if name is an embedded stdlib module (macros, sql, text, ...). */
int ub_lua_is_stdlib(const char *name);

#endif
