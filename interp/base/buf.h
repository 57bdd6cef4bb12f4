/* buf.h — growable byte buffer with a hard maximum (after curl's dynbuf).
 *
 * On any failure (out of memory, or growing past max) the buffer frees its
 * storage, becomes empty and remembers the error: later appends are no-ops
 * and return -1, so a sequence of appends can be checked once at the end.
 * The contents are always NUL-terminated when len > 0.
 */
#ifndef UB_BUF_H
#define UB_BUF_H
#include <stdarg.h>
#include <stddef.h>

typedef struct ub_buf {
    char  *p;
    size_t len, cap, max;
    int    err;          /* 0 ok, else the first error (ENOMEM or E2BIG) */
} ub_buf;

#define UB_BUF_DEFAULT_MAX ((size_t)1 << 30)
#define UB_BUF_INIT { NULL, 0, 0, UB_BUF_DEFAULT_MAX, 0 }

void   ub_buf_init(ub_buf *b, size_t max);
int    ub_buf_add(ub_buf *b, const void *p, size_t n);
int    ub_buf_adds(ub_buf *b, const char *s);
int    ub_buf_addc(ub_buf *b, char c);
int    ub_buf_addf(ub_buf *b, const char *fmt, ...)
       __attribute__((format(printf, 2, 3)));
int    ub_buf_vaddf(ub_buf *b, const char *fmt, va_list ap)
       __attribute__((format(printf, 2, 0)));
int    ub_buf_reserve(ub_buf *b, size_t extra);   /* room for extra more bytes */
void   ub_buf_reset(ub_buf *b);                   /* len = 0, keeps storage, clears err */
void   ub_buf_free(ub_buf *b);
const char *ub_buf_str(const ub_buf *b);          /* "" when empty */
/* Hands the storage to the caller (who must ub_free it); b becomes empty.
 * Returns NULL if the buffer is in error. */
char  *ub_buf_detach(ub_buf *b, size_t *len);

#endif
