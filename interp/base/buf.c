/* buf.c — growable buffer with a maximum and a sticky error. */
#include "base/buf.h"
#include "base/mem.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

void ub_buf_init(ub_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : UB_BUF_DEFAULT_MAX;
    b->err = 0;
}

static int fail(ub_buf *b, int err)
{
    ub_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = err;
    return -1;
}

int ub_buf_reserve(ub_buf *b, size_t extra)
{
    if (b->err)
        return -1;
    if (b->max == 0)
        b->max = UB_BUF_DEFAULT_MAX;
    if (extra > b->max || b->len > b->max - extra)
        return fail(b, E2BIG);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max + 1 : cap * 2;
    char *p = ub_realloc(b->p, cap);
    if (!p)
        return fail(b, ENOMEM);
    b->p = p;
    b->cap = cap;
    return 0;
}

int ub_buf_add(ub_buf *b, const void *p, size_t n)
{
    if (ub_buf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int ub_buf_adds(ub_buf *b, const char *s) { return ub_buf_add(b, s, strlen(s)); }
int ub_buf_addc(ub_buf *b, char c) { return ub_buf_add(b, &c, 1); }

int ub_buf_vaddf(ub_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || ub_buf_reserve(b, (size_t)n))
        return b->err ? -1 : fail(b, EINVAL);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int ub_buf_addf(ub_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ub_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void ub_buf_reset(ub_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->p)
        b->p[0] = '\0';
}

void ub_buf_free(ub_buf *b)
{
    ub_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

const char *ub_buf_str(const ub_buf *b) { return b->p ? b->p : ""; }

char *ub_buf_detach(ub_buf *b, size_t *len)
{
    if (b->err)
        return NULL;
    if (!b->p) {
        if (ub_buf_reserve(b, 0))
            return NULL;
        b->p[0] = '\0';
    }
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
