/* csv.c — streaming RFC 4180 reader (in-place, resumable, SIMD byte scans) and field writer. */
#include "io/csv.h"
#include "base/mem.h"
#include <string.h>
#if defined(__SSE2__) && !defined(UB_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/*
 * How it works.  The reader keeps one buffer holding [pos, end): pos is the
 * start of the record being parsed.  Parsing is a small state machine that
 * can stop at the end of the buffered bytes and resume after a refill, so no
 * byte is scanned twice, whatever sizes the underlying reads return.  When
 * little room is left the unfinished record is moved to the front of the
 * buffer; the buffer doubles only when a single record does not fit, up to
 * max_record.  Parser state and field positions are kept as
 * offsets from the record start, so moving or reallocating the buffer does
 * not disturb them.
 *
 * Unquoted fields are slices of the buffer (never copied).  Quoted fields are
 * unescaped in place: the write position trails the read position by the
 * number of doubled quotes seen, so ("a ""b""") becomes (a "b") where it
 * lies.  Scans look for 2-3 bytes at once (16 or 8 bytes per step).
 */

enum { S_FSTART, S_UNQ, S_QUOTED, S_QAFTER };
enum { P_ERR = -1, P_MORE = 0, P_DONE = 1, P_END = 2 };

#define INIT_CAP UB_IO_CHUNK
#define MIN_CAP  64
#define PAD      16

struct ub_csv {
    ub_reader *in;                 /* not owned */
    char      *buf;
    size_t     cap;                /* usable bytes (allocation is cap + PAD) */
    size_t     pos, end;
    int        eof, failed, bom_done;
    size_t     max_record;
    int        bare_quotes;
    size_t     expect;
    uint64_t   bytes;
    /* parser state, offsets relative to buf + pos */
    int        st, quoted;
    size_t     scan, fstart, w;
    uint64_t   line;               /* physical line at scan */
    uint64_t   rec_line;           /* line where the record starts */
    uint64_t   qline;              /* line where the open quoted field started */
    /* fields of the record being parsed / last returned */
    size_t     nf, fcap;
    size_t    *foff, *flen;
    ub_csv_field *fields;
};

/* First byte in [p, e) equal to a, b or c; e if none. */
static inline const char *find3(const char *p, const char *e, char a, char b, char c)
{
#ifdef HAVE_SSE2
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c);
    while (e - p >= 32) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
        __m128i mx = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
                                  _mm_cmpeq_epi8(x, vc));
        __m128i my = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(y, va), _mm_cmpeq_epi8(y, vb)),
                                  _mm_cmpeq_epi8(y, vc));
        unsigned m = (unsigned)_mm_movemask_epi8(mx) | ((unsigned)_mm_movemask_epi8(my) << 16);
        if (m)
            return p + __builtin_ctz(m);
        p += 32;
    }
    if (e - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i mx = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
                                  _mm_cmpeq_epi8(x, vc));
        unsigned m = (unsigned)_mm_movemask_epi8(mx);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !defined(UB_NO_SWAR)
    /* word at a time: the lowest flagged byte of haszero() is exact */
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const uint64_t ka = ones * (unsigned char)a, kb = ones * (unsigned char)b,
                   kc = ones * (unsigned char)c;
    while (e - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t xa = v ^ ka, xb = v ^ kb, xc = v ^ kc;
        uint64_t m = ((xa - ones) & ~xa) | ((xb - ones) & ~xb) | ((xc - ones) & ~xc);
        m &= highs;
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < e && *p != a && *p != b && *p != c)
        p++;
    return p;
}

ub_csv *ub_csv_open(ub_reader *in, const ub_csv_opts *opts, ub_err *err)
{
    ub_csv *c = ub_calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->in = in;
    c->max_record = opts && opts->max_record ? opts->max_record : UB_CSV_MAX_RECORD;
    c->bare_quotes = opts ? opts->bare_quotes : 0;
    c->cap = c->max_record < INIT_CAP ? c->max_record + 1 : INIT_CAP;
    if (c->cap < MIN_CAP)
        c->cap = MIN_CAP;
    c->buf = ub_malloc(c->cap + PAD);
    c->fcap = 16;
    c->foff = ub_malloc(c->fcap * sizeof *c->foff);
    c->flen = ub_malloc(c->fcap * sizeof *c->flen);
    c->fields = ub_malloc(c->fcap * sizeof *c->fields);
    if (!c->buf || !c->foff || !c->flen || !c->fields)
        goto oom;
    c->line = 1;
    c->st = S_FSTART;
    return c;
oom:
    ub_err_oom(err);
    ub_csv_free(c);
    return NULL;
}

void ub_csv_free(ub_csv *c)
{
    if (!c)
        return;
    ub_free(c->buf);
    ub_free(c->foff);
    ub_free(c->flen);
    ub_free(c->fields);
    ub_free(c);
}

