/* test_text.c — base/jtext (any bytes as a JSON string) and base/show (text
 * safe to print on a terminal): exact bytes in, exact bytes out. */
#include "base/jtext.h"
#include "base/show.h"
#include "base/mem.h"
#include "t.h"

static const char *fixed(const char *p, size_t n)
{
    static char keep[4][512];
    static int k;
    ub_buf b = UB_BUF_INIT;
    char *o = keep[k++ & 3];
    ub_jtext_fix(&b, p, n);
    snprintf(o, sizeof keep[0], "%s", ub_buf_str(&b));
    ub_buf_free(&b);
    return o;
}

static const char *shown(const char *p, size_t n)
{
    static char keep[4][512];
    static int k;
    ub_buf b = UB_BUF_INIT;
    char *o = keep[k++ & 3];
    ub_show(&b, p, n);
    snprintf(o, sizeof keep[0], "%s", ub_buf_str(&b));
    ub_buf_free(&b);
    return o;
}

#define FIX(lit) fixed(lit, sizeof lit - 1)
#define SHOW(lit) shown(lit, sizeof lit - 1)

/* the JSON text jansson writes for a ub_jtext of the bytes */
static const char *dumped(const char *p, size_t n)
{
    static char keep[2][512];
    static int k;
    char *o = keep[k++ & 1];
    json_t *a = json_array();
    json_array_append_new(a, ub_jtextn(p, n));
    char *t = ub_jtext_dumps(a, JSON_COMPACT);
    snprintf(o, sizeof keep[0], "%s", t ? t : "(null)");
    ub_free(t);
    json_decref(a);
    return o;
}
#define DUMP(lit) dumped(lit, sizeof lit - 1)

