/* test_classify.c — tokenizer, stop words, the "good" fast path and the CSV classifier. */
#include "t.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/classify.h"
#include "io/csv.h"
#include "classify_cases.h"
#include <dirent.h>
#include <stdint.h>

/* ---- memory streams ------------------------------------------------------ */
#include "t_mem.h"

typedef struct mem_writer {
    ub_writer base;
    ub_buf out;
} mem_writer;

static int mem_write(ub_writer *w, const void *buf, size_t n, ub_err *err)
{
    mem_writer *m = (mem_writer *)w;
    if (ub_buf_add(&m->out, buf, n) < 0)
        return ub_err_oom(err);
    m->base.bytes += n;
    return 0;
}

static void mem_writer_init(mem_writer *m)
{
    memset(m, 0, sizeof *m);
    m->base.write = mem_write;
    m->base.name = "out";
    ub_buf_init(&m->out, 0);
}

/* Runs the classifier over input; returns 0/-1, output in *out (caller frees), error in err. */
static int run(const char *input, size_t n, size_t step, char **out, ub_classify_stats *st, ub_err *err)
{
    mem_reader r;
    mem_writer w;
    mem_reader_init(&r, "cases.csv", input, n, step);
    mem_writer_init(&w);
    int rc = ub_classify_stream(&r.base, &w.base, "2021-05-01", st, err);
    ub_buf_addc(&w.out, '\0');
    *out = ub_buf_detach(&w.out, NULL);
    return rc;
}

/* ---- the general path: "good" among the tokens ----------------------------- */
typedef struct tok_list {
    ub_buf text;      /* tokens joined by '|' */
    int    good;
} tok_list;

static int collect(void *ctx, const char *tok, size_t n)
{
    tok_list *t = ctx;
    if (t->text.len || t->text.err)
        ub_buf_addc(&t->text, '|');
    else
        ub_buf_addc(&t->text, '[');
    ub_buf_add(&t->text, tok, n);
    if (n == 4 && memcmp(tok, "good", 4) == 0)
        t->good = 1;
    return 0;
}

static int general_positive(const char *s, size_t n)
{
    tok_list t = { UB_BUF_INIT, 0 };
    int r = ub_text_tokens(s, n, collect, &t);
    ub_buf_free(&t.text);
    return r < 0 ? -1 : t.good;
}

/* Tokens as "[a|b|c" ("" for none) so lists compare as strings. */
static void check_tokens(const char *s, const char *want)
{
    tok_list t = { UB_BUF_INIT, 0 };
    int r = ub_text_tokens(s, strlen(s), collect, &t);
    T_CHECK(r >= 0);
    T_STREQ(ub_buf_str(&t.text), want);
    ub_buf_free(&t.text);
}

static void test_stopwords(void)
{
    static const char *yes[] = { "the", "THE", "The", "a", "i", "I", "don't", "DON'T", "yourselves",
                                 "themselves", "s", "t", "cannot", "would", "why's", "ourselves" };
    static const char *no[] = { "good", "GOOD", "", "th", "thee", "won", "yourselve", "yourselvess",
                                "dont", "don`t", "movie", "the ", "\xC4\xB0", "wo", "ain" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        T_INTEQ(ub_text_is_stopword(yes[i], strlen(yes[i])), 1);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        T_INTEQ(ub_text_is_stopword(no[i], strlen(no[i])), 0);
    /* the full list from the data file: every word is a stop word, in any case */
    FILE *f = fopen("/work/shared/data/spark_english_stopwords.txt", "r");
    if (f) {
        char line[4096];
        int n = 0, ok = 0;
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '#')
                continue;
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0])
                continue;
            n++;
            char up[256];
            size_t k = strlen(line);
            for (size_t i = 0; i <= k; i++)
                up[i] = (char)(line[i] >= 'a' && line[i] <= 'z' ? line[i] - 32 : line[i]);
            ok += ub_text_is_stopword(line, k) && ub_text_is_stopword(up, k);
        }
        fclose(f);
        T_INTEQ(n, 181);
        T_INTEQ(ok, 181);
    }
}

