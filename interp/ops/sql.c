/* sql.c — run a templated SQL file on a connection, in one transaction. */
#include "ops/dialect.h"
#include "ops/pg.h"
#include "base/buf.h"
#include <string.h>

static const ub_param params[] = {
    { "conn", UB_T_CONN, 0, "warehouse", "postgres|warehouse", "connection to run on" },
    { "sql", UB_T_PATH, 1, NULL, NULL, "SQL file (a template); its statements run in one transaction" },
    { "setup", UB_T_PATH, 0, NULL, NULL, "SQL file run first in the same transaction (idempotent DDL)" },
    { NULL, 0, 0, NULL, NULL, NULL }
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
    "sql", "run a SQL file in one transaction",
    "Renders the SQL file (and the optional setup file) and runs both in one transaction on the connection: "
    "either every statement takes effect or none does.",
    params, NULL, plan, run,
};
