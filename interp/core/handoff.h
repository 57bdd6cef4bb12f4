/* handoff.h — the streaming hand-off: a warehouse load that follows an
 * extract while it is being written.
 *
 * A chain of three tasks
 *     P  pg.extract   (compress: none) writes the file F
 *     L  lake.put     (check: none, after: [P] only) puts F at the lake key K
 *     D  wh.partition (postgres dialect, after: [L] only) loads K (or the prefix holding it)
 * is run with D started while P still runs (sched.h, ops->early): P announces
 * its temporary file (ub_op_stream_out), D opens it and COPYs what is there,
 * waiting at its end for more, until the scheduler tells D that P succeeded
 * ("end") — D then checks that the file P renamed into place is the one it
 * followed (same inode) and that it read all of it — and, later, that L
 * succeeded ("go").  Only then does D look at the lake:
 * when the location holds exactly K, of the size D read, D commits (the
 * partition appears); otherwise it rolls back and loads the lake the ordinary
 * way.  When P or L fails, the scheduler stops D (nothing was committed) and
 * records it upstream_failed.  Every task id, edge, effect and journal record
 * stays; D's "running" comes before its upstream's "success".
 *
 * Off with UBPIPE_HANDOFF=0.  The lake must be a file lake, D's parameters
 * and setup file must not use `outputs` (D is rendered before its upstream
 * ends), and the chain is found anew for each run (ds, profile).
 */
#ifndef UB_HANDOFF_H
#define UB_HANDOFF_H
#include <stddef.h>
#include "core/engine.h"

typedef struct ub_handoff {
    size_t src, link, dst;      /* task indices of P, L, D */
    char  *key;                 /* K, the lake key L writes */
    char  *file;                /* F, the file P writes (absolute) */
} ub_handoff;

/* The chains of the spec for engine e (run mode).  *out owned by the caller
 * (ub_handoff_free).  0, or -1 when out of memory (then no chains). */
int  ub_handoff_find(ub_engine *e, ub_handoff **out, size_t *n);
void ub_handoff_free(ub_handoff *h, size_t n);
/* 0 when UBPIPE_HANDOFF=0 */
int  ub_handoff_enabled(void);

/* The follower's side, in D's try: the file, the key, and the read end of
 * the scheduler's control pipe (lines "end" and "go"). */
typedef struct ub_handoff_in {
    const char *path, *key;     /* borrowed: P's temporary file, K */
    const char *final;          /* P's file once committed (the temporary renamed) */
    int         fd;
    int         ended, go, closed;
    char        line[128];
    size_t      nline;
} ub_handoff_in;

/* Reads what the scheduler sent, waiting up to ms milliseconds for it. */
void ub_handoff_poll(ub_handoff_in *h, int ms);

/* The try's hand-off (NULL: none), set by the runner in the child (ctx.c). */
void           ub_ctx_set_handoff(ub_opctx *c, ub_handoff_in *h);
ub_handoff_in *ub_ctx_handoff(ub_opctx *c);
/* P's side: cb(ud, path) when the operator announces the file it writes. */
void           ub_ctx_set_stream_cb(ub_opctx *c, void (*cb)(void *ud, const char *path), void *ud);

#endif
