/* pgbin.c — CSV into PostgreSQL's binary COPY format (pgbin.h says which records, and why). */
#include "io/pgbin.h"
#include "base/jtext.h"
#include "base/mem.h"
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__) && !defined(UB_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/*
 * How it works.  The input buffer holds [ipos, ilen): ipos is the start of the next
 * record.  A record is parsed whole (its fields as offsets from its start) before anything
 * of it is written, so a record that stops the conversion leaves no part of itself in the
 * output, and the rest reader can hand it on from its first byte.  A record that is not yet
 * complete in the buffer is parsed again after the next read; reads then wait for at least
 * as many new bytes as are already buffered, so a long record is scanned a bounded number
 * of times.  Converted tuples go to the output buffer, from which the binary reader copies
 * what its caller asks for.
 *
 * The binary format (PostgreSQL's COPY documentation): the signature "PGCOPY\n\377\r\n\0", a
 * 32-bit flags word and a 32-bit header extension length (both 0); per tuple a 16-bit field
 * count, then per field a 32-bit length (-1: NULL) and that many bytes; the trailer is a
 * field count of -1.  Integers are big-endian; each value is the type's send format.
 */

enum { ST_SIG, ST_BODY, ST_ENDED, ST_STOPPED, ST_FAILED };
enum { P_MORE, P_RECORD, P_NONE, P_STOP };

#define OUT_CAP UB_IO_CHUNK

struct ub_pgbin {
    ub_reader     base;          /* the binary stream */
    ub_reader     rest;          /* the raw input from the record that stopped the conversion */
    ub_reader    *in;            /* owned */
    ub_pgbin_col *cols;
    size_t        ncols;
    char         *ib;
    size_t        icap, ipos, ilen;
    int           ieof;
    size_t        want;          /* bytes the next refill must add before a new parse (0: any) */
    char         *ob;
    size_t        ocap, olen, opos;
    int           state, header;
    uint64_t      line;          /* physical line where the record at ipos starts */
    uint64_t      rows, in_bytes;
    char         *hdr;           /* the header record's bytes, given again before the rest */
    size_t        hlen, hsent;
    uint64_t      hlfs;          /* line feeds inside the header's quoted fields */
    const char   *why;
    char          whybuf[96];
    uint64_t      stop_line;
    size_t       *fs, *fl;       /* the record's fields: offset from its start (content), length */
    unsigned char *fq;           /* per field: 1 quoted, 2 quoted holding "" */
    size_t        rec_end;       /* the record's length, its line end included */
    uint64_t      rec_lfs;       /* line feeds inside its quoted fields */
    char          dkey[10];      /* the last date converted (rows of a day share it), and its days */
    int64_t       dval;
};

/* ---- column types ------------------------------------------------------- */

int ub_pgbin_col_of(uint32_t typoid, int32_t typmod, int notnull, ub_pgbin_col *col)
{
    memset(col, 0, sizeof *col);
    col->notnull = notnull ? 1 : 0;
    col->maxchars = -1;
    col->prec = -1;
    switch (typoid) {
    case 16:   col->kind = UB_PGB_BOOL; return 0;
    case 20:   col->kind = UB_PGB_INT8; return 0;
    case 21:   col->kind = UB_PGB_INT2; return 0;
    case 23:   col->kind = UB_PGB_INT4; return 0;
    case 25:   col->kind = UB_PGB_TEXT; return 0;
    case 1082: col->kind = UB_PGB_DATE; return 0;
    case 1114: col->kind = UB_PGB_TIMESTAMP; return 0;
    case 1042:                                       /* char(n) */
    case 1043:                                       /* varchar(n): typmod n + 4, or -1 */
        col->kind = UB_PGB_TEXT;
        if (typmod >= 4)
            col->maxchars = typmod - 4;
        else if (typmod != -1)
            return -1;
        return 0;
    case 1700:                                       /* numeric(p,s): typmod ((p << 16) | s) + 4, or -1 */
        col->kind = UB_PGB_NUMERIC;
        if (typmod == -1)
            return 0;
        if (typmod < 4)
            return -1;
        {
            int32_t t = typmod - 4, p = (t >> 16) & 0xffff, s = t & 0xffff;
            if (p < 1 || p > 1000 || s > p)            /* a negative or larger scale (PostgreSQL 15): CSV */
                return -1;
            col->prec = (int16_t)p;
            col->scale = (int16_t)s;
        }
        return 0;
    default:
        return -1;
    }
}

/* ---- output ------------------------------------------------------------- */

static inline void put16(char *p, int v)
{
    p[0] = (char)((v >> 8) & 0xff);
    p[1] = (char)(v & 0xff);
}

static inline void put32(char *p, int64_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

static inline void put64(char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8)
        p[i] = (char)(u & 0xff);
}

/* Room for extra more bytes in the output; -1 when out of memory. */
static int out_room(ub_pgbin *b, size_t extra)
{
    if (b->opos && b->opos == b->olen)
        b->opos = b->olen = 0;
    if (b->olen + extra <= b->ocap)
        return 0;
    if (b->opos) {                                   /* move what is still unread to the front */
        memmove(b->ob, b->ob + b->opos, b->olen - b->opos);
        b->olen -= b->opos;
        b->opos = 0;
        if (b->olen + extra <= b->ocap)
            return 0;
    }
    size_t cap = b->ocap ? b->ocap : OUT_CAP;
    while (cap < b->olen + extra)
        cap *= 2;
    char *p = ub_realloc(b->ob, cap);
    if (!p)
        return -1;
    b->ob = p;
    b->ocap = cap;
    return 0;
}

/* ---- values ------------------------------------------------------------- */

static inline int digit(char ch) { return ch >= '0' && ch <= '9'; }

/* int2/int4/int8: [-]digits within [lo, hi]; the send format, big-endian */
static int conv_int(const char *s, size_t n, int bytes, char *o)
{
    int neg = n && s[0] == '-';
    size_t i = (size_t)neg;
    if (i == n)
        return -1;
    while (i + 1 < n && s[i] == '0')
        i++;
    if (n - i > 19)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!digit(s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    uint64_t lim = bytes == 2 ? 32767u : bytes == 4 ? 2147483647u : 9223372036854775807u;
    if (v > lim + (uint64_t)neg)
        return -1;
    int64_t x = neg ? (int64_t)(0 - v) : (int64_t)v;   /* two's complement wraps the int8 minimum right */
    if (bytes == 2)
        put16(o, (int)x);
    else if (bytes == 4)
        put32(o, x);
    else
        put64(o, x);
    return bytes;
}

/* numeric: [-]digits[.digits] within the typmod, without rounding; the send format:
 * ndigits, weight, sign, dscale (16 bits each), then base-10000 digits, most significant
 * first, weight the power of 10000 of the first.  Returns the bytes written to o (room for
 * 8 + 2 * (n / 4 + 2)), or -1. */
static int conv_numeric(const ub_pgbin_col *col, const char *s, size_t n, char *o)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    size_t is = i;
    while (i < n && digit(s[i]))
        i++;
    size_t ie = i;
    if (ie == is)
        return -1;                                   /* ".5", "-", "": the server's to read */
    size_t fs = ie, fe = ie;
    if (i < n) {
        if (s[i] != '.')
            return -1;
        fs = ++i;
        while (i < n && digit(s[i]))
            i++;
        fe = i;
        if (fe == fs || i != n)
            return -1;                               /* "5.", "1e5", "1.5x" */
    }
    while (is < ie && s[is] == '0')                  /* significant integer digits only */
        is++;
    size_t li = ie - is, lf = fe - fs;
    size_t maxi = col->prec < 0 ? 1000 : (size_t)(col->prec - col->scale);
    size_t maxf = col->prec < 0 ? 1000 : (size_t)col->scale;
    if (li > maxi || lf > maxf)
        return -1;
    /* groups of four digits, aligned at the point: the integer part's first group has
     * 1..4 digits, the fraction's last is padded with zeros */
    int weight = li ? (int)((li - 1) / 4) : -1;
    int ngroups = (li ? weight + 1 : 0) + (int)((lf + 3) / 4);
    int first = -1, last = -1;
    char *d = o + 8;
    size_t pi = is;                                   /* next integer digit */
    size_t head = li ? li - 4 * (size_t)weight : 0;  /* digits in the first integer group */
    int nd = 0;
    for (int g = 0; g < ngroups; g++) {
        int v = 0;
        if (g <= weight && li) {                      /* an integer group */
            size_t take = g == 0 ? head : 4;
            for (size_t k = 0; k < take; k++)
                v = v * 10 + (s[pi++] - '0');
        } else {                                      /* a fraction group */
            size_t f0 = fs + (size_t)(g - (li ? weight + 1 : 0)) * 4;
            for (size_t k = 0; k < 4; k++)
                v = v * 10 + (f0 + k < fe ? s[f0 + k] - '0' : 0);
        }
        if (v) {
            if (first < 0)
                first = g;
            last = g;
        }
        if (first >= 0) {
            put16(d + 2 * nd, v);
            nd++;
        }
    }
    int w = 0, sign = 0;
    if (first >= 0) {
        nd -= ngroups - 1 - last;                     /* trailing zero groups dropped */
        w = (li ? weight : -1) - first;
        sign = neg ? 0x4000 : 0;
    } else {
        nd = 0;                                       /* zero: positive, weight 0, as the server makes it */
    }
    put16(o, nd);
    put16(o + 2, w);
    put16(o + 4, sign);
    put16(o + 6, (int)lf);
    return 8 + 2 * nd;
}

/* Days from 2000-01-01 to y-m-d (proleptic Gregorian), after Howard Hinnant's
 * days_from_civil; -1 in *ok when the date is not a real one. */
static int64_t days_of(int y, int m, int d, int *ok)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    *ok = y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && leap);
    if (!*ok)
        return 0;
    int64_t yy = y - (m <= 2);
    int64_t era = yy / 400;                           /* yy >= 0 here */
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 - 10957;       /* 1970-01-01, then 2000-01-01 */
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* YYYY-MM-DD: days since 2000-01-01; -1 when not that */
static int conv_date(const char *s, size_t n, int64_t *days)
{
    int ok;
    if (n < 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    if (y < 0 || m < 0 || d < 0)
        return -1;
    *days = days_of(y, m, d, &ok);
    return ok ? 0 : -1;
}

/* conv_date, remembering the last date: 0, or -1 */
static int date_of(ub_pgbin *b, const char *s, int64_t *days)
{
    if (memcmp(s, b->dkey, 10) == 0) {
        *days = b->dval;
        return 0;
    }
    if (conv_date(s, 10, days))
        return -1;
    memcpy(b->dkey, s, 10);
    b->dval = *days;
    return 0;
}

/* ---- records ------------------------------------------------------------ */

/* The class of each byte in an unquoted field: 0 ordinary ASCII, 1 ',', 2 LF, 3 '"', 4 CR
 * or NUL, 5 not ASCII (checked as UTF-8 afterwards). */
#define CLS(x) ((x) == 0 || (x) == '\r' ? 4 : (x) == ',' ? 1 : (x) == '\n' ? 2 : (x) == '"' ? 3 : (x) >= 0x80 ? 5 : 0)
#define CLS4(x) CLS(x), CLS((x) + 1), CLS((x) + 2), CLS((x) + 3)
#define CLS16(x) CLS4(x), CLS4((x) + 4), CLS4((x) + 8), CLS4((x) + 12)
#define CLS64(x) CLS16(x), CLS16((x) + 16), CLS16((x) + 32), CLS16((x) + 48)
static const unsigned char cls[256] = { CLS64(0), CLS64(64), CLS64(128), CLS64(192) };

/* The first byte in [p, e) that ends or breaks an unquoted field (',', LF, '"', CR, NUL) or
 * is not ASCII; e if none.  16 bytes a step where SSE2 is there. */
static inline const unsigned char *scan_unquoted(const unsigned char *p, const unsigned char *e)
{
#ifdef HAVE_SSE2
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"');
    const __m128i cr = _mm_set1_epi8('\r'), zero = _mm_setzero_si128();
    while (e - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, comma), _mm_cmpeq_epi8(x, lf)),
                                 _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, cr)),
                                              _mm_cmpeq_epi8(x, zero)));
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_or_si128(m, x));   /* x's own high bits: not ASCII */
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#endif
    while (p < e && cls[*p] == 0)
        p++;
    return p;
}

