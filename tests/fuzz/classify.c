/* classify.c — fuzz target: the review classifier over vendor CSV (header
 * matching, record checks, output CSV), plus the tokenizer on raw bytes. */
#include "fz.h"
#include "io/classify.h"
#include "t_mem.h"

static int count_tok(void *ctx, const char *tok, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tok[i] >= 'A' && tok[i] <= 'Z')
            abort();             /* tokens come lower-cased */
    ++*(size_t *)ctx;
    return 0;
}

typedef struct sink { ub_writer base; } sink;
static int sink_write(ub_writer *w, const void *p, size_t n, ub_err *e) { (void)p; (void)e; w->bytes += n; return 0; }
static int sink_commit(ub_writer *w, ub_err *e) { (void)w; (void)e; return 0; }
static void sink_abort(ub_writer *w) { (void)w; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t ntok = 0;
    int calls = ub_text_tokens((const char *)data, size, count_tok, &ntok);
    if (calls >= 0 && (size_t)calls != ntok)
        abort();                 /* the count returned is the calls made (Java split: empties kept) */
    (void)ub_classify_positive((const char *)data, size);
    mem_reader m;
    mem_reader_init(&m, "reviews.csv", (const char *)data, size, size ? data[0] & 15 : 0);
    sink out = { { sink_write, sink_commit, sink_abort, "out.csv", 0 } };
    ub_classify_stats st;
    ub_err err = { 0 };
    (void)ub_classify_stream(&m.base, &out.base, "2021-05-01", &st, &err);
    return 0;
}
