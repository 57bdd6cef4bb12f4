/* pg.c — libpq connection, statements, COPY IN and cancellation. */
#include "ops/pg.h"
#include "ops/dialect.h"
#include "base/buf.h"
#include "base/date.h"
#include "base/mem.h"
#include "io/sqlnames.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ub_pg_errmsg(PGconn *db, const PGresult *res, char *buf, size_t cap)
{
    const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!prim) {
        const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(db);
        snprintf(buf, cap, "%s", m && *m ? m : "unknown error");
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == ' '))
            buf[--l] = '\0';
        for (char *p = buf; *p; p++)
            if (*p == '\n')
                *p = ' ';
        return buf;
    }
    const char *det = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
    snprintf(buf, cap, "%s%s%s%s%s", prim, det ? " (" : "", det ? det : "", det ? ")" : "",
             ctx ? "" : "");
    if (ctx) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, " [%s]", ctx);
        for (char *p = buf + l; *p; p++)
            if (*p == '\n')
                *p = ' ';
    }
    return buf;
}

/* Server notices (e.g. "relation already exists, skipping") go to the task log. */
static void on_notice(void *arg, const char *msg)
{
    size_t l = strlen(msg);
    while (l && msg[l - 1] == '\n')
        l--;
    ub_op_log(arg, "server: %.*s", (int)l, msg);
}

/* Defaults that keep a connection from hanging a run; the dsn may override
 * each (its values are expanded after these), and PGCONNECT_TIMEOUT too. */
#define CONNECT_TIMEOUT_S "10"
static const char *const conn_defaults[][2] = {
    { "keepalives", "1" },
    { "keepalives_idle", "30" },
    { "keepalives_interval", "10" },
    { "keepalives_count", "3" },
};

/* The connect_timeout in effect for db (seconds; 0 = none). */
static double connect_timeout_of(PGconn *db)
{
    double t = 0;
    PQconninfoOption *o = PQconninfo(db);
    for (PQconninfoOption *p = o; p && p->keyword; p++)
        if (strcmp(p->keyword, "connect_timeout") == 0 && p->val && *p->val) {
            char *end;
            t = strtod(p->val, &end);
            if (*end || t < 0)
                t = 0;
            else if (t > 0 && t < 2)
                t = 2;                       /* libpq's own minimum */
        }
    PQconninfoFree(o);
    return t;
}

/* Connects without blocking: PQconnectPoll driven by poll(2) in slices of
 * 200 ms, so a task timeout or SIGTERM (ub_op_cancelled) ends a try stuck in
 * connect (unless the cancel came first: then it is a cleanup, bounded by
 * connect_timeout only), and connect_timeout bounds the whole connect (the
 * non-blocking API leaves that to its caller).  NULL with why filled on failure. */
static PGconn *connect_bounded(ub_opctx *c, const char *dsn, char *why, size_t cap)
{
    const char *kw[8], *val[8];
    size_t n = 0;
    const char *env = getenv("PGCONNECT_TIMEOUT");
    if (!env || !*env) {
        kw[n] = "connect_timeout";
        val[n++] = CONNECT_TIMEOUT_S;
    }
    for (size_t i = 0; i < sizeof conn_defaults / sizeof conn_defaults[0]; i++) {
        kw[n] = conn_defaults[i][0];
        val[n++] = conn_defaults[i][1];
    }
    kw[n] = "dbname";                        /* last: the dsn's own values win */
    val[n++] = dsn;
    kw[n] = NULL;
    val[n] = NULL;
    PGconn *db = PQconnectStartParams(kw, val, 1);
    if (!db) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    double limit = connect_timeout_of(db), t0 = ub_now();
    int cleanup = ub_op_cancelled(c);        /* a connect after the cancel is a cleanup: not cut */
    PostgresPollingStatusType ps = PQstatus(db) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
        if (!cleanup && ub_op_cancelled(c)) {
            snprintf(why, cap, "stopped while connecting (task timeout or cancel) after %.1f s", ub_now() - t0);
            goto fail;
        }
        if (limit > 0 && ub_now() - t0 >= limit) {
            snprintf(why, cap, "no answer within connect_timeout=%g s (server unreachable or not speaking "
                     "PostgreSQL; set connect_timeout in the dsn to change it)", limit);
            goto fail;
        }
        struct pollfd pfd = { PQsocket(db), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0 };
        int k = pfd.fd >= 0 ? poll(&pfd, 1, 200) : 1;
        if (k == 0 || (k < 0 && errno == EINTR))
            continue;
        ps = PQconnectPoll(db);
    }
    if (ps == PGRES_POLLING_OK && PQstatus(db) == CONNECTION_OK)
        return db;
    ub_pg_errmsg(db, NULL, why, cap);
