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
      .desc = "SQL file run first in the same transaction (idempotent DDL)" },
    { .name = NULL },
};

static int plan(ub_opctx *c)
{
    const char *conn = ub_op_str(c, "conn");
    const char *setup = ub_op_has(c, "setup") ? ub_op_file_rendered(c, "setup") : "";
    const char *sql = ub_op_file_rendered(c, "sql");
    if (!conn || !setup || !sql)
        return -1;
    ub_op_effect(c, "sql", conn, "BEGIN;\n%s%s%s\nCOMMIT;", setup, *setup ? "\n" : "", sql);
    return 0;
}

static int run(ub_opctx *c)
{
    const char *setup = ub_op_has(c, "setup") ? ub_op_file_rendered(c, "setup") : "";
    const char *sql = ub_op_file_rendered(c, "sql");
    if (!setup || !sql)
        return -1;
    PGconn *db = ub_pg_connect(c, "conn");
    if (!db)
        return -1;
    int rc = ub_pg_exec(c, db, "BEGIN");
    if (!rc && *setup)
        rc = ub_pg_exec(c, db, setup);
    if (!rc)
        rc = ub_pg_exec(c, db, sql);
    if (!rc)
        rc = ub_pg_exec(c, db, "COMMIT");
    PQfinish(db);                        /* closing without COMMIT rolls back */
    return rc;
}

const ub_opdesc ub_op_sql = {
    .name = "sql",
    .summary = "run a SQL file in one transaction",
    .doc = "Renders the SQL file (and the optional setup file) and runs both in one transaction on the connection: "
           "either every statement takes effect or none does.",
    .params = params,
    .plan = plan,
    .run = run,
};
