/* reports_page.c — the pipelines' reports, live in `ubpipe serve` (see reports_page.h).
 *
 * A request names a pipeline the daemon serves, a report its spec declares
 * and a ds with a successful run in the journal: every part is looked up in
 * those lists, never joined into a path.  The report is rendered by the
 * report/ layer exactly as `ubpipe report FILE ID --ds D` would (same spec
 * file, default profile, same queries), once for both pages: the download is
 * that self-contained file byte for byte; the live page carries the same data
 * and block JSON (<script type="application/json">, which a CSP does not
 * execute) and loads report.css/chart.min.js/report.js from /assets/, so the
 * daemon's one strict CSP (default-src 'self') holds for it too.
 */
#include "web/reports_page.h"
#include "base/mem.h"
#include "base/secret.h"
#include "core/engine.h"
#include "io/html.h"
#include "lua/luahost.h"
#include "report/report.h"
#include "report/spec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DS 400     /* ds offered in the picker (newest first) */

static const char HTML[] = "text/html; charset=utf-8";

static int engine_render(void *ud, const char *text, size_t len, const char *where, ub_buf *out, ub_err *err)
{
    return ub_tmpl_render(ub_engine_lua(ud), text, len, where, out, err);
}

/* A well-formed YYYY-MM-DD (calendar checks are the journal's: it must be listed). */
static int ds_shape(const char *v, size_t n)
{
    if (n != 10 || v[4] != '-' || v[7] != '-')
        return 0;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9'))
            return 0;
    return 1;
}

/* ds=... from the query (the server re-encodes it; a ds has no byte to decode).
 * 1 found (copied into out), 0 absent, -1 malformed. */
static int query_ds(const char *q, char out[11])
{
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= 3 && strncmp(p, "ds=", 3) == 0) {
            if (!ds_shape(p + 3, n - 3))
                return -1;
            memcpy(out, p + 3, 10);
            out[10] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int error_page(ub_buf *b, int status, const char *msg)
{
    ub_buf_reset(b);
    ub_html_textf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d · ubpipe</title>"
                     "<link rel=\"stylesheet\" href=\"/assets/ubpipe.css\"></head>\n<body data-page=\"error\"><main>"
                     "<h1>%d</h1><pre class=\"error\">%s</pre><p><a href=\"/\">all pipelines</a></p></main></body></html>\n",
                  status, status, msg ? msg : "error");
    return status;
}

static void href_report(ub_buf *b, const char *pipeline, const char *id)
{
    ub_buf_adds(b, "/pipelines/");
    ub_html_urlpart(b, pipeline);
    ub_buf_adds(b, "/reports/");
    ub_html_urlpart(b, id);
}

/* The bar above the report: back link, ds picker (a GET form), permalink, download. */
static void live_bar(ub_buf *b, const char *pipeline, const char *id, const char *ds, char (*dsl)[11], size_t nds)
{
    ub_buf_adds(b, "<nav class=\"ubl-bar\"><a class=\"ubl-brand\" href=\"/\">ubpipe</a> <a href=\"/pipelines/");
    ub_html_urlpart(b, pipeline);
    ub_html_textf(b, "\">%s</a> <span class=\"ubl-sep\">/</span> report <b>%s</b>"
                     "<form class=\"ubl-pick\" method=\"get\" action=\"", pipeline, id);
    href_report(b, pipeline, id);
    ub_buf_adds(b, "\"><label>ds <select name=\"ds\" id=\"ubl-ds\">");
    for (size_t i = 0; i < nds; i++)
        ub_html_textf(b, "<option value=\"%s\"%s>%s</option>", dsl[i], strcmp(dsl[i], ds) == 0 ? " selected" : "",
                      dsl[i]);
    ub_buf_adds(b, "</select></label> <button type=\"submit\">show</button></form><a class=\"ubl-link\" id=\"ubl-permalink\" href=\"");
    href_report(b, pipeline, id);
    ub_buf_adds(b, "?ds=");
    ub_html_urlpart(b, ds);
    ub_buf_adds(b, "\">permalink</a><a class=\"ubl-link\" id=\"ubl-download\" href=\"");
    href_report(b, pipeline, id);
    ub_buf_adds(b, "/download?ds=");
    ub_html_urlpart(b, ds);
    ub_buf_adds(b, "\">download as HTML</a></nav>\n");
}

/* Renders both pages into live and file; -1 with the (masked) message in msg. */
static int render(ub_serve *s, const char *spec_path, const char *id, const char *ds, const char *bar, ub_buf *live,
                  ub_buf *file, ub_buf *msg)
{
    ub_diag d;
    ub_diag_init(&d);
    ub_spec *sp = ub_spec_load(spec_path, &d);
    ub_engine *e = NULL;
    ub_report_decl decl;
    int rc = -1;
    if (!sp || ub_report_find(sp, id, &decl, &d))
        goto done;
    ub_engine_opts eo = { .ds = ds, .planning = 1, .state_dir = ub_serve_state_dir(s) };
    e = ub_engine_new(sp, &eo, &d);
    if (!e)
        goto done;
    ub_report_opts ro = { .path = decl.path, .display = decl.display, .id = id, .title = decl.title,
                          .pipeline = sp->pipeline, .ds = ub_engine_ds(e), .render = engine_render, .ud = e };
    if (ub_report_check(&ro, NULL, &d))
        goto done;
    ro.dsn = ub_report_dsn(e, decl.conn, &d);
    if (!ro.dsn)
        goto done;
    rc = ub_report_render_live(&ro, bar, file, live, &d);
done:
    if (rc) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            ub_diag_flush(&d, f);
            fclose(f);
        }
        ub_secret_mask(text && len ? text : "the report could not be rendered", msg);
        free(text);
    }
    ub_diag_free(&d);
    ub_engine_free(e);
    ub_spec_free(sp);
    return rc;
}