static int stop(ub_pgbin *b, const char *why)
{
    b->why = why;
    return P_STOP;
}

/* Parses the record at ipos into fs/fl/fq and rec_end: P_RECORD, P_MORE (not all in the
 * buffer yet), P_NONE (the input has ended, no record left) or P_STOP (why set). */
static int parse(ub_pgbin *b)
{
    const unsigned char *s = (const unsigned char *)b->ib + b->ipos, *e = (const unsigned char *)b->ib + b->ilen;
    const unsigned char *p = s;
    size_t nf = 0;
    int ascii = 1;
    uint64_t lfs = 0;
    if (p == e)
        return b->ieof ? P_NONE : P_MORE;
    if (*p == '\\' && (p + 1 < e ? p[1] == '.' : !b->ieof))
        return p + 1 < e ? stop(b, "a record starting with \\. (COPY's end-of-data marker)") : P_MORE;
    for (;;) {
        if (nf == b->ncols)
            return stop(b, "more fields than the header has");
        if (p < e && *p == '"') {
            const unsigned char *q = p + 1;
            int esc = 0;
            for (;;) {
                const unsigned char *hit = memchr(q, '"', (size_t)(e - q));
                if (!hit)
                    return b->ieof ? stop(b, "a quoted field not closed") : P_MORE;
                if (hit + 1 == e && !b->ieof)
                    return P_MORE;                    /* a closing quote, or the first of "" */
                if (hit + 1 < e && hit[1] == '"') {
                    esc = 1;
                    q = hit + 2;
                    continue;
                }
                for (const unsigned char *k = p + 1; k < hit; k++) {
                    lfs += *k == '\n';
                    if (*k >= 0x80 || !*k)
                        ascii = 0;
                }
                b->fs[nf] = (size_t)(p + 1 - s);
                b->fl[nf] = (size_t)(hit - p - 1);
                b->fq[nf++] = (unsigned char)(1 + esc);
                p = hit + 1;
                break;
            }
            if (p == e) {
                if (!b->ieof)
                    return P_MORE;
                break;
            }
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == '\n') {
                p++;
                break;
            }
            return stop(b, *p == '\r' ? "a carriage return outside quotes" : "text after a closing quote");
        }
        const unsigned char *f = p;
        unsigned k = 0;
        for (;;) {
            p = scan_unquoted(p, e);
            if (p == e || (k = cls[*p]) != 5)
                break;
            ascii = 0;                                /* not ASCII: on, checked below */
            p++;
        }
        b->fs[nf] = (size_t)(f - s);
        b->fl[nf] = (size_t)(p - f);
        b->fq[nf++] = 0;
        if (p == e) {
            if (!b->ieof)
                return P_MORE;
            break;
        }
        if (k == 1) {
            p++;
            continue;
        }
        if (k == 2) {
            p++;
            break;
        }
        return stop(b, k == 3 ? "a quote inside an unquoted field"
                         : *p == '\r' ? "a carriage return outside quotes" : "a NUL byte");
    }
    if (nf != b->ncols)
        return stop(b, "fewer fields than the header has");
    size_t len = (size_t)(p - s);                     /* strict UTF-8 without NUL, as the server checks */
    if (!ascii && ub_jtext_valid((const char *)s, len) != len)
        return stop(b, "bytes that are not UTF-8 (or a NUL byte)");
    b->rec_end = len;
    b->rec_lfs = lfs;
    return P_RECORD;
}

