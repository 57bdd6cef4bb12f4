/* show.c — text made safe to print: controls and invalid UTF-8 as \xNN. */
#include "base/show.h"
#include "base/jtext.h"
#include <string.h>

/* What the bytes at p make: sets *used to the bytes taken and returns 1 when
 * they are shown as they are, 0 when each is shown as \xNN, -1 when the end
 * of a chunk leaves them undecided. */
static int classify(const unsigned char *p, size_t n, int final, size_t *used)
{
    unsigned c = p[0];
    *used = 1;
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F))
        return 1;
    if (c == '\r') {
        if (n > 1)
            return p[1] == '\n';
        return final ? 0 : -1;
    }
    if (c < 0x80)
        return 0;                              /* C0 controls, DEL */
    size_t l = ub_jtext_seq(p, n);
    if (!l) {
        /* a sequence cut by the end of the chunk is decided by the next one */
        if (!final && n < 4) {
            /* could the bytes there are start a valid sequence?  (the second
             * byte's range depends on the first: E0 wants A0..BF, F0 90..BF) */
            static const unsigned char pads[] = { 0x80, 0x90, 0xA0 };
            for (size_t k = 0; k < sizeof pads; k++) {
                unsigned char tmp[4] = { pads[k], pads[k], pads[k], pads[k] };
                memcpy(tmp, p, n);
                if (ub_jtext_seq(tmp, 4))
                    return -1;
            }
        }
        return 0;
    }
    if (c == 0xC2 && p[1] <= 0x9F) {           /* a C1 control */
        *used = 2;
        return 0;
    }
    *used = l;
    return 1;
}

static size_t show(ub_buf *out, const char *p, size_t n, int final, size_t *width)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0, w = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && u[i] >= 0x20 && u[i] < 0x7F)  /* plain ASCII runs */
            i++;
        if (out)
            ub_buf_add(out, p + start, i - start);
        w += i - start;
        if (i == n)
            break;
        size_t used;
        int k = classify(u + i, n - i, final, &used);
        if (k < 0)
            break;
        if (k) {
            if (out)
                ub_buf_add(out, p + i, used);
            w++;
        } else {
            for (size_t q = 0; q < used; q++) {
                char e[4] = { '\\', 'x', hex[u[i + q] >> 4], hex[u[i + q] & 15] };
                if (out)
                    ub_buf_add(out, e, 4);
                w += 4;
            }
        }
        i += used;
    }
    if (width)
        *width = w;
    return i;
}

int ub_show(ub_buf *out, const char *p, size_t n)
{
    show(out, p, n, 1, NULL);
    return out->err ? -1 : 0;
}

size_t ub_show_chunk(ub_buf *out, const char *p, size_t n, int final)
{
    return show(out, p, n, final, NULL);
}

size_t ub_show_width(const char *p, size_t n)
{
    size_t w = 0;
    show(NULL, p, n, 1, &w);
    return w;
}

void ub_show_fwrite(const char *p, size_t n, FILE *f)
{
    ub_buf b = UB_BUF_INIT;
    if (ub_show(&b, p, n) == 0)
        fwrite(ub_buf_str(&b), 1, b.len, f);
    else
        fputs("(out of memory)", f);
    ub_buf_free(&b);
}

void ub_show_fputs(const char *s, FILE *f)
{
    ub_show_fwrite(s, strlen(s), f);
}
