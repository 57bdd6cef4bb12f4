/* test_csv.c — the RFC 4180 reader and field writer: hand-worked cases, errors, chunking. */
#include "t.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/csv.h"
#include <stdint.h>

#include "t_mem.h"

/* Parses all of input (n bytes) and renders the result as text:
 * "L<line>|<field>|<field>\n" per record, with field bytes escaped
 * (\n, \r, \\, \| and \xNN for other control bytes), then "E:<message>" if the
 * reader failed.  expect = fixed field count or 0. */
static char *render(const char *input, size_t n, size_t step, size_t expect, int bare, size_t max)
{
    mem_reader m;
    mem_reader_init(&m, "t.csv", input, n, step);
    ub_csv_opts o = { max, bare };
    ub_err err = { "" };
    ub_buf out = UB_BUF_INIT;
    ub_csv *c = ub_csv_open(&m.base, &o, &err);
    if (!c)
        return NULL;
    ub_csv_expect_fields(c, expect);
    int nf;
    while ((nf = ub_csv_next(c, &err)) > 0) {
        const ub_csv_field *f = ub_csv_fields(c);
        ub_buf_addf(&out, "L%llu", (unsigned long long)ub_csv_line(c));
        for (int i = 0; i < nf; i++) {
            ub_buf_addc(&out, '|');
            for (size_t k = 0; k < f[i].n; k++) {
                unsigned char ch = (unsigned char)f[i].p[k];
                if (ch == '\n')
                    ub_buf_adds(&out, "\\n");
                else if (ch == '\r')
                    ub_buf_adds(&out, "\\r");
                else if (ch == '\\' || ch == '|')
                    ub_buf_addf(&out, "\\%c", ch);
                else if (ch < 0x20)
                    ub_buf_addf(&out, "\\x%02x", ch);
                else
                    ub_buf_addc(&out, (char)ch);
            }
        }
        ub_buf_addc(&out, '\n');
    }
    if (nf < 0)
        ub_buf_addf(&out, "E:%s", err.msg);
    ub_csv_free(c);
    ub_buf_addc(&out, '\0');   /* keep "" distinct from a buffer error */
    return ub_buf_detach(&out, NULL);
}

/* Checks the whole-buffer result against want and that 1-, 2-, 3- and
 * 7-byte reads give exactly the same. */
static void check_opts(const char *input, size_t n, size_t expect, int bare, size_t max, const char *want)
{
    char *whole = render(input, n, 0, expect, bare, max);
    T_STREQ(whole, want);
    static const size_t steps[] = { 1, 2, 3, 7 };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char *part = render(input, n, steps[i], expect, bare, max);
        T_STREQ(part, want);
        ub_free(part);
    }
    ub_free(whole);
}

static void check(const char *input, size_t expect, const char *want)
{
    check_opts(input, strlen(input), expect, 0, 0, want);
}

static void test_basic(void)
{
    check("a,b\nc,d\n", 0, "L1|a|b\nL2|c|d\n");
    check("a,b\nc,d", 0, "L1|a|b\nL2|c|d\n");                 /* no final newline */
    check("", 0, "");
    check("\n", 0, "");                                        /* empty last line: no record */
    check("a\n\n\nb\n", 0, "L1|a\nL4|b\n");                    /* blank lines skipped, counted */
    check(",,\n", 0, "L1|||\n");                               /* three empty fields */
    check("a,\n", 0, "L1|a|\n");
    check("a,", 0, "L1|a|\n");
    check("\"\"\n", 0, "L1|\n");                               /* quoted empty is a record */
    check(" a , b \n", 0, "L1| a | b \n");                     /* nothing trimmed */
    check("a\\b,\"c\\\"\n", 0, "L1|a\\\\b|c\\\\\n");           /* backslash is data */
}

static void test_bom_and_line_ends(void)
{
    check("\xEF\xBB\xBF" "a,b\n1,2\n", 0, "L1|a|b\nL2|1|2\n");
    check("x\xEF\xBB\xBF,b\n", 0, "L1|x\xEF\xBB\xBF|b\n");       /* only at offset 0 */
    check("a,b\r\n1,2\r\n", 0, "L1|a|b\nL2|1|2\n");
    check("a,b\r\n\r\n1,2", 0, "L1|a|b\nL3|1|2\n");
    check("a\rb,c\n", 0, "L1|a\\rb|c\n");                       /* lone CR is data */
    check("a,b\r", 0, "L1|a|b\\r\n");                            /* even at the end */
    check("a,\"b\"\r\nc\n", 0, "L1|a|b\nL2|c\n");
    check("\"q\"\n", 0, "L1|q\n");
}

