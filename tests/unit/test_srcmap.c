/* test_srcmap.c — a character of rendered template text maps back to the file's LINE:COL: exactly in
 * text copied from the file (columns in characters, lines counted past a block whose output has
 * newlines), at the block when it falls in a block's output; positions count UTF-8 characters, as
 * PostgreSQL's error positions do.  The maps are built by hand here, as ub_op_file_rendered records them. */
#include "core/srcmap.h"
#include "t.h"

static const char *where(const ub_srcmap *m, size_t chr)
{
    static char out[256];
    ub_buf b = UB_BUF_INIT;
    if (ub_srcmap_where(m, chr, &b) != 0) {
        ub_buf_free(&b);
        return "(none)";
    }
    snprintf(out, sizeof out, "%s", ub_buf_str(&b));
    ub_buf_free(&b);
    return out;
}

int main(void)
{
    ub_arena a = { 0 };
    /* file "f.sql":            rendered:
     *   SELECT {{ x }},          SELECT 1,\n  2,
     *     é foo;                   é foo;
     * x renders "1,\n  2" */
    const char *text = "SELECT 1,\n  2,\n  \xc3\xa9 foo;\n";
    ub_srcmap *m = ub_srcmap_new(&a, "sql", "f.sql");
    T_CHECK(m != NULL);
    T_INTEQ(ub_srcmap_add(m, 0, 1, 1, 1), 0);     /* "SELECT " from 1:1 */
    T_INTEQ(ub_srcmap_add(m, 7, 1, 8, 0), 0);     /* the block's "1,\n  2" at 1:8 */
    T_INTEQ(ub_srcmap_add(m, 13, 1, 15, 1), 0);   /* ",\n  é foo;\n" from 1:15 */
    ub_srcmap_done(m, text, strlen(text));
    T_STREQ(where(m, 1), "f.sql:1:1");
    T_STREQ(where(m, 7), "f.sql:1:7");
    T_STREQ(where(m, 8), "f.sql:1:8 (in the output of the {{ }} that starts there)");
    T_STREQ(where(m, 13), "f.sql:1:8 (in the output of the {{ }} that starts there)");
    T_STREQ(where(m, 14), "f.sql:1:15");          /* the ',' after the block */
    T_STREQ(where(m, 18), "f.sql:2:3");           /* é: character 18, bytes 16-17 */
    T_STREQ(where(m, 20), "f.sql:2:5");           /* foo, after a two-byte character */
    T_STREQ(where(m, 0), "f.sql");
    T_STREQ(where(m, 25), "f.sql:3:1");           /* just past the end */
    T_STREQ(where(m, 26), "(none)");
    T_CHECK(ub_srcmap_find(m, "sql") == m);
    T_CHECK(ub_srcmap_find(m, "setup") == NULL);

    /* characters to bytes */
    T_INTEQ(ub_srcmap_char_offset("a\xc3\xa9z", 4, 1), 0);
    T_INTEQ(ub_srcmap_char_offset("a\xc3\xa9z", 4, 2), 1);
    T_INTEQ(ub_srcmap_char_offset("a\xc3\xa9z", 4, 3), 3);
    T_INTEQ(ub_srcmap_char_offset("a\xc3\xa9z", 4, 4), 4);
    T_INTEQ(ub_srcmap_char_offset("a\xc3\xa9z", 4, 5), (size_t)-1);
    T_INTEQ(ub_srcmap_char_offset("\xe2\x82\xac" "x", 4, 2), 3);   /* a three-byte character */

    /* a file with no block: one literal piece; a map not done is not found */
    ub_srcmap *m2 = ub_srcmap_new(&a, "setup", "s.sql");
    T_CHECK(m2 != NULL);
    ub_srcmap_link(m2, m);
    T_CHECK(ub_srcmap_find(m2, "setup") == NULL);
    T_INTEQ(ub_srcmap_add(m2, 0, 1, 1, 1), 0);
    ub_srcmap_done(m2, "CREATE x;\nCREATE TABEL y;", 25);
    T_CHECK(ub_srcmap_find(m2, "setup") == m2);
    T_CHECK(ub_srcmap_find(m2, "sql") == m);
    T_STREQ(where(m2, 18), "s.sql:2:8");
    ub_arena_free(&a);
    return t_done("test_srcmap");
}
