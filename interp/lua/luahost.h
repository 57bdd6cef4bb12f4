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
 * Every evaluation runs under an instruction budget (count hook), a wall
 * clock, and the whole state under a memory cap (lua_setallocf); hitting one
 * stops the expression with a clear error instead of hanging or growing.
 * The count hook never fires inside a C function, so string.find, match,
 * gmatch, gsub, rep and table.move are replaced by metered versions whose
 * work counts as instructions and is bounded by the same clock
 * (lua/luapat.h).
 *
 * User code (hooks, lua.transform) runs in the same kind of state through
 * the "code" functions below: each chunk gets its own global table, reading
 * through to the sandbox (read-only) and to `require`, which finds stdlib
 * modules and *.lua files on the declared path (text chunks only).  Grants
 * add capabilities, each named explicitly in the spec:
 *   os             os.time, os.clock, os.date, os.difftime, os.getenv
 *   io.read:DIR    io.open(path) for reading and io.lines(path), for files
 *                  whose real path is inside DIR
 *   io.write:DIR   io.open(path, mode) with any mode, inside DIR
 */
#ifndef UB_LUAHOST_H
#define UB_LUAHOST_H
#include <stddef.h>
#include "base/buf.h"
#include "base/err.h"

typedef struct lua_State lua_State;
typedef struct ub_lua ub_lua;

typedef struct ub_lua_limits {
    long   instructions;   /* per evaluation or call; 0 = default (10,000,000) */
    size_t memory;         /* bytes for the whole state; 0 = default (64 MiB) */
} ub_lua_limits;

ub_lua    *ub_lua_new(const ub_lua_limits *lim, ub_err *err);
void       ub_lua_free(ub_lua *L);
/* More limits: the wall clock of each evaluation or call, Lua and C
 * functions alike (default 10 s; <= 0 keeps it), and the instructions of
 * all calls together (default none; <= 0 keeps it). */
void       ub_lua_set_limits(ub_lua *L, double seconds, long long total_instructions);
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

/* The same, and on error *failed is the offset in src of the "{{" of the
 * block that failed (len when the error is not one block's, e.g. output too
 * large), so the caller can point at it. */
int ub_tmpl_render_at(ub_lua *L, const char *src, size_t len, const char *where,
                      ub_buf *out, ub_err *err, size_t *failed);

/* s starts with "{{": the length of the whole block up to and including
 * its "}}" (string literals and braces inside the expression respected),
 * or 0 when it is not closed. */
size_t ub_tmpl_block_len(const char *s, size_t len);

/* 1 if s (len bytes) contains a template block. */
int ub_tmpl_has_expr(const char *s, size_t len);

/* ---- user code --------------------------------------------------------- */

typedef struct ub_lua_code_opts {
    const char *const *path;     /* directories `require` searches (absolute) */
    size_t             npath;
    const char *const *grants;   /* "os", "io.read:DIR", "io.write:DIR" (DIR absolute) */
    size_t             ngrants;
    const char        *base;     /* shown relative in chunk names (the spec's directory) */
} ub_lua_code_opts;

/* 0 when grant is one of the forms above, else -1 with err naming it. */
int ub_lua_grant_check(const char *grant, ub_err *err);

/* A lua_path directory (grant = 0) or a grant (grant = 1: "io.read:DIR") with
 * its DIR made absolute against base: a relative DIR becomes "base/DIR"; an
 * absolute DIR, and a grant without one ("os"), are copied as they are.
 * Returns a new string (you now own it: ub_free), or NULL with err set when
 * out of memory or when the result is longer than PATH_MAX. */
char *ub_lua_resolve(const char *item, int grant, const char *base, ub_err *err);

/* Prepares the state for user code; once per state, before the others. */
int ub_lua_code_setup(ub_lua *L, const ub_lua_code_opts *o, ub_err *err);

/* The functions below push onto the Lua stack and may raise a Lua memory
 * error while doing so: call them inside ub_lua_protect.  The others return
 * -1 with err set to one line: the message, then " (traceback: ...)" with
 * the Lua frames, or the limit that stopped the call. */

/* Runs fn(L) in protected mode with ud as light userdata at index 1;
 * fn returns 0 or raises.  On error returns -1 with err set. */
int ub_lua_protect(ub_lua *L, int (*fn)(lua_State *), void *ud, ub_err *err);

/* Loads the Lua file at path (text only) with a fresh global table and
 * runs it; pushes its first result, or its global table when it returns
 * nothing.  display names it in messages and tracebacks. */
int ub_lua_load_file(ub_lua *L, const char *path, const char *display, ub_err *err);

/* Compiles code as a chunk with a fresh global table; pushes the function. */
int ub_lua_load_string(ub_lua *L, const char *code, size_t len, const char *name, ub_err *err);

/* Calls the function below nargs arguments with a fresh per-call budget
 * and clock (lua_pcall with a traceback handler); on success leaves nres
 * results, on error nothing. */
int ub_lua_call(ub_lua *L, int nargs, int nres, ub_err *err);

/* Instructions charged in all calls so far. */
long long ub_lua_total_instructions(const ub_lua *L);

#endif
