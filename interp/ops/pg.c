/* pg.c — libpq connection, statements, COPY IN and cancellation. */
#include "ops/pg.h"
#include "ops/dialect.h"
#include "ops/sqlstmt.h"
#include "base/buf.h"
#include "base/date.h"
#include "base/mem.h"
#include "io/sqlnames.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends text to buf as one line: each line of it trimmed, the lines joined with "; ". */
static void add_oneline(char *buf, size_t cap, const char *text)
{
    size_t l = strlen(buf);
    int gap = 0;
    for (const char *p = text; *p && l + 1 < cap; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            gap = *p == '\n' ? 2 : gap ? gap : 1;
            continue;
        }
        if (gap && l && l + 3 < cap) {
            if (gap == 2 && buf[l - 1] != ':' && buf[l - 1] != ';')
                buf[l++] = ';';
            buf[l++] = ' ';
        }
        gap = 0;
        buf[l++] = *p;
    }
    buf[l] = '\0';
}

const char *ub_pg_errmsg(PGconn *db, const PGresult *res, char *buf, size_t cap)
{
    const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    buf[0] = '\0';
    if (!prim) {
        const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(db);
        add_oneline(buf, cap, m && *m ? m : "unknown error");
        return buf;
    }
    /* "primary; detail: ...; hint: ...; context: ..." on one line */
    static const struct { int field; const char *label; } more[] = {
        { PG_DIAG_MESSAGE_DETAIL, "; detail: " },
        { PG_DIAG_MESSAGE_HINT, "; hint: " },
        { PG_DIAG_CONTEXT, "; context: " },
    };
    add_oneline(buf, cap, prim);
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        const char *v = PQresultErrorField(res, more[i].field);
        size_t l = strlen(buf);
        if (v && *v && l + 1 < cap) {
            snprintf(buf + l, cap - l, "%s", more[i].label);   /* its trailing space kept */
            add_oneline(buf, cap, v);
        }
    }
    return buf;
}

/* The 1-based character of sql where the server put the error of res, 0 when it did
 * not say: the statement's position, or for an error inside a function an internal
 * position, when the internal query is a part of sql (a DO block's body) found once. */
static size_t err_position(const PGresult *res, const char *sql)
{
    const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    if (pos)
        return strtoul(pos, NULL, 10);
    const char *ipos = PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION);
    const char *iq = PQresultErrorField(res, PG_DIAG_INTERNAL_QUERY);
    const char *at = ipos && iq && *iq ? strstr(sql, iq) : NULL;
    if (!at || strstr(at + 1, iq))
        return 0;
    size_t chars = 0;
    for (const char *p = sql; p < at; p++)
        if (((unsigned char)*p & 0xC0) != 0x80)
            chars++;
    return chars + strtoul(ipos, NULL, 10);
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

static int exec_msg(ub_opctx *c, PGconn *db, const char *sql, char *why, size_t cap, size_t *pos, int *whole);

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
    /* sent and waited for like any statement: a server that took the login and then says
     * nothing must not hold the try past its timeout */
    if (exec_msg(c, db, d->session_sql, msg, sizeof msg, NULL, NULL)) {
        ub_op_fail(c, "cannot set up session on '%s': %s", name, msg);
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

/* How long a statement may take to end once it is cancelled, the cancel request
 * included (and how long a statement run as cleanup after the cancel may take at
 * all); past it the try gives the connection up.  Below the scheduler's SIGKILL
 * grace (UBPIPE_KILL_GRACE, 10 s), so the try ends itself and says why. */
#define CANCEL_WAIT_S 5.0

/* PQcancel opens a second connection and blocks until the server closes it, with no
 * timeout of its own: a server that never answers would hold the try.  The request is
 * sent from a child process (PQcancel is async-signal-safe, so it may run in a child
 * of any process), which is killed if it is not done within `wait` seconds. */
static void cancel_bounded(PGconn *db, double wait)
{
    PGcancel *cn = PQgetCancel(db);
    if (!cn)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        char err[256];
        _exit(PQcancel(cn, err, sizeof err) ? 0 : 1);
    }
    PQfreeCancel(cn);
    if (pid < 0)
        return;
    double t0 = ub_now();
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (ub_now() - t0 >= wait) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        poll(NULL, 0, 20);
    }
}

