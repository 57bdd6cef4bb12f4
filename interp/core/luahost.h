/* luahost.h — the sandboxed Lua 5.4 state behind templates (and hooks).
 *
 * One ub_lua per run.  Its globals are a sandbox: the safe parts of base,
 * string (no string.dump), table, math and utf8, plus the embedded stdlib
 * modules (macros, sql, text, ...).  No io, os (beyond what stdlib wraps),
 * load/loadstring/dofile/loadfile, require, debug or collectgarbage.
 *
 * Templates see a *scope* table on top of the sandbox (ds, ds_nodash, params,
 * env, profile, outputs, ...).  Reading a name that is neither in the scope
 * nor in the sandbox raises "undefined variable 'x'".
 *
 * Every evaluation runs under an instruction budget (count hook) and the whole
 * state under a memory cap (lua_setallocf); hitting either stops the
 * expression with a clear error instead of hanging or growing.
 */
#ifndef UB_LUAHOST_H
#define UB_LUAHOST_H
#include <stddef.h>
#include "core/buf.h"
#include "core/err.h"

typedef struct lua_State lua_State;
typedef struct ub_lua ub_lua;

typedef struct ub_lua_limits {
    long   instructions;   /* per evaluation; 0 = default (10,000,000) */
    size_t memory;         /* bytes for the whole state; 0 = default (64 MiB) */
} ub_lua_limits;

ub_lua    *ub_lua_new(const ub_lua_limits *lim, ub_err *err);
void       ub_lua_free(ub_lua *L);
lua_State *ub_lua_state(ub_lua *L);

/* Pops the value on top of the Lua stack into scope[name]. */
void ub_lua_scope_set(ub_lua *L, const char *name);
/* Convenience: scope[name] = string value. */
void ub_lua_scope_setstr(ub_lua *L, const char *name, const char *value);
/* Pushes a read-only proxy of the process environment (env.HOME, ...). */
void ub_lua_push_env(ub_lua *L);

/* Renders text containing "{{ expr }}" blocks into out (appending).  Each
 * expr is a Lua expression evaluated in the scope; its value must be a
 * string, number or boolean.  Text without "{{" is copied as is.  An
 * unterminated "{{" is an error.  `where` names the template in messages
 * ("pipelines/x.yaml:12:9").  On error returns -1 with err set to
 * "<message>" (without the location; the caller adds it). */
int ub_tmpl_render(ub_lua *L, const char *src, size_t len, const char *where,
                   ub_buf *out, ub_err *err);

/* s starts with "{{": the length of the whole block up to and including
 * its "}}" (string literals and braces inside the expression respected),
 * or 0 when it is not closed. */
size_t ub_tmpl_block_len(const char *s, size_t len);

/* 1 if s (len bytes) contains a template block. */
int ub_tmpl_has_expr(const char *s, size_t len);

#endif