static void test_tokens(void)
{
    check_tokens("", "[");                           /* Java: [""] */
    check_tokens("   ", "");                         /* all trailing empties dropped */
    check_tokens(" good", "[|good");                 /* leading empty kept */
    check_tokens("quite  good  ", "[quite||good");     /* middle empty kept, trailing dropped */
    check_tokens("The good, the BAD", "[good,|bad");
    check_tokens("I am GOOD", "[good");
    check_tokens("Xy\tZ\x0bW\fV\rU\nQ", "[xy|z|w|v|u|q");
    check_tokens("very\xC2\xA0good", "[very\xC2\xA0good");   /* NBSP does not split */
    check_tokens("\xC3\x89T\xC3\x89", "[\xC3\x89t\xC3\x89"); /* only ASCII changes case */
    check_tokens("a the an", "");                    /* all stop words */
    check_tokens("a  the", "[");                     /* "a","","the" -> the empty one stays */
    check_tokens("\x1f" "good", "[\x1fgood");        /* \x1f is not \s */
}

/* ---- fast path == general path -------------------------------------------- */

static uint64_t rng = 0x243F6A8885A308D3ull;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng >> 33) % n);
}

static void test_fast_equals_general(void)
{
    static const char *pieces[] = {
        "good", "GOOD", "Good", "gOoD", "good.", "goodness", "not-good", "ungood", "goo", "d",
        "g", "o", "the", "very", "x", "", " ", " ", "\t", "\x0b", "\f", "\r", "\n", "\r\n",
        "\xC2\xA0", "\xE2\x80\xA8", "\xC2\x85", "\xEF\xBC\xA7\xEF\xBC\xAF\xEF\xBC\xAF\xEF\xBC\xA4",
        "g\xD0\xBE\xD0\xBE" "d", "\x1c", ",", "\"", "\xff", "GOODgood", "I", "am",
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    char s[512];
    int mismatches = 0, positives = 0, cases = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0;
        unsigned k = rnd(14);
        for (unsigned j = 0; j < k; j++) {
            const char *p = pieces[rnd((unsigned)np)];
            size_t l = strlen(p);
            if (n + l + 1 > sizeof s)
                break;
            memcpy(s + n, p, l);
            n += l;
            if (rnd(2))                                  /* often a separator next */
                s[n++] = " \t\n\x0b\f\r"[rnd(6)];
        }
        int fast = ub_classify_positive(s, n), slow = general_positive(s, n);
        mismatches += fast != slow;
        positives += slow == 1;
        cases++;
        if (fast != slow && mismatches < 5)
            fprintf(stderr, "mismatch on [%.*s]: fast %d general %d\n", (int)n, s, fast, slow);
    }
    T_INTEQ(mismatches, 0);
    fprintf(stderr, "fast == general on %d generated reviews (%d positive)\n", cases, positives);
    T_CHECK(positives > cases / 10 && positives < cases - cases / 10);

    /* "good" at every offset of strings up to 80 bytes (SIMD blocks and tails),
     * over a random background of letters and separators */
    static const char bg[] = "ab oG\tdO\n\x0b";
    mismatches = 0;
    for (size_t len = 0; len <= 80; len++) {
        for (size_t at = 0; at + 4 <= len || (at == 0 && len < 4); at++) {
            for (int rep = 0; rep < 8; rep++) {
                for (size_t i = 0; i < len; i++)
                    s[i] = bg[rnd(sizeof bg - 1)];
                if (at + 4 <= len)
                    memcpy(s + at, rep & 1 ? "GooD" : "good", 4);
                int fast = ub_classify_positive(s, len), slow = general_positive(s, len);
                mismatches += fast != slow;
            }
            if (len < 4)
                break;
        }
    }
    T_INTEQ(mismatches, 0);

    /* hand-worked */
    T_INTEQ(ub_classify_positive("good", 4), 1);
    T_INTEQ(ub_classify_positive("GOOD", 4), 1);
    T_INTEQ(ub_classify_positive("", 0), 0);
    T_INTEQ(ub_classify_positive("good.", 5), 0);
    T_INTEQ(ub_classify_positive("goodness", 8), 0);
    T_INTEQ(ub_classify_positive("not-good", 8), 0);
    T_INTEQ(ub_classify_positive("it is\x0bgood", 10), 1);
    T_INTEQ(ub_classify_positive("very\xC2\xA0good", 10), 0);
    T_INTEQ(ub_classify_positive("0123456789abcdefghij good", 25), 1);
    T_INTEQ(ub_classify_positive("0123456789abcdefghij goo", 24), 0);
}

/* ---- the vendor-file cases --------------------------------------------------- */

