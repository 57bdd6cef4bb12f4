/* hashread.c — the content hash of a stream while it is read (hashread.h). */
#include "io/hashread.h"
#include "base/mem.h"
#include <string.h>

typedef struct hreader {
    ub_reader  r;               /* first: the public part */
    ub_reader *in;
    ub_chash  *h;
    int        at_end;
    char       hex[UB_CHASH_HEX + 1];
} hreader;

static ssize_t h_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    hreader *h = (hreader *)r;
    ssize_t got = ub_read(h->in, buf, n, err);
    if (got > 0)
        ub_chash_update(h->h, buf, (size_t)got);
    else if (got == 0 && !h->at_end) {
        ub_chash_hex(h->h, h->hex);
        h->at_end = 1;
    }
    return got;
}

static void h_close(ub_reader *r)
{
    hreader *h = (hreader *)r;
    ub_reader_close(h->in);
    ub_chash_free(h->h);
    ub_free(h);
}

ub_reader *ub_chash_reader(ub_reader *in, ub_err *err)
{
    hreader *h = in ? ub_calloc(1, sizeof *h) : NULL;
    if (!in)
        return NULL;
    if (!h || !(h->h = ub_chash_new())) {
        ub_free(h);
        ub_reader_close(in);
        ub_err_oom(err);
        return NULL;
    }
    h->in = in;
    h->r.read = h_read;
    h->r.close = h_close;
    h->r.name = in->name;
    return &h->r;
}

int ub_chash_reader_hex(ub_reader *r, char out[UB_CHASH_HEX + 1])
{
    hreader *h = (hreader *)r;
    if (!h || !h->at_end)
        return -1;
    memcpy(out, h->hex, sizeof h->hex);
    return 0;
}