/* Appends the record parsed at ipos as one tuple: 0; -1 with why when a value is not one
 * converted (nothing appended); -2 out of memory. */
static int emit(ub_pgbin *b)
{
    const char *s = b->ib + b->ipos;
    size_t start;
    if (out_room(b, 2 + b->ncols * 20 + 2 * b->rec_end))
        return -2;
    start = b->olen;
    char *o = b->ob + b->olen;
    put16(o, (int)b->ncols);
    o += 2;
    size_t i;
    for (i = 0; i < b->ncols; i++) {
        const ub_pgbin_col *col = &b->cols[i];
        const char *v = s + b->fs[i];
        size_t n = b->fl[i];
        int w;
        if (!n && !b->fq[i]) {                        /* NULL */
            if (col->notnull)
                goto bad;
            put32(o, -1);
            o += 4;
            continue;
        }
        if (b->fq[i] == 2 && col->kind != UB_PGB_TEXT)
            goto bad;                                 /* a quote in a number: the server's to reject */
        switch (col->kind) {
        case UB_PGB_TEXT:
            if (b->fq[i] == 2) {
                char *d = o + 4;
                for (size_t k = 0; k < n; k++) {
                    *d++ = v[k];
                    if (v[k] == '"')
                        k++;                          /* "" -> " */
                }
                w = (int)(d - (o + 4));
            } else {
                memcpy(o + 4, v, n);
                w = (int)n;
            }
            if (col->maxchars >= 0 && w > col->maxchars) {
                size_t chars = 0;                     /* characters: the bytes that do not continue one */
                for (int k = 0; k < w; k++)
                    chars += ((unsigned char)o[4 + k] & 0xc0) != 0x80;
                if (chars > (size_t)col->maxchars)
                    goto bad;                         /* too long: the server's to say */
            }
            break;
        case UB_PGB_BOOL:
            if ((n == 1 && v[0] == 't') || (n == 4 && memcmp(v, "true", 4) == 0))
                o[4] = 1;
            else if ((n == 1 && v[0] == 'f') || (n == 5 && memcmp(v, "false", 5) == 0))
                o[4] = 0;
            else
                goto bad;
            w = 1;
            break;
        case UB_PGB_INT2:
            w = conv_int(v, n, 2, o + 4);
            break;
        case UB_PGB_INT4:
            w = conv_int(v, n, 4, o + 4);
            break;
        case UB_PGB_INT8:
            w = conv_int(v, n, 8, o + 4);
            break;
        case UB_PGB_NUMERIC:
            w = conv_numeric(col, v, n, o + 4);
            break;
        case UB_PGB_DATE: {
            int64_t days;
            if (n != 10 || date_of(b, v, &days))
                goto bad;
            put32(o + 4, days);
            w = 4;
            break;
        }
        case UB_PGB_TIMESTAMP: {
            int64_t days;
            if (n < 19 || n == 20 || n > 26 || v[10] != ' ' || v[13] != ':' || v[16] != ':' ||
                (n > 19 && v[19] != '.') || date_of(b, v, &days))
                goto bad;
            int hh = num(v + 11, 2), mi = num(v + 14, 2), ss = num(v + 17, 2);
            int us = n > 19 ? num(v + 20, n - 20) : 0;
            if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59 || us < 0)
                goto bad;
            for (size_t k = n; k < 26; k++)           /* ".5" is 500000 microseconds */
                us *= 10;
            put64(o + 4, ((days * 86400 + hh * 3600 + mi * 60 + ss) * 1000000) + us);
            w = 8;
            break;
        }
        default:
            goto bad;
        }
        if (w < 0)
            goto bad;
        put32(o, w);
        o += 4 + w;
    }
    b->olen = (size_t)(o - b->ob);
    return 0;
