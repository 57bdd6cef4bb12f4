/* pages.c — the server-rendered pages of `ubpipe serve`.
 *
 * Every page is built from the JSON the API gives any client (web/api.h),
 * never from the journal directly, and every value goes through io/html.h.
 * The one script (assets/ubpipe.js) refetches the same API JSON when the
 * event stream says a run changed and updates data-state in place.
 */
#include "web/pages.h"
#include "web/api.h"
#include "web/dagsvg.h"
#include "web/reports_page.h"
#include "report/report.h"
#include "base/date.h"
#include "base/mem.h"
#include "io/html.h"
#include "web_assets.h"
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GRID_PAGE   30                 /* ds per grid page */
#define RECENT_RUNS 20                 /* runs in the duration chart */
#define LOG_TAIL    ((uint64_t)256 << 10)  /* bytes of log shown; the rest via the API */

static const char HTML[] = "text/html; charset=utf-8";

/* --- small helpers -------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v;
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "—";
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "2026-12-02T10:11:12Z" (fractions allowed) → seconds since the epoch; -1 if not a time. */
static double rfc3339(const char *s)
{
    char day[11];
    ub_date d;
    ub_err e;
    if (!s || strlen(s) < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    memcpy(day, s, 10);
    day[10] = '\0';
    int hh = digits(s + 11, 2), mm = digits(s + 14, 2), ss = digits(s + 17, 2);
    if (ub_date_parse(day, &d, &e) || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return -1;
    const char *p = s + 19;
    double frac = 0, scale = 0.1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    return (double)ub_date_to_days(d) * 86400 + hh * 3600 + mm * 60 + ss + frac;
}

/* seconds from start to end (end NULL: until now); -1 when not started */
static double span(const char *start, const char *end)
{
    double a = rfc3339(start), b = end ? rfc3339(end) : (double)time(NULL);
    return a < 0 || b < a ? -1 : b - a;
}

static void add_duration(ub_buf *b, double sec)
{
    if (sec < 0)
        ub_buf_adds(b, "—");
    else if (sec < 60)
        ub_buf_addf(b, "%.1f s", sec);
    else if (sec < 3600)
        ub_buf_addf(b, "%dm %02ds", (int)(sec / 60), (int)sec % 60);
    else
        ub_buf_addf(b, "%dh %02dm", (int)(sec / 3600), (int)(sec / 60) % 60);
}

static int terminal(const char *state)
{
    return state && (strcmp(state, "success") == 0 || strcmp(state, "failed") == 0 ||
                     strcmp(state, "upstream_failed") == 0 || strcmp(state, "skipped") == 0);
}

/* A state as a CSS class suffix: only [a-z_], anything else is "none". */
static const char *state_class(const char *st)
{
    if (!st || !*st)
        return "none";
    for (const char *p = st; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return "none";
    return st;
}

/* The value of key in a query string (percent-decoding not needed: numbers only). */
static int query_long(const char *q, const char *key, long lo, long hi, long *out)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char num[24];
            size_t vl = n - kl - 1;
            if (vl == 0 || vl >= sizeof num)
                return -1;
            memcpy(num, p + kl + 1, vl);
            num[vl] = '\0';
            char *e;
            errno = 0;
            long v = strtol(num, &e, 10);
            if (errno || *e || v < lo || v > hi)
                return -1;
            *out = v;
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* Decodes one percent-encoded path segment into a new string; NULL when it
 * is empty, malformed, or decodes to '/', NUL or a control byte. */
static char *segment(const char *s, size_t n)
{
    char *o = ub_malloc(n + 1);
    size_t k = 0;
    if (!o || n == 0)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c == '%') {
            char hx[3] = { 0 };
            char *e;
            if (i + 2 >= n)
                goto bad;
            hx[0] = s[i + 1];
            hx[1] = s[i + 2];
            c = (unsigned)strtoul(hx, &e, 16);
            if (*e || e != hx + 2)
                goto bad;
            i += 2;
        }
        if (c < 0x20 || c == '/' || c == 0x7F)
            goto bad;
        o[k++] = (char)c;
    }
    o[k] = '\0';
    return o;
bad:
    ub_free(o);
    return NULL;
}

/* --- page frame ----------------------------------------------------------- */

typedef struct page {
    ub_buf            *b;
    const ub_page_req *r;
    int                actions;     /* logged in and not read-only */
} page;

static void href_pipeline(ub_buf *b, const char *p)
{
    ub_buf_adds(b, "/pipelines/");
    ub_html_urlpart(b, p);
}

static void href_run(ub_buf *b, const char *p, const char *ds)
{
    href_pipeline(b, p);
    ub_buf_adds(b, "/runs/");
    ub_html_urlpart(b, ds);
}

static void href_task(ub_buf *b, const char *p, const char *ds, const char *task)
{
    href_run(b, p, ds);
    ub_buf_adds(b, "/tasks/");
    ub_html_urlpart(b, task);
}

static void api_pipeline(ub_buf *b, const char *p)
{
    ub_buf_adds(b, "/api/v1/pipelines/");
    ub_html_urlpart(b, p);
}

/* <head>, the top bar, and <main>.  kind names the page for the script;
 * pipeline/ds/task (any may be NULL) go into data- attributes on <body>. */
static void head(page *pg, const char *title, const char *kind, const char *pipeline, const char *ds,
                 const char *task)
{
    ub_buf *b = pg->b;
    ub_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   /* as the server's header says: with no-referrer, browsers send "Origin: null"
                    * on same-origin POSTs, which the Origin check refuses */
                   "<meta name=\"referrer\" content=\"same-origin\">");
    ub_html_textf(b, "<title>%s · ubpipe</title>", title);
    if (pg->r->csrf)
        ub_html_textf(b, "<meta name=\"ubpipe-csrf\" content=\"%s\">", pg->r->csrf);
    ub_buf_adds(b, "<link rel=\"icon\" href=\"/assets/favicon.svg\"><link rel=\"stylesheet\" href=\"/assets/ubpipe.css\">"
                   "<script src=\"/assets/ubpipe.js\" defer></script></head>\n");
    ub_html_textf(b, "<body data-page=\"%s\"", kind);
    if (pipeline)
        ub_html_textf(b, " data-pipeline=\"%s\"", pipeline);
    if (ds)
        ub_html_textf(b, " data-ds=\"%s\"", ds);
    if (task)
        ub_html_textf(b, " data-task=\"%s\"", task);
    ub_buf_adds(b, ">\n<header class=\"top\"><a class=\"brand\" href=\"/\">ubpipe</a><nav class=\"crumbs\">");
    if (pipeline) {
        ub_buf_adds(b, "<a href=\"");
        href_pipeline(b, pipeline);
        ub_html_textf(b, "\">%s</a>", pipeline);
    }
    if (pipeline && ds) {
        ub_buf_adds(b, " / <a href=\"");
        href_run(b, pipeline, ds);
        ub_html_textf(b, "\">%s</a>", ds);
    }
    if (pipeline && ds && task) {
        ub_buf_adds(b, " / <a href=\"");
        href_task(b, pipeline, ds, task);
        ub_html_textf(b, "\">%s</a>", task);
    }
    ub_buf_adds(b, "</nav><div class=\"session\">");
    if (pg->r->read_only)
        ub_buf_adds(b, "<span class=\"badge\">read-only</span>");
    else if (!pg->r->csrf)
        ub_buf_adds(b, "<form class=\"login\" method=\"post\" action=\"/login\">"
                       "<input type=\"password\" name=\"token\" placeholder=\"token\" autocomplete=\"current-password\" required>"
                       "<button type=\"submit\">Log in</button></form>");
    else
        ub_buf_adds(b, "<form class=\"login\" method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form>");
    ub_buf_adds(b, "</div></header>\n<p id=\"flash\" class=\"flash\" hidden></p>\n<main>\n");
}

