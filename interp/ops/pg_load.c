/* pg_load.c — one CSV object into a table by COPY: binary where ubpipe converts it exactly. */
#include "ops/pg_load.h"
#include "base/buf.h"
#include <stdlib.h>
#include <string.h>

int ub_pgload_binary_wanted(void)
{
    const char *v = getenv("UBPIPE_COPY_BINARY");
    return !(v && strcmp(v, "0") == 0);
}

/* The CSV COPY of r, a header line and records: the whole object, or its header and the
 * records after a stop (line0: ub_pgbin_rest_offset). */
static int load_csv(ub_opctx *c, PGconn *db, const char *head, ub_reader *r, const char *what, uint64_t line0,
                    uint64_t *bytes, uint64_t *rows)
{
    ub_buf stmt = UB_BUF_INIT;
    int rc = -1;
    ub_buf_addf(&stmt, "%s FROM STDIN (FORMAT csv, HEADER true, FREEZE true)", head);
    if (stmt.err)
        rc = ub_op_fail(c, "out of memory");
    else if (ub_pg_copy_start(c, db, ub_buf_str(&stmt)) == 0)
        rc = ub_pg_copy_in(c, db, r, what, line0, bytes, rows);
    ub_buf_free(&stmt);
    return rc;
}

int ub_pgload_csv(ub_opctx *c, PGconn *db, const char *head, const ub_pgbin_col *cols, size_t n, ub_reader *r,
                  const char *what, uint64_t *bytes, uint64_t *rows)
{
    ub_buf stmt = UB_BUF_INIT;
    ub_pgbin *b = NULL;
    PGresult *res = NULL, *refused = NULL;
    ub_err err;
    char msg[2048];
    int rc = -1;
    if (!cols) {
        rc = load_csv(c, db, head, r, what, 0, bytes, rows);
        ub_reader_close(r);
        return rc;
    }
    if (!(b = ub_pgbin_open(r, cols, n, &err))) {      /* r is b's from here, even on failure */
        rc = ub_op_fail(c, "loading '%s': %s", what, err.msg);
        goto out;
    }
    ub_buf_addf(&stmt, "%s FROM STDIN (FORMAT binary, FREEZE true)", head);
    if (stmt.err) {
        rc = ub_op_fail(c, "out of memory");
        goto out;
    }
    if (!(res = ub_pg_start(c, db, ub_buf_str(&stmt), msg, sizeof msg))) {
        rc = ub_op_fail(c, "%s", msg);
        goto out;
    }
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        ub_op_log(c, "note: the server refused the binary COPY of '%s' (%s): loading again, as CSV", what,
                  ub_pg_errmsg(db, res, msg, sizeof msg));
        rc = 1;
        goto out;
    }
    uint64_t brows = 0;
    rc = ub_pg_copy_feed(c, db, ub_pgbin_reader(b), what, NULL, &brows, &refused);
    if (rc == 1) {
        ub_op_log(c, "note: the server refused the binary rows of '%s' (%s): loading again, as CSV", what,
                  ub_pg_errmsg(db, refused, msg, sizeof msg));
        goto out;
    }
    if (rc)
        goto out;
    *rows += brows;
    uint64_t line;
    const char *why = ub_pgbin_stopped(b, &line);
    if (!why) {
        ub_op_log(c, "'%s': %llu rows loaded in binary", what, (unsigned long long)brows);
    } else {
        ub_op_log(c, "'%s': %llu rows loaded in binary; from line %llu on as CSV (%s)", what,
                  (unsigned long long)brows, (unsigned long long)line, why);
        rc = load_csv(c, db, head, ub_pgbin_rest(b), what, ub_pgbin_rest_offset(b), NULL, rows);
        if (rc)
            goto out;
    }
    *bytes += ub_pgbin_in_bytes(b);
    rc = 0;
out:
    PQclear(res);
    PQclear(refused);
    ub_pgbin_free(b);
    ub_buf_free(&stmt);
    return rc;
}
