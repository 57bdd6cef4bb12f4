/* pg_extract.c — COPY (query) TO STDOUT, streamed to a file (optionally zstd). */
#include "base/buf.h"
#include "io/stream.h"
#include "ops/pg.h"
#include "io/chash.h"
#include <stdlib.h>
#include <string.h>

static const ub_param params[] = {
    { .name = "conn", .type = UB_T_CONN, .def = "source", .choices = "postgres",
      .desc = "connection of the profile to read from (a libpq dsn)" },
    { .name = "sql", .type = UB_T_PATH, .required = 1,
      .desc = "SQL file holding one SELECT (a template); it is wrapped in COPY (...) TO STDOUT" },
    { .name = "to", .type = UB_T_PATH, .required = 1,
      .desc = "file to write, atomically (temp file, fsync, rename)" },
    { .name = "compress", .type = UB_T_ENUM, .def = "none", .choices = "none|zstd",
      .desc = "zstd-compress the output" },
    { .name = "header", .type = UB_T_BOOL, .def = "true",
      .desc = "write a CSV header line" },
    { .name = NULL },
};

/* COPY (<select>) TO STDOUT (...) with the trailing semicolon of the file dropped */
static const char *copy_sql(ub_opctx *c, ub_buf *b)
{
    const char *q = ub_op_file_rendered(c, "sql");
    if (!q)
        return NULL;
    size_t l = strlen(q);
    while (l && (q[l - 1] == ';' || q[l - 1] == ' ' || q[l - 1] == '\n' || q[l - 1] == '\t' || q[l - 1] == '\r'))
        l--;
    ub_buf_adds(b, "COPY (");
    ub_buf_add(b, q, l);
    ub_buf_addf(b, ") TO STDOUT (FORMAT csv, HEADER %s)", ub_op_bool(c, "header") ? "true" : "false");
    return b->err ? NULL : ub_buf_str(b);
}

/* The CSV header line COPY wrote (the query's result columns) as the
 * columns of the file, for lineage. */
static void report_header(ub_opctx *c, const char *to, const char *row, size_t n)
{
    enum { MAXCOLS = 1664 };               /* PostgreSQL's most columns of a result */
    ub_buf names = UB_BUF_INIT;            /* the names, each NUL-terminated */
    size_t off[MAXCOLS];
    const char *v[MAXCOLS];
    size_t k = 0, i = 0;
    while (n && (row[n - 1] == '\n' || row[n - 1] == '\r'))
        n--;
    while (i <= n && k < MAXCOLS) {
        size_t start = names.len;
        if (i < n && row[i] == '"') {
            for (i++; i < n; i++) {
                if (row[i] == '"' && !(i + 1 < n && row[i + 1] == '"'))
                    break;
                i += row[i] == '"';
                ub_buf_addc(&names, row[i]);
            }
            i++;                           /* the closing quote */
        }
        while (i < n && row[i] != ',')
            ub_buf_addc(&names, row[i++]);
        ub_buf_addc(&names, '\0');
        off[k++] = start;
        i++;
    }
    if (!names.err) {
        for (size_t j = 0; j < k; j++)
            v[j] = names.p + off[j];
        ub_op_dataset_schema(c, "file", to, k, v, NULL);
    }
    ub_buf_free(&names);
}

static int plan(ub_opctx *c)
{
    ub_buf b = UB_BUF_INIT;
    const char *sql = copy_sql(c, &b), *to = ub_op_str(c, "to"), *conn = ub_op_str(c, "conn");
    const char *comp = ub_op_str(c, "compress");
    int rc = -1;
    if (!sql || !to || !conn || !comp)
        goto out;
    ub_op_effect(c, "sql", conn, "%s", sql);
    ub_op_effect(c, "write", "file", "%s%s", to, strcmp(comp, "zstd") == 0 ? " (zstd)" : "");
    rc = 0;
out:
    ub_buf_free(&b);
    return rc;
}