static void foot(page *pg)
{
    ub_buf_adds(pg->b, "</main>\n</body></html>\n");
}

static int error_page(page *pg, int status, const char *msg)
{
    ub_buf_reset(pg->b);
    char t[32];
    snprintf(t, sizeof t, "%d", status);
    head(pg, t, "error", NULL, NULL, NULL);
    ub_html_textf(pg->b, "<h1>%d</h1><p class=\"error\">%s</p><p><a href=\"/\">all pipelines</a></p>\n", status,
                  msg ? msg : "error");
    foot(pg);
    return status;
}

static void state_badge(ub_buf *b, const char *id, const char *state)
{
    ub_buf_adds(b, "<span");
    if (id)
        ub_html_textf(b, " id=\"%s\"", id);
    ub_html_textf(b, " class=\"badge st-%s\" data-state=\"%s\">%s</span>", state_class(state), or_dash(state),
                  or_dash(state));
}

/* A button the script turns into a POST of data-body (JSON) to data-post. */
static void post_button(ub_buf *b, const char *label, const char *url, const char *body, const char *confirm)
{
    ub_html_textf(b, "<button type=\"button\" class=\"act\" data-post=\"%s\" data-body=\"%s\"", url, body ? body : "{}");
    if (confirm)
        ub_html_textf(b, " data-confirm=\"%s\"", confirm);
    ub_html_textf(b, ">%s</button>", label);
}

static void clear_buttons(ub_buf *b, const char *p, const char *ds, const char *task)
{
    ub_buf url = UB_BUF_INIT;
    api_pipeline(&url, p);
    ub_buf_adds(&url, "/runs/");
    ub_html_urlpart(&url, ds);
    ub_buf_adds(&url, "/tasks/");
    ub_html_urlpart(&url, task);
    ub_buf_adds(&url, "/clear");
    post_button(b, "clear", ub_buf_str(&url), "{\"downstream\":false}", NULL);
    post_button(b, "clear + downstream", ub_buf_str(&url), "{\"downstream\":true}", NULL);
    ub_buf_free(&url);
}

/* --- / : the pipelines ------------------------------------------------------ */

