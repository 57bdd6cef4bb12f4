/* t_mem.h — a ub_reader over memory for unit tests: at most `step` bytes a
 * call (0 = as many as asked), so parsers can be fed byte by byte. */
#ifndef UB_T_MEM_H
#define UB_T_MEM_H
#include <string.h>
#include "io/stream.h"

typedef struct mem_reader {
    ub_reader base;
    const char *p;
    size_t n, off, step;
} mem_reader;

static ssize_t mem_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    (void)err;
    mem_reader *m = (mem_reader *)r;
    size_t k = m->n - m->off;
    if (k > n)
        k = n;
    if (m->step && k > m->step)
        k = m->step;
    memcpy(buf, m->p + m->off, k);
    m->off += k;
    return (ssize_t)k;
}

static void mem_rclose(ub_reader *r) { (void)r; }

static inline void mem_reader_init(mem_reader *m, const char *name, const char *p, size_t n, size_t step)
{
    m->base.read = mem_read;
    m->base.close = mem_rclose;
    m->base.name = name;
    m->p = p;
    m->n = n;
    m->off = 0;
    m->step = step;
}
#endif
