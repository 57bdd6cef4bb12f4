/* test_sqlstmt.c — where the n-th statement of a SQL text starts (1-based characters), split at ';'
 * as PostgreSQL's lexer does: not inside quotes, dollar quotes or comments.  Expected positions are
 * counted by hand. */
#include "ops/sqlstmt.h"
#include "t.h"

int main(void)
{
    T_INTEQ(ub_sqlstmt_start("SELECT 1", 1), 1);
    T_INTEQ(ub_sqlstmt_start("  SELECT 1", 1), 3);
    T_INTEQ(ub_sqlstmt_start("SELECT 1", 2), 0);
    T_INTEQ(ub_sqlstmt_start("SELECT 1;\nSELECT 2;", 2), 11);
    T_INTEQ(ub_sqlstmt_start("SELECT 1;\nSELECT 2;\n", 3), 0);        /* nothing after the last ';' */
    /* comments before a statement are skipped, and a ';' in one does not split */
    T_INTEQ(ub_sqlstmt_start("-- a; b\nSELECT 1; /* x; /* y; */ z; */ SELECT 2", 1), 9);
    T_INTEQ(ub_sqlstmt_start("-- a; b\nSELECT 1; /* x; /* y; */ z; */ SELECT 2", 2), 40);
    /* quotes */
    T_INTEQ(ub_sqlstmt_start("SELECT 'a;''b'; X", 2), 17);
    T_INTEQ(ub_sqlstmt_start("SELECT E'a\\';b'; X", 2), 18);
    T_INTEQ(ub_sqlstmt_start("SELECT 'a\\'; X", 2), 14);              /* no E: the backslash is a character */
    T_INTEQ(ub_sqlstmt_start("SELECT \"a;\"\"b\"; X", 2), 17);
    /* dollar quotes: a DO block's semicolons stay inside */
    T_INTEQ(ub_sqlstmt_start("DO $$ BEGIN x; y; END $$; DO $f$ a;$$; $f$; Z", 2), 27);
    T_INTEQ(ub_sqlstmt_start("DO $$ BEGIN x; y; END $$; DO $f$ a;$$; $f$; Z", 3), 45);
    T_INTEQ(ub_sqlstmt_start("SELECT $1; Z", 2), 12);                  /* $1 is no quote */
    /* characters, not bytes */
    T_INTEQ(ub_sqlstmt_start("SELECT '\xc3\xa9'; Z", 2), 13);
    return t_done("test_sqlstmt");
}