static int page_index(ub_serve *s, page *pg)
{
    ub_buf *b = pg->b;
    json_t *ps = ub_api_pipelines(s);
    if (!json_is_array(ps)) {
        json_decref(ps);
        return error_page(pg, 500, "the pipelines cannot be listed");
    }
    head(pg, "pipelines", "index", NULL, NULL, NULL);
    ub_buf_adds(b, "<h1>Pipelines</h1>\n<table class=\"list\" id=\"pipelines\"><thead><tr><th>pipeline</th>"
                   "<th>schedule</th><th>paused</th><th>last run</th><th>next due</th><th></th></tr></thead><tbody>\n");
    size_t i;
    json_t *p;
    json_array_foreach(ps, i, p) {
        const char *name = jstr(p, "pipeline");
        if (!name)
            continue;
        json_t *last = json_object_get(p, "last_run");
        int paused = json_is_true(json_object_get(p, "paused"));
        const char *lds = jstr(last, "ds"), *lst = jstr(last, "state");
        ub_html_textf(b, "<tr data-pipeline=\"%s\"><td><a href=\"", name);
        href_pipeline(b, name);
        ub_html_textf(b, "\">%s</a></td><td>%s</td><td>%s</td><td>", name, or_dash(jstr(p, "schedule")),
                      paused ? "paused" : "no");
        if (lds) {
            ub_buf_adds(b, "<a href=\"");
            href_run(b, name, lds);
            ub_html_textf(b, "\">%s</a> ", lds);
            state_badge(b, NULL, lst);
        } else
            ub_buf_adds(b, "—");
        ub_html_textf(b, "</td><td>%s</td><td>", or_dash(jstr(p, "next_ds")));
        if (pg->actions) {
            ub_buf url = UB_BUF_INIT;
            api_pipeline(&url, name);
            ub_buf_adds(&url, paused ? "/unpause" : "/pause");
            post_button(b, paused ? "unpause" : "pause", ub_buf_str(&url), NULL, NULL);
            ub_buf_free(&url);
        }
        ub_buf_adds(b, "</td></tr>\n");
        const char *err = jstr(p, "error");
        if (err)
            ub_html_textf(b, "<tr class=\"specerr\"><td colspan=\"6\"><pre>%s</pre></td></tr>\n", err);
    }
    if (json_array_size(ps) == 0)
        ub_buf_adds(b, "<tr><td colspan=\"6\">no pipelines</td></tr>\n");
    ub_buf_adds(b, "</tbody></table>\n");
    foot(pg);
    json_decref(ps);
    return 200;
}

/* --- /pipelines/NAME : the grid --------------------------------------------- */

static const json_t *find_task(const json_t *tasks, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) {
        const char *tid = jstr(t, "id");
        if (tid && strcmp(tid, id) == 0)
            return t;
    }
    return NULL;
}

static void pager(ub_buf *b, const char *name, long pageno, size_t total)
{
    size_t pages = total ? (total + GRID_PAGE - 1) / GRID_PAGE : 1;
    ub_buf_adds(b, "<nav class=\"pager\" id=\"pager\">");
    ub_html_textf(b, "<span>%zu runs · page %lld of %zu</span> ", total, (long long)pageno + 1, pages);
    struct { const char *label; long to; int ok; } l[] = {
        { "« newest", 0, pageno > 0 },
        { "‹ newer", pageno - 1, pageno > 0 },
        { "older ›", pageno + 1, (size_t)(pageno + 1) < pages },
        { "oldest »", (long)pages - 1, (size_t)(pageno + 1) < pages },
    };
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
        if (!l[i].ok) {
            ub_html_textf(b, "<span class=\"off\">%s</span> ", l[i].label);
            continue;
        }
        ub_buf_adds(b, "<a href=\"");
        href_pipeline(b, name);
        ub_html_textf(b, "?page=%ld\">%s</a> ", l[i].to, l[i].label);
    }
    ub_buf_adds(b, "</nav>\n");
}

static void grid_actions(page *pg, const char *name, int paused)
{
    ub_buf *b = pg->b;
    if (!pg->actions)
        return;
    ub_buf url = UB_BUF_INIT;
    api_pipeline(&url, name);
    ub_buf_adds(b, "<section class=\"actions\">");
    ub_html_textf(b, "<form id=\"trigger\" data-post=\"%s/runs\"><label>ds <input type=\"date\" name=\"ds\" required></label>"
                     "<button type=\"submit\">trigger</button></form>", ub_buf_str(&url));
    ub_html_textf(b, "<form id=\"backfill\" data-post=\"%s/runs\"><label>from <input type=\"date\" name=\"from\" required></label>"
                     "<label>to <input type=\"date\" name=\"to\" required></label><button type=\"submit\">backfill</button>"
                     "<output id=\"preview-count\"></output><ol id=\"preview\" class=\"preview\"></ol></form>",
                  ub_buf_str(&url));
    ub_buf_adds(&url, paused ? "/unpause" : "/pause");
    post_button(b, paused ? "unpause" : "pause", ub_buf_str(&url), NULL, NULL);
    ub_buf_adds(b, "</section>\n");
    ub_buf_free(&url);
}

/* The reports the pipeline declares (the API's "reports"), each a link to its live page. */
static void report_links(ub_buf *b, const char *name, const json_t *reports)
{
    size_t i;
    json_t *r;
    if (!json_array_size(reports))
        return;
    ub_buf_adds(b, "<section class=\"reports\"><h2>Reports</h2><ul>");
    json_array_foreach(reports, i, r) {
        const char *id = jstr(r, "id"), *title = jstr(r, "title");
        if (!id)
            continue;
        ub_buf_adds(b, "<li><a href=\"");
        href_pipeline(b, name);
        ub_buf_adds(b, "/reports/");
        ub_html_urlpart(b, id);
        ub_html_textf(b, "\">%s</a>", id);
        if (title)
            ub_html_textf(b, " — %s", title);
        ub_buf_adds(b, "</li>");
    }
    ub_buf_adds(b, "</ul></section>\n");
}

