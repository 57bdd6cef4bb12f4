/* test_pgbin.c — CSV into PostgreSQL's binary COPY format (io/pgbin.h): the bytes of every
 * kind against the server's own, where and why the conversion stops, the rest handed on,
 * chunked input, records longer than the first buffer, read errors and allocation failures.
 *
 * Where the expected bytes come from.  Every W_* constant below is the output of a real
 * PostgreSQL 15.18 (Debian 15.18-0+deb12u1, DateStyle ISO, UTF8), not of the code under test:
 *
 *     CREATE TABLE g (<the columns named above the constant>);
 *     COPY g FROM STDIN (FORMAT csv, HEADER true);   -- the case's CSV; for a case that
 *                                                     -- stops, only its bytes before the
 *                                                     -- stopping record
 *     COPY g TO STDOUT (FORMAT binary);              -- | xxd -p
 *
 * with the 19-byte header (HDR, the documented signature "PGCOPY\n\377\r\n\0", flags 0,
 * header extension length 0) factored out.  Two kinds use the type without its typmod
 * there: numeric(8,3) as numeric and char(3) as text.  COPY TO shows those values after the
 * column's typmod was applied (numeric(8,3) '1.5' is sent as 1.500, dscale 3; char(3) 'ab'
 * as 'ab ' padded), but the converter sends the value as typed and the server applies the
 * typmod on the way in (numeric_recv and bpcharrecv take the column's typmod), so what is
 * stored is the same.  That was checked on the same server for every case in this file: the
 * converter's stream loaded with COPY ... (FORMAT binary) (and, after a stop, the rest with
 * COPY ... (FORMAT csv, HEADER true)) and then dumped with COPY TO (FORMAT binary) gave exactly the
 * bytes of the plain CSV load, or the plain CSV load failed with the same error as the rest.
 *
 * The column types (oid and atttypmod) are pg_attribute's on that server: varchar(3) 1043/7,
 * char(3) 1042/7, numeric(8,3) 1700/524295, numeric(1000,0) 1700/65536004, numeric(3,-1)
 * 1700/198659, numeric(2,5) 1700/131081, char 1042/5, bpchar and varchar 1042/-1, 1043/-1.
 */
#include "t.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/pgbin.h"
#include <stdint.h>

#include "t_mem.h"

/* ---- helpers ----------------------------------------------------------- */

static char ctx[256];   /* the case being run, for failure messages */

#define CK(c) do { if (c) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, ctx, #c); } } while (0)

/* Hex digits (whitespace between them ignored) into out. */
static void unhex(const char *h, ub_buf *out)
{
    int hi = -1;
    for (; *h; h++) {
        int v = *h >= '0' && *h <= '9' ? *h - '0' : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10 : -1;
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            ub_buf_addc(out, (char)(hi * 16 + v));
            hi = -1;
        }
    }
}

static void show_hex(const char *what, const char *p, size_t n)
{
    fprintf(stderr, "  %s (%zu bytes): ", what, n);
    for (size_t i = 0; i < n && i < 400; i++)
        fprintf(stderr, "%02x", (unsigned char)p[i]);
    fprintf(stderr, "%s\n", n > 400 ? "..." : "");
}

/* The columns of a type list: "int4 text!" (! after a type: NOT NULL), through
 * ub_pgbin_col_of with the server's oids and typmods; the count, 0 on a bad list. */
static size_t cols_of(const char *list, ub_pgbin_col *cols, size_t max)
{
    static const struct { const char *name; uint32_t oid; int32_t typmod; } types[] = {
        { "bool", 16, -1 },        { "int2", 21, -1 },           { "int4", 23, -1 },
        { "int8", 20, -1 },        { "text", 25, -1 },           { "varchar(3)", 1043, 7 },
        { "varchar(10)", 1043, 14 }, { "char(3)", 1042, 7 },     { "numeric", 1700, -1 },
        { "numeric(8,3)", 1700, 524295 }, { "date", 1082, -1 },  { "timestamp", 1114, -1 },
    };
    size_t n = 0;
    const char *p = list;
    while (*p && n < max) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int notnull = len && p[len - 1] == '!';
        size_t tl = len - (size_t)notnull, i;
        for (i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strlen(types[i].name) == tl && memcmp(types[i].name, p, tl) == 0)
                break;
        if (i == sizeof types / sizeof types[0] ||
            ub_pgbin_col_of(types[i].oid, types[i].typmod, notnull, &cols[n]))
            return 0;
        n++;
        p += len + (e != NULL);
    }
    return n;
}

/* Reads r to its end, rd bytes at most a call, into out: 0, -1 on a read error, -2 when a
 * read returned more than asked. */
static int drain(ub_reader *r, size_t rd, ub_buf *out, ub_err *err)
{
    static char buf[65536];
    if (rd > sizeof buf)
        rd = sizeof buf;
    for (;;) {
        ssize_t k = ub_read(r, buf, rd, err);
        if (k < 0)
            return -1;
        if (k == 0)
            return 0;
        if ((size_t)k > rd)
            return -2;
        ub_buf_add(out, buf, (size_t)k);
    }
}

/* ---- the cases ---------------------------------------------------------- */

#define HDR "5047434f50590aff0d0a00" "00000000" "00000000"

/* (a int4): hdr_only, empty, hdr_no_lf, first_record, hdr_few, hdr_crlf, hdr_bare_quote */
#define W_NONE HDR \
    "ffff"
/* (b bool): bool */
#define W_BOOL HDR \
    "000100000001010001000000010000010000000101000100000001000001ffff" \
    "ffffffff"
/* (a int2, b int4, c int8): ints */
#define W_INTS HDR \
    "0003000000028000000000048000000000000008800000000000000000030000" \
    "00027fff000000047fffffff000000087fffffffffffffff0003000000020000" \
    "0000000400000000000000080000000000000000000300000002000700000004" \
    "ffffffd60000000800000000000000010003ffffffffffffffffffffffff0003" \
    "000000020000000000040000000000000008000000000000000cffff"