bad:
    b->olen = start;
    snprintf(b->whybuf, sizeof b->whybuf, "column %zu: a value not in a form ubpipe converts exactly", i + 1);
    b->why = b->whybuf;
    return -1;
}

/* ---- input -------------------------------------------------------------- */

/* Reads more input after the unparsed bytes: 0, or -1 with err (state ST_FAILED). */
static int refill(ub_pgbin *b, ub_err *err)
{
    if (b->ipos) {
        memmove(b->ib, b->ib + b->ipos, b->ilen - b->ipos);
        b->ilen -= b->ipos;
        b->ipos = 0;
    }
    size_t goal = b->ilen + (b->want ? b->want : 1);
    if (goal > UB_PGBIN_MAX_RECORD)                  /* a longer record stops the conversion: no more room */
        goal = UB_PGBIN_MAX_RECORD;
    if (goal > b->icap) {
        size_t cap = b->icap * 2;
        while (cap < goal)
            cap *= 2;
        char *p = ub_realloc(b->ib, cap);
        if (!p) {
            b->state = ST_FAILED;
            return ub_err_set(err, "'%s': out of memory", b->base.name);
        }
        b->ib = p;
        b->icap = cap;
    }
    while (b->ilen < goal) {
        ssize_t got = ub_read(b->in, b->ib + b->ilen, b->icap - b->ilen, err);
        if (got < 0) {
            b->state = ST_FAILED;
            return -1;
        }
        if (got == 0) {
            b->ieof = 1;
            break;
        }
        b->ilen += (size_t)got;
        b->in_bytes += (uint64_t)got;
    }
    return 0;
}