static int page_grid(ub_serve *s, page *pg, const char *name)
{
    ub_buf *b = pg->b;
    int status = 200;
    const char *err = NULL;
    json_t *dag = NULL, *runs = NULL, *ps = NULL;
    long pageno = 0;
    if (query_long(pg->r->query, "page", 0, 1000000, &pageno) < 0) {
        status = error_page(pg, 400, "page must be a number from 0");
        goto done;
    }
    dag = ub_api_dag(s, name, &status, &err);
    if (!dag) {
        status = error_page(pg, status ? status : 500, err);
        goto done;
    }
    status = 200;
    runs = ub_api_runs(s, name, NULL, NULL, GRID_PAGE, (size_t)pageno * GRID_PAGE, &status, &err);
    if (!runs) {
        status = error_page(pg, status ? status : 500, err);
        goto done;
    }
    status = 200;
    ps = ub_api_pipelines(s);
    int paused = 0;
    const char *schedule = NULL, *next = NULL, *specerr = NULL;
    json_t *reports = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(ps, i, p) {
        const char *pn = jstr(p, "pipeline");
        if (pn && strcmp(pn, name) == 0) {
            paused = json_is_true(json_object_get(p, "paused"));
            schedule = jstr(p, "schedule");
            next = jstr(p, "next_ds");
            specerr = jstr(p, "error");
            reports = json_object_get(p, "reports");
        }
    }
    json_t *tasks = json_object_get(dag, "tasks");
    json_t *rl = json_object_get(runs, "runs");
    size_t total = (size_t)json_integer_value(json_object_get(runs, "total"));
    size_t nr = json_array_size(rl);

    head(pg, name, "grid", name, NULL, NULL);
    ub_html_textf(b, "<h1>%s</h1>\n<p class=\"meta\">schedule <b>%s</b> · next due <b>%s</b> · %s</p>\n", name,
                  or_dash(schedule), or_dash(next), paused ? "<b>paused</b>" : "active");
    if (specerr)
        ub_html_textf(b, "<pre class=\"specerr\">%s</pre>\n", specerr);
    grid_actions(pg, name, paused);
    report_links(b, name, reports);
    pager(b, name, pageno, total);
    ub_html_textf(b, "<div class=\"gridwrap\"><table id=\"grid\" class=\"grid\" data-limit=\"%d\" data-offset=\"%zu\">"
                     "<thead><tr><th class=\"corner\">task \\ ds</th>",
                  GRID_PAGE, (size_t)pageno * GRID_PAGE);
    /* newest first from the API; oldest on the left here, as time runs */
    for (size_t k = nr; k-- > 0;) {
        json_t *run = json_array_get(rl, k);
        const char *ds = jstr(run, "ds"), *st = jstr(run, "state");
        if (!ds)
            continue;
        ub_buf_adds(b, "<th class=\"ds\"><a href=\"");
        href_run(b, name, ds);
        ub_html_textf(b, "\" class=\"run st-%s\" data-ds=\"%s\" data-state=\"%s\" title=\"%s: %s, ", state_class(st), ds,
                      or_dash(st), ds, or_dash(st));
        add_duration(b, span(jstr(run, "start"), jstr(run, "end")));
        ub_html_textf(b, "\"><span class=\"dslabel\">%s</span></a></th>", ds);
    }
    ub_buf_adds(b, "</tr></thead>\n<tbody>\n");
    json_t *t;
    json_array_foreach(tasks, i, t) {
        const char *tid = jstr(t, "id");
        if (!tid)
            continue;
        ub_html_textf(b, "<tr><th class=\"task\" title=\"%s\">%s</th>", or_dash(jstr(t, "op")), tid);
        for (size_t k = nr; k-- > 0;) {
            json_t *run = json_array_get(rl, k);
            const char *ds = jstr(run, "ds");
            if (!ds)
                continue;
            const json_t *rt = find_task(json_object_get(run, "tasks"), tid);
            const char *st = rt ? jstr(rt, "state") : NULL;
            long long tries = rt ? json_integer_value(json_object_get(rt, "tries")) : 0;
            ub_buf_adds(b, "<td><a href=\"");
            href_task(b, name, ds, tid);
            ub_html_textf(b, "\" class=\"cell st-%s\" data-ds=\"%s\" data-task=\"%s\" data-state=\"%s\" title=\"%s · %s\n%s",
                          state_class(st), ds, tid, st ? st : "none", tid, ds, st ? st : "not run");
            if (rt) {
                ub_html_textf(b, " · %lld tr%s · ", tries, tries == 1 ? "y" : "ies");
                add_duration(b, span(jstr(rt, "start"), jstr(rt, "end")));
            }
            ub_buf_adds(b, "\"></a></td>");
        }
        ub_buf_adds(b, "</tr>\n");
    }
    ub_buf_adds(b, "</tbody></table></div>\n");
    if (nr == 0)
        ub_buf_adds(b, "<p class=\"empty\">no runs yet</p>\n");
    ub_buf_adds(b, "<p class=\"legend\">");
    static const char *const legend[] = { "success", "running", "queued", "up_for_retry", "failed", "incomplete",
                                          "upstream_failed", "skipped", "none", NULL };
    for (size_t k = 0; legend[k]; k++)
        ub_html_textf(b, "<span class=\"key st-%s\"></span>%s ", legend[k], legend[k]);
    ub_buf_adds(b, "</p>\n");
    foot(pg);
done:
    json_decref(dag);
    json_decref(runs);
    json_decref(ps);
    return status;
}

/* --- /pipelines/NAME/runs/DS : DAG, Gantt, durations --------------------------- */