/* (a text, b text): text */
#define W_TEXT HDR \
    "00020000000c61202271756f746564222062000000000002ffffffff00000001" \
    "220002000000126c696e65310a6c696e65320d0a6c696e653300000005706c61" \
    "696e00020000000a68c3a96c6c6f20e282ac00000004f09d849e000200000003" \
    "612c62ffffffff0002000000025c4e00000003785c2e000200000005206c6561" \
    "640000000720747261696c20000200000003656e640000000171ffff"
/* (v varchar(3)): varchar */
#define W_VARCHAR HDR \
    "000100000009c3a9e282acf09d849e0001000000036162630001000000036122" \
    "620001000000000001ffffffffffff"
/* (n numeric): numeric */
#define W_NUMERIC HDR \
    "0001000000080000000000000000000100000008000000000000000300010000" \
    "000a0001ffff40000003138800010000000c0002000000000003000c0d7a0001" \
    "0000000a0001ffff00000003000a00010000000a000100010000000000010001" \
    "000000100004000200000004000109291a85007b000100000008000000000000" \
    "000000010000000c0002000000000002000c138800010000000c000200000000" \
    "00010001138800010000000e00030001000000030009270f2706000100000024" \
    "000e000740000015000c0d801ed204d2162e23340d801ed20000000000000000" \
    "000003e8ffff"
/* (n numeric): numeric83 */
#define W_NUMERIC83 HDR \
    "0001000000080000000000000000000100000008000000000000000300010000" \
    "000a0001ffff40000003138800010000000c0002000000000003000c0d7a0001" \
    "0000000c00020000000000010001138800010000000e00030001000000030009" \
    "270f270600010000000a0001ffff00000003000a00010000000a000100010000" \
    "0000000100010000000c0002000000000003000c0d7a00010000000e00030001" \
    "400000030009270f2706ffff"
/* (d date): date */
#define W_DATE HDR \
    "00010000000400000000000100000004ffffffff000100000004fff4dbf90001" \
    "00000004002c95d300010000000400001cc40001000000040000003b00010000" \
    "0004ffff718e00010000000400000000ffff"
/* (t timestamp): timestamp */
#define W_TIMESTAMP HDR \
    "00010000000800025f877941cb4000010000000800025f8779496c6000010000" \
    "000800025f877943a00000010000000800025f877943abb80001000000080002" \
    "5f877943ad4800010000000800025f877943ad7a00010000000800025f877943" \
    "ad80000100000008ff1fe2ffc59c60000001000000080380e70b913b7fff0001" \
    "000000080000000000000000000100000008fffffffffff0bdc1000100000008" \
    "00025f812f282000ffff"
/* (d date, t timestamp): date_ts */
#define W_DATE_TS HDR \
    "00020000000400001e330000000800025f820d1098c000020000000400001e33" \
    "0000000800025f962ae7f8c000020000000400001e340000000800025f820d10" \
    "98c0ffff"
/* (a text, b int4, c text not null, d bool): nulls */
#define W_NULLS HDR \
    "0004ffffffffffffffff00000000ffffffff000400000000ffffffff00000001" \
    "78ffffffffffff"
/* (c text): char3 */
#define W_CHAR3 HDR \
    "0001000000026162000100000009c3a9e282acf09d849e0001ffffffffffff"
/* (a int4, b text): bare_quote, after_quote, crlf, cr_after_quote, eod_marker, eod_marker2, too_many, too_few, utf8_ff, utf8_overlong, utf8_surrogate, utf8_trunc, utf8_big, nul, nul_quoted, unterminated, plus, int4_over, int4_under, int_space, int_quoted_empty, int_1e5, int_minus, notnull, notnull2, eod_marker_eof, mixed_eol */
#define W_PRE HDR \
    "0002000000040000000100000003780a79000200000004000000020000000570" \
    "6c61696effff"
/* (v varchar(3)): varchar_over */
#define W_ABC HDR \
    "000100000003616263ffff"
/* (n numeric): num_scale, num_prec, num_exp, num_inf, num_nan, num_dot5, num_5dot, num_plus */
#define W_N1 HDR \
    "00010000000a00010000000000000001ffff"
/* (d date): date_feb29, date_inf, date_y0, date_m13, date_short */
#define W_D1 HDR \
    "00010000000400000000ffff"
/* (t timestamp): ts_24, ts_60, ts_T, ts_dot, ts_7, ts_inf, ts_dateonly */
#define W_T1 HDR \
    "00010000000800025aca30ada000ffff"
/* (b bool): bool_TRUE, bool_yes, bool_1 */
#define W_B1 HDR \
    "00010000000101ffff"
/* (a int2): int2_over */
#define W_I2_1 HDR \
    "0001000000020001ffff"
/* (a int8): int8_over, int8_under */
#define W_I8_1 HDR \
    "0001000000080000000000000001ffff"
/* (a int4, b text): multi_before */
#define W_MULTI_BEFORE HDR \
    "00020000000400000001000000030a0a0a00020000000400000002000000020d" \
    "0affff"
/* (a text): backslash_eof */
#define W_BACKSLASH_EOF HDR \
    "000100000001780001000000015cffff"

typedef struct pcase {
    const char *name;
    const char *cols;       /* for cols_of */
    const char *csv;
    size_t      len;
    const char *want;       /* the whole binary stream, hex */
    uint64_t    rows;
    const char *why;        /* NULL: converted to the end; else a part of ub_pgbin_stopped's reason */
    uint64_t    line;       /* the stop's line */
    size_t      rest;       /* the stopping record's offset in csv */
    size_t      head;       /* the header record's length (0 when the stop is at it): the rest
                             * is the header again, then csv from rest to its end */
} pcase;

#define S(lit) lit, sizeof lit - 1
#define V1 "column 1: a value not in a form ubpipe converts exactly"
#define V2 "column 2: a value not in a form ubpipe converts exactly"

/* The stop cases mostly share one start (PRE): the header (line 1), a record with a line
 * feed in quotes (lines 2-3) and one more (line 4), so they stop at line 5, offset 20. */