static void end_stream(ub_pgbin *b, int state)
{
    put16(b->ob + b->olen, -1);                       /* the caller made room for it */
    b->olen += 2;
    b->state = state;
}

/* Converts records until the output holds at least n bytes or the stream has ended. */
static int produce(ub_pgbin *b, size_t n, ub_err *err)
{
    if (b->state == ST_SIG) {
        static const char sig[] = "PGCOPY\n\377\r\n";
        if (out_room(b, 21)) {
            b->state = ST_FAILED;
            return ub_err_set(err, "'%s': out of memory", b->base.name);
        }
        memcpy(b->ob, sig, 11);                       /* the signature's NUL included */
        memset(b->ob + 11, 0, 8);                     /* flags, header extension length */
        b->olen = 19;
        b->state = ST_BODY;
    }
    while (b->state == ST_BODY && b->olen - b->opos < n) {
        int k = parse(b);
        if (k == P_MORE) {
            if (b->ilen - b->ipos >= UB_PGBIN_MAX_RECORD) {
                b->why = "a record longer than 64 MiB";
                k = P_STOP;
            } else {
                b->want = b->ilen - b->ipos;          /* as many new bytes as are waiting */
                if (refill(b, err))
                    return -1;
                continue;
            }
        }
        b->want = 0;
        if (k == P_RECORD && b->header) {
            b->header = 0;
            if (!(b->hdr = ub_malloc(b->rec_end ? b->rec_end : 1))) {
                b->state = ST_FAILED;
                return ub_err_set(err, "'%s': out of memory", b->base.name);
            }
            memcpy(b->hdr, b->ib + b->ipos, b->rec_end);
            b->hlen = b->rec_end;
            b->hlfs = b->rec_lfs;
        } else if (k == P_RECORD) {
            int e = emit(b);
            if (e == -2) {
                b->state = ST_FAILED;
                return ub_err_set(err, "'%s': out of memory", b->base.name);
            }
            if (e)
                k = P_STOP;
            else
                b->rows++;
        }
        if (k == P_RECORD) {
            b->ipos += b->rec_end;
            b->line += 1 + b->rec_lfs;
            continue;
        }
        if (out_room(b, 2)) {
            b->state = ST_FAILED;
            return ub_err_set(err, "'%s': out of memory", b->base.name);
        }
        if (k == P_STOP)
            b->stop_line = b->line;
        end_stream(b, k == P_STOP ? ST_STOPPED : ST_ENDED);
    }
    return 0;
}

