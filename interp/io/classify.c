/* classify.c — review tokenizer, stop words, the "good" fast path and the CSV classifier stream. */
#include "io/classify.h"
#include "io/csv.h"
#include "io/stopwords.h"
#include "base/buf.h"
#include "base/mem.h"
#include <string.h>
#if defined(__SSE2__) && !defined(UB_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

#define OUT_FLUSH (64 * 1024)

/* Java's \s without UNICODE_CHARACTER_CLASS: [ \t\n\x0B\f\r] */
static inline int is_sep(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* ---- stop words --------------------------------------------------------- */

/* Compares tok (lower-cased on the fly) with the NUL-terminated word. */
static int cmp_word(const char *tok, size_t n, const char *word)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char a = lower((unsigned char)tok[i]), b = (unsigned char)word[i];
        if (b == 0)
            return 1;              /* word is a proper prefix of tok */
        if (a != b)
            return a < b ? -1 : 1;
    }
    return word[n] == 0 ? 0 : -1;
}

int ub_text_is_stopword(const char *tok, size_t n)
{
    if (n == 0 || n > 16)          /* no stop word is empty or that long */
        return 0;
    size_t lo = 0, hi = UB_STOPWORDS_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_word(tok, n, ub_stopwords[mid]);
        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* ---- the general tokenizer ---------------------------------------------- */

int ub_text_tokens(const char *s, size_t n, ub_text_token_fn fn, void *ctx)
{
    int calls = 0;
    if (n == 0) {                  /* Java: "".split(re) is [""] */
        fn(ctx, "", 0);
        return 1;
    }
    char *low = ub_malloc(n);
    if (!low)
        return -1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)lower((unsigned char)s[i]);
    size_t empties = 0;            /* empty tokens not yet known to be non-trailing */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && !is_sep((unsigned char)low[i]))
            continue;
        size_t len = i - start;
        if (len == 0) {
            empties++;
        } else {
            for (; empties > 0; empties--) {
                calls++;
                if (fn(ctx, "", 0))
                    goto out;
            }
            if (!ub_text_is_stopword(low + start, len)) {
                calls++;
                if (fn(ctx, low + start, len))
                    goto out;
            }
        }
        start = i + 1;
    }
    /* trailing empty tokens are dropped */
out:
    ub_free(low);
    return calls;
}

/* ---- the fast path ------------------------------------------------------ */

static inline int good_at(const char *s, size_t n, size_t j)
{
    return (j == 0 || is_sep((unsigned char)s[j - 1])) &&
           (j + 4 == n || is_sep((unsigned char)s[j + 4]));
}

int ub_classify_positive(const char *s, size_t n)
{
    size_t i = 0;
    if (n < 4)
        return 0;
#ifdef HAVE_SSE2
    /* x | 0x20 equals 'g', 'o' or 'd' exactly for the two ASCII cases */
    const __m128i lc = _mm_set1_epi8(0x20);
    const __m128i vg = _mm_set1_epi8('g'), vo = _mm_set1_epi8('o'), vd = _mm_set1_epi8('d');
    for (; i + 19 <= n; i += 16) {
        const char *p = s + i;
        __m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)p), lc);
        __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + 1)), lc);
        __m128i c = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + 2)), lc);
        __m128i d = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + 3)), lc);
        __m128i m = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(a, vg), _mm_cmpeq_epi8(b, vo)),
                                  _mm_and_si128(_mm_cmpeq_epi8(c, vo), _mm_cmpeq_epi8(d, vd)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        while (mask) {
            if (good_at(s, n, i + (size_t)__builtin_ctz(mask)))
                return 1;
            mask &= mask - 1;
        }
    }
#endif
    for (; i + 4 <= n; i++) {
        if ((s[i] | 0x20) == 'g' && (s[i + 1] | 0x20) == 'o' && (s[i + 2] | 0x20) == 'o' &&
            (s[i + 3] | 0x20) == 'd' && good_at(s, n, i))
            return 1;
    }
    return 0;
}