static const pcase cases[] = {
    /* the header and trailer alone: a header only, no input at all, a header without LF */
    { "hdr_only", "int4",
      S("a\n"),
      W_NONE, 0, NULL, 0, 0, 0 },
    { "empty", "int4",
      S(""),
      W_NONE, 0, NULL, 0, 0, 0 },
    { "hdr_no_lf", "int4",
      S("a"),
      W_NONE, 0, NULL, 0, 0, 0 },
    /* every kind, converted to the end (the last record of text without a final LF) */
    { "bool", "bool",
      S("b\nt\nf\ntrue\nfalse\n\n"),
      W_BOOL, 5, NULL, 0, 0, 0 },
    { "ints", "int2 int4 int8",
      S("a,b,c\n-32768,-2147483648,-9223372036854775808\n"
        "32767,2147483647,9223372036854775807\n0,-0,-0\n"
        "007,-000042,0000000000000000000000000001\n,,\n-00000,00000,\"12\"\n"),
      W_INTS, 6, NULL, 0, 0, 0 },
    { "text", "text text",
      S("x,y\n\"a \"\"quoted\"\" b\",\"\"\n,\"\"\"\"\n\"line1\nline2\r\nline3\",plain\n"
        "h\xc3\xa9llo \xe2\x82\xac,\xf0\x9d\x84\x9e\n\"a,b\",\n\\N,x\\.\n"
        "\" lead\", trail \nend,\"q\""),
      W_TEXT, 8, NULL, 0, 0, 0 },
    { "varchar", "varchar(3)",
      S("v\n\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\nabc\n\"a\"\"b\"\n\"\"\n\n"),
      W_VARCHAR, 5, NULL, 0, 0, 0 },
    { "numeric", "numeric",
      S("n\n0\n0.000\n-0.500\n12.345\n0.001\n10000\n123456789.0123\n-0\n00012.50\n1.5\n"
        "99999.999\n-123456789012345678901234567890.000000000000000000001\n"),
      W_NUMERIC, 12, NULL, 0, 0, 0 },
    { "numeric83", "numeric(8,3)",
      S("n\n0\n0.000\n-0.500\n12.345\n1.5\n99999.999\n0.001\n10000\n00000012.345\n"
        "-99999.999\n"),
      W_NUMERIC83, 10, NULL, 0, 0, 0 },
    { "date", "date",
      S("d\n2000-01-01\n1999-12-31\n0001-01-01\n9999-12-31\n2020-02-29\n2000-02-29\n"
        "1900-02-28\n2000-01-01\n"),
      W_DATE, 8, NULL, 0, 0, 0 },
    { "timestamp", "timestamp",
      S("t\n2021-03-02 07:30:13\n2021-03-02 07:30:13.5\n2021-03-02 07:30:13.12\n"
        "2021-03-02 07:30:13.123\n2021-03-02 07:30:13.1234\n2021-03-02 07:30:13.12345\n"
        "2021-03-02 07:30:13.123456\n0001-01-01 00:00:00\n9999-12-31 23:59:59.999999\n"
        "2000-01-01 00:00:00\n1999-12-31 23:59:59.000001\n2021-03-02 00:00:00.000000\n"),
      W_TIMESTAMP, 12, NULL, 0, 0, 0 },
    { "date_ts", "date timestamp",
      S("d,t\n2021-03-02,2021-03-02 01:02:03\n2021-03-02,2021-03-03 01:02:03\n"
        "2021-03-03,2021-03-02 01:02:03\n"),
      W_DATE_TS, 3, NULL, 0, 0, 0 },
    /* NULL (unquoted empty) and the empty string (quoted empty), also into NOT NULL text */
    { "nulls", "text int4 text! bool",
      S("a,b,c,d\n,,\"\",\n\"\",,x,\n"),
      W_NULLS, 2, NULL, 0, 0, 0 },
    /* char(3): sent unpadded, padded by bpcharrecv (see the top of the file) */
    { "char3", "char(3)",
      S("c\nab\n\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\n\n"),
      W_CHAR3, 3, NULL, 0, 0, 0 },
    /* records the CSV path could read otherwise than RFC 4180 does, or not at all */
    { "bare_quote", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,a\"b\n9,z\n"),
      W_PRE, 2, "a quote inside an unquoted field", 5, 20, 4 },
    { "after_quote", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\"a\"b\n9,z\n"),
      W_PRE, 2, "text after a closing quote", 5, 20, 4 },
    { "crlf", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,a\r\n9,z\n"),
      W_PRE, 2, "a carriage return outside quotes", 5, 20, 4 },
    { "cr_after_quote", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\"a\"\r\n9,z\n"),
      W_PRE, 2, "a carriage return outside quotes", 5, 20, 4 },
    { "eod_marker", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n\\.\n9,z\n"),
      W_PRE, 2, "\\.", 5, 20, 4 },
    { "eod_marker2", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n\\.,x\n9,z\n"),
      W_PRE, 2, "\\.", 5, 20, 4 },
    { "too_many", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,a,b\n9,z\n"),
      W_PRE, 2, "more fields than the header has", 5, 20, 4 },
    { "too_few", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3\n9,z\n"),
      W_PRE, 2, "fewer fields than the header has", 5, 20, 4 },
    /* bytes the server rejects: not UTF-8 (0xff, overlong, a surrogate, cut short, past
     * U+10FFFF) or NUL, unquoted and quoted */
    { "utf8_ff", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\xff\n9,z\n"),
      W_PRE, 2, "not UTF-8", 5, 20, 4 },
    { "utf8_overlong", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\xc0\xaf\n9,z\n"),
      W_PRE, 2, "not UTF-8", 5, 20, 4 },
    { "utf8_surrogate", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\"\xed\xa0\x80\"\n9,z\n"),
      W_PRE, 2, "not UTF-8", 5, 20, 4 },
    { "utf8_trunc", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\xe2\x82\n9,z\n"),
      W_PRE, 2, "not UTF-8", 5, 20, 4 },
    { "utf8_big", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\xf4\x90\x80\x80\n9,z\n"),
      W_PRE, 2, "not UTF-8", 5, 20, 4 },
    { "nul", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,a\x00" "b\n9,z\n"),
      W_PRE, 2, "a NUL byte", 5, 20, 4 },
    { "nul_quoted", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\"a\x00" "b\"\n9,z\n"),
      W_PRE, 2, "not UTF-8 (or a NUL byte)", 5, 20, 4 },
    /* a quote opened and never closed: the rest is all of it to the end */
    { "unterminated", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\"abc\n9,z\n"),
      W_PRE, 2, "a quoted field not closed", 5, 20, 4 },
    /* values not converted: the server reads them (+5, " 5") or rejects them */
    { "plus", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n+5,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int4_over", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n2147483648,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int4_under", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n-2147483649,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int_space", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n 5,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int_quoted_empty", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n\"\",x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int_quoted_quote", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n\"5\"\"\",x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int_1e5", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n1e5,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    { "int_minus", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n-,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    /* varchar(3): 4 characters (the 3 of the varchar case and x) */
    { "varchar_over", "varchar(3)",
      S("v\nabc\n\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9ex\nz\n"),
      W_ABC, 1, V1, 3, 6, 2 },
    { "num_scale", "numeric(8,3)",
      S("n\n1\n1.2345\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_prec", "numeric(8,3)",
      S("n\n1\n123456.1\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_exp", "numeric",
      S("n\n1\n1e5\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_inf", "numeric",
      S("n\n1\ninfinity\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_nan", "numeric",
      S("n\n1\nNaN\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_dot5", "numeric",
      S("n\n1\n.5\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_5dot", "numeric",
      S("n\n1\n5.\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "num_plus", "numeric",
      S("n\n1\n+1\n1\n"),
      W_N1, 1, V1, 3, 4, 2 },
    { "date_feb29", "date",
      S("d\n2000-01-01\n2021-02-29\n2000-01-01\n"),
      W_D1, 1, V1, 3, 13, 2 },
    { "date_inf", "date",
      S("d\n2000-01-01\ninfinity\n2000-01-01\n"),
      W_D1, 1, V1, 3, 13, 2 },
    { "date_y0", "date",
      S("d\n2000-01-01\n0000-01-01\n2000-01-01\n"),
      W_D1, 1, V1, 3, 13, 2 },
    { "date_m13", "date",
      S("d\n2000-01-01\n2021-13-01\n2000-01-01\n"),
      W_D1, 1, V1, 3, 13, 2 },
    { "date_short", "date",
      S("d\n2000-01-01\n2021-1-01\n2000-01-01\n"),
      W_D1, 1, V1, 3, 13, 2 },
    { "ts_24", "timestamp",
      S("t\n2021-01-01 00:00:00\n2021-01-01 24:00:00\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "ts_60", "timestamp",
      S("t\n2021-01-01 00:00:00\n2021-01-01 00:00:60\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "ts_T", "timestamp",
      S("t\n2021-01-01 00:00:00\n2021-01-01T00:00:00\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "ts_dot", "timestamp",
      S("t\n2021-01-01 00:00:00\n2021-01-01 00:00:00.\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "ts_7", "timestamp",
      S("t\n2021-01-01 00:00:00\n2021-01-01 00:00:00.1234567\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "ts_inf", "timestamp",
      S("t\n2021-01-01 00:00:00\ninfinity\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "ts_dateonly", "timestamp",
      S("t\n2021-01-01 00:00:00\n2021-01-01\n"),
      W_T1, 1, V1, 3, 22, 2 },
    { "bool_TRUE", "bool",
      S("b\nt\nTRUE\nt\n"),
      W_B1, 1, V1, 3, 4, 2 },
    { "bool_yes", "bool",
      S("b\nt\nyes\nt\n"),
      W_B1, 1, V1, 3, 4, 2 },
    { "bool_1", "bool",
      S("b\nt\n1\nt\n"),
      W_B1, 1, V1, 3, 4, 2 },
    { "int2_over", "int2",
      S("a\n1\n32768\n"),
      W_I2_1, 1, V1, 3, 4, 2 },
    { "int8_over", "int8",
      S("a\n1\n9223372036854775808\n"),
      W_I8_1, 1, V1, 3, 4, 2 },
    { "int8_under", "int8",
      S("a\n1\n-9223372036854775809\n"),
      W_I8_1, 1, V1, 3, 4, 2 },
    /* NULL into NOT NULL: the server's to reject */
    { "notnull", "int4! text",
      S("a,b\n1,\"x\ny\"\n2,plain\n,x\n9,z\n"),
      W_PRE, 2, V1, 5, 20, 4 },
    /* a stop at the first record, or at the header (line 1: the rest is the whole input) */
    { "first_record", "int4 text",
      S("a,b\nx,y\n9,z\n"),
      W_NONE, 0, V1, 2, 4, 4 },
    { "hdr_few", "int4 text",
      S("a\n1,x\n"),
      W_NONE, 0, "fewer fields than the header has", 1, 0, 0 },
    { "hdr_crlf", "int4 text",
      S("a,b\r\n1,x\n"),
      W_NONE, 0, "a carriage return outside quotes", 1, 0, 0 },
    { "hdr_bare_quote", "int4 text",
      S("a,b\"\n1,x\n"),
      W_NONE, 0, "a quote inside an unquoted field", 1, 0, 0 },
    /* line feeds in quotes before the stop, in the header too: physical line 10 */
    { "multi_before", "int4 text",
      S("a,\"b\n\nc\"\n1,\"\n\n\n\"\n2,\"\r\n\"\n+3,x\n"),
      W_MULTI_BEFORE, 2, V1, 10, 24, 9 },
    { "notnull2", "int4 text!",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,\n9,z\n"),
      W_PRE, 2, V2, 5, 20, 4 },
    { "eod_marker_eof", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n\\."),
      W_PRE, 2, "\\.", 5, 20, 4 },
    /* a lone backslash at the end is data, not a marker */
    { "backslash_eof", "text",
      S("a\nx\n\\"),
      W_BACKSLASH_EOF, 2, NULL, 0, 0, 0 },
    /* LF, then CRLF: stops at the first CR.  COPY of the whole input as CSV rejects it
     * ("unquoted carriage return found in data"); so does COPY of the rest, because the rest
     * begins with the header again, whose LF sets the line end.  (Without the header the
     * rest's own first line would make CRLF the line end and COPY would accept it.) */
    { "mixed_eol", "int4 text",
      S("a,b\n1,\"x\ny\"\n2,plain\n3,y\r\n4,z\r\n"),
      W_PRE, 2, "a carriage return outside quotes", 5, 20, 4 },
};

/* One case with the input read step bytes at a time (0: all that is asked for) and the
 * binary stream and the rest read rd bytes at a time. */
static void run_case(const pcase *c, size_t step, size_t rd)
{
    snprintf(ctx, sizeof ctx, "%s, step %zu, read %zu", c->name, step, rd);
    ub_pgbin_col cols[8];
    size_t n = cols_of(c->cols, cols, 8);
    CK(n > 0);
    mem_reader m;
    mem_reader_init(&m, "t.csv", c->csv, c->len, step);
    ub_err err = { "" };
    ub_pgbin *b = ub_pgbin_open(&m.base, cols, n, &err);
    CK(b != NULL);
    if (!b)
        return;
    ub_buf want = UB_BUF_INIT, got = UB_BUF_INIT, rest = UB_BUF_INIT;
    unhex(c->want, &want);
    CK(drain(ub_pgbin_reader(b), rd, &got, &err) == 0);
    CK(got.len == want.len && memcmp(got.p, want.p, want.len) == 0);
    if (got.len != want.len || memcmp(got.p, want.p, want.len)) {
        show_hex("got ", got.p, got.len);
        show_hex("want", want.p, want.len);
    }
    char one[1];
    CK(ub_read(ub_pgbin_reader(b), one, 1, &err) == 0);        /* still at its end */
    CK(ub_pgbin_rows(b) == c->rows);
    uint64_t line = 0;
    const char *why = ub_pgbin_stopped(b, &line);
    if (!c->why) {
        CK(why == NULL);
        CK(ub_read(ub_pgbin_rest(b), one, 1, &err) == -1);     /* nothing left over */
        CK(strstr(err.msg, "nothing was left over") != NULL);
    } else {
        CK(why != NULL && strstr(why, c->why) != NULL);
        if (why && !strstr(why, c->why))
            fprintf(stderr, "  why: %s\n", why);
        CK(line == c->line);
        CK(drain(ub_pgbin_rest(b), rd, &rest, &err) == 0);
        CK(rest.len == c->head + c->len - c->rest && memcmp(rest.p, c->csv, c->head) == 0 &&
           memcmp(rest.p + c->head, c->csv + c->rest, c->len - c->rest) == 0);
        if (rest.len != c->head + c->len - c->rest)
            show_hex("rest", rest.p, rest.len);
        CK(ub_read(ub_pgbin_rest(b), one, 1, &err) == 0);
    }
    CK(ub_pgbin_in_bytes(b) == c->len);
    CK(m.off == c->len);
    ub_pgbin_free(b);
    ub_buf_free(&want);
    ub_buf_free(&got);
    ub_buf_free(&rest);
}

static void test_cases(void)
{
    static const size_t steps[] = { 1, 2, 7, 0 }, reads[] = { 1, 7, 65536 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the test's own data: the rest is the input from a record's start to its end */
        snprintf(ctx, sizeof ctx, "%s", cases[i].name);
        CK(cases[i].rest <= cases[i].len && (cases[i].rest == 0 || cases[i].csv[cases[i].rest - 1] == '\n'));
        CK(cases[i].head <= cases[i].rest && (cases[i].head == 0 || cases[i].csv[cases[i].head - 1] == '\n'));
        CK(!cases[i].why == !cases[i].line && (cases[i].line == 1) == (cases[i].why && !cases[i].head));
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
            for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++)
                run_case(&cases[i], steps[s], reads[r]);
    }
}

/* The header and the trailer as PostgreSQL's COPY documentation spells them: the
 * 11-byte signature "PGCOPY\n\377\r\n\0", a 32-bit flags field (0: no OIDs), a 32-bit
 * header extension length (0), and at the end a 16-bit field count of -1. */
static void test_header(void)
{
    static const char doc[] = "PGCOPY\n\377\r\n\0" "\0\0\0\0" "\0\0\0\0" "\377\377";
    ub_buf w = UB_BUF_INIT;
    unhex(W_NONE, &w);
    snprintf(ctx, sizeof ctx, "header");
    CK(w.len == 21 && memcmp(w.p, doc, 21) == 0);              /* the server agrees */
    mem_reader m;
    mem_reader_init(&m, "t.csv", "a\n", 2, 0);
    ub_pgbin_col col;
    ub_err err = { "" };
    CK(ub_pgbin_col_of(23, -1, 0, &col) == 0);
    ub_pgbin *b = ub_pgbin_open(&m.base, &col, 1, &err);
    CK(b != NULL);
    char buf[64];
    CK(ub_read(ub_pgbin_reader(b), buf, 0, &err) == 0);       /* a read of 0 bytes: 0 */
    ssize_t k = ub_read(ub_pgbin_reader(b), buf, sizeof buf, &err);
    CK(k == 21 && memcmp(buf, doc, 21) == 0);
    ub_pgbin_free(b);
    ub_buf_free(&w);
}

static void test_col_of(void)
{
    ub_pgbin_col c;
    snprintf(ctx, sizeof ctx, "col_of");
    static const struct { uint32_t oid; ub_pgbin_kind kind; } plain[] = {
        { 16, UB_PGB_BOOL }, { 21, UB_PGB_INT2 }, { 23, UB_PGB_INT4 }, { 20, UB_PGB_INT8 },
        { 25, UB_PGB_TEXT }, { 1082, UB_PGB_DATE }, { 1114, UB_PGB_TIMESTAMP },
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        CK(ub_pgbin_col_of(plain[i].oid, -1, 0, &c) == 0);
        CK(c.kind == plain[i].kind && c.maxchars == -1 && c.notnull == 0);
    }
    CK(ub_pgbin_col_of(23, -1, 1, &c) == 0 && c.notnull == 1);
    CK(ub_pgbin_col_of(1043, 7, 0, &c) == 0 && c.kind == UB_PGB_TEXT && c.maxchars == 3);   /* varchar(3) */
    CK(ub_pgbin_col_of(1043, -1, 0, &c) == 0 && c.kind == UB_PGB_TEXT && c.maxchars == -1); /* varchar */
    CK(ub_pgbin_col_of(1042, 7, 0, &c) == 0 && c.kind == UB_PGB_TEXT && c.maxchars == 3);   /* char(3) */
    CK(ub_pgbin_col_of(1042, 5, 0, &c) == 0 && c.maxchars == 1);                            /* char */
    CK(ub_pgbin_col_of(1042, -1, 0, &c) == 0 && c.maxchars == -1);                          /* bpchar */
    CK(ub_pgbin_col_of(1700, -1, 0, &c) == 0 && c.kind == UB_PGB_NUMERIC && c.prec == -1);
    CK(ub_pgbin_col_of(1700, 524295, 0, &c) == 0 && c.prec == 8 && c.scale == 3);            /* numeric(8,3) */
    CK(ub_pgbin_col_of(1700, 65536004, 0, &c) == 0 && c.prec == 1000 && c.scale == 0);       /* numeric(1000,0) */
    CK(ub_pgbin_col_of(1700, 198659, 0, &c) == -1);            /* numeric(3,-1): a negative scale */
    CK(ub_pgbin_col_of(1700, 131081, 0, &c) == -1);            /* numeric(2,5): scale over precision */
    CK(ub_pgbin_col_of(701, -1, 0, &c) == -1);                 /* float8 */
    CK(ub_pgbin_col_of(1184, -1, 0, &c) == -1);                /* timestamptz */
    CK(ub_pgbin_col_of(1083, -1, 0, &c) == -1);                /* time */
    CK(ub_pgbin_col_of(2950, -1, 0, &c) == -1);                /* uuid */
    CK(ub_pgbin_col_of(114, -1, 0, &c) == -1);                 /* json */
}

/* ---- the API around the cases ------------------------------------------ */

static int closes;
static void count_close(ub_reader *r) { (void)r; closes++; }

static void test_open(void)
{
    snprintf(ctx, sizeof ctx, "open");
    ub_pgbin_col col[1];
    CK(ub_pgbin_col_of(25, -1, 0, &col[0]) == 0);
    mem_reader m;
    ub_err err = { "" };
    /* no columns, more than a table has: NULL, and the input closed (it was given away) */
    mem_reader_init(&m, "t.csv", "a\n", 2, 0);
    m.base.close = count_close;
    closes = 0;
    CK(ub_pgbin_open(&m.base, col, 0, &err) == NULL);
    CK(closes == 1);
    T_STREQ(err.msg, "0 columns: not a table's");
    static ub_pgbin_col many[1601];
    for (size_t i = 0; i < 1601; i++)
        many[i] = col[0];
    closes = 0;
    CK(ub_pgbin_open(&m.base, many, 1601, &err) == NULL);
    CK(closes == 1);
    T_STREQ(err.msg, "1601 columns: not a table's");
    /* 1600 columns are a table's */
    static char wide[1600 * 2 + 1600 * 2];
    size_t k = 0;
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < 1600; i++) {
            wide[k++] = 'x';
            wide[k++] = i + 1 < 1600 ? ',' : '\n';
        }
    mem_reader_init(&m, "t.csv", wide, k, 0);
    ub_pgbin *b = ub_pgbin_open(&m.base, many, 1600, &err);
    CK(b != NULL);
    ub_buf got = UB_BUF_INIT;
    CK(b && drain(ub_pgbin_reader(b), 65536, &got, &err) == 0);
    CK(b && ub_pgbin_rows(b) == 1);
    /* 19 + the tuple (2 + 1600 * (4 + 1)) + 2 */
    CK(got.len == 19 + 2 + 1600 * 5 + 2 && (unsigned char)got.p[19] == 0x06 && (unsigned char)got.p[20] == 0x40);
    ub_buf_free(&got);
    /* closing the binary reader frees it all, the input closed once */
    m.base.close = count_close;
    closes = 0;
    ub_reader_close(ub_pgbin_reader(b));
    CK(closes == 1);
}

static void test_order(void)
{
    snprintf(ctx, sizeof ctx, "order");
    static const char csv[] = "a\n1\nx\n2\n";
    ub_pgbin_col col;
    CK(ub_pgbin_col_of(23, -1, 0, &col) == 0);
    mem_reader m;
    mem_reader_init(&m, "t.csv", csv, sizeof csv - 1, 0);
    ub_err err = { "" };
    ub_pgbin *b = ub_pgbin_open(&m.base, &col, 1, &err);
    CK(b != NULL);
    uint64_t line = 99;
    char buf[8];
    CK(ub_pgbin_stopped(b, &line) == NULL && line == 99);      /* not before the stream has ended */
    CK(ub_read(ub_pgbin_rest(b), buf, sizeof buf, &err) == -1);
    CK(strstr(err.msg, "t.csv") != NULL);
    ub_buf got = UB_BUF_INIT, rest = UB_BUF_INIT;
    CK(drain(ub_pgbin_reader(b), 3, &got, &err) == 0);
    CK(ub_pgbin_stopped(b, &line) != NULL && line == 3);
    CK(drain(ub_pgbin_rest(b), 3, &rest, &err) == 0);
    T_STREQ(ub_buf_str(&rest), "a\nx\n2\n");                  /* the header again, then the rest */
    ub_pgbin_free(b);
    ub_pgbin_free(NULL);
    ub_buf_free(&got);
    ub_buf_free(&rest);
}

/* A reader that gives its bytes, then fails. */
typedef struct bad_reader {
    mem_reader m;
} bad_reader;

static ssize_t bad_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    mem_reader *m = (mem_reader *)r;
    if (m->off == m->n)
        return ub_err_set(err, "'%s': boom", r->name);
    return mem_read(r, buf, n, err);
}

static void test_read_error(void)
{
    snprintf(ctx, sizeof ctx, "read error");
    static const char csv[] = "a,b\n1,x\n2,";
    ub_pgbin_col cols[2];
    CK(cols_of("int4 text", cols, 2) == 2);
    for (size_t step = 0; step < 3; step++) {
        bad_reader br;
        mem_reader_init(&br.m, "t.csv", csv, sizeof csv - 1, step);
        br.m.base.read = bad_read;
        ub_err err = { "" };
        ub_pgbin *b = ub_pgbin_open(&br.m.base, cols, 2, &err);
        CK(b != NULL);
        ub_buf got = UB_BUF_INIT;
        CK(drain(ub_pgbin_reader(b), 65536, &got, &err) == -1);
        T_STREQ(err.msg, "'t.csv': boom");
        char one[1];
        CK(ub_read(ub_pgbin_reader(b), one, 1, &err) == -1);
        T_STREQ(err.msg, "'t.csv': read after an error");
        uint64_t line;
        CK(ub_pgbin_stopped(b, &line) == NULL);
        ub_pgbin_free(b);
        ub_buf_free(&got);
    }
}

/* ---- records longer than the first buffer ------------------------------- */

/* The documented format, built here: big-endian integers, a field as length and bytes. */
static void be(ub_buf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        ub_buf_addc(b, (char)((v >> (8 * i)) & 0xff));
}

static void field(ub_buf *b, const char *p, size_t n)
{
    be(b, n, 4);
    ub_buf_add(b, p, n);
}

/* Runs csv through cols; checks the stream against want, the rows, the stop (why NULL:
 * none) and line, the rest (the header's head bytes, then csv from rest_off) and the bytes
 * read. */
static void check_big(const char *name, const char *colspec, const ub_buf *csv, const ub_buf *want,
                      uint64_t rows, const char *why, uint64_t line, size_t rest_off, size_t head,
                      size_t step, size_t rd)
{
    snprintf(ctx, sizeof ctx, "%s, step %zu, read %zu", name, step, rd);
    ub_pgbin_col cols[4];
    size_t n = cols_of(colspec, cols, 4);
    CK(n > 0);
    mem_reader m;
    mem_reader_init(&m, "t.csv", csv->p, csv->len, step);
    ub_err err = { "" };
    ub_pgbin *b = ub_pgbin_open(&m.base, cols, n, &err);
    CK(b != NULL);
    if (!b)
        return;
    ub_buf got = UB_BUF_INIT;
    CK(drain(ub_pgbin_reader(b), rd, &got, &err) == 0);
    CK(got.err == 0 && got.len == want->len && memcmp(got.p, want->p, want->len) == 0);
    CK(ub_pgbin_rows(b) == rows);
    uint64_t l = 0;
    const char *w = ub_pgbin_stopped(b, &l);
    if (!why) {
        CK(w == NULL);
    } else {
        CK(w != NULL && strstr(w, why) != NULL);
        CK(l == line);
        /* the rest compared as it comes (it may be 64 MiB): head bytes of csv, then csv from
         * rest_off to its end */
        static char buf[65536];
        size_t off = 0, total = head + csv->len - rest_off;
        int same = 1;
        ssize_t k;
        while ((k = ub_read(ub_pgbin_rest(b), buf, rd < sizeof buf ? rd : sizeof buf, &err)) > 0) {
            for (size_t i = 0; i < (size_t)k && same; i++, off++)
                same = off < total && buf[i] == (off < head ? csv->p[off] : csv->p[rest_off + off - head]);
            if (!same)
                break;
        }
        CK(k == 0 && same && off == total);
    }
    CK(ub_pgbin_in_bytes(b) == csv->len);
    ub_pgbin_free(b);
    ub_buf_free(&got);
}

static void test_big(void)
{
    /* 300000 x ab""c<LF>,d<SP>: 2.7 MB in quotes, 2.4 MB of text, 300000 line feeds */
    size_t reps = 300000;
    ub_buf csv = UB_BUF_INIT, want = UB_BUF_INIT, text = UB_BUF_INIT;
    for (size_t i = 0; i < reps; i++)
        ub_buf_add(&text, "ab\"c\n,d ", 8);
    ub_buf_adds(&csv, "a,b\n1,\"");
    for (size_t i = 0; i < reps; i++)
        ub_buf_adds(&csv, "ab\"\"c\n,d ");
    ub_buf_adds(&csv, "\"\n2,end\n");
    size_t stop_at = csv.len;
    ub_buf_adds(&csv, "+3,x\n9,z\n");
    unhex(HDR, &want);
    be(&want, 2, 2);
    field(&want, "\0\0\0\1", 4);
    field(&want, text.p, text.len);
    be(&want, 2, 2);
    field(&want, "\0\0\0\2", 4);
    field(&want, "end", 3);
    be(&want, 0xffff, 2);
    CK(csv.err == 0 && want.err == 0 && text.err == 0);
    static const size_t steps[][2] = { { 0, 65536 }, { 1, 65536 }, { 7, 1 }, { 4093, 4096 }, { 0, 1 } };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)   /* the header, 2 + reps lines, then the stop */
        check_big("big converted", "int4 text", &csv, &want, 2, V1, 4 + reps, stop_at, 4, steps[i][0], steps[i][1]);

    /* the same long value is the stopping record: more than 10 characters for varchar(10) */
    ub_buf_reset(&csv);
    ub_buf_reset(&want);
    ub_buf_adds(&csv, "a,b\n1,x\n");
    stop_at = csv.len;
    ub_buf_adds(&csv, "2,\"");
    for (size_t i = 0; i < reps; i++)
        ub_buf_adds(&csv, "ab\"\"c\n,d ");
    ub_buf_adds(&csv, "\"\n3,y\n");
    unhex(HDR, &want);
    be(&want, 2, 2);
    field(&want, "\0\0\0\1", 4);
    field(&want, "x", 1);
    be(&want, 0xffff, 2);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        check_big("big stopping", "int4 varchar(10)", &csv, &want, 1, V2, 3, stop_at, 4, steps[i][0], steps[i][1]);

    /* a long last record, unquoted, without a final line feed */
    ub_buf_reset(&csv);
    ub_buf_reset(&want);
    ub_buf_reset(&text);
    for (size_t i = 0; i < 3 * reps; i++)
        ub_buf_addc(&text, (char)('a' + i % 26));
    ub_buf_adds(&csv, "a\n");
    ub_buf_add(&csv, text.p, text.len);
    unhex(HDR, &want);
    be(&want, 1, 2);
    field(&want, text.p, text.len);
    be(&want, 0xffff, 2);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        check_big("big last", "text", &csv, &want, 1, NULL, 0, 0, 0, steps[i][0], steps[i][1]);
    ub_buf_free(&csv);
    ub_buf_free(&want);
    ub_buf_free(&text);
}

/* A record longer than UB_PGBIN_MAX_RECORD (64 MiB) stops the conversion; the rest still
 * holds all of it. */
static void test_huge(void)
{
    size_t n = UB_PGBIN_MAX_RECORD + 100;
    ub_buf csv = UB_BUF_INIT, want = UB_BUF_INIT;
    ub_buf_adds(&csv, "a\nfirst\n");
    size_t stop_at = csv.len;
    CK(ub_buf_reserve(&csv, n + 16) == 0);
    memset(csv.p + csv.len, 'x', n);
    csv.len += n;
    ub_buf_adds(&csv, "\nlast\n");
    unhex(HDR, &want);
    be(&want, 1, 2);
    field(&want, "first", 5);
    be(&want, 0xffff, 2);
    check_big("huge", "text", &csv, &want, 1, "longer than 64 MiB", 3, stop_at, 2, 0, 65536);
    check_big("huge", "text", &csv, &want, 1, "longer than 64 MiB", 3, stop_at, 2, 1 << 20, 65536);
    ub_buf_free(&csv);
    ub_buf_free(&want);
}

/* ---- out of memory ----------------------------------------------------- */

/* Every allocation in turn fails: the open returns NULL with "out of memory", or the binary
 * stream fails with it (and then says so again), or, once the failing allocation is past
 * the last one, the run gives the whole right stream.  No crash, no leak (under SAN=1). */
static void test_alloc(void)
{
    size_t reps = 100000;
    ub_buf csv = UB_BUF_INIT, want = UB_BUF_INIT;
    ub_buf_adds(&csv, "a,b\n1,\"");
    for (size_t i = 0; i < reps; i++)
        ub_buf_adds(&csv, "abcdefgh\n");                      /* 900 kB: both buffers grow */
    ub_buf_adds(&csv, "\"\n+2,x\n");
    unhex(HDR, &want);
    be(&want, 2, 2);
    field(&want, "\0\0\0\1", 4);
    be(&want, reps * 9, 4);
    for (size_t i = 0; i < reps; i++)
        ub_buf_adds(&want, "abcdefgh\n");
    be(&want, 0xffff, 2);
    ub_pgbin_col cols[2];
    CK(cols_of("int4 text", cols, 2) == 2);
    size_t cap = want.len + 65536;
    char *got = malloc(cap), *rest = malloc(cap);               /* not ub_malloc: not failed here */
    CK(got && rest);
    if (!got || !rest)
        return;
    int failed_open = 0, failed_read = 0, ok = 0;
    for (long k = 1; k <= 100 && !ok; k++) {
        for (size_t step = 0; step < 2; step++) {
            snprintf(ctx, sizeof ctx, "alloc %ld, step %zu", k, step);
            mem_reader m;
            mem_reader_init(&m, "t.csv", csv.p, csv.len, step ? 4096 : 0);
            ub_err err = { "" };
            ub_mem_fail_after(k);
            ub_pgbin *b = ub_pgbin_open(&m.base, cols, 2, &err);
            if (!b) {
                ub_mem_fail_after(0);
                T_STREQ(err.msg, "out of memory");
                failed_open++;
                continue;
            }
            size_t len = 0;
            ssize_t r;
            while ((r = ub_read(ub_pgbin_reader(b), got + len, len + 65536 <= cap ? 65536 : cap - len, &err)) > 0)
                len += (size_t)r;
            if (r < 0) {
                ub_mem_fail_after(0);
                T_STREQ(err.msg, "'t.csv': out of memory");
                CK(ub_read(ub_pgbin_reader(b), got, 1, &err) == -1);
                T_STREQ(err.msg, "'t.csv': read after an error");
                failed_read++;
            } else {
                size_t rl = 0;
                while ((r = ub_read(ub_pgbin_rest(b), rest + rl, 4096, &err)) > 0)
                    rl += (size_t)r;
                ub_mem_fail_after(0);
                CK(len == want.len && memcmp(got, want.p, len) == 0);
                CK(r == 0 && rl == 9 && memcmp(rest, "a,b\n+2,x\n", 9) == 0);
                CK(ub_pgbin_in_bytes(b) == csv.len);
                ok += step == 1;
            }
            ub_pgbin_free(b);
        }
    }
    ub_mem_fail_after(0);
    snprintf(ctx, sizeof ctx, "alloc");
    CK(failed_open >= 6);                                     /* each of the open's allocations */
    CK(failed_read >= 4);                                     /* the output buffer, the input buffer growing */
    CK(ok == 1);
    free(got);
    free(rest);
    ub_buf_free(&csv);
    ub_buf_free(&want);
}

int main(void)
{
    test_header();
    test_col_of();
    test_cases();
    test_open();
    test_order();
    test_read_error();
    test_big();
    test_huge();
    test_alloc();
    return t_done("test_pgbin");
}