static void test_cases(void)
{
    for (size_t i = 0; i < CLASSIFY_NCASES; i++) {
        const struct classify_case *k = &classify_cases[i];
        for (int variant = 0; variant < 3; variant++) {
            /* 0: line + LF, 1: no final newline, 2: CRLF and 1-byte reads */
            ub_buf in = UB_BUF_INIT;
            ub_buf_adds(&in, variant == 2 ? "cid,review_str\r\n" : "cid,review_str\n");
            ub_buf_add(&in, k->line, k->line_len);
            if (variant != 1)
                ub_buf_adds(&in, variant == 2 ? "\r\n" : "\n");
            char *out = NULL;
            ub_err err = { "" };
            ub_classify_stats st;
            int rc = run(in.p, in.len, variant == 2 ? 1 : 0, &out, &st, &err);
            if (k->nfields < 0) {
                T_INTEQ(rc, -1);
                T_CHECK(strncmp(err.msg, "cases.csv:2: ", 13) == 0);
                T_CHECK(strstr(err.msg, k->error) != NULL);
                if (rc != -1 || !strstr(err.msg, k->error))
                    fprintf(stderr, "  case '%s': [%s]\n", k->name, err.msg);
            } else {
                T_INTEQ(rc, 0);
                /* expected output built from the case's fields by hand rules:
                 * cid quoted iff it holds , " CR LF */
                ub_buf want = UB_BUF_INIT;
                ub_buf_adds(&want, "cid,positive_review,insert_date\n");
                const char *cid = k->field[0];
                size_t cn = k->field_len[0];
                if (strpbrk(cid, ",\"\r\n")) {
                    ub_buf_addc(&want, '"');
                    for (size_t j = 0; j < cn; j++) {
                        if (cid[j] == '"')
                            ub_buf_addc(&want, '"');
                        ub_buf_addc(&want, cid[j]);
                    }
                    ub_buf_addc(&want, '"');
                } else {
                    ub_buf_add(&want, cid, cn);
                }
                ub_buf_adds(&want, k->positive ? ",true,2021-05-01\n" : ",false,2021-05-01\n");
                T_STREQ(out, ub_buf_str(&want));
                T_INTEQ(st.rows, 1);
                T_INTEQ(st.positive, k->positive);
                T_INTEQ(st.bytes, in.len);
                if (rc != 0)
                    fprintf(stderr, "  case '%s': [%s]\n", k->name, err.msg);
                ub_buf_free(&want);
                /* the fields themselves, and both classifier paths on the review */
                mem_reader r;
                mem_reader_init(&r, "cases.csv", in.p, in.len, 0);
                ub_csv_opts o = { 0, 1 };
                ub_csv *c = ub_csv_open(&r.base, &o, &err);
                T_INTEQ(ub_csv_next(c, &err), 2);
                T_INTEQ(ub_csv_next(c, &err), 2);
                const ub_csv_field *f = ub_csv_fields(c);
                for (int j = 0; j < 2; j++)
                    T_CHECK(f[j].n == k->field_len[j] && memcmp(f[j].p, k->field[j], f[j].n) == 0);
                T_INTEQ(ub_classify_positive(f[1].p, f[1].n), k->positive);
                T_INTEQ(general_positive(f[1].p, f[1].n), k->positive);
                T_INTEQ(ub_csv_next(c, &err), 0);
                ub_csv_free(c);
            }
            ub_free(out);
            ub_buf_free(&in);
        }
    }
}

/* ---- the stream: header, quoting, errors, stats ------------------------------ */