static ssize_t bin_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    ub_pgbin *b = (ub_pgbin *)r;
    if (b->state == ST_FAILED)
        return ub_err_set(err, "'%s': read after an error", r->name);
    if (n == 0)
        return 0;
    if (produce(b, n, err))
        return -1;
    size_t k = b->olen - b->opos < n ? b->olen - b->opos : n;
    memcpy(buf, b->ob + b->opos, k);
    b->opos += k;
    return (ssize_t)k;
}

static ssize_t rest_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    ub_pgbin *b = (ub_pgbin *)(void *)((char *)r - offsetof(ub_pgbin, rest));
    if (b->state != ST_STOPPED)
        return ub_err_set(err, "'%s': nothing was left over", r->name);
    if (b->hsent < b->hlen) {                        /* the header first (none when the stop is at it) */
        size_t k = b->hlen - b->hsent < n ? b->hlen - b->hsent : n;
        memcpy(buf, b->hdr + b->hsent, k);
        b->hsent += k;
        return (ssize_t)k;
    }
    if (b->ipos < b->ilen) {
        size_t k = b->ilen - b->ipos < n ? b->ilen - b->ipos : n;
        memcpy(buf, b->ib + b->ipos, k);
        b->ipos += k;
        return (ssize_t)k;
    }
    if (b->ieof)
        return 0;
    ssize_t got = ub_read(b->in, buf, n, err);
    if (got > 0)
        b->in_bytes += (uint64_t)got;
    return got;
}