int ub_pg_wait(ub_opctx *c, PGconn *db, char *why, size_t cap)
{
    int cleanup = ub_op_cancelled(c);      /* sent after the cancel: not cancelled, only bounded */
    double cancel_at = cleanup ? ub_now() : 0;
    while (PQisBusy(db)) {
        if (!cancel_at && ub_op_cancelled(c)) {
            cancel_at = ub_now();
            cancel_bounded(db, CANCEL_WAIT_S / 2);
        }
        if (cancel_at && ub_now() - cancel_at >= CANCEL_WAIT_S) {
            snprintf(why, cap, "%s, and the server did not end it within %g s: connection given up",
                     cleanup ? "a statement run after the cancel" : "statement cancelled", CANCEL_WAIT_S);
            return -1;
        }
        struct pollfd pfd = { PQsocket(db), POLLIN, 0 };
        int k = pfd.fd >= 0 ? poll(&pfd, 1, 200) : 0;
        if (k < 0 && errno != EINTR)
            break;
        if (!PQconsumeInput(db))
            break;                      /* the connection broke: PQgetResult says how */
    }
    return 0;
}

/* Runs sql (one or more statements, sent as one text: the server's positions count from
 * its start) and waits for all its results; -1 with the first error in why and, when pos
 * is not NULL, its position in *pos (0: none).  When the server gave none, *pos is where the
 * failing statement starts (each statement before it gave one result) and *whole is set. */
static int exec_msg(ub_opctx *c, PGconn *db, const char *sql, char *why, size_t cap, size_t *pos, int *whole)
{
    size_t nres = 0;
    if (pos)
        *pos = 0;
    if (whole)
        *whole = 0;
    if (!PQsendQuery(db, sql)) {
        ub_pg_errmsg(db, NULL, why, cap);
        return -1;
    }
    int rc = 0;
    for (;;) {
        if (ub_pg_wait(c, db, why, cap))
            return -1;
        PGresult *r = PQgetResult(db);
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r);
        if (rc == 0 && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
            ub_pg_errmsg(db, r, why, cap);
            if (pos && !(*pos = err_position(r, sql)) && whole)
                *whole = (*pos = ub_sqlstmt_start(sql, nres + 1)) != 0;
            rc = -1;
        }
        PQclear(r);
        nres++;
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return -1;                  /* not a statement for this function: the caller drops db */
    }
    return rc;
}

int ub_pg_exec(ub_opctx *c, PGconn *db, const char *sql)
{
    char msg[2048];
    if (exec_msg(c, db, sql, msg, sizeof msg, NULL, NULL))
        return ub_op_fail(c, "%s", msg);
    return 0;
}

int ub_pg_where(ub_opctx *c, const PGresult *res, const char *sent, size_t skip, const char *key, char *buf,
                size_t cap)
{
    size_t pos = res ? err_position(res, sent) : 0;
    return pos > skip ? ub_op_file_where(c, key, pos - skip, buf, cap) : -1;
}

int ub_pg_exec_file(ub_opctx *c, PGconn *db, const char *sql, const char *key, const char *what)
{
    char msg[2048], where[1200];
    size_t pos;
    int whole;
    if (!exec_msg(c, db, sql, msg, sizeof msg, &pos, &whole))
        return 0;
    if (ub_op_file_where(c, key, pos, where, sizeof where) == 0)
        return ub_op_fail(c, "%s: %s%s%s", where, what, msg, whole ? " (in the statement that starts there)" : "");
    if (pos && ub_op_file_where(c, key, 0, where, sizeof where) == 0)
        return ub_op_fail(c, "%s: %s%s", where, what, msg);
    return ub_op_fail(c, "%s%s", what, msg);
}

