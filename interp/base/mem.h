/* mem.h — the one allocation function, and an arena.
 *
 * Every allocation in ubpipe goes through ub_realloc so tests can make it
 * fail (UBPIPE_FAIL_ALLOC=N makes the N-th allocation return NULL).  Callers
 * check for NULL and report "out of memory" through their normal error path.
 */
#ifndef UB_MEM_H
#define UB_MEM_H
#include <stddef.h>

/* realloc-like: ptr NULL allocates, size 0 frees and returns NULL. */
void *ub_realloc(void *ptr, size_t size);
void *ub_malloc(size_t size);
void *ub_calloc(size_t n, size_t size);   /* zeroed; NULL on overflow */
void  ub_free(void *ptr);
char *ub_strdup(const char *s);
char *ub_strndup(const char *s, size_t n);

/* Fault injection: the n-th allocation from now fails (0 disables). */
void  ub_mem_fail_after(long n);

/* Arena: many small allocations freed at once (spec nodes, plan text).
 * Memory returned by ub_arena_* belongs to the arena. */
typedef struct ub_arena_blk ub_arena_blk;
typedef struct ub_arena { ub_arena_blk *head; size_t used; } ub_arena;

void *ub_arena_alloc(ub_arena *a, size_t size);           /* zeroed, aligned */
char *ub_arena_strndup(ub_arena *a, const char *s, size_t n);
char *ub_arena_strdup(ub_arena *a, const char *s);
void  ub_arena_free(ub_arena *a);

#endif
