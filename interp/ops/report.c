/* report.c — the `report` operator: render a declared report for the run's ds into the lake. */
#include "op.h"
#include "base/buf.h"
#include "base/mem.h"
#include "report/report.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ub_param params[] = {
    { "report", UB_T_STR, 1, NULL, NULL, "id of a report declared under the spec's top-level 'reports:'" },
    { "dest", UB_T_LAKEREF, 1, NULL, NULL, "lake object the HTML file is written to (atomically)" },
    { "statement_timeout", UB_T_DURATION, 0, "60s", NULL, "statement timeout of each of the report's queries" },
    { "max_rows", UB_T_INT, 0, "10000", "1..10000000", "row cap of each query (more rows fail the report)" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static int op_render(void *ud, const char *text, size_t len, const char *where, ub_buf *out, ub_err *err)
{
    char *t = ub_strndup(text, len);
    const char *r = t ? ub_op_render(ud, t, where) : NULL;
    ub_free(t);
    if (!r)
        return ub_err_set(err, "template error (see above)");
    return ub_buf_adds(out, r);
}

/* the diag's messages, as one task error */
static int diag_fail(ub_opctx *c, ub_diag *d, int fatal)
{
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    if (m) {
        ub_diag_flush(d, m);
        fclose(m);
    }
    while (n && text[n - 1] == '\n')
        text[--n] = '\0';
    int rc = fatal ? ub_op_fatal(c, "report: %s", text ? text : "failed") : ub_op_fail(c, "report: %s", text ? text : "failed");
    free(text);   /* open_memstream allocates with the C allocator */
    ub_diag_free(d);
    return rc;
}

static int setup(ub_opctx *c, ub_report_opts *o)
{
    const char *id = ub_op_str(c, "report"), *conn = NULL;
    memset(o, 0, sizeof *o);
    if (!id || ub_op_report_decl(c, id, &o->path, &conn, &o->title))
        return -1;
    o->id = id;
    o->pipeline = ub_op_pipeline(c);
    o->ds = ub_op_ds(c);
    o->render = op_render;
    o->ud = c;
    o->timeout = ub_op_duration(c, "statement_timeout");
    o->max_rows = (long)ub_op_int(c, "max_rows");
    o->dsn = conn ? ub_op_conn_named(c, conn, "dsn") : NULL;
    return o->dsn ? 0 : ub_op_fail(c, "report '%s': connection '%s' has no dsn", id, conn);
}

typedef struct plan_ud { ub_opctx *c; const char *conn; } plan_ud;

static void show_query(void *ud, const char *name, const char *sql)
{
    plan_ud *p = ud;
    ub_op_effect(p->c, "sql", p->conn, "-- report query %s (read only)\n%s", name, sql);
}

static int plan(ub_opctx *c)
{
    ub_report_opts o;
    const char *dest = ub_op_str(c, "dest");
    if (!dest || setup(c, &o))
        return -1;
    ub_diag d;
    ub_diag_init(&d);
    plan_ud p = { c, "warehouse" };
    const char *f, *t;
    ub_op_report_decl(c, o.id, &f, &p.conn, &t);
    if (ub_report_queries(&o, show_query, &p, &d))
        return diag_fail(c, &d, 1);
    ub_diag_free(&d);
    ub_op_effect(c, "write", dest, "report %s for %s (one HTML file)", o.id, o.ds);
    return 0;
}

static int run(ub_opctx *c)
{
    ub_report_opts o;
    const char *dest = ub_op_str(c, "dest");
    if (!dest || setup(c, &o))
        return -1;
    ub_diag d;
    ub_diag_init(&d);
    if (ub_report_check(&o, NULL, &d))
        return diag_fail(c, &d, 1);
    ub_buf html = UB_BUF_INIT;
    if (ub_report_render(&o, &html, &d)) {
        ub_buf_free(&html);
        return diag_fail(c, &d, 0);
    }
    ub_diag_free(&d);
    ub_lake *lake = ub_op_lake(c);
    ub_err err;
    ub_writer *w = lake ? ub_lake_open_write(lake, dest, &err) : NULL;
    int rc = -1;
    if (!lake)
        goto done;
    if (!w) {
        ub_op_fail(c, "%s", err.msg);
        goto done;
    }
    if (ub_write(w, html.p, html.len, &err)) {
        ub_writer_abort(w);
        ub_op_fail(c, "%s", err.msg);
        goto done;
    }
    if (ub_writer_commit(w, &err)) {
        ub_op_fail(c, "%s", err.msg);
        goto done;
    }
    ub_op_progress(c, 0, html.len);
    ub_op_log(c, "report %s for %s: %zu bytes to %s", o.id, o.ds, html.len, dest);
    rc = ub_op_set_output(c, "key", dest);
done:
    ub_buf_free(&html);
    return rc;
}

const ub_opdesc ub_op_report = {
    "report", "render a report (Markdown with SQL) into one HTML file in the lake",
    "Renders the report declared under the spec's 'reports:' for the run's ds: its queries run on the report's "
    "connection in one read-only transaction (statement timeout, row cap), and the page, with its data, styles and "
    "chart library inlined, is written to dest atomically. plan shows each query rendered. See ubpipe-report(5).",
    params, NULL, plan, run, NULL,
};