static int dag_svg(ub_buf *b, const char *name, const char *ds, json_t *tasks, ub_err *err)
{
    size_t n = json_array_size(tasks), nafter = 0, k = 0;
    int rc = -1;
    ub_dag_node *nodes = ub_calloc(n ? n : 1, sizeof *nodes);
    char **hrefs = ub_calloc(n ? n : 1, sizeof *hrefs);
    const char **after;
    for (size_t i = 0; i < n; i++)
        nafter += json_array_size(json_object_get(json_array_get(tasks, i), "after"));
    after = ub_calloc(nafter ? nafter : 1, sizeof *after);
    if (!nodes || !hrefs || !after) {
        ub_err_oom(err);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tasks, i), *af = json_object_get(t, "after");
        ub_buf h = UB_BUF_INIT;
        nodes[i].id = jstr(t, "id");
        nodes[i].op = jstr(t, "op");
        nodes[i].state = jstr(t, "state") ? jstr(t, "state") : "none";
        if (!nodes[i].id) {
            ub_err_set(err, "the run's task %zu has no id", i);
            goto fail;
        }
        href_task(&h, name, ds, nodes[i].id);
        hrefs[i] = ub_buf_detach(&h, NULL);
        nodes[i].href = hrefs[i];
        nodes[i].after = after + k;
        for (size_t a = 0; a < json_array_size(af); a++) {
            const char *up = json_string_value(json_array_get(af, a));
            if (up)
                after[k++] = up;
        }
        nodes[i].nafter = (size_t)(after + k - nodes[i].after);
    }
    rc = ub_dagsvg(nodes, n, name, b, err);
fail:
    for (size_t i = 0; hrefs && i < n; i++)
        ub_free(hrefs[i]);
    ub_free(hrefs);
    ub_free(nodes);
    ub_free(after);
    return rc;
}

/* The tries of a run on a time axis: one row per task, one bar per try. */
static void gantt(ub_buf *b, const char *name, const char *ds, json_t *tasks)
{
    double t0 = -1, t1 = -1, now = (double)time(NULL);
    size_t i, j, n = json_array_size(tasks);
    json_t *t, *tr;
    json_array_foreach(tasks, i, t) {
        json_array_foreach(json_object_get(t, "tries"), j, tr) {
            double a = rfc3339(jstr(tr, "start"));
            double e = jstr(tr, "end") ? rfc3339(jstr(tr, "end")) : now;
            if (a >= 0 && (t0 < 0 || a < t0))
                t0 = a;
            if (a >= 0 && e > t1)
                t1 = e;
        }
    }
    ub_buf_adds(b, "<section id=\"gantt\"><h2>Tries</h2>\n");
    if (t0 < 0) {
        ub_buf_adds(b, "<p class=\"empty\">no try has started</p></section>\n");
        return;
    }
    double len = t1 > t0 ? t1 - t0 : 1;
    const int label = 300, width = 700, row = 22, top = 22;
    int h = top + (int)n * row + 6;
    ub_buf_addf(b, "<svg class=\"gantt\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">", label + width + 10,
                h, label + width + 10, h);
    for (int q = 0; q <= 4; q++) {
        double x = label + width * q / 4.0;
        ub_buf_addf(b, "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, top - 4, x, h);
        ub_buf_addf(b, "<text class=\"axis\" x=\"%.1f\" y=\"14\" text-anchor=\"%s\">+", x,
                    q == 0 ? "start" : q == 4 ? "end" : "middle");
        add_duration(b, len * q / 4.0);
        ub_buf_adds(b, "</text>");
    }
    json_array_foreach(tasks, i, t) {
        const char *tid = jstr(t, "id");
        if (!tid)
            continue;
        int y = top + (int)i * row;
        ub_html_textf(b, "<text class=\"label\" x=\"%d\" y=\"%d\">%s</text>", label - 8, y + 15, tid);
        json_array_foreach(json_object_get(t, "tries"), j, tr) {
            double a = rfc3339(jstr(tr, "start"));
            if (a < 0)
                continue;
            double e = jstr(tr, "end") ? rfc3339(jstr(tr, "end")) : now;
            double x = label + (a - t0) / len * width, w = (e - a) / len * width;
            const char *st = jstr(tr, "state");
            long long no = json_integer_value(json_object_get(tr, "try"));
            ub_buf_adds(b, "<a href=\"");
            href_task(b, name, ds, tid);
            ub_html_textf(b, "?try=%lld\">", no);
            ub_html_textf(b, "<rect class=\"bar st-%s\" data-task=\"%s\" data-try=\"%lld\" data-state=\"%s\" ", state_class(st),
                          tid, no, or_dash(st));
            ub_buf_addf(b, "x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\">", x, y + 3, w < 2 ? 2 : w, row - 6);
            ub_html_textf(b, "<title>%s try %lld: %s, ", tid, no, or_dash(st));
            add_duration(b, e - a);
            ub_buf_adds(b, "</title></rect></a>");
        }
    }
    ub_buf_adds(b, "</svg></section>\n");
}

/* This run's duration among the recent runs: one bar each, oldest on the left. */
static void durations(ub_buf *b, const char *name, const char *ds, json_t *runs)
{
    json_t *rl = json_object_get(runs, "runs");
    size_t n = json_array_size(rl);
    double max = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rl, i);
        double d = jstr(r, "end") ? span(jstr(r, "start"), jstr(r, "end")) : -1;   /* finished runs only */
        if (d > max)
            max = d;
    }
    ub_buf_adds(b, "<section id=\"durations\"><h2>Duration against recent runs</h2>\n");
    if (n == 0 || max <= 0) {
        ub_buf_adds(b, "<p class=\"empty\">no finished runs to compare</p></section>\n");
        return;
    }
    const int bw = 24, hgt = 120, top = 16;
    int w = (int)n * bw + 80;
    ub_buf_addf(b, "<svg class=\"durations\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">", w, hgt + top + 4, w,
                hgt + top + 4);
    ub_buf_adds(b, "<text class=\"axis\" x=\"0\" y=\"12\">max ");
    add_duration(b, max);
    ub_buf_adds(b, "</text>");
    for (size_t k = 0; k < n; k++) {
        json_t *r = json_array_get(rl, n - 1 - k);
        const char *rds = jstr(r, "ds"), *st = jstr(r, "state");
        double d = jstr(r, "end") ? span(jstr(r, "start"), jstr(r, "end")) : -1;
        if (!rds)
            continue;
        double bh = d > 0 ? d / max * hgt : 1;      /* not finished: a sliver */
        ub_buf_adds(b, "<a href=\"");
        href_run(b, name, rds);
        ub_html_textf(b, "\"><rect class=\"bar st-%s%s\" data-ds=\"%s\" ", state_class(st),
                      strcmp(rds, ds) == 0 ? " current" : "", rds);
        ub_buf_addf(b, "x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\">", 70 + (int)k * bw, top + hgt - bh, bw - 4, bh);
        ub_html_textf(b, "<title>%s: %s, ", rds, or_dash(st));
        if (d < 0)
            ub_buf_adds(b, "not finished");
        else
            add_duration(b, d);
        ub_buf_adds(b, "</title></rect></a>");
    }
    ub_buf_adds(b, "</svg></section>\n");
}