static int run(ub_opctx *c)
{
    ub_buf b = UB_BUF_INIT;
    ub_err err;
    PGconn *db = NULL;
    ub_writer *w = NULL;
    ub_chash *md = NULL;
    int rc = -1;
    char msg[2048];
    const char *sql = copy_sql(c, &b), *to = ub_op_str(c, "to"), *comp = ub_op_str(c, "compress");
    if (!sql || !to || !comp)
        goto out;
    if (!(db = ub_pg_connect(c, "conn")))
        goto out;
    if (!(w = ub_file_writer_open(to, UB_FW_MKDIRS, &err))) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    if (strcmp(comp, "zstd") == 0) {
        ub_writer *z = ub_zstd_writer(w, 0, &err);
        if (!z) {
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        w = z;
    }
    PGresult *res = ub_pg_start(c, db, sql, msg, sizeof msg);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        char where[1200];                /* the file's LINE:COL, past the "COPY (" before it */
        if (ub_pg_where(c, res, sql, strlen("COPY ("), "sql", where, sizeof where) == 0)
            ub_op_fail(c, "%s: extract failed: %s", where, ub_pg_errmsg(db, res, msg, sizeof msg));
        else
            ub_op_fail(c, "extract failed: %s", res ? ub_pg_errmsg(db, res, msg, sizeof msg) : msg);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    /* the COPY started: a downstream try may follow the file as it grows (core/handoff.h) */
    if (strcmp(comp, "none") == 0)
        ub_op_stream_out(c, ub_file_writer_tmp(w));
    uint64_t rows = 0, bytes = 0;
    int n, failed = 0, cancelled = 0;
    char *row;
    /* the content hash of what it wrote: the fingerprint of its output */
    if (!(md = ub_chash_new())) {
        ub_op_fail(c, "out of memory");
        goto out;
    }
    int header = ub_op_bool(c, "header") && ub_op_lineage_wanted(c);
    /* rows are gathered into blocks: one hash update and one write per 64 KiB instead of per row
     * (half a million calls each for the reference extract) */
    static char blk[64 * 1024];
    size_t bl = 0;
#define FLUSH_BLOCK(p, len)                                                                  \
    do {                                                                                     \
        ub_chash_update(md, (p), (len));                                                     \
        if (!failed && (len) && ub_write(w, (p), (len), &err)) {                             \
            ub_op_fail(c, "%s", err.msg);                                                    \
            failed = 1;                                                                      \
            ub_pg_cancel(db);           /* drain the rest quickly */                         \
        }                                                                                    \
    } while (0)
    while ((n = PQgetCopyData(db, &row, 0)) > 0) {
        if (header && rows == 0)
            report_header(c, to, row, (size_t)n);
        if (bl + (size_t)n > sizeof blk) {
            FLUSH_BLOCK(blk, bl);
            bl = 0;
        }
        if ((size_t)n > sizeof blk) {
            FLUSH_BLOCK(row, (size_t)n);   /* a row larger than a block goes on its own */
        } else {
            memcpy(blk + bl, row, (size_t)n);
            bl += (size_t)n;
        }
        PQfreemem(row);
        rows++;
        bytes += (uint64_t)n;
        if ((rows & 0xffff) == 0) {
            ub_op_progress(c, rows, bytes);
            if (!cancelled && ub_op_cancelled(c)) {
                ub_pg_cancel(db);
                cancelled = 1;
            }
        }
    }
    FLUSH_BLOCK(blk, bl);
#undef FLUSH_BLOCK
    if (n == -2) {
        ub_op_fail(c, "extract failed: %s", ub_pg_errmsg(db, NULL, msg, sizeof msg));
        goto out;
    }
    /* the final result tells whether the COPY completed: a truncated
     * extract must not pass for a short one */
    res = PQgetResult(db);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ub_op_fail(c, "extract failed after %llu rows: %s", (unsigned long long)rows,
                   ub_pg_errmsg(db, res, msg, sizeof msg));
        PQclear(res);
        goto out;
    }
    PQclear(res);
    while ((res = PQgetResult(db)) != NULL)
        PQclear(res);
    if (failed || cancelled)
        goto out;
    if (ub_op_bool(c, "header") && rows > 0)
        rows--;                          /* the header line is not a row */
    ub_op_progress(c, rows, bytes);
    rc = ub_writer_commit(w, &err);
    w = NULL;
    if (rc)
        ub_op_fail(c, "%s", err.msg);
    else {
        ub_op_log(c, "extracted %llu rows (%llu bytes) to %s", (unsigned long long)rows,
                  (unsigned long long)bytes, to);
        char hex[UB_CHASH_HEX + 1], num[32];
        ub_chash_hex(md, hex);
        ub_op_set_output(c, "hash", hex);
        snprintf(num, sizeof num, "%llu", (unsigned long long)rows);
        ub_op_set_output(c, "rows", num);
    }
out:
    ub_chash_free(md);
    ub_writer_abort(w);
    PQfinish(db);
    ub_buf_free(&b);
    return rc;
}

const ub_opdesc ub_op_pg_extract = {
    .name = "pg.extract",
    .summary = "stream a query's rows out of PostgreSQL as CSV",
    .doc = "Runs COPY (<sql>) TO STDOUT (FORMAT csv, HEADER) on the connection and streams the rows into a file, "
           "optionally zstd-compressed. The session uses DateStyle ISO. The file appears only when the COPY "
           "completed: the final result of the COPY is checked, so a truncated extract is an error and leaves "
           "nothing behind. A server error in the query names the file, line and column it points at.",
    .params = params,
    .plan = plan,
    .run = run,
};