static void test_quoted(void)
{
    check("h1,h2\n1,\"x\ny\"\n2,z\n", 0, "L1|h1|h2\nL2|1|x\\ny\nL4|2|z\n");
    check("1,\"a\r\n\r\nb\"\n2\n", 0, "L1|1|a\\r\\n\\r\\nb\nL4|2\n");
    check("\"a \"\"b\"\" c\",\"\"\"\"\n", 0, "L1|a \"b\" c|\"\n");
    check("\"\"\"good\"\" movie\"\n", 0, "L1|\"good\" movie\n");
    check("\"a,b\",\"c\n,d\",e\n", 0, "L1|a,b|c\\n,d|e\n");
    check("\"\",\"\"\n", 0, "L1||\n");
    check("\"x\"", 0, "L1|x\n");                                 /* closing quote at EOF */
    check("1,\"\n\n\"\n\n2\n", 0, "L1|1|\\n\\n\nL5|2\n");
}

static void test_errors(void)
{
    check("h1,h2\n1,2\n1,2,3\n", 2,
          "L1|h1|h2\nL2|1|2\nE:t.csv:3: record has 3 fields, expected 2 (header)");
    check("h1,h2\n1,\"a\nb\"\n9\n", 2,
          "L1|h1|h2\nL2|1|a\\nb\nE:t.csv:4: record has 1 field, expected 2 (header)");
    check("a,b\n1,\"abc\ndef\n", 0,
          "L1|a|b\nE:t.csv:2: unterminated quoted field 2 (quote opened on this line)");
    check("\"", 0, "E:t.csv:1: unterminated quoted field 1 (quote opened on this line)");
    check("a,b\"c\n", 0, "E:t.csv:1: quote inside unquoted field 2");
    check("\"a\"b,c\n", 0, "E:t.csv:1: text after closing quote of field 1");
    check("x\n\"a\" ,c\n", 0, "L1|x\nE:t.csv:2: text after closing quote of field 1");
    check("\"a\nb\"x\n", 0, "E:t.csv:2: text after closing quote of field 1");
    check("\"a\"\r", 0, "E:t.csv:1: text after closing quote of field 1");
    /* bare quotes allowed: the quote is data */
    check_opts("a,b\"c\n1, \"q\"\n", 13, 0, 1, 0, "L1|a|b\"c\nL2|1| \"q\"\n");
}

static void test_record_cap(void)
{
    /* "0123456789abcde\n" is 16 bytes: fits a 16-byte cap; 17 bytes do not */
    check_opts("0123456789abcde\nx\n", 18, 0, 0, 16, "L1|0123456789abcde\nL2|x\n");
    check_opts("x\n0123456789abcdef\n", 19, 0, 0, 16,
               "L1|x\nE:t.csv:2: record longer than 16 bytes");
    check_opts("x\n\"0123456789\nabcdef\"\n", 22, 0, 0, 16,
               "L1|x\nE:t.csv:2: record longer than 16 bytes");
}

/* A 3 MB record: the buffer grows past its first size, the doubled quotes
 * are undone in place and the lines after it are numbered right. */
static void test_big_record(void)
{
    ub_buf in = UB_BUF_INIT;
    size_t reps = 300000;             /* ab""c<LF>,d<SP> = 9 bytes in, 8 out */
    ub_buf_adds(&in, "id,text\n7,\"");
    for (size_t i = 0; i < reps; i++)
        ub_buf_adds(&in, "ab\"\"c\n,d ");
    ub_buf_adds(&in, "\"\n8,end\n");
    T_CHECK(in.err == 0);
    for (int pass = 0; pass < 2; pass++) {
        mem_reader m;
        mem_reader_init(&m, "t.csv", in.p, in.len, pass ? 4093 : 0);
        ub_err err = { "" };
        ub_csv *c = ub_csv_open(&m.base, NULL, &err);
        T_CHECK(c != NULL);
        ub_csv_expect_fields(c, 2);
        T_INTEQ(ub_csv_next(c, &err), 2);
        T_INTEQ(ub_csv_next(c, &err), 2);
        const ub_csv_field *f = ub_csv_fields(c);
        T_INTEQ(ub_csv_line(c), 2);
        T_INTEQ(f[1].n, reps * 8);
        int same = f[1].n == reps * 8;
        for (size_t i = 0; i < reps && same; i++)
            same = memcmp(f[1].p + i * 8, "ab\"c\n,d ", 8) == 0;
        T_CHECK(same);
        T_INTEQ(ub_csv_next(c, &err), 2);
        T_INTEQ(ub_csv_line(c), 2 + reps + 1);
        f = ub_csv_fields(c);
        T_CHECK(f[1].n == 3 && memcmp(f[1].p, "end", 3) == 0);
        T_INTEQ(ub_csv_next(c, &err), 0);
        T_INTEQ(ub_csv_bytes(c), in.len);
        ub_csv_free(c);
    }
    ub_buf_free(&in);
}