static int page_run(ub_serve *s, page *pg, const char *name, const char *ds)
{
    ub_buf *b = pg->b;
    int status = 200;
    const char *err = NULL;
    json_t *run = ub_api_run(s, name, ds, &status, &err), *recent = NULL;
    ub_err e;
    if (!run) {
        status = error_page(pg, status ? status : 500, err);
        goto done;
    }
    status = 200;
    recent = ub_api_runs(s, name, NULL, NULL, RECENT_RUNS, 0, &status, &err);
    status = 200;
    json_t *tasks = json_object_get(run, "tasks");
    const char *st = jstr(run, "state");
    head(pg, ds, "run", name, ds, NULL);
    ub_html_textf(b, "<h1>%s <small>%s</small> ", name, ds);
    state_badge(b, "runstate", st);
    ub_html_textf(b, "</h1>\n<p class=\"meta\">started %s · ended %s · took ", or_dash(jstr(run, "start")),
                  or_dash(jstr(run, "end")));
    add_duration(b, span(jstr(run, "start"), jstr(run, "end")));
    ub_buf_adds(b, "</p>\n");
    if (pg->actions) {
        ub_buf url = UB_BUF_INIT, body = UB_BUF_INIT;
        api_pipeline(&url, name);
        ub_buf_adds(&url, "/runs");
        json_t *jb = json_pack("{s:s}", "ds", ds);
        char *js = jb ? json_dumps(jb, JSON_COMPACT) : NULL;
        ub_buf_adds(b, "<section class=\"actions\">");
        post_button(b, "run this ds again", ub_buf_str(&url), js ? js : "{}", NULL);
        ub_buf_adds(b, "</section>\n");
        free(js);
        json_decref(jb);
        ub_buf_free(&url);
        ub_buf_free(&body);
    }
    ub_buf_adds(b, "<section id=\"dag\" class=\"dag\"><h2>Tasks</h2>\n");
    if (dag_svg(b, name, ds, tasks, &e))
        ub_html_textf(b, "<p class=\"error\">%s</p>", e.msg);
    ub_buf_adds(b, "</section>\n");
    gantt(b, name, ds, tasks);
    if (recent)
        durations(b, name, ds, recent);
    ub_buf_adds(b, "<section><h2>Task list</h2><table class=\"list\" id=\"tasks\"><thead><tr><th>task</th><th>operator</th>"
                   "<th>state</th><th>tries</th><th>duration</th><th></th></tr></thead><tbody>\n");
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) {
        const char *tid = jstr(t, "id"), *tst = jstr(t, "state");
        json_t *tries = json_object_get(t, "tries");
        size_t nt = json_array_size(tries);
        json_t *lt = nt ? json_array_get(tries, nt - 1) : NULL, *ft = nt ? json_array_get(tries, 0) : NULL;
        if (!tid)
            continue;
        ub_buf_adds(b, "<tr><td><a href=\"");
        href_task(b, name, ds, tid);
        ub_html_textf(b, "\">%s</a></td><td>%s</td><td>", tid, or_dash(jstr(t, "op")));
        ub_html_textf(b, "<span class=\"badge st-%s\" data-task=\"%s\" data-state=\"%s\">%s</span>", state_class(tst), tid,
                      tst ? tst : "none", tst ? tst : "not run");
        ub_html_textf(b, "</td><td>%zu</td><td>", nt);
        add_duration(b, ft ? span(jstr(ft, "start"), jstr(lt, "end")) : -1);
        ub_buf_adds(b, "</td><td>");
        if (pg->actions)
            clear_buttons(b, name, ds, tid);
        ub_buf_adds(b, "</td></tr>\n");
    }
    ub_buf_adds(b, "</tbody></table></section>\n");
    foot(pg);
done:
    json_decref(run);
    json_decref(recent);
    return status;
}