/* ---- the CSV stream ----------------------------------------------------- */

static int ascii_ieq(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Index of the header column named want (case-insensitively), or -1 with err set. */
static long find_column(const ub_csv_field *f, int nf, const char *want, const char *name,
                        uint64_t line, ub_err *err)
{
    long at = -1;
    for (int i = 0; i < nf; i++) {
        if (!ascii_ieq(f[i].p, f[i].n, want))
            continue;
        if (at >= 0) {
            ub_err_set(err, "%s:%llu: column '%s' appears twice in the header", name,
                       (unsigned long long)line, want);
            return -1;
        }
        at = i;
    }
    if (at < 0)
        ub_err_set(err, "%s:%llu: header has no column '%s'", name,
                   (unsigned long long)line, want);
    return at;
}

int ub_classify_stream(ub_reader *in, ub_writer *out, const char *insert_date,
                       ub_classify_stats *st, ub_err *err)
{
    ub_csv_opts opts = { 0, 1 };   /* bare quotes are data, as the vendor-file cases say */
    ub_buf ob = UB_BUF_INIT, tail = UB_BUF_INIT;
    ub_classify_stats s = { 0, 0, 0 };
    int rc = -1;
    ub_csv *c = ub_csv_open(in, &opts, err);
    if (!c)
        goto out;
    if (!insert_date) {
        ub_err_set(err, "%s: no insert_date given", in->name);
        goto out;
    }
    /* ",<insert_date>\n", the same for every row */
    ub_buf_addc(&tail, ',');
    ub_csv_put_field(&tail, insert_date, strlen(insert_date));
    if (ub_buf_addc(&tail, '\n') < 0) {
        ub_err_oom(err);
        goto out;
    }

    int nf = ub_csv_next(c, err);
    if (nf < 0)
        goto out;
    if (nf == 0) {
        ub_err_set(err, "%s: empty input, expected a header with columns 'cid' and 'review_str'",
                   in->name);
        goto out;
    }
    const ub_csv_field *f = ub_csv_fields(c);
    long icid = find_column(f, nf, "cid", in->name, ub_csv_line(c), err);
    if (icid < 0)
        goto out;
    long irev = find_column(f, nf, "review_str", in->name, ub_csv_line(c), err);
    if (irev < 0)
        goto out;
    ub_csv_expect_fields(c, (size_t)nf);
    if (ub_buf_reserve(&ob, OUT_FLUSH + 4096) < 0 ||
        ub_buf_adds(&ob, "cid,positive_review,insert_date\n") < 0) {
        ub_err_oom(err);
        goto out;
    }

    int r;
    while ((r = ub_csv_next(c, err)) > 0) {
        f = ub_csv_fields(c);
        int pos = ub_classify_positive(f[irev].p, f[irev].n);
        s.rows++;
        s.positive += (uint64_t)pos;
        ub_csv_put_field(&ob, f[icid].p, f[icid].n);
        if (pos)
            ub_buf_add(&ob, ",true", 5);
        else
            ub_buf_add(&ob, ",false", 6);
        if (ub_buf_add(&ob, tail.p, tail.len) < 0) {
            ub_err_set(err, "%s:%llu: out of memory", in->name,
                       (unsigned long long)ub_csv_line(c));
            goto out;
        }
        if (ob.len >= OUT_FLUSH) {
            if (ub_write(out, ob.p, ob.len, err) < 0)
                goto out;
            ub_buf_reset(&ob);
        }
    }
    if (r < 0)
        goto out;
    if (ob.len > 0 && ub_write(out, ob.p, ob.len, err) < 0)
        goto out;
    rc = 0;
out:
    if (c)
        s.bytes = ub_csv_bytes(c);
    if (st)
        *st = s;
    ub_csv_free(c);
    ub_buf_free(&ob);
    ub_buf_free(&tail);
    return rc;
}
