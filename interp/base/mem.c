/* mem.c — allocation with fault injection, and a bump arena. */
#include "base/mem.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1;   /* <0: never fail */
static int  fail_checked_env;

void ub_mem_fail_after(long n)
{
    fail_checked_env = 1;
    fail_countdown = n > 0 ? n : -1;
}

static int should_fail(void)
{
    if (!fail_checked_env) {
        const char *e = getenv("UBPIPE_FAIL_ALLOC");
        fail_checked_env = 1;
        if (e && *e)
            fail_countdown = strtol(e, NULL, 10);
        if (fail_countdown <= 0)
            fail_countdown = -1;
    }
    if (fail_countdown < 0)
        return 0;
    return --fail_countdown == 0;
}

void *ub_realloc(void *ptr, size_t size)
{
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    if (should_fail())
        return NULL;
    return realloc(ptr, size);
}

void *ub_malloc(size_t size) { return ub_realloc(NULL, size ? size : 1); }

void *ub_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = ub_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void ub_free(void *ptr) { free(ptr); }

char *ub_strndup(const char *s, size_t n)
{
    char *p = ub_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *ub_strdup(const char *s) { return ub_strndup(s, strlen(s)); }

/* ---- arena ---------------------------------------------------------- */
struct ub_arena_blk {
    ub_arena_blk *next;
    size_t size, used;
    max_align_t data[];
};

#define ARENA_BLK 65536

void *ub_arena_alloc(ub_arena *a, size_t size)
{
    size_t al = sizeof(max_align_t);
    size = (size + al - 1) / al * al;
    ub_arena_blk *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > ARENA_BLK ? size : ARENA_BLK;
        b = ub_malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->size = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    char *p = (char *)b->data + b->used;
    b->used += size;
    a->used += size;
    memset(p, 0, size);
    return p;
}

char *ub_arena_strndup(ub_arena *a, const char *s, size_t n)
{
    char *p = ub_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *ub_arena_strdup(ub_arena *a, const char *s)
{
    return ub_arena_strndup(a, s, strlen(s));
}

void ub_arena_free(ub_arena *a)
{
    ub_arena_blk *b = a->head;
    while (b) {
        ub_arena_blk *n = b->next;
        ub_free(b);
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}
