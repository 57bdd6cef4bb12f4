/* test_sqlnames.c — the tables a SQL text names (io/sqlnames.h): what lineage reports as a
 * SQL task's inputs and outputs, and the catalog lookup's split of a name. */
#include "base/buf.h"
#include "io/sqlnames.h"
#include "t.h"

static int add(void *ud, const char *name, int written)
{
    ub_buf *b = ud;
    ub_buf_addf(b, "%s%c%s", b->len ? " " : "", written ? 'w' : 'r', name);
    return 0;
}

static void scan(const char *sql, const char *want)
{
    ub_buf b = UB_BUF_INIT;
    ub_sqlnames_scan(sql, add, &b);
    T_STREQ(ub_buf_str(&b), want);
    ub_buf_free(&b);
}

static int stop(void *ud, const char *name, int written)
{
    (void)name;
    (void)written;
    ++*(int *)ud;
    return 7;
}

static void split(const char *name, const char *schema, const char *table)
{
    char s[64], t[64];
    int rc = ub_sqlnames_split(name, s, sizeof s, t, sizeof t);
    if (!schema) {
        T_INTEQ(rc, -1);
        return;
    }
    T_INTEQ(rc, 0);
    T_STREQ(s, schema);
    T_STREQ(t, table);
}

int main(void)
{
    scan("DELETE FROM public.m WHERE d = '2021-01-01';\n"
         "INSERT INTO public.m (a) SELECT x FROM spectrum.a JOIN spectrum.b ON true",
         "wpublic.m wpublic.m rspectrum.a rspectrum.b");
    /* comments and literals are not read; unqualified names and numbers are left out */
    scan("-- FROM x.commented\n/* JOIN y.block */ SELECT 'FROM z.literal', 1.5 FROM t JOIN s.t2 u",
         "rs.t2");
    scan("SELECT 'it''s FROM q.q' FROM \"Sch\".\"Tab\"", "r\"Sch\".\"Tab\"");
    scan("CREATE TABLE IF NOT EXISTS a.b (x int); UPDATE c.d SET x = 1; COPY e.f FROM STDIN", "wa.b wc.d we.f");
    scan("SELECT 1 FROM", "");
    scan("SELECT '", "");
    scan("/* unterminated", "");
    int n = 0;
    T_INTEQ(ub_sqlnames_scan("SELECT * FROM a.b JOIN c.d", stop, &n), 7);
    T_INTEQ(n, 1);

    split("spectrum.user_purchase_staging", "spectrum", "user_purchase_staging");
    split("Public.Metric", "public", "metric");
    split("\"Sch\".\"Ta\"\"b\"", "Sch", "Ta\"b");
    split("db.s.t", "s", "t");
    split("t", NULL, NULL);
    split("\"open.t", NULL, NULL);
    split("a..b", NULL, NULL);
    return t_done("test_sqlnames");
}