static void test_put_field(void)
{
    ub_buf b = UB_BUF_INIT;
    ub_csv_put_field(&b, "abc", 3);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, "a,b", 3);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, "a\"b", 3);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, "a\rb", 3);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, "a\nb", 3);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, "", 0);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, " x ", 3);
    ub_buf_addc(&b, '|');
    ub_csv_put_field(&b, "\"\"", 2);
    T_STREQ(ub_buf_str(&b), "abc|\"a,b\"|\"a\"\"b\"|\"a\rb\"|\"a\nb\"|| x |\"\"\"\"\"\"");
    ub_buf_free(&b);
}

/* Random records written with ub_csv_put_field read back as the same fields. */
static void test_round_trip(void)
{
    static const char alphabet[] = "ab ,\"\r\n\\x\xC3\xA9";
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    ub_buf file = UB_BUF_INIT, want = UB_BUF_INIT;
    int nrec = 3000;
    for (int r = 0; r < nrec; r++) {
        ub_buf_adds(&want, "R");
        for (int f = 0; f < 3; f++) {
            char field[40];
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t len = (size_t)(seed >> 59);                 /* 0..31 */
            for (size_t i = 0; i < len; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                field[i] = alphabet[(seed >> 33) % (sizeof alphabet - 1)];
            }
            if (f)
                ub_buf_addc(&file, ',');
            ub_csv_put_field(&file, field, len);
            ub_buf_addf(&want, "|%zu:", len);
            ub_buf_add(&want, field, len);
        }
        ub_buf_adds(&file, r % 2 ? "\r\n" : "\n");
        ub_buf_addc(&want, '\n');
    }
    T_CHECK(file.err == 0 && want.err == 0);
    for (int pass = 0; pass < 2; pass++) {
        mem_reader m;
        mem_reader_init(&m, "t.csv", file.p, file.len, pass ? 5 : 0);
        ub_err err = { "" };
        ub_buf got = UB_BUF_INIT;
        ub_csv *c = ub_csv_open(&m.base, NULL, &err);
        ub_csv_expect_fields(c, 3);
        int nf, n = 0;
        while ((nf = ub_csv_next(c, &err)) > 0) {
            const ub_csv_field *f = ub_csv_fields(c);
            ub_buf_adds(&got, "R");
            for (int i = 0; i < nf; i++) {
                ub_buf_addf(&got, "|%zu:", f[i].n);
                ub_buf_add(&got, f[i].p, f[i].n);
            }
            ub_buf_addc(&got, '\n');
            n++;
        }
        T_INTEQ(nf, 0);
        T_INTEQ(n, nrec);
        T_CHECK(got.len == want.len && memcmp(got.p, want.p, want.len) == 0);
        ub_csv_free(c);
        ub_buf_free(&got);
    }
    ub_buf_free(&file);
    ub_buf_free(&want);
}

/* The fixtures in tests/data/csv: file in, expected rendering next to it. */
static void test_fixtures(void)
{
    static const char *names[] = { "quoted_multiline", "crlf_bom", "ragged" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/data/csv/%s.csv", names[i]);
        FILE *f = fopen(t_path(path), "rb");
        snprintf(path, sizeof path, "tests/data/csv/%s.expected", names[i]);
        FILE *g = fopen(t_path(path), "rb");
        T_CHECK(f && g);
        if (!f || !g) {
            if (f)
                fclose(f);
            if (g)
                fclose(g);
            continue;
        }
        static char in[65536], want[65536];
        size_t n = fread(in, 1, sizeof in, f), k = fread(want, 1, sizeof want - 1, g);
        want[k] = '\0';
        fclose(f);
        fclose(g);
        /* the first line of .expected names the fixed field count */
        char *nl = strchr(want, '\n');
        size_t expect = (size_t)strtoul(want, NULL, 10);
        T_CHECK(nl != NULL);
        if (nl) {
            /* drop the final newline of .expected after an error line */
            size_t wl = strlen(nl + 1);
            if (wl && nl[wl] == '\n' && strstr(nl + 1, "E:"))
                nl[wl] = '\0';
            check_opts(in, n, expect, 0, 0, nl + 1);
        }
    }
}

int main(void)
{
    test_basic();
    test_bom_and_line_ends();
    test_quoted();
    test_errors();
    test_record_cap();
    test_big_record();
    test_put_field();
    test_round_trip();
    test_fixtures();
    return t_done("test_csv");
}
