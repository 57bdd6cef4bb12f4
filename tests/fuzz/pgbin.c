/* pgbin.c — fuzz target: CSV into PostgreSQL's binary COPY format (io/pgbin.h).
 *
 * Input: byte 0 picks the column count (bits 0-1: 1..4), the input's chunk step (bits 2-4)
 * and the size of the reads of both output streams (bits 5-7); then one byte per column:
 * bits 0-2 the kind (bool int2 int4 int8 text numeric date timestamp), bits 3-5 a typmod
 * (text: varchar(n) or char(n) or none; numeric: a precision and scale), bit 7 NOT NULL.
 * The rest is the CSV.
 *
 * Checked (abort() on a violation): the binary stream is the 19-byte header, well-formed
 * tuples (as many fields as columns, lengths -1 or >= 0 within the stream, each value of its
 * kind's size and range, NULL only where allowed) and the -1 trailer exactly at its end; as
 * many tuples as ub_pgbin_rows; each converted value is what its CSV field says (fields
 * split again here: text bytes, integers, bools, dates and timestamps through timegm,
 * numerics written back as decimal); after a stop, the line is >= 1 and is where the
 * stopping record starts, and the rest is the header record (unless the stop is at it)
 * followed by the input from that record to its end; without a stop, the rest reader has
 * nothing; ub_pgbin_in_bytes is the input's size once both are drained; and the input read
 * whole gives the same streams as the input read in chunks.
 */
#include "fz.h"
#include "base/buf.h"
#include "io/pgbin.h"
#include "t_mem.h"
#include <errno.h>
#include <time.h>

typedef struct run {
    ub_buf   bin, rest;
    uint64_t rows, line, in_bytes;
    int      stopped;
} run;

static const size_t steps[8] = { 0, 1, 2, 3, 7, 64, 4096, 13 };
static const size_t reads[8] = { 1, 2, 5, 16, 100, 4096, 65536, 7 };

static void drain(ub_reader *r, size_t rd, ub_buf *out)
{
    char buf[65536];
    ub_err err = { "" };
    for (;;) {
        ssize_t k = ub_read(r, buf, rd, &err);
        if (k < 0 || (size_t)k > rd)
            abort();                                   /* the input never fails here */
        if (k == 0)
            return;
        if (ub_buf_add(out, buf, (size_t)k))
            abort();
    }
}

static void convert(const ub_pgbin_col *cols, size_t n, const char *csv, size_t len, size_t step, size_t rd,
                    run *o)
{
    mem_reader m;
    mem_reader_init(&m, "fuzz.csv", csv, len, step);
    ub_err err = { "" };
    ub_pgbin *b = ub_pgbin_open(&m.base, cols, n, &err);
    if (!b)
        abort();
    ub_buf_init(&o->bin, 0);
    ub_buf_init(&o->rest, 0);
    drain(ub_pgbin_reader(b), rd, &o->bin);
    o->rows = ub_pgbin_rows(b);
    o->line = 0;
    const char *why = ub_pgbin_stopped(b, &o->line);
    o->stopped = why != NULL;
    if (why) {
        if (!*why || o->line < 1)
            abort();
        drain(ub_pgbin_rest(b), rd, &o->rest);
    } else {
        char one[1];
        if (ub_read(ub_pgbin_rest(b), one, 1, &err) != -1)
            abort();
    }
    o->in_bytes = ub_pgbin_in_bytes(b);
    ub_pgbin_free(b);
}

/* ---- the stream -------------------------------------------------------- */

/* memcmp, for buffers that may be empty (and then NULL) */
static int differ(const void *a, const void *b, size_t n) { return n && memcmp(a, b, n) != 0; }

static uint32_t be(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be(p, 4) << 32 | be(p + 4, 4)); }

static int utf8_chars(const unsigned char *p, size_t n, size_t *chars)
{
    size_t i = 0, c = 0;
    while (i < n) {
        unsigned x = p[i];
        size_t k = x < 0x80 ? 1 : x >= 0xc2 && x < 0xe0 ? 2 : x >= 0xe0 && x < 0xf0 ? 3 : x >= 0xf0 && x < 0xf5 ? 4 : 0;
        if (!k || !x || i + k > n)
            return -1;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                return -1;
        if (k == 3 && ((x == 0xe0 && p[i + 1] < 0xa0) || (x == 0xed && p[i + 1] > 0x9f)))
            return -1;
        if (k == 4 && ((x == 0xf0 && p[i + 1] < 0x90) || (x == 0xf4 && p[i + 1] > 0x8f)))
            return -1;
        i += k;
        c++;
    }
    *chars = c;
    return 0;
}