fail:
    PQfinish(db);
    return NULL;
}

PGconn *ub_pg_connect(ub_opctx *c, const char *param)
{
    const char *dsn = ub_op_conn(c, param, "dsn");
    const char *name = ub_op_str(c, param);
    const ub_dialect *d = ub_dialect_of(c, param);
    if (!d)
        return NULL;
    if (!dsn || !*dsn) {
        ub_op_fail(c, "connection '%s' has no dsn", name ? name : param);
        return NULL;
    }
    char msg[1024];
    PGconn *db = connect_bounded(c, dsn, msg, sizeof msg);
    if (!db) {
        ub_op_fail(c, "cannot connect to '%s': %s", name, msg);
        return NULL;
    }
    PQsetNoticeProcessor(db, on_notice, c);
    PGresult *r = PQexec(db, d->session_sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        ub_op_fail(c, "cannot set up session on '%s': %s", name, ub_pg_errmsg(db, NULL, msg, sizeof msg));
        PQfinish(db);
        return NULL;
    }
    return db;
}

void ub_pg_cancel(PGconn *db)
{
    char err[256];
    PGcancel *cn = PQgetCancel(db);
    if (cn) {
        PQcancel(cn, err, sizeof err);
        PQfreeCancel(cn);
    }
}

/* Waits for the result of a sent query, cancelling it if the run is cancelled. */
static PGresult *wait_result(ub_opctx *c, PGconn *db)
{
    int cancelled = 0;
    while (PQisBusy(db)) {
        if (!cancelled && ub_op_cancelled(c)) {
            ub_pg_cancel(db);
            cancelled = 1;
        }
        int sock = PQsocket(db);
        fd_set rf;
        FD_ZERO(&rf);
        FD_SET(sock, &rf);
        struct timeval tv = { 0, 200000 };
        if (select(sock + 1, &rf, NULL, NULL, &tv) < 0)
            continue;
        if (!PQconsumeInput(db))
            break;
    }
    return PQgetResult(db);
}

int ub_pg_exec(ub_opctx *c, PGconn *db, const char *sql)
{
    char msg[2048];
    if (!PQsendQuery(db, sql))
        return ub_op_fail(c, "%s", ub_pg_errmsg(db, NULL, msg, sizeof msg));
    int rc = 0;
    PGresult *r;
    while ((r = wait_result(c, db)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (rc == 0 && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
            rc = ub_op_fail(c, "%s", ub_pg_errmsg(db, r, msg, sizeof msg));
        }
        PQclear(r);
    }
    return rc;
}

int ub_pg_copy_in(ub_opctx *c, PGconn *db, ub_reader *r, const char *what, uint64_t *bytes, uint64_t *rows)
{
    static char buf[UB_IO_CHUNK];
    char msg[2048];
    ub_err err;
    int rc = 0;
    ssize_t n;
    while ((n = ub_read(r, buf, sizeof buf, &err)) > 0) {
        if (ub_op_cancelled(c)) {
            PQputCopyEnd(db, "cancelled by ubpipe");
            rc = ub_op_fail(c, "cancelled");
            goto finish;
        }
        if (PQputCopyData(db, buf, (int)n) != 1) {
            rc = ub_op_fail(c, "loading '%s': %s", what, ub_pg_errmsg(db, NULL, msg, sizeof msg));
            goto finish;
        }
        if (bytes)
            *bytes += (uint64_t)n;
    }
    if (n < 0) {
        PQputCopyEnd(db, "input error");
        rc = ub_op_fail(c, "reading '%s': %s", what, err.msg);
        goto finish;
    }
    if (PQputCopyEnd(db, NULL) != 1)
        rc = ub_op_fail(c, "loading '%s': %s", what, ub_pg_errmsg(db, NULL, msg, sizeof msg));
finish:;
    PGresult *res;
    while ((res = PQgetResult(db)) != NULL) {
        if (rc == 0 && rows && PQresultStatus(res) == PGRES_COMMAND_OK)
            *rows += strtoull(PQcmdTuples(res), NULL, 10);
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            /* COPY's context says "COPY t, line N[, column c]": name the object */
            const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
            const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            const char *line = ctx ? strstr(ctx, "line ") : NULL;
            if (line && prim) {
                int ln = 0;
                sscanf(line + 5, "%d", &ln);
                const char *colp = strstr(line, "column ");
                char col[128] = "";
                if (colp)
                    snprintf(col, sizeof col, " (%.*s)", (int)strcspn(colp, ":\n"), colp);
                /* a data error (SQLSTATE class 22 or 23) will not go away on retry */
                const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
                    rc = ub_op_fatal(c, "%s:%d: %s%s", what, ln, prim, col);
                else
                    rc = ub_op_fail(c, "%s:%d: %s%s", what, ln, prim, col);
            } else {
                rc = ub_op_fail(c, "loading '%s': %s", what, ub_pg_errmsg(db, res, msg, sizeof msg));
            }
        }
        PQclear(res);
    }
    return rc;
}

