/* test_html.c — the one HTML/URL/script-JSON escaping writer (io/html.h). */
#include "t.h"
#include "io/html.h"

static const char *esc(const char *s)
{
    static ub_buf b = UB_BUF_INIT;
    ub_buf_reset(&b);
    ub_html_text(&b, s);
    return ub_buf_str(&b);
}

int main(void)
{
    ub_buf b = UB_BUF_INIT;

    /* text and attributes: the five specials */
    T_STREQ(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    T_STREQ(esc("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    T_STREQ(esc("\" onmouseover=\"x"), "&quot; onmouseover=&quot;x");
    T_STREQ(esc(NULL), "");
    T_STREQ(esc("tab\there\nline"), "tab\there\nline");
    /* control bytes dropped, DEL too */
    T_STREQ(esc("a\x01\x1b[31mb\x7f" "c"), "a[31mbc");
    /* valid UTF-8 kept, invalid replaced by U+FFFD */
    T_STREQ(esc("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
    T_STREQ(esc("x\xffy"), "x\xef\xbf\xbdy");
    T_STREQ(esc("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");              /* overlong '/' */
    T_STREQ(esc("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    T_STREQ(esc("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");               /* truncated */

    /* counted text stops at n, even across a NUL */
    ub_buf_reset(&b);
    ub_html_textn(&b, "ab\0<c", 4);
    T_STREQ(ub_buf_str(&b), "ab&lt;");

    /* printf-style: %s escaped, numbers as numbers, unknown conversions stop */
    ub_buf_reset(&b);
    ub_html_textf(&b, "<td title=\"%s\">%d/%zu %lld %%</td>", "a\"<b", -3, (size_t)7, 12345678901LL);
    T_STREQ(ub_buf_str(&b), "<td title=\"a&quot;&lt;b\">-3/7 12345678901 %</td>");
    ub_buf_reset(&b);
    ub_html_textf(&b, "%.*s|", 2, "<<<");
    T_STREQ(ub_buf_str(&b), "&lt;&lt;|");
    ub_buf_reset(&b);
    ub_html_textf(&b, "ok %x never", 5);
    T_STREQ(ub_buf_str(&b), "ok ");

    /* URL parts: only unreserved characters survive */
    ub_buf_reset(&b);
    ub_html_urlpart(&b, "a b/../c?d=e&f#g~_.-Z9\xc3\xa9");
    T_STREQ(ub_buf_str(&b), "a%20b%2F..%2Fc%3Fd%3De%26f%23g~_.-Z9%C3%A9");
    ub_buf_reset(&b);
    ub_html_urlpart(&b, "\"><script>");
    T_STREQ(ub_buf_str(&b), "%22%3E%3Cscript%3E");

    /* JSON inside <script type=application/json> cannot close the element */
    ub_buf_reset(&b);
    const char *j = "{\"x\":\"</script><!--&\xe2\x80\xa8\xe2\x80\xa9\"}";
    ub_html_json_script(&b, j, strlen(j));
    T_STREQ(ub_buf_str(&b), "{\"x\":\"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028\\u2029\"}");
    T_CHECK(strstr(ub_buf_str(&b), "</") == NULL);

    /* a buffer in error stays in error and reports it */
    ub_buf small;
    ub_buf_init(&small, 8);
    T_INTEQ(ub_html_text(&small, "<<<<<<<<"), -1);
    T_CHECK(small.err != 0);
    ub_buf_free(&small);

    ub_buf_free(&b);
    return t_done("test_html");
}