/* A field as the CSV says it: its bytes (quotes undone, then a NUL) and whether it was quoted. */
typedef struct fld {
    char  *p;
    size_t n;
    int    quoted;
} fld;

/* Splits the record at *pos of csv[0, end) (a converted record: RFC 4180, LF-ended or at
 * the end) into f[0, ncols); aborts when it is not one. */
static void split(const char *csv, size_t end, size_t *pos, fld *f, size_t ncols, ub_buf *scratch)
{
    size_t i = *pos;
    ub_buf_reset(scratch);
    size_t offs[4];
    for (size_t c = 0; c < ncols; c++) {
        offs[c] = scratch->len;
        f[c].quoted = i < end && csv[i] == '"';
        if (f[c].quoted) {
            for (i++;; i++) {
                if (i >= end)
                    abort();
                if (csv[i] == '"') {
                    if (i + 1 < end && csv[i + 1] == '"') {
                        ub_buf_addc(scratch, '"');
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                ub_buf_addc(scratch, csv[i]);
            }
        } else {
            while (i < end && csv[i] != ',' && csv[i] != '\n')
                ub_buf_addc(scratch, csv[i++]);
        }
        f[c].n = scratch->len - offs[c];
        ub_buf_addc(scratch, '\0');                   /* each field NUL-terminated */
        if (c + 1 < ncols) {
            if (i >= end || csv[i] != ',')
                abort();
            i++;
        } else if (i < end) {
            if (csv[i] != '\n')
                abort();
            i++;
        }
    }
    if (scratch->err)
        abort();
    for (size_t c = 0; c < ncols; c++)
        f[c].p = scratch->p + offs[c];
    *pos = i;
}

static int digits(const char *s, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static long num(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* Days from 2000-01-01 of "YYYY-MM-DD" by the C library's calendar. */
static int64_t days_of(const char *s)
{
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
        abort();
    struct tm tm = { 0 };
    tm.tm_year = (int)num(s, 4) - 1900;
    tm.tm_mon = (int)num(s + 5, 2) - 1;
    tm.tm_mday = (int)num(s + 8, 2);
    time_t t = timegm(&tm);
    if (tm.tm_mday != (int)num(s + 8, 2) || tm.tm_mon != (int)num(s + 5, 2) - 1)
        abort();                                      /* converted, yet not a real day */
    return ((int64_t)t - 946684800) / 86400;
}

/* The numeric's send format written back as decimal ("-12.340"); the input field in the
 * same form (leading zeros dropped, no sign on zero).  Both into out; aborts on a bad value. */
static void numeric_text(const unsigned char *v, uint32_t len, ub_buf *out)
{
    if (len < 8)
        abort();
    uint32_t nd = be(v, 2), sign = be(v + 4, 2), dscale = be(v + 6, 2);
    int w = (int16_t)be(v + 2, 2);
    if (len != 8 + 2 * nd || (sign != 0 && sign != 0x4000) || dscale > 1000)
        abort();
    if (nd == 0 && (w != 0 || sign != 0))
        abort();
    for (uint32_t i = 0; i < nd; i++)
        if (be(v + 8 + 2 * i, 2) > 9999 || ((i == 0 || i == nd - 1) && be(v + 8 + 2 * i, 2) == 0))
            abort();
    if (sign)
        ub_buf_addc(out, '-');
    if (w < 0 || nd == 0) {
        ub_buf_addc(out, '0');
    } else {
        for (int g = 0; g <= w; g++) {
            unsigned d = (uint32_t)g < nd ? be(v + 8 + 2 * g, 2) : 0;
            ub_buf_addf(out, g ? "%04u" : "%u", d);
        }
    }
    if (dscale) {
        ub_buf f = UB_BUF_INIT;
        for (int g = w + 1; f.len < dscale + 4; g++) {
            unsigned d = g >= 0 && (uint32_t)g < nd ? be(v + 8 + 2 * g, 2) : 0;
            ub_buf_addf(&f, "%04u", d);
        }
        for (size_t i = dscale; i < f.len; i++)       /* digits past dscale: none */
            if (f.p[i] != '0')
                abort();
        ub_buf_addc(out, '.');
        ub_buf_add(out, f.p, dscale);
        ub_buf_free(&f);
    } else if (nd && w + 1 < (int)nd) {
        abort();                                      /* fraction digits without a scale */
    }
}

static void numeric_field(const char *s, size_t n, ub_buf *out)
{
    int neg = n && s[0] == '-';
    size_t i = (size_t)neg, e = i;
    while (e < n && s[e] != '.')
        e++;
    size_t is = i;
    while (is + 1 < e && s[is] == '0')
        is++;
    int zero = 1;
    for (size_t k = i; k < n; k++)
        if (s[k] >= '1' && s[k] <= '9')
            zero = 0;
    if (neg && !zero)
        ub_buf_addc(out, '-');
    ub_buf_add(out, s + is, e - is);
    if (e < n)
        ub_buf_add(out, s + e, n - e);
}

/* Checks the stream of r against the columns and the input's converted records. */
static void check_stream(const ub_pgbin_col *cols, size_t ncols, const char *csv, size_t first, size_t end,
                         const run *r)
{
    static const unsigned char sig[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0 };
    const unsigned char *p = (const unsigned char *)r->bin.p;
    size_t len = r->bin.len, pos = 19, rec = first;
    uint64_t tuples = 0;
    ub_buf scratch = UB_BUF_INIT, a = UB_BUF_INIT, b = UB_BUF_INIT;
    fld f[4];
    if (len < 21 || memcmp(p, sig, 19))
        abort();
    for (;;) {
        if (pos + 2 > len)
            abort();
        int16_t nf = (int16_t)be(p + pos, 2);
        pos += 2;
        if (nf == -1)
            break;
        if ((size_t)nf != ncols || rec >= end)
            abort();                                  /* a tuple, but no record left */
        split(csv, end, &rec, f, ncols, &scratch);
        for (size_t c = 0; c < ncols; c++) {
            if (pos + 4 > len)
                abort();
            int32_t fl = (int32_t)be(p + pos, 4);
            pos += 4;
            if (fl == -1) {
                if (cols[c].notnull || f[c].n || f[c].quoted)
                    abort();
                continue;
            }
            if (fl < 0 || (size_t)fl > len - pos || (!f[c].n && !f[c].quoted))
                abort();
            const unsigned char *v = p + pos;
            uint32_t n = (uint32_t)fl;
            size_t chars;
            switch (cols[c].kind) {
            case UB_PGB_BOOL:
                if (n != 1 || v[0] > 1 || v[0] != (f[c].p[0] == 't'))
                    abort();
                break;
            case UB_PGB_INT2:
            case UB_PGB_INT4:
            case UB_PGB_INT8: {
                uint32_t want = cols[c].kind == UB_PGB_INT2 ? 2 : cols[c].kind == UB_PGB_INT4 ? 4 : 8;
                if (n != want)
                    abort();
                int64_t x = n == 2 ? (int16_t)be(v, 2) : n == 4 ? (int32_t)be(v, 4) : be64(v);
                errno = 0;
                long long y = strtoll(f[c].p, NULL, 10);
                if (errno || x != y)
                    abort();
                break;
            }
            case UB_PGB_TEXT:
                if (n != f[c].n || memcmp(v, f[c].p, n) || utf8_chars(v, n, &chars) ||
                    (cols[c].maxchars >= 0 && chars > (size_t)cols[c].maxchars))
                    abort();
                break;
            case UB_PGB_NUMERIC:
                ub_buf_reset(&a);
                ub_buf_reset(&b);
                numeric_text(v, n, &a);
                numeric_field(f[c].p, f[c].n, &b);
                if (a.err || b.err || a.len != b.len || memcmp(a.p, b.p, a.len))
                    abort();
                if (cols[c].prec >= 0 && be(v + 6, 2) > (uint32_t)cols[c].scale)
                    abort();
                break;
            case UB_PGB_DATE:
                if (n != 4 || f[c].n != 10 || (int32_t)be(v, 4) != days_of(f[c].p) ||
                    (int32_t)be(v, 4) < -730119 || (int32_t)be(v, 4) > 2921939)
                    abort();
                break;
            case UB_PGB_TIMESTAMP: {
                const char *s = f[c].p;
                if (n != 8 || f[c].n < 19 || f[c].n == 20 || f[c].n > 26 || s[10] != ' ' || s[13] != ':' ||
                    s[16] != ':' || (f[c].n > 19 && (s[19] != '.' || !digits(s + 20, f[c].n - 20))))
                    abort();
                int64_t us = 0;
                size_t k = 20;
                for (; k < 26; k++)
                    us = us * 10 + (k < f[c].n ? s[k] - '0' : 0);
                int64_t want = ((days_of(s) * 86400 + num(s + 11, 2) * 3600 + num(s + 14, 2) * 60 + num(s + 17, 2)) *
                                1000000) + us;
                if (be64(v) != want || !digits(s + 11, 2) || !digits(s + 14, 2) || !digits(s + 17, 2))
                    abort();
                break;
            }
            default:
                abort();
            }
            pos += n;
        }
        tuples++;
    }
    if (pos != len || tuples != r->rows || rec != end)
        abort();
    ub_buf_free(&scratch);
    ub_buf_free(&a);
    ub_buf_free(&b);
}

/* The end of the first record of csv (a valid one: quotes toggle), its line feed included. */
static size_t first_record(const char *csv, size_t n)
{
    int q = 0;
    for (size_t i = 0; i < n; i++) {
        if (csv[i] == '"')
            q = !q;
        else if (csv[i] == '\n' && !q)
            return i + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t ncols = 1 + (data[0] & 3);
    if (size < 1 + ncols)
        return 0;
    size_t step = steps[(data[0] >> 2) & 7], rd = reads[(data[0] >> 5) & 7];
    ub_pgbin_col cols[4];
    for (size_t i = 0; i < ncols; i++) {
        static const uint32_t oids[8] = { 16, 21, 23, 20, 25, 1700, 1082, 1114 };
        /* text: text, varchar, varchar(1), varchar(3), char(2), varchar(0), char, varchar(10) */
        static const uint32_t toid[8] = { 25, 1043, 1043, 1043, 1042, 1043, 1042, 1043 };
        static const int32_t ttm[8] = { -1, -1, 5, 7, 6, 4, 5, 14 };
        /* numeric: none, (8,3), (1,0), (3,3), (5,2), (1000,0), (1000,1000), (2,5) (not converted) */
        static const int32_t ntm[8] = { -1, (8 << 16 | 3) + 4, (1 << 16) + 4, (3 << 16 | 3) + 4, (5 << 16 | 2) + 4,
                                        (1000 << 16) + 4, (1000 << 16 | 1000) + 4, (2 << 16 | 5) + 4 };
        unsigned c = data[1 + i], kind = c & 7, var = (c >> 3) & 7;
        uint32_t oid = oids[kind];
        int32_t tm = -1;
        if (kind == 4) {
            oid = toid[var];
            tm = ttm[var];
        } else if (kind == 5) {
            tm = ntm[var];
        }
        if (ub_pgbin_col_of(oid, tm, c >> 7, &cols[i]) && ub_pgbin_col_of(oid, -1, c >> 7, &cols[i]))
            abort();
    }
    const char *csv = (const char *)data + 1 + ncols;
    size_t len = size - 1 - ncols;

    run r, w;
    convert(cols, ncols, csv, len, step, rd, &r);
    if (r.in_bytes != len)
        abort();
    size_t head = first_record(csv, len), end = len;
    if (r.stopped) {
        /* the rest: the header again (not when the stop is at it), then the input from the
         * stopping record (never empty), which starts a line, to the end */
        size_t h = r.line == 1 ? 0 : head;
        if (r.rest.len <= h || r.rest.len - h > len || differ(r.rest.p, csv, h))
            abort();
        end = len - (r.rest.len - h);
        if (end < h || differ(r.rest.p + h, csv + end, r.rest.len - h) || (end && csv[end - 1] != '\n'))
            abort();
        uint64_t lines = 1;
        for (size_t i = 0; i < end; i++)
            lines += csv[i] == '\n';
        if (lines != r.line || (r.line == 1 && r.rows))
            abort();
    }
    if (!r.stopped || r.line > 1)
        check_stream(cols, ncols, csv, head, end, &r);
    else if (r.bin.len != 21)
        abort();                                      /* a stop at the header: no tuples */

    /* the same, read whole */
    convert(cols, ncols, csv, len, 0, 65536, &w);
    if (w.rows != r.rows || w.stopped != r.stopped || w.line != r.line || w.in_bytes != r.in_bytes ||
        w.bin.len != r.bin.len || differ(w.bin.p, r.bin.p, r.bin.len) || w.rest.len != r.rest.len ||
        differ(w.rest.p, r.rest.p, r.rest.len))
        abort();
    ub_buf_free(&r.bin);
    ub_buf_free(&r.rest);
    ub_buf_free(&w.bin);
    ub_buf_free(&w.rest);
    return 0;
}