/* --- /pipelines/NAME/runs/DS/tasks/TASK : one try -------------------------- */

static void effects(ub_buf *b, const json_t *t)
{
    json_t *ef = json_object_get(t, "effects");
    ub_buf_adds(b, "<section id=\"effects\"><h2>Effects</h2>\n");
    if (json_array_size(ef) == 0) {
        ub_buf_adds(b, "<p class=\"empty\">none</p></section>\n");
        return;
    }
    ub_buf_adds(b, "<table class=\"list effects\"><thead><tr><th>kind</th><th>target</th><th>what</th></tr></thead><tbody>\n");
    size_t i;
    json_t *x;
    json_array_foreach(ef, i, x) {
        if (json_is_string(x)) {
            ub_html_textf(b, "<tr><td></td><td></td><td><pre>%s</pre></td></tr>\n", json_string_value(x));
            continue;
        }
        ub_html_textf(b, "<tr><td>%s</td><td>%s</td><td><pre>%s</pre></td></tr>\n", or_dash(jstr(x, "kind")),
                      or_dash(jstr(x, "target")), jstr(x, "text") ? jstr(x, "text") : "");
    }
    ub_buf_adds(b, "</tbody></table></section>\n");
}

static void outputs(ub_buf *b, const json_t *t)
{
    json_t *out = json_object_get(t, "outputs");
    ub_buf_adds(b, "<section id=\"outputs\"><h2>Outputs</h2>\n");
    if (!json_is_object(out) || json_object_size(out) == 0) {
        ub_buf_adds(b, "<p class=\"empty\">none</p></section>\n");
        return;
    }
    ub_buf_adds(b, "<table class=\"list\"><tbody>\n");
    const char *k;
    json_t *v;
    json_object_foreach(out, k, v) {
        char *js = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        ub_html_textf(b, "<tr><th>%s</th><td><code>%s</code></td></tr>\n", k, js ? js : json_string_value(v));
        free(js);
    }
    ub_buf_adds(b, "</tbody></table></section>\n");
}

static int page_task(ub_serve *s, page *pg, const char *name, const char *ds, const char *task)
{
    ub_buf *b = pg->b;
    int status = 200;
    const char *err = NULL;
    ub_buf log = UB_BUF_INIT;
    json_t *run = ub_api_run(s, name, ds, &status, &err);
    long want = 0;
    if (!run) {
        status = error_page(pg, status ? status : 500, err);
        goto done;
    }
    status = 200;
    const json_t *t = find_task(json_object_get(run, "tasks"), task);
    if (!t) {
        status = error_page(pg, 404, "no such task in this run");
        goto done;
    }
    if (query_long(pg->r->query, "try", 1, 1000000, &want) < 0) {
        status = error_page(pg, 400, "try must be a number from 1");
        goto done;
    }
    json_t *tries = json_object_get(t, "tries");
    size_t nt = json_array_size(tries);
    const json_t *tr = NULL;
    for (size_t i = 0; i < nt; i++) {
        json_t *x = json_array_get(tries, i);
        if (!want || json_integer_value(json_object_get(x, "try")) == want)
            tr = x;                    /* no ?try: the latest */
    }
    if (want && !tr) {
        status = error_page(pg, 404, "no such try of this task");
        goto done;
    }
    long long tno = tr ? json_integer_value(json_object_get(tr, "try")) : 0;
    const char *tst = tr ? jstr(tr, "state") : jstr(t, "state");
    head(pg, task, "task", name, ds, task);
    ub_html_textf(b, "<h1>%s <small>%s · %s</small> ", task, or_dash(jstr(t, "op")), ds);
    state_badge(b, "taskstate", jstr(t, "state"));
    ub_buf_adds(b, "</h1>\n");
    if (pg->actions) {
        ub_buf_adds(b, "<section class=\"actions\">");
        clear_buttons(b, name, ds, task);
        ub_buf_adds(b, "</section>\n");
    }
    ub_buf_adds(b, "<nav class=\"tries\" id=\"tries\">tries: ");
    for (size_t i = 0; i < nt; i++) {
        json_t *x = json_array_get(tries, i);
        long long no = json_integer_value(json_object_get(x, "try"));
        const char *xs = jstr(x, "state");
        ub_buf_adds(b, "<a href=\"");
        href_task(b, name, ds, task);
        ub_html_textf(b, "?try=%lld\" class=\"try st-%s%s\" data-try=\"%lld\" data-state=\"%s\">%lld · %s</a> ", no,
                      state_class(xs), no == tno ? " current" : "", no, or_dash(xs), no, or_dash(xs));
    }
    if (nt == 0)
        ub_buf_adds(b, "none yet");
    ub_buf_adds(b, "</nav>\n");
    if (tr) {
        ub_html_textf(b, "<p class=\"meta\" id=\"tryinfo\">try %lld · ", tno);
        state_badge(b, "trystate", tst);
        ub_html_textf(b, " · started %s · ended %s · took ", or_dash(jstr(tr, "start")), or_dash(jstr(tr, "end")));
        add_duration(b, span(jstr(tr, "start"), jstr(tr, "end")));
        ub_buf_adds(b, "</p>\n");
        uint64_t total = 0, off = 0;
        int lstatus = 200;
        int lrc = ub_api_log(s, name, ds, task, (int)tno, 0, LOG_TAIL, &log, &total, &lstatus);
        if (lrc == 0 && total > LOG_TAIL) {        /* show the tail of a large log */
            ub_buf_reset(&log);
            off = total - LOG_TAIL;
            lrc = ub_api_log(s, name, ds, task, (int)tno, off, LOG_TAIL, &log, &total, &lstatus);
        }
        ub_buf raw = UB_BUF_INIT;
        api_pipeline(&raw, name);
        ub_buf_adds(&raw, "/runs/");
        ub_html_urlpart(&raw, ds);
        ub_buf_adds(&raw, "/tasks/");
        ub_html_urlpart(&raw, task);
        ub_buf_addf(&raw, "/logs?try=%lld", tno);
        ub_html_textf(b, "<section><h2>Log <small><a href=\"%s\">raw</a></small></h2>\n", ub_buf_str(&raw));
        ub_buf_free(&raw);
        if (off)
            ub_html_textf(b, "<p class=\"meta\">the first %llu bytes are left out; the raw log has them all</p>\n",
                          (unsigned long long)off);
        ub_html_textf(b, "<pre id=\"log\" class=\"log\" data-try=\"%lld\" data-offset=\"%llu\" data-follow=\"%d\">", tno,
                      (unsigned long long)(off + log.len), !terminal(tst) && lrc == 0);
        if (lrc == 0)
            ub_html_textn(b, log.p ? log.p : "", log.len);
        else
            ub_buf_adds(b, "(no log)");
        ub_buf_adds(b, "</pre></section>\n");
    }
    effects(b, t);
    outputs(b, t);
    foot(pg);
done:
    ub_buf_free(&log);
    json_decref(run);
    return status;
}