const ub_csv_field *ub_csv_fields(const ub_csv *c) { return c->fields; }
uint64_t ub_csv_line(const ub_csv *c) { return c->rec_line; }
uint64_t ub_csv_bytes(const ub_csv *c) { return c->bytes; }
void ub_csv_expect_fields(ub_csv *c, size_t n) { c->expect = n; }

static int grow_fields(ub_csv *c)
{
    size_t n = c->fcap * 2;
    size_t *o = ub_realloc(c->foff, n * sizeof *o);
    if (!o)
        return -1;
    c->foff = o;
    size_t *l = ub_realloc(c->flen, n * sizeof *l);
    if (!l)
        return -1;
    c->flen = l;
    ub_csv_field *f = ub_realloc(c->fields, n * sizeof *f);
    if (!f)
        return -1;
    c->fields = f;
    c->fcap = n;
    return 0;
}

/* Parses from the saved state over buf[pos, end).  P_DONE: a record is
 * complete and *consumed says how many bytes from pos it used.  P_MORE: the
 * state is saved, more input is needed.  P_END: no more records. */
static int parse(ub_csv *c, size_t *consumed, ub_err *err)
{
    char *base = c->buf + c->pos;
    const char *e = c->buf + c->end;
    char *p = base + c->scan;
    char *fs = base + c->fstart;     /* field start (S_UNQ) or value start (quoted) */
    char *w = base + c->w;           /* write position while unescaping */
    int st = c->st;
    const char third = c->bare_quotes ? '\n' : '"';
    const char *name = c->in->name;

#define ADD_FIELD(start, len)                                                       \
    do {                                                                            \
        if (c->nf == c->fcap && grow_fields(c) < 0)                                 \
            return ub_err_oom(err);                                                 \
        c->foff[c->nf] = (size_t)((start) - base);                                  \
        c->flen[c->nf] = (len);                                                     \
        c->nf++;                                                                    \
    } while (0)

    for (;;) {
        switch (st) {
        case S_FSTART:
            if (p == e) {
                if (!c->eof)
                    goto more;
                if (c->nf == 0)
                    return P_END;
                ADD_FIELD(p, 0);                 /* "a," then end of input */
                c->quoted = 0;
                goto done;
            }
            if (*p == '"') {
                c->qline = c->line;
                c->quoted = 1;
                fs = w = ++p;
                st = S_QUOTED;
            } else {
                c->quoted = 0;
                fs = p;
                st = S_UNQ;
            }
            break;
        case S_UNQ: {
            const char *q = find3(p, e, ',', '\n', third);
            if (q == e) {
                p = (char *)e;
                if (!c->eof)
                    goto more;
                ADD_FIELD(fs, (size_t)(e - fs));
                goto done;
            }
            if (*q == ',') {
                ADD_FIELD(fs, (size_t)(q - fs));
                p = (char *)q + 1;
                st = S_FSTART;
                break;
            }
            if (*q == '\n') {
                size_t n = (size_t)(q - fs);
                if (n && q[-1] == '\r')
                    n--;
                ADD_FIELD(fs, n);
                p = (char *)q + 1;
                c->line++;
                goto done;
            }
            return ub_err_set(err, "%s:%llu: quote inside unquoted field %zu",
                              name, (unsigned long long)c->line, c->nf + 1);
        }
        case S_QUOTED:
            for (;;) {
                const char *q = find3(p, e, '"', '\n', '\n');
                size_t seg = (size_t)(q - p);
                if (w != p)
                    memmove(w, p, seg);
                w += seg;
                p = (char *)q;
                if (q == e) {
                    if (!c->eof)
                        goto more;
                    return ub_err_set(err, "%s:%llu: unterminated quoted field %zu (quote opened on this line)",
                                      name, (unsigned long long)c->qline, c->nf + 1);
                }
                *w++ = *p++;                     /* the LF or the quote */
                if (*q == '"') {
                    w--;                         /* the quote is not data */
                    st = S_QAFTER;
                    break;
                }
                c->line++;
            }
            break;
        case S_QAFTER:
            if (p == e) {
                if (!c->eof)
                    goto more;
                ADD_FIELD(fs, (size_t)(w - fs));
                goto done;
            }
            if (*p == '"') {                     /* "" -> " */
                *w++ = '"';
                p++;
                st = S_QUOTED;
                break;
            }
            if (*p == ',') {
                ADD_FIELD(fs, (size_t)(w - fs));
                p++;
                st = S_FSTART;
                break;
            }
            if (*p == '\n' || (*p == '\r' && e - p >= 2 && p[1] == '\n')) {
                ADD_FIELD(fs, (size_t)(w - fs));
                p += *p == '\r' ? 2 : 1;
                c->line++;
                goto done;
            }
            if (*p == '\r' && e - p < 2 && !c->eof)
                goto more;                       /* CR at the buffer end: LF next? */
            return ub_err_set(err, "%s:%llu: text after closing quote of field %zu",
                              name, (unsigned long long)c->line, c->nf + 1);
        }
    }
#undef ADD_FIELD

done:
    *consumed = (size_t)(p - base);
    return P_DONE;
more:
    c->st = st;
    c->scan = (size_t)(p - base);
    c->fstart = (size_t)(fs - base);
    c->w = (size_t)(w - base);
    return P_MORE;
}