int main(void)
{
    /* valid UTF-8 is kept byte for byte */
    T_STREQ(FIX("plain ascii"), "plain ascii");
    T_STREQ(FIX("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    /* invalid bytes one by one as \xNN */
    T_STREQ(FIX("caf\xE9.csv"), "caf\\xE9.csv");
    T_STREQ(FIX("\xFF\xFE"), "\\xFF\\xFE");
    T_STREQ(FIX("\x80"), "\\x80");
    T_STREQ(FIX("\xC0\xAF"), "\\xC0\\xAF");                 /* overlong '/' */
    T_STREQ(FIX("\xE0\x80\xAF"), "\\xE0\\x80\\xAF");        /* overlong, 3 bytes */
    T_STREQ(FIX("\xED\xA0\x80"), "\\xED\\xA0\\x80");        /* a surrogate */
    T_STREQ(FIX("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80"); /* above U+10FFFF */
    T_STREQ(FIX("\xF5\x80\x80\x80"), "\\xF5\\x80\\x80\\x80");
    T_STREQ(FIX("ab\xE2\x82"), "ab\\xE2\\x82");             /* cut at the end */
    T_STREQ(FIX("\xE2\x82z"), "\\xE2\\x82z");               /* cut in the middle */
    T_STREQ(FIX("\xC3\xA9\xE9\xC3\xA9"), "\xC3\xA9\\xE9\xC3\xA9");
    T_STREQ(FIX("a\0b"), "a\\x00b");                        /* NUL, with a length */
    T_INTEQ(ub_jtext_valid("ab\xC3\xA9z\xE9", 6), 5);
    T_INTEQ(ub_jtext_valid("a\0b", 3), 1);
    /* what jansson makes of it: never NULL, controls as \u escapes, and DEL
     * and C1 controls escaped too by ub_jtext_dumps */
    T_STREQ(DUMP("caf\xE9"), "[\"caf\\\\xE9\"]");
    T_STREQ(DUMP("\x1B[31mred"), "[\"\\u001B[31mred\"]");
    T_STREQ(DUMP("del\x7F c1\xC2\x9B end\xC3\xA9"), "[\"del\\u007F c1\\u009B end\xC3\xA9\"]");
    T_STREQ(DUMP(""), "[\"\"]");
    json_t *nul = ub_jtext(NULL);
    T_STREQ(json_string_value(nul), "");
    json_decref(nul);
    json_t *j = ub_jtext("x\xE9y");
    T_STREQ(json_string_value(j), "x\\xE9y");
    json_decref(j);

    /* terminal: ESC sequences and other controls visible, text unchanged */
    T_STREQ(SHOW("plain text, caf\xC3\xA9"), "plain text, caf\xC3\xA9");
    T_STREQ(SHOW("\x1B[31mred\x1B[0m"), "\\x1B[31mred\\x1B[0m");
    T_STREQ(SHOW("\x1B]0;title\x07"), "\\x1B]0;title\\x07");
    T_STREQ(SHOW("a\tb\nc"), "a\tb\nc");
    T_STREQ(SHOW("crlf\r\nlone\rcr\r"), "crlf\r\nlone\\x0Dcr\\x0D");
    T_STREQ(SHOW("del\x7F"), "del\\x7F");
    T_STREQ(SHOW("bs\x08\x08"), "bs\\x08\\x08");
    T_STREQ(SHOW("csi\xC2\x9B" "2J"), "csi\\xC2\\x9B2J");   /* C1 CSI, UTF-8 encoded */
    T_STREQ(SHOW("raw\x9B" "2J"), "raw\\x9B2J");            /* 8-bit CSI: not UTF-8 */
    T_STREQ(SHOW("nbsp\xC2\xA0ok"), "nbsp\xC2\xA0ok");      /* U+00A0 is printable */
    T_STREQ(SHOW("caf\xE9"), "caf\\xE9");
    T_STREQ(SHOW("a\0b"), "a\\x00b");
    T_INTEQ(ub_show_width("\x1B[1m\xC3\xA9", 6), 8);       /* \x1B [ 1 m é */
    T_INTEQ(ub_show_width("a\tb", 3), 3);

    /* chunks: a sequence or CR cut by the chunk end waits for the next one */
    {
        ub_buf b = UB_BUF_INIT;
        const char *s = "ab\xC3";
        size_t used = ub_show_chunk(&b, s, 3, 0);
        T_INTEQ(used, 2);
        T_STREQ(ub_buf_str(&b), "ab");
        char next[3] = { '\xC3', '\xA9', '\r' };
        used = ub_show_chunk(&b, next, 3, 0);
        T_INTEQ(used, 2);
        T_STREQ(ub_buf_str(&b), "ab\xC3\xA9");
        used = ub_show_chunk(&b, "\r", 1, 1);
        T_INTEQ(used, 1);
        T_STREQ(ub_buf_str(&b), "ab\xC3\xA9\\x0D");
        ub_buf_reset(&b);
        used = ub_show_chunk(&b, "x\xE9", 2, 0);         /* E9 alone could start a sequence */
        T_INTEQ(used, 1);
        used = ub_show_chunk(&b, "\xE9z", 2, 0);           /* ...and the next byte says it does not */
        T_INTEQ(used, 2);
        T_STREQ(ub_buf_str(&b), "x\\xE9z");
        ub_buf_reset(&b);
        used = ub_show_chunk(&b, "\xE0", 1, 0);            /* E0 A5 A5 is valid: E0 waits (fuzz find) */
        T_INTEQ(used, 0);
        used = ub_show_chunk(&b, "\xE0\xA5\xA5", 3, 1);
        T_INTEQ(used, 3);
        T_STREQ(ub_buf_str(&b), "\xE0\xA5\xA5");
        used = ub_show_chunk(&b, "\xF0\x9F", 2, 0);        /* F0 9F ... too */
        T_INTEQ(used, 0);
        ub_buf_reset(&b);
        used = ub_show_chunk(&b, "\xFF", 1, 0);            /* FF starts nothing: decided at once */
        T_INTEQ(used, 1);
        T_STREQ(ub_buf_str(&b), "\\xFF");
        ub_buf_free(&b);
    }
    return t_done("text");
}