/* --- assets and routing ---------------------------------------------------- */

static int asset(page *pg, const char *name, const char **ctype)
{
    for (size_t i = 0; ub_web_assets[i].name; i++) {
        if (strcmp(ub_web_assets[i].name, name) != 0)
            continue;
        const char *dot = strrchr(name, '.');
        *ctype = !dot ? "application/octet-stream"
                 : strcmp(dot, ".css") == 0 ? "text/css; charset=utf-8"
                 : strcmp(dot, ".js") == 0 ? "text/javascript; charset=utf-8"
                 : strcmp(dot, ".svg") == 0 ? "image/svg+xml"
                 : "application/octet-stream";
        ub_buf_add(pg->b, ub_web_assets[i].data, ub_web_assets[i].len);
        return 200;
    }
    /* the live reports' styles and scripts: the very bytes the self-contained file inlines */
    size_t len = 0;
    const void *rep = ub_report_asset(name, &len);
    if (rep) {
        *ctype = strcmp(strrchr(name, '.'), ".css") == 0 ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
        ub_buf_add(pg->b, rep, len);
        return 200;
    }
    *ctype = HTML;
    return error_page(pg, 404, "no such asset");
}

int ub_pages_get(ub_serve *s, const ub_page_req *r, ub_buf *body, const char **content_type)
{
    page pg = { body, r, r->csrf != NULL && !r->read_only };
    char *seg[8] = { 0 };
    size_t nseg = 0;
    int status;
    const char *p = r->path ? r->path : "/";
    *content_type = HTML;
    if (*p != '/') {
        status = error_page(&pg, 404, "no such page");
        goto done;
    }
    while (*p == '/') {
        p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (nseg == sizeof seg / sizeof seg[0]) {
            status = error_page(&pg, 404, "no such page");
            goto done;
        }
        seg[nseg] = segment(p, n);
        if (!seg[nseg] || strcmp(seg[nseg], ".") == 0 || strcmp(seg[nseg], "..") == 0) {
            status = error_page(&pg, 404, "no such page");
            goto done;
        }
        nseg++;
        p += n;
    }
    if (nseg == 0)
        status = page_index(s, &pg);
    else if (nseg == 2 && strcmp(seg[0], "assets") == 0)
        status = asset(&pg, seg[1], content_type);
    else if ((nseg == 2 || (nseg == 3 && strcmp(seg[2], "download") == 0)) && strcmp(seg[0], "reports") == 0) {
        char pipe[256];
        int n = ub_reports_resolve(s, seg[1], pipe, sizeof pipe);
        status = n == 1   ? ub_reports_page(s, r, pipe, seg[1], nseg == 3, body, content_type)
                 : n == 0 ? error_page(&pg, 404, "no served pipeline declares that report")
                          : error_page(&pg, 404, "several pipelines declare that report: use /pipelines/NAME/reports/ID");
    } else if ((nseg == 4 || (nseg == 5 && strcmp(seg[4], "download") == 0)) && strcmp(seg[0], "pipelines") == 0 &&
               strcmp(seg[2], "reports") == 0)
        status = ub_reports_page(s, r, seg[1], seg[3], nseg == 5, body, content_type);
    else if (strcmp(seg[0], "pipelines") != 0)
        status = error_page(&pg, 404, "no such page");
    else if (nseg == 2)
        status = page_grid(s, &pg, seg[1]);
    else if (nseg == 4 && strcmp(seg[2], "runs") == 0)
        status = page_run(s, &pg, seg[1], seg[3]);
    else if (nseg == 6 && strcmp(seg[2], "runs") == 0 && strcmp(seg[4], "tasks") == 0)
        status = page_task(s, &pg, seg[1], seg[3], seg[5]);
    else
        status = error_page(&pg, 404, "no such page");
done:
    for (size_t i = 0; i < sizeof seg / sizeof seg[0]; i++)
        ub_free(seg[i]);
    if (body->err)
        return 500;
    return status;
}