static void test_stream(void)
{
    char *out = NULL;
    ub_err err = { "" };
    ub_classify_stats st;
    const char *in1 =
        "\xEF\xBB\xBF" "Review_Str,extra,CID\n"
        "\"Good\",x,\"12,3\"\n"
        "\"not good.\",y,\"say \"\"hi\"\"\"\n"
        "\"multi\nline good\",z,  7 \n"
        "\n"
        ",w,\n";
    T_INTEQ(run(in1, strlen(in1), 0, &out, &st, &err), 0);
    T_STREQ(out, "cid,positive_review,insert_date\n"
                 "\"12,3\",true,2021-05-01\n"
                 "\"say \"\"hi\"\"\",false,2021-05-01\n"
                 "  7 ,true,2021-05-01\n"
                 ",false,2021-05-01\n");
    T_INTEQ(st.rows, 4);
    T_INTEQ(st.positive, 2);
    T_INTEQ(st.bytes, strlen(in1));
    ub_free(out);

    const char *hdr = "cid,review_str\n";
    T_INTEQ(run(hdr, strlen(hdr), 0, &out, &st, &err), 0);
    T_STREQ(out, "cid,positive_review,insert_date\n");
    T_INTEQ(st.rows, 0);
    ub_free(out);

    T_INTEQ(run("", 0, 0, &out, &st, &err), -1);
    T_STREQ(err.msg, "cases.csv: empty input, expected a header with columns 'cid' and 'review_str'");
    ub_free(out);
    const char *nocol = "cid,review\n1,good\n";
    T_INTEQ(run(nocol, strlen(nocol), 0, &out, &st, &err), -1);
    T_STREQ(err.msg, "cases.csv:1: header has no column 'review_str'");
    ub_free(out);
    const char *twice = "cid,review_str,CID\n1,good,2\n";
    T_INTEQ(run(twice, strlen(twice), 0, &out, &st, &err), -1);
    T_STREQ(err.msg, "cases.csv:1: column 'cid' appears twice in the header");
    ub_free(out);
    const char *ragged = "cid,review_str\n1,good\n2,\"a\nb\"\n3,x,y\n";
    T_INTEQ(run(ragged, strlen(ragged), 0, &out, &st, &err), -1);
    T_STREQ(err.msg, "cases.csv:5: record has 3 fields, expected 2 (header)");
    T_INTEQ(st.rows, 2);
    ub_free(out);
    const char *unterm = "cid,review_str\n1,good\n2,\"never\nclosed\n";
    T_INTEQ(run(unterm, strlen(unterm), 0, &out, &st, &err), -1);
    T_STREQ(err.msg, "cases.csv:3: unterminated quoted field 2 (quote opened on this line)");
    ub_free(out);

    /* many rows: output crosses the flush size and matches row by row */
    ub_buf big = UB_BUF_INIT, want = UB_BUF_INIT;
    ub_buf_adds(&big, "cid,review_str\n");
    ub_buf_adds(&want, "cid,positive_review,insert_date\n");
    int npos = 0;
    for (int i = 0; i < 20000; i++) {
        int p = (i * 7) % 3 == 0;
        npos += p;
        ub_buf_addf(&big, "%d,\"row %d, is %s ok\"\n", i, i, p ? "good" : "bad");
        ub_buf_addf(&want, "%d,%s,2021-05-01\n", i, p ? "true" : "false");
    }
    T_INTEQ(run(big.p, big.len, 999, &out, &st, &err), 0);
    T_CHECK(out && strcmp(out, ub_buf_str(&want)) == 0);
    T_INTEQ(st.rows, 20000);
    T_INTEQ(st.positive, npos);
    ub_free(out);
    ub_buf_free(&big);
    ub_buf_free(&want);
}

/* Allocation failures anywhere give "out of memory" errors, never a crash. */
static void test_oom(void)
{
    const char *in = "cid,review_str\n1,good\n2,\"a \"\"b\"\"\"\n";
    int failures = 0, successes = 0;
    for (long n = 1; n < 40; n++) {
        char *out = NULL;
        ub_err err = { "" };
        ub_mem_fail_after(n);
        int rc = run(in, strlen(in), 0, &out, NULL, &err);
        ub_mem_fail_after(0);
        if (rc < 0) {
            failures++;
            T_CHECK(strstr(err.msg, "out of memory") != NULL);
        } else {
            successes++;
        }
        ub_free(out);
    }
    T_CHECK(failures > 0 && successes > 0);
}

/* Real review samples, if present (never committed): the reader accepts
 * them and both classifier paths agree on every review. */
static void test_real_samples(void)
{
    static const struct { const char *path; int nf; int rows; } files[] = {
        { "/work/shared/data/real/movie_review_ywchiu_imdb_ironman.csv", 5, 875 },
        { "/work/shared/data/real/imdb_sample_499.csv", 1, 499 },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ub_err err = { "" };
        ub_reader *r = ub_file_reader_open(files[i].path, &err);
        if (!r)
            continue;
        ub_csv *c = ub_csv_open(r, NULL, &err);
        int nf = ub_csv_next(c, &err), rows = 0, agree = 0, pos = 0;
        T_INTEQ(nf, files[i].nf);
        ub_csv_expect_fields(c, (size_t)nf);
        int textcol = nf == 5 ? 2 : 0;
        while ((nf = ub_csv_next(c, &err)) > 0) {
            const ub_csv_field *f = ub_csv_fields(c);
            int a = ub_classify_positive(f[textcol].p, f[textcol].n);
            int b = general_positive(f[textcol].p, f[textcol].n);
            agree += a == b;
            pos += a;
            rows++;
        }
        T_INTEQ(nf, 0);
        T_INTEQ(rows, files[i].rows);
        T_INTEQ(agree, rows);
        T_CHECK(pos > 0 && pos < rows);
        ub_csv_free(c);
        ub_reader_close(r);
    }
}

int main(void)
{
    test_stopwords();
    test_tokens();
    test_fast_equals_general();
    test_cases();
    test_stream();
    test_oom();
    test_real_samples();
    return t_done("test_classify");
}
