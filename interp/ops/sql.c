/* sql.c — run a templated SQL file on a connection, in one transaction. */
#include "ops/dialect.h"
#include "ops/pg.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/sqlnames.h"
#include <string.h>

static const ub_param params[] = {
    { .name = "conn", .type = UB_T_CONN, .def = "warehouse", .choices = "postgres|warehouse",
      .desc = "connection to run on" },
    { .name = "sql", .type = UB_T_PATH, .required = 1,
      .desc = "SQL file (a template); its statements run in one transaction" },
    { .name = "setup", .type = UB_T_PATH,
      .desc = "SQL file run first, one setup at a time, in its own transaction (idempotent DDL)" },
    { .name = NULL },
};

static int plan(ub_opctx *c)
{
    const char *conn = ub_op_str(c, "conn");
    const char *setup = ub_op_has(c, "setup") ? ub_op_file_rendered(c, "setup") : "";
    const char *sql = ub_op_file_rendered(c, "sql");
    const ub_dialect *d = ub_dialect_of(c, "conn");
    if (!conn || !setup || !sql || !d)
        return -1;
    if (*setup)
        ub_dialect_setup_plan(c, d, conn, setup);
    ub_op_effect(c, "sql", conn, "BEGIN;\n%s\nCOMMIT;", sql);
    return 0;
}

typedef struct names { const char *v[64]; size_t n; } names;

static int add_name(void *ud, const char *name, int written)
{
    (void)written;
    names *l = ud;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return 0;
    if (l->n < sizeof l->v / sizeof *l->v && (l->v[l->n] = ub_strdup(name)) != NULL)
        l->n++;
    return 0;
}

/* The columns of the tables the SQL names, for lineage (on the task's own connection, after the commit). */
static void report_columns(ub_opctx *c, PGconn *db, const char *sql)
{
    names l = { { NULL }, 0 };
    ub_sqlnames_scan(sql, add_name, &l);
    ub_pg_report_columns(c, db, l.v, l.n);
    for (size_t i = 0; i < l.n; i++)
        ub_free((char *)l.v[i]);
}

static int run(ub_opctx *c)
{
    const char *setup = ub_op_has(c, "setup") ? ub_op_file_rendered(c, "setup") : "";
    const char *sql = ub_op_file_rendered(c, "sql");
    const ub_dialect *d = ub_dialect_of(c, "conn");
    if (!setup || !sql || !d)
        return -1;
    PGconn *db = ub_pg_connect(c, "conn");
    if (!db)
        return -1;
    int rc = *setup ? ub_dialect_setup_run(c, d, db, setup) : 0;
    if (!rc)
        rc = ub_pg_exec(c, db, "BEGIN");
    if (!rc)
        rc = ub_pg_exec_file(c, db, sql, "sql", "");
    if (!rc)
        rc = ub_pg_exec(c, db, "COMMIT");
    if (!rc && ub_op_lineage_wanted(c))
        report_columns(c, db, sql);
    PQfinish(db);                        /* closing without COMMIT rolls back */
    return rc;
}

const ub_opdesc ub_op_sql = {
    .name = "sql",
    .summary = "run a SQL file in one transaction",
    .doc = "Renders the SQL file and runs it in one transaction on the connection: either every statement takes "
           "effect or none does. The optional setup file (idempotent DDL such as CREATE ... IF NOT EXISTS) runs "
           "first and commits on its own, one setup at a time across tasks (see \"Setup files and sessions\" in ubpipe-pipeline(5)). "
           "The file is sent as one text; a server error names the file, line and column it points at "
           "(FILE:LINE:COL: message; in the output of a {{ }} block, the block), or where the failing statement "
           "starts when the server gives no position, and says \"setup failed\" for the setup file.",
    .params = params,
    .plan = plan,
    .run = run,
};