/* The download's file name: ID-DS.html with anything but [A-Za-z0-9._-] as '_'. */
static void attachment(char out[256], const char *id, const char *ds)
{
    char safe[160];
    size_t k = 0;
    for (const char *c = id; *c && k + 1 < sizeof safe; c++)
        safe[k++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
                            *c == '_' || *c == '-'
                        ? *c
                        : '_';
    safe[k] = '\0';
    snprintf(out, 256, "attachment; filename=\"%s-%s.html\"", safe, ds);
}

int ub_reports_page(ub_serve *s, const ub_page_req *r, const char *pipeline, const char *id, int download,
                    ub_buf *body, const char **content_type)
{
    char (*dsl)[11] = NULL;
    char *spec_path = NULL;
    size_t nds = 0;
    char ds[11] = "";
    int status, asked;
    unsigned long long gen = 0;
    ub_buf key = UB_BUF_INIT, rpath = UB_BUF_INIT, bar = UB_BUF_INIT, live = UB_BUF_INIT, file = UB_BUF_INIT, msg = UB_BUF_INIT;
    *content_type = HTML;
    asked = query_ds(r->query, ds);
    if (asked < 0) {
        status = error_page(body, 400, "ds must be YYYY-MM-DD");
        goto done;
    }
    dsl = ub_calloc(MAX_DS, sizeof *dsl);
    if (!dsl) {
        status = error_page(body, 500, "out of memory");
        goto done;
    }
    /* everything from the daemon's lists, under its lock; copies kept */
    ub_serve_lock(s);
    ub_serve_pipeline *p = ub_serve_find(s, pipeline);
    int known = p && p->spec && ub_node_get(ub_node_get(p->spec->root, "reports"), id) != NULL;
    int listed = 0;
    if (known) {
        const char *const *all;
        size_t n = ub_serve_run_list(s, p, &all);
        for (size_t i = n; i-- > 0 && nds < MAX_DS;) {
            const char *st = ub_serve_run_state(s, p, all[i]);
            if (!st || strcmp(st, "success") != 0)
                continue;
            memcpy(dsl[nds], all[i], 11);
            listed |= asked && strcmp(all[i], ds) == 0;
            nds++;
        }
        spec_path = ub_strdup(p->path);
        gen = ub_serve_generation(s, p);
        /* the report file, to key the cache on its version too (its queries are in it) */
        const ub_node *f = ub_node_get(ub_node_get(ub_node_get(p->spec->root, "reports"), id), "file");
        if (f && f->kind == UB_SCALAR && f->str[0] == '/')
            ub_buf_adds(&rpath, f->str);
        else if (f && f->kind == UB_SCALAR)
            ub_buf_addf(&rpath, "%s/%s", p->spec->dir, f->str);
    }
    ub_serve_unlock(s);
    if (!known) {
        status = error_page(body, 404, p ? "the pipeline declares no such report" : "no such pipeline");
        goto done;
    }
    if (!asked && nds)
        memcpy(ds, dsl[0], 11);
    if (!nds || (asked && !listed)) {
        status = error_page(body, 404, nds ? "no successful run of the pipeline for that ds"
                                           : "no successful run of the pipeline yet");
        goto done;
    }
    if (!spec_path) {
        status = error_page(body, 500, "out of memory");
        goto done;
    }
    ub_buf_adds(&key, pipeline);
    ub_buf_addc(&key, '\x1f');
    ub_buf_adds(&key, id);
    ub_buf_addc(&key, '\x1f');
    ub_buf_adds(&key, ds);
    struct stat st;
    if (rpath.len && stat(ub_buf_str(&rpath), &st) == 0)
        ub_buf_addf(&key, "\x1f%lld.%09ld.%lld", (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                    (long long)st.st_size);
    if (key.err) {
        status = error_page(body, 500, "out of memory");
        goto done;
    }
    if (download && r->attachment)
        attachment(r->attachment, id, ds);
    if (ub_serve_report_cached(s, ub_buf_str(&key), download, body)) {
        status = body->err ? 500 : 200;
        goto done;
    }
    live_bar(&bar, pipeline, id, ds, dsl, nds);
    ub_serve_render_lock(s);
    int rc = render(s, spec_path, id, ds, ub_buf_str(&bar), &live, &file, &msg);
    ub_serve_render_unlock(s);
    if (rc || bar.err) {
        if (r->attachment)
            r->attachment[0] = '\0';
        ub_serve_report_failed(s);
        status = error_page(body, 500, ub_buf_str(&msg));
        goto done;
    }
    ub_serve_report_store(s, p, ub_buf_str(&key), gen, &live, &file);
    const ub_buf *page = download ? &file : &live;
    ub_buf_add(body, page->p, page->len);
    status = body->err ? 500 : 200;
done:
    ub_buf_free(&key);
    ub_buf_free(&rpath);
    ub_buf_free(&bar);
    ub_buf_free(&live);
    ub_buf_free(&file);
    ub_buf_free(&msg);
    ub_free(spec_path);
    ub_free(dsl);
    return status;
}

int ub_reports_resolve(ub_serve *s, const char *id, char *pipeline, size_t cap)
{
    int found = 0;
    ub_serve_lock(s);
    for (size_t i = 0; i < ub_serve_npipelines(s); i++) {
        ub_serve_pipeline *p = ub_serve_pipeline_at(s, i);
        if (p->spec && p->name && ub_node_get(ub_node_get(p->spec->root, "reports"), id)) {
            if (!found++)
                snprintf(pipeline, cap, "%s", p->name);
        }
    }
    ub_serve_unlock(s);
    return found;
}
