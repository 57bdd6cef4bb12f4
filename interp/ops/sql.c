/* sql.c — run a templated SQL file on a connection, in one transaction. */
#include "ops/dialect.h"
#include "ops/pg.h"
#include "base/buf.h"
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