/* Makes room (moving the unfinished record to the front when little space is
 * left, doubling the buffer when the record fills it) and reads once. */
static int refill(ub_csv *c, ub_err *err)
{
    size_t have = c->end - c->pos;
    if (have > c->max_record)
        return ub_err_set(err, "%s:%llu: record longer than %zu bytes",
                          c->in->name, (unsigned long long)c->rec_line, c->max_record);
    if (c->pos > 0 && c->cap - c->end < c->cap / 4) {
        memmove(c->buf, c->buf + c->pos, have);
        c->pos = 0;
        c->end = have;
    }
    if (c->end == c->cap) {
        size_t ncap = c->cap * 2;
        if (ncap > c->max_record + 1)
            ncap = c->max_record + 1;
        if (ncap <= c->cap)          /* cannot happen: have <= max_record < cap */
            return ub_err_set(err, "%s:%llu: record longer than %zu bytes",
                              c->in->name, (unsigned long long)c->rec_line, c->max_record);
        char *nb = ub_realloc(c->buf, ncap + PAD);
        if (!nb)
            return ub_err_oom(err);
        c->buf = nb;
        c->cap = ncap;
    }
    ssize_t n = ub_read(c->in, c->buf + c->end, c->cap - c->end, err);
    if (n < 0)
        return -1;
    if (n == 0)
        c->eof = 1;
    c->end += (size_t)n;
    c->bytes += (uint64_t)n;
    return 0;
}

/* Skips a UTF-8 BOM at offset 0 (reading until 3 bytes or the end are in). */
static int skip_bom(ub_csv *c, ub_err *err)
{
    while (c->end - c->pos < 3 && !c->eof)
        if (refill(c, err) < 0)
            return -1;
    if (c->end - c->pos >= 3 && memcmp(c->buf + c->pos, "\xEF\xBB\xBF", 3) == 0)
        c->pos += 3;
    c->bom_done = 1;
    return 0;
}

int ub_csv_next(ub_csv *c, ub_err *err)
{
    if (c->failed)
        return ub_err_set(err, "%s: csv reader used after an error", c->in->name);
    for (;;) {
        /* a fresh record starts at pos */
        c->st = S_FSTART;
        c->scan = c->fstart = c->w = 0;
        c->nf = 0;
        c->quoted = 0;
        c->rec_line = c->line;
        size_t consumed = 0;
        int r;
        if (!c->bom_done && skip_bom(c, err) < 0)
            goto fail;
        while ((r = parse(c, &consumed, err)) == P_MORE)
            if (refill(c, err) < 0)
                goto fail;
        if (r == P_ERR)
            goto fail;
        if (r == P_END)
            return 0;
        /* P_DONE */
        char *base = c->buf + c->pos;
        if (consumed > c->max_record) {
            ub_err_set(err, "%s:%llu: record longer than %zu bytes",
                       c->in->name, (unsigned long long)c->rec_line, c->max_record);
            goto fail;
        }
        c->pos += consumed;
        if (c->nf == 1 && c->flen[0] == 0 && !c->quoted)
            continue;                            /* blank line: not a record */
        if (c->expect && c->nf != c->expect) {
            ub_err_set(err, "%s:%llu: record has %zu field%s, expected %zu (header)",
                       c->in->name, (unsigned long long)c->rec_line, c->nf,
                       c->nf == 1 ? "" : "s", c->expect);
            goto fail;
        }
        for (size_t i = 0; i < c->nf; i++) {
            c->fields[i].p = base + c->foff[i];
            c->fields[i].n = c->flen[i];
        }
        return (int)c->nf;
    }
fail:
    c->failed = 1;
    return -1;
}

int ub_csv_put_field(ub_buf *b, const char *s, size_t n)
{
    if (n == 0)
        return b->err ? -1 : 0;
    const char *e = s + n;
    const char *q = find3(s, e, ',', '"', '\n');
    if (q == e && !memchr(s, '\r', n))
        return ub_buf_add(b, s, n);
    ub_buf_addc(b, '"');
    while (s < e) {
        const char *k = memchr(s, '"', (size_t)(e - s));
        if (!k) {
            ub_buf_add(b, s, (size_t)(e - s));
            break;
        }
        ub_buf_add(b, s, (size_t)(k - s) + 1);   /* up to and including the quote */
        ub_buf_addc(b, '"');                      /* doubled */
        s = k + 1;
    }
    return ub_buf_addc(b, '"');
}