PGresult *ub_pg_start(ub_opctx *c, PGconn *db, const char *sql, char *why, size_t cap)
{
    if (!PQsendQuery(db, sql)) {
        ub_pg_errmsg(db, NULL, why, cap);
        return NULL;
    }
    if (ub_pg_wait(c, db, why, cap))
        return NULL;
    PGresult *r = PQgetResult(db);
    if (!r)
        snprintf(why, cap, "%s", "no result");
    return r;
}

int ub_pg_copy_feed(ub_opctx *c, PGconn *db, ub_reader *r, const char *what, uint64_t *bytes, uint64_t *rows,
                    PGresult **refused)
{
    static char buf[UB_IO_CHUNK];
    char msg[2048];
    ub_err err;
    int rc = 0;
    ssize_t n;
    *refused = NULL;
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
    for (;;) {
        if (ub_pg_wait(c, db, msg, sizeof msg)) {
            if (rc == 0)
                rc = ub_op_fail(c, "loading '%s': %s", what, msg);
            break;
        }
        if (!(res = PQgetResult(db)))
            break;
        if (rc == 0 && rows && PQresultStatus(res) == PGRES_COMMAND_OK)
            *rows += strtoull(PQcmdTuples(res), NULL, 10);
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            *refused = res;                 /* the caller's */
            rc = 1;
            continue;
        }
        PQclear(res);
    }
    return rc;
}

int ub_pg_copy_error(ub_opctx *c, PGconn *db, const PGresult *res, const char *what, uint64_t line0)
{
    char msg[2048];
    /* COPY's context says "COPY t, line N[, column c]": name the object */
    const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
    const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *line = ctx ? strstr(ctx, "line ") : NULL;
    if (!line || !prim)
        return ub_op_fail(c, "loading '%s': %s", what, ub_pg_errmsg(db, res, msg, sizeof msg));
    unsigned long long ln = strtoull(line + 5, NULL, 10) + line0;
    const char *colp = strstr(line, "column ");
    char col[128] = "";
    if (colp)
        snprintf(col, sizeof col, " (%.*s)", (int)strcspn(colp, ":\n"), colp);
    /* a data error (SQLSTATE class 22 or 23) will not go away on retry */
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        return ub_op_fatal(c, "%s:%llu: %s%s", what, ln, prim, col);
    return ub_op_fail(c, "%s:%llu: %s%s", what, ln, prim, col);
}

int ub_pg_copy_in(ub_opctx *c, PGconn *db, ub_reader *r, const char *what, uint64_t line0, uint64_t *bytes,
                  uint64_t *rows)
{
    PGresult *refused;
    int rc = ub_pg_copy_feed(c, db, r, what, bytes, rows, &refused);
    if (rc == 1) {
        rc = ub_pg_copy_error(c, db, refused, what, line0);
        PQclear(refused);
    }
    return rc;
}

int ub_pg_copy_start(ub_opctx *c, PGconn *db, const char *stmt)
{
    char msg[1024];
    PGresult *res = ub_pg_start(c, db, stmt, msg, sizeof msg);   /* bounded, cancellable */
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COPY_IN)
        rc = ub_op_fail(c, "%s", res ? ub_pg_errmsg(db, res, msg, sizeof msg) : msg);
    PQclear(res);
    return rc;
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
    res = ub_pg_start(c, db, ub_buf_str(&q), msg, sizeof msg);   /* bounded, as every statement */
    for (PGresult *more; res && !ub_pg_wait(c, db, msg, sizeof msg) && (more = PQgetResult(db)) != NULL;)
        PQclear(more);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ub_op_log(c, "note: the columns of the tables are not known for lineage: %s",
                  res ? ub_pg_errmsg(db, res, msg, sizeof msg) : msg);
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
