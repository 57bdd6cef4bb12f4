/* csv.c — fuzz target: the streaming CSV reader in both quote modes, fed in
 * chunks of varying size (first byte: mode, chunk step, expected fields). */
#include "fz.h"
#include "io/csv.h"
#include "t_mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    ub_csv_opts o = { .max_record = (ctl & 0x40) ? 64 : 0, .bare_quotes = ctl & 1 };
    mem_reader m;
    mem_reader_init(&m, "fuzz.csv", (const char *)data + 1, size - 1, (ctl >> 1) & 7);
    ub_err err = { 0 };
    ub_csv *c = ub_csv_open(&m.base, &o, &err);
    if (!c)
        return 0;
    if (ctl & 0x80)
        ub_csv_expect_fields(c, 1 + ((ctl >> 4) & 3));
    int rc;
    uint64_t last = 0;
    ub_buf b = UB_BUF_INIT;
    while ((rc = ub_csv_next(c, &err)) > 0) {
        const ub_csv_field *f = ub_csv_fields(c);
        size_t nf = (size_t)rc;
        for (size_t i = 0; i < nf; i++) {
            if (f[i].n && !f[i].p)
                abort();
            ub_buf_reset(&b);
            ub_csv_put_field(&b, f[i].p, f[i].n);      /* round trip the writer too */
        }
        if (ub_csv_line(c) < last || ub_csv_bytes(c) > size)
            abort();
        last = ub_csv_line(c);
    }
    ub_buf_free(&b);
    ub_csv_free(c);
    return 0;
}
