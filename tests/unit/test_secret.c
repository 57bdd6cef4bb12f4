/* test_secret.c — the secret registry: a secret is masked as written and in every encoding
 * ubpipe's code can give it (JSON, SQL literal bodies, both inside JSON, percent-encoding in any
 * case and any amount, '+' for a space); nothing else is touched.  Every expected text is written
 * out by hand. */
#include "base/secret.h"
#include "base/mem.h"
#include "t.h"

/* the secret: a space, ' " \ % / + — every character an encoding below changes */
#define S "pa ss'w%rd/\"x\\y+z"

static char got[4096];

static const char *mask(const char *s)
{
    ub_buf b = UB_BUF_INIT;
    ub_secret_mask(s, &b);
    snprintf(got, sizeof got, "%s", b.err ? "(error)" : ub_buf_str(&b));
    ub_buf_free(&b);
    return got;
}

int main(void)
{
    ub_secret_add(S);

    /* as written */
    T_STREQ(mask(S), "****");
    T_STREQ(mask("pw=" S ";"), "pw=****;");
    T_STREQ(mask(S S), "********");
    /* JSON-escaped, with and without \/ */
    T_STREQ(mask("{\"a\":\"pa ss'w%rd/\\\"x\\\\y+z\"}"), "{\"a\":\"****\"}");
    T_STREQ(mask("[\"pa ss'w%rd\\/\\\"x\\\\y+z\"]"), "[\"****\"]");
    /* sql.literal: ' doubled; the E'' form (the secret has a backslash) doubles \ too */
    T_STREQ(mask("SELECT 'pa ss''w%rd/\"x\\y+z'"), "SELECT '****'");
    T_STREQ(mask("SELECT E'pa ss''w%rd/\"x\\\\y+z'"), "SELECT E'****'");
    /* ... and those inside JSON (plan --format json, a journal line) */
    T_STREQ(mask("\"sql\":\"SELECT E'pa ss''w%rd/\\\"x\\\\\\\\y+z'\""), "\"sql\":\"SELECT E'****'\"");
    T_STREQ(mask("\"sql\":\"SELECT 'pa ss''w%rd/\\\"x\\\\y+z'\""), "\"sql\":\"SELECT '****'\"");
    /* percent-encoded: every byte, upper and lower hex, '+' for the space, or only some bytes */
    T_STREQ(mask("postgresql://u:pa%20ss%27w%25rd%2F%22x%5Cy%2Bz@h/db"), "postgresql://u:****@h/db");
    T_STREQ(mask("postgresql://u:pa%20ss%27w%25rd%2f%22x%5cy%2bz@h/db"), "postgresql://u:****@h/db");
    T_STREQ(mask("pw=pa+ss%27w%25rd%2F%22x%5Cy%2Bz&x=1"), "pw=****&x=1");
    T_STREQ(mask("u:pa%20ss'w%25rd/\"x\\y+z@h"), "u:****@h");
    T_STREQ(mask("%70%61%20%73%73%27%77%25%72%64%2f%22%78%5c%79%2b%7a"), "****");

    /* nothing else changes: a part of it, a near miss, other escapes */
    T_STREQ(mask("pa ss'w%rd/\"x\\y+"), "pa ss'w%rd/\"x\\y+");
    T_STREQ(mask("pa ss"), "pa ss");
    T_STREQ(mask("100% sure, a+b, %41%42, %zz %"), "100% sure, a+b, %41%42, %zz %");
    T_STREQ(mask(""), "");
    /* '+' stands for a space, never the other way round */
    T_STREQ(mask("pa ss'w%rd/\"x\\y z"), "pa ss'w%rd/\"x\\y z");

    /* found / roots */
    T_INTEQ(ub_secret_found("x " S), 1);
    T_INTEQ(ub_secret_found("x pa%20ss%27w%25rd%2F%22x%5Cy%2Bz"), 1);
    T_INTEQ(ub_secret_found("nothing here"), 0);
    T_INTEQ(ub_secret_nroots(), 1);
    T_STREQ(ub_secret_root(0), S);
    T_INTEQ(ub_secret_root_in(0, "--conf k=pa ss''w%rd/\"x\\y+z"), 1);
    T_INTEQ(ub_secret_root_in(0, "--conf k=v"), 0);

    /* too short to register */
    ub_secret_add("ab");
    T_STREQ(mask("ab cd"), "ab cd");
    T_INTEQ(ub_secret_nroots(), 1);

    /* JSON values in place; names untouched */
    json_t *j = json_pack("{s:s, s:[s, s], s:{s:s}, s:i}", "a", "x" S "y", "b", "keep", "E'pa ss''w%rd/\"x\\\\y+z'",
                          "c", "d", "pa%20ss%27w%25rd%2F%22x%5Cy%2Bz", "n", 3);
    T_INTEQ(ub_secret_mask_json(j), 3);
    char *dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    T_STREQ(dump, "{\"a\":\"x****y\",\"b\":[\"keep\",\"E'****'\"],\"c\":{\"d\":\"****\"},\"n\":3}");
    free(dump);
    T_INTEQ(ub_secret_mask_json(j), 0);      /* nothing left */
    json_decref(j);

    /* a second secret: the longest match wins where they overlap */
    ub_secret_add("pa ss'w%rd/\"x\\y+z and more");
    T_STREQ(mask(S " and more!"), "****!");
    T_INTEQ(ub_secret_nroots(), 2);

    /* a report: HTML-escaped, and JSON inside a <script> */
    ub_secret_reset();
    ub_secret_add("a<b>&'\"c");
    T_STREQ(mask("<td>a&lt;b&gt;&amp;&#39;&quot;c</td>"), "<td>****</td>");
    T_STREQ(mask("{\"v\":\"a\\u003cb\\u003e\\u0026'\\\"c\"}"), "{\"v\":\"****\"}");
    T_STREQ(mask("a&lt;b"), "a&lt;b");

    /* a connection string: its password, and the password percent-decoded */
    ub_secret_reset();
    ub_secret_add_conninfo("postgresql://u:Se%27cr%2Bet@h/db");
    T_STREQ(mask("pw Se'cr+et / Se%27cr%2Bet / Se''cr+et"), "pw **** / **** / ****");
    ub_secret_reset();
    T_STREQ(mask(S), S);
    return t_done("test_secret");
}