int ub_pg_qualified(const char *name, ub_buf *out)
{
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0)
            return -1;
        ub_buf_addc(out, '"');
        for (size_t i = 0; i < l; i++) {
            if (p[i] == '"')
                ub_buf_addc(out, '"');
            ub_buf_addc(out, p[i]);
        }
        ub_buf_addc(out, '"');
        if (!dot)
            break;
        ub_buf_addc(out, '.');
        p = dot + 1;
    }
    return out->err ? -1 : 0;
}

void ub_pg_report_columns(ub_opctx *c, PGconn *db, const char *const *tables, size_t n)
{
    ub_buf q = UB_BUF_INIT;
    PGresult *res = NULL;
    const char **names = NULL, **types = NULL;
    char schema[256], table[256], msg[1024];
    size_t conds = 0;
    if (!ub_op_lineage_wanted(c) || !n)
        return;
    ub_buf_adds(&q, "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE ");
    for (size_t i = 0; i < n; i++) {
        if (ub_sqlnames_split(tables[i], schema, sizeof schema, table, sizeof table))
            continue;
        char *s = PQescapeLiteral(db, schema, strlen(schema)), *t = PQescapeLiteral(db, table, strlen(table));
        if (s && t)
            ub_buf_addf(&q, "%s(table_schema = %s AND table_name = %s)", conds++ ? " OR " : "", s, t);
        PQfreemem(s);
        PQfreemem(t);
    }
    ub_buf_adds(&q, " ORDER BY table_schema, table_name, ordinal_position");
    if (!conds || q.err)
        goto out;
    res = PQexec(db, ub_buf_str(&q));
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ub_op_log(c, "note: the columns of the tables are not known for lineage: %s",
                  ub_pg_errmsg(db, res, msg, sizeof msg));
        goto out;
    }
    int rows = PQntuples(res);
    names = ub_calloc((size_t)rows + 1, sizeof *names);
    types = ub_calloc((size_t)rows + 1, sizeof *types);
    if (!names || !types)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (ub_sqlnames_split(tables[i], schema, sizeof schema, table, sizeof table))
            continue;
        for (int r = 0; r < rows; r++)
            if (strcmp(PQgetvalue(res, r, 0), schema) == 0 && strcmp(PQgetvalue(res, r, 1), table) == 0) {
                names[k] = PQgetvalue(res, r, 2);
                types[k++] = PQgetvalue(res, r, 3);
            }
        if (k)
            ub_op_dataset_schema(c, "table", tables[i], k, names, types);
    }
out:
    ub_free(names);
    ub_free(types);
    PQclear(res);
    ub_buf_free(&q);
}
