/* luapat.h — Lua string patterns with a step meter, for the sandbox.
 *
 * Lua's own string.find/match/gmatch/gsub run their backtracking matcher in
 * C, where the count hook never fires: ('a'):rep(30):find(('a*'):rep(30)..'b')
 * would run for ages.  ub_luapat_open replaces those four functions (and
 * string.rep, table.move, whose loops are not bounded by memory) in the
 * string and table libraries of a state with versions that do the same
 * thing (Lua 5.4 pattern semantics, written afresh) but count their work in
 * steps and hand the count to a meter every UB_LUAPAT_QUANTUM steps.  The
 * meter raises a Lua error to stop the call (budget spent, clock run out).
 * Plain searches (find with plain=true or a pattern without magic
 * characters) use memmem, which is linear.
 */
#ifndef UB_LUAPAT_H
#define UB_LUAPAT_H

typedef struct lua_State lua_State;

#define UB_LUAPAT_QUANTUM 1024

/* Called with the steps done since the last call; raises (lua_error) to
 * stop the running function, returns to let it go on. */
typedef void (*ub_luapat_meter)(lua_State *L, void *ud, unsigned long steps);

/* Installs the metered functions into the tables "string" and "table" of
 * the globals (the originals of rep and move are kept as upvalues).  Call
 * in protected mode during setup.  Returns 0. */
int ub_luapat_open(lua_State *L, ub_luapat_meter meter, void *ud);

#endif