static void nop_close(ub_reader *r) { (void)r; }
static void bin_close(ub_reader *r) { ub_pgbin_free((ub_pgbin *)r); }

/* ---- the API ------------------------------------------------------------ */

ub_pgbin *ub_pgbin_open(ub_reader *in, const ub_pgbin_col *cols, size_t n, ub_err *err)
{
    ub_pgbin *b = ub_calloc(1, sizeof *b);
    if (!b || !n || n > 1600)                         /* a table has at most 1600 columns */
        goto fail;
    b->in = in;
    b->ncols = n;
    b->icap = UB_IO_CHUNK;
    b->cols = ub_calloc(n, sizeof *b->cols);
    b->fs = ub_calloc(n, sizeof *b->fs);
    b->fl = ub_calloc(n, sizeof *b->fl);
    b->fq = ub_calloc(n, 1);
    b->ib = ub_malloc(b->icap);
    if (!b->cols || !b->fs || !b->fl || !b->fq || !b->ib)
        goto fail;
    memcpy(b->cols, cols, n * sizeof *cols);
    b->base.read = bin_read;
    b->base.close = bin_close;
    b->base.name = in->name;
    b->rest.read = rest_read;
    b->rest.close = nop_close;
    b->rest.name = in->name;
    b->state = ST_SIG;
    b->header = 1;
    b->line = 1;
    return b;
fail:
    if (b) {
        b->in = in;
        ub_pgbin_free(b);
    } else {
        ub_reader_close(in);
    }
    if (n && n <= 1600)
        ub_err_set(err, "out of memory");
    else
        ub_err_set(err, "%zu columns: not a table's", n);
    return NULL;
}

ub_reader *ub_pgbin_reader(ub_pgbin *b) { return &b->base; }

uint64_t ub_pgbin_rest_offset(const ub_pgbin *b)
{
    return b->state != ST_STOPPED || b->stop_line < 2 ? 0 : b->stop_line - 2 - b->hlfs;
}
ub_reader *ub_pgbin_rest(ub_pgbin *b) { return &b->rest; }
uint64_t ub_pgbin_rows(const ub_pgbin *b) { return b->rows; }
uint64_t ub_pgbin_in_bytes(const ub_pgbin *b) { return b->in_bytes; }

const char *ub_pgbin_stopped(const ub_pgbin *b, uint64_t *line)
{
    if (b->state != ST_STOPPED)
        return NULL;
    *line = b->stop_line;
    return b->why;
}

void ub_pgbin_free(ub_pgbin *b)
{
    if (!b)
        return;
    ub_reader_close(b->in);
    ub_free(b->cols);
    ub_free(b->fs);
    ub_free(b->fl);
    ub_free(b->fq);
    ub_free(b->ib);
    ub_free(b->ob);
    ub_free(b->hdr);
    ub_free(b);
}
