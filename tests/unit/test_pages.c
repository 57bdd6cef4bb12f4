/* test_pages.c — the serve pages against a fake API (the pages know only what
 * ub_api_* tells them): routes, escaping, the grid's cells and pagination,
 * one DAG node per task, the log tail, assets, login and read-only.
 * UB_PAGES_DUMP=DIR also writes each page there, to look at in a browser. */
#include "t.h"
#include "web/api.h"
#include "web/pages.h"
#include "base/buf.h"
#include "base/date.h"
#include <jansson.h>
#include <stdint.h>
#include <time.h>

#define NDS 1000                      /* the fake pipeline has 1,000 days of runs */
static const char *const TASKS[] = { "extract", "to_lake", "classify", "load", "metric" };
#define NTASK (sizeof TASKS / sizeof TASKS[0])
static const char *fake_log;           /* what ub_api_log serves */

static void ds_of(int k, char out[11])
{
    /* newest first: k = 0 is 2024-12-31, then back a day each */
    ub_date d = { 2024, 12, 31 };
    ub_date_format(ub_date_add(d, -k), 0, out);
}

static const char *task_state(int k, size_t t)
{
    if (k == 0)
        return t < 2 ? "success" : t == 2 ? "running" : "queued";
    if (k == 3)
        return t < 2 ? "success" : t == 2 ? "failed" : "upstream_failed";
    return "success";
}

json_t *ub_api_pipelines(ub_serve *s)
{
    return json_pack("[{s:s, s:s, s:b, s:s, s:{s:s, s:s}, s:n, s:[{s:s, s:s}, {s:s, s:n}]}, {s:s, s:s, s:b, s:n, s:n, s:s}]",
                     "pipeline", "user_behavior", "schedule", "@daily", "paused", 0, "next_ds", "2025-01-01",
                     "last_run", "ds", "2024-12-31", "state", "running", "error", "reports",
                     "id", "weekly", "title", "Who <b>spends</b> & how", "id", "a b/c", "title",
                     "pipeline", "bro<ken>", "schedule", "@daily", "paused", 1, "next_ds", "last_run",
                     "error", "bro.yaml:3:5: <script>alert(1)</script> is not an operator");
}

json_t *ub_api_dag(ub_serve *s, const char *pipeline, int *status, const char **err)
{
    if (strcmp(pipeline, "user_behavior") != 0) {
        *status = 404;
        *err = "no pipeline named that";
        return NULL;
    }
    json_t *tasks = json_array();
    for (size_t t = 0; t < NTASK; t++)
        json_array_append_new(tasks, json_pack("{s:s, s:s, s:[]}", "id", TASKS[t], "op", "noop", "after"));
    json_array_append_new(json_object_get(json_array_get(tasks, 1), "after"), json_string("extract"));
    json_array_append_new(json_object_get(json_array_get(tasks, 3), "after"), json_string("to_lake"));
    json_array_append_new(json_object_get(json_array_get(tasks, 3), "after"), json_string("classify"));
    json_array_append_new(json_object_get(json_array_get(tasks, 4), "after"), json_string("load"));
    return json_pack("{s:o}", "tasks", tasks);
}

json_t *ub_api_runs(ub_serve *s, const char *pipeline, const char *from, const char *to, size_t limit, size_t offset,
                    int *status, const char **err)
{
    if (strcmp(pipeline, "user_behavior") != 0) {
        *status = 404;
        *err = "no pipeline named that";
        return NULL;
    }
    json_t *runs = json_array();
    for (size_t k = offset; k < offset + limit && k < NDS; k++) {
        char ds[11];
        ds_of((int)k, ds);
        json_t *tasks = json_array();
        for (size_t t = 0; t < NTASK; t++) {
            const char *st = task_state((int)k, t);
            json_array_append_new(tasks, json_pack("{s:s, s:s, s:i, s:s, s:s?}", "id", TASKS[t], "state", st, "tries",
                                                   strcmp(st, "failed") == 0 ? 2 : 1, "start", "2025-01-01T02:00:00Z",
                                                   "end", strcmp(st, "running") ? "2025-01-01T02:00:09.5Z" : NULL));
        }
        json_array_append_new(runs, json_pack("{s:s, s:s, s:s, s:s?, s:o}", "ds", ds, "state",
                                              k == 0 ? "running" : k == 3 ? "failed" : "success", "start",
                                              "2025-01-01T02:00:00Z", "end", k == 0 ? NULL : "2025-01-01T02:01:40Z",
                                              "tasks", tasks));
    }
    return json_pack("{s:o, s:i}", "runs", runs, "total", NDS);
}

json_t *ub_api_run(ub_serve *s, const char *pipeline, const char *ds, int *status, const char **err)
{
    char d0[11], d3[11];
    ds_of(0, d0);
    ds_of(3, d3);
    if (strcmp(pipeline, "user_behavior") != 0 || (strcmp(ds, d0) && strcmp(ds, d3))) {
        *status = 404;
        *err = "no run for that ds";
        return NULL;
    }
    int k = strcmp(ds, d0) == 0 ? 0 : 3;
    json_t *dag = ub_api_dag(s, pipeline, status, err), *tasks = json_object_get(dag, "tasks");
    static const char *const starts[] = { "2025-01-01T02:00:00Z", "2025-01-01T02:00:10Z", "2025-01-01T02:00:12Z",
                                          "2025-01-01T02:00:40Z", "2025-01-01T02:01:10Z" };
    static const char *const ends[] = { "2025-01-01T02:00:09Z", "2025-01-01T02:00:30Z", "2025-01-01T02:00:39Z",
                                        "2025-01-01T02:01:09Z", "2025-01-01T02:01:40Z" };
    for (size_t t = 0; t < NTASK; t++) {
        json_t *jt = json_array_get(tasks, t);
        const char *st = task_state(k, t);
        json_t *tries = json_array();
        if (strcmp(st, "failed") == 0)
            json_array_append_new(tries, json_pack("{s:i, s:s, s:s, s:s}", "try", 1, "state", "up_for_retry", "start",
                                                   starts[t], "end", "2025-01-01T02:00:20Z"));
        if (strcmp(st, "queued") && strcmp(st, "upstream_failed"))
            json_array_append_new(tries, json_pack("{s:i, s:s, s:s, s:s?}", "try", (int)json_array_size(tries) + 1,
                                                   "state", st, "start", strcmp(st, "failed") ? starts[t] : "2025-01-01T02:00:25Z",
                                                   "end", strcmp(st, "running") ? ends[t] : NULL));
        json_object_set_new(jt, "state", json_string(st));
        json_object_set_new(jt, "tries", tries);
        json_object_set_new(jt, "effects", json_pack("[{s:s, s:s, s:s}]", "kind", "sql", "target", "warehouse",
                                                     "text", "DELETE FROM t WHERE ds = '2024-12-31' AND x < 3"));
        json_object_set_new(jt, "outputs", json_pack("{s:i, s:s}", "rows", 541909, "key", "raw/<k>.csv"));
    }
    json_t *run = json_pack("{s:s, s:s, s:s, s:s?, s:O}", "ds", ds, "state", k == 0 ? "running" : "failed", "start",
                            starts[0], "end", k == 0 ? NULL : ends[NTASK - 1], "tasks", tasks);
    json_decref(dag);
    return run;
}

int ub_api_log(ub_serve *s, const char *pipeline, const char *ds, const char *task, int try_no, uint64_t offset,
               uint64_t max, ub_buf *out, uint64_t *total, int *status)
{
    size_t n = strlen(fake_log);
    *total = n;
    if (offset > n) {
        *status = 416;
        return -1;
    }
    size_t take = n - offset < max ? n - offset : (size_t)max;
    ub_buf_add(out, fake_log + offset, take);
    return out->err ? -1 : 0;
}

static int get(const char *path, const char *query, const char *csrf, int ro, ub_buf *b, const char **ct)
{
    ub_page_req r = { .path = path, .query = query, .csrf = csrf, .read_only = ro };
    ub_buf_reset(b);
    int st = ub_pages_get(NULL, &r, b, ct);
    const char *dir = getenv("UB_PAGES_DUMP");
    if (dir && *dir && st == 200) {
        char f[512];
        size_t k = (size_t)snprintf(f, sizeof f, "%s/", dir);
        for (const char *p = path + 1; *p && k + 1 < sizeof f; p++)
            f[k++] = *p == '/' ? '_' : *p;
        snprintf(f + k, sizeof f - k, "%s%s%s", query ? "_" : "", query ? query : "",
                 strncmp(path, "/assets/", 8) ? ".html" : "");
        FILE *o = fopen(f, "w");
        if (o) {
            fwrite(b->p, 1, b->len, o);
            fclose(o);
        }
    }
    return st;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

int main(void)
{
    ub_buf b = UB_BUF_INIT;
    const char *ct = NULL;
    char d0[11], d3[11], want[256];
    ds_of(0, d0);
    ds_of(3, d3);
    fake_log = "line 1\nerror: <b>bad</b> movie_review_file\n";

    /* index: names, last run, spec errors escaped; login form without a session */
    T_INTEQ(get("/", NULL, NULL, 0, &b, &ct), 200);
    T_STREQ(ct, "text/html; charset=utf-8");
    T_CHECK(strstr(b.p, "href=\"/pipelines/user_behavior\"") != NULL);
    T_CHECK(strstr(b.p, "href=\"/pipelines/bro%3Cken%3E\"") != NULL);
    T_CHECK(strstr(b.p, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    T_CHECK(strstr(b.p, "<script>alert") == NULL);
    T_CHECK(strstr(b.p, "action=\"/login\"") != NULL);
    T_CHECK(strstr(b.p, "data-post=") == NULL);          /* no action without a session */
    T_CHECK(strstr(b.p, "ubpipe-csrf") == NULL);
    T_CHECK(strstr(b.p, "<script>") == NULL && strstr(b.p, "style=") == NULL);  /* CSP: nothing inline */

    /* with a session: the CSRF token in a meta tag, pause buttons */
    T_INTEQ(get("/", NULL, "tok\"en", 0, &b, &ct), 200);
    T_CHECK(strstr(b.p, "<meta name=\"ubpipe-csrf\" content=\"tok&quot;en\">") != NULL);
    T_CHECK(strstr(b.p, "data-post=\"/api/v1/pipelines/user_behavior/pause\"") != NULL);
    T_CHECK(strstr(b.p, "data-post=\"/api/v1/pipelines/bro%3Cken%3E/unpause\"") != NULL);
    /* read-only: no buttons even with a session */
    T_INTEQ(get("/", NULL, "tok", 1, &b, &ct), 200);
    T_CHECK(strstr(b.p, "data-post=") == NULL);
    T_CHECK(strstr(b.p, "read-only") != NULL);

    /* the grid: 30 ds × 5 tasks, newest page first, states as the API says */
    T_INTEQ(get("/pipelines/user_behavior", NULL, "tok", 0, &b, &ct), 200);
    T_INTEQ(count(b.p, "class=\"cell "), 30 * NTASK);
    T_INTEQ(count(b.p, "class=\"run "), 30);
    snprintf(want, sizeof want, "data-ds=\"%s\" data-task=\"classify\" data-state=\"running\"", d0);
    T_CHECK(strstr(b.p, want) != NULL);
    snprintf(want, sizeof want, "data-ds=\"%s\" data-task=\"classify\" data-state=\"failed\"", d3);
    T_CHECK(strstr(b.p, want) != NULL);
    snprintf(want, sizeof want, "href=\"/pipelines/user_behavior/runs/%s/tasks/classify\"", d3);
    T_CHECK(strstr(b.p, want) != NULL);
    T_CHECK(strstr(b.p, "2 tries") != NULL);
    T_CHECK(strstr(b.p, "page 1 of 34") != NULL);
    T_CHECK(strstr(b.p, "?page=1\">older") != NULL);
    T_CHECK(strstr(b.p, "?page=33\">oldest") != NULL);
    T_CHECK(strstr(b.p, "id=\"trigger\"") != NULL && strstr(b.p, "id=\"backfill\"") != NULL);
    /* the declared reports link to their live pages; ids and titles escaped */
    T_CHECK(strstr(b.p, "<a href=\"/pipelines/user_behavior/reports/weekly\">weekly</a> — Who &lt;b&gt;spends&lt;/b&gt; &amp; how") != NULL);
    T_CHECK(strstr(b.p, "<a href=\"/pipelines/user_behavior/reports/a%20b%2Fc\">a b/c</a></li>") != NULL);
    /* columns run oldest to newest */
    T_CHECK(strstr(b.p, "data-ds=\"2024-12-02\"") < strstr(b.p, "data-ds=\"2024-12-31\""));
    T_INTEQ(get("/pipelines/user_behavior", "page=33", NULL, 0, &b, &ct), 200);
    T_INTEQ(count(b.p, "class=\"cell "), 10 * NTASK);   /* 1000 = 33 × 30 + 10 */
    T_CHECK(strstr(b.p, "page 34 of 34") != NULL);
    T_CHECK(strstr(b.p, "id=\"trigger\"") == NULL);
    T_INTEQ(get("/pipelines/user_behavior", "page=x", NULL, 0, &b, &ct), 400);
    T_INTEQ(get("/pipelines/user_behavior", "page=-1", NULL, 0, &b, &ct), 400);
    T_INTEQ(get("/pipelines/nope", NULL, NULL, 0, &b, &ct), 404);
    T_CHECK(strstr(b.p, "no pipeline named that") != NULL);

    /* the run: one DAG node per task, with state and link; Gantt bars per try */
    char path[128];
    snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s", d3);
    T_INTEQ(get(path, NULL, "tok", 0, &b, &ct), 200);
    T_INTEQ(count(b.p, "<g id=\"ubtask_"), NTASK);
    T_CHECK(strstr(b.p, "class=\"node st-failed\" data-task=\"classify\" data-state=\"failed\"") != NULL);
    snprintf(want, sizeof want, "xlink:href=\"/pipelines/user_behavior/runs/%s/tasks/load\"", d3);
    T_CHECK(strstr(b.p, want) != NULL);
    T_INTEQ(count(b.p, "<rect class=\"bar st-"), 4 + 20);     /* 4 tries + 20 recent runs */
    T_CHECK(strstr(b.p, "data-try=\"2\"") != NULL);
    T_CHECK(strstr(b.p, "bar st-failed current") != NULL);
    T_CHECK(strstr(b.p, "/clear\" data-body=\"{&quot;downstream&quot;:true}\"") != NULL);
    T_CHECK(strstr(b.p, "<?xml") == NULL);
    snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s", d0);
    T_INTEQ(get(path, NULL, NULL, 0, &b, &ct), 200);
    T_CHECK(strstr(b.p, "class=\"node st-queued\" data-task=\"metric\"") != NULL);
    T_INTEQ(get("/pipelines/user_behavior/runs/1999-01-01", NULL, NULL, 0, &b, &ct), 404);

    /* the task: latest try by default, its log escaped, effects and outputs */
    snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s/tasks/classify", d3);
    T_INTEQ(get(path, NULL, "tok", 0, &b, &ct), 200);
    T_CHECK(strstr(b.p, "data-try=\"2\" data-offset=\"") != NULL);
    T_CHECK(strstr(b.p, "error: &lt;b&gt;bad&lt;/b&gt; movie_review_file") != NULL);
    T_CHECK(strstr(b.p, "data-follow=\"0\"") != NULL);
    T_CHECK(strstr(b.p, "DELETE FROM t WHERE ds = &#39;2024-12-31&#39;") != NULL);
    T_CHECK(strstr(b.p, "raw/&lt;k&gt;.csv") != NULL && strstr(b.p, "541909") != NULL);
    T_INTEQ(get(path, "try=1", NULL, 0, &b, &ct), 200);
    T_CHECK(strstr(b.p, "try 1 · ") != NULL);
    T_INTEQ(get(path, "try=3", NULL, 0, &b, &ct), 404);
    T_INTEQ(get(path, "try=0", NULL, 0, &b, &ct), 400);
    snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s/tasks/classify", d0);
    T_INTEQ(get(path, NULL, NULL, 0, &b, &ct), 200);
    T_CHECK(strstr(b.p, "data-follow=\"1\"") != NULL);     /* running: the script follows the stream */
    snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s/tasks/nope", d0);
    T_INTEQ(get(path, NULL, NULL, 0, &b, &ct), 404);

    /* a large log: only its tail, and the offset the stream continues from */
    static char big[300 * 1024 + 1];
    memset(big, 'x', sizeof big - 1);
    memcpy(big + sizeof big - 5, "END\n", 4);
    fake_log = big;
    snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s/tasks/classify", d3);
    T_INTEQ(get(path, NULL, NULL, 0, &b, &ct), 200);
    snprintf(want, sizeof want, "data-offset=\"%zu\"", sizeof big - 1);
    T_CHECK(strstr(b.p, want) != NULL);
    T_CHECK(strstr(b.p, "the first 45056 bytes are left out") != NULL);
    T_CHECK(strstr(b.p, "END\n</pre>") != NULL);
    fake_log = "line 1\nerror: <b>bad</b> movie_review_file\n";

    /* assets, with their types; bad paths are 404 */
    T_INTEQ(get("/assets/ubpipe.css", NULL, NULL, 0, &b, &ct), 200);
    T_STREQ(ct, "text/css; charset=utf-8");
    T_CHECK(b.len > 100 && strstr(b.p, ".st-failed") != NULL);
    T_INTEQ(get("/assets/ubpipe.js", NULL, NULL, 0, &b, &ct), 200);
    T_STREQ(ct, "text/javascript; charset=utf-8");
    T_CHECK(strstr(b.p, "X-Ubpipe-Csrf") != NULL);
    static const char *const bad[] = { "/assets/nope.js", "/assets/../pages.c", "/pipelines/%2e%2e", "/pipelines/..",
                                       "/pipelines/a%2Fb", "/pipelines/a%00b", "/pipelines/a%zz", "/pipelines/a%2",
                                       "/nope", "/pipelines/user_behavior/x", "/pipelines/user_behavior/runs",
                                       "/a/b/c/d/e/f/g/h/i/j", "relative", NULL };
    for (size_t i = 0; bad[i]; i++) {
        int st = get(bad[i], NULL, NULL, 0, &b, &ct);
        if (st != 404)
            fprintf(stderr, "path %s: %d\n", bad[i], st);
        T_INTEQ(st, 404);
        T_STREQ(ct, "text/html; charset=utf-8");
    }
    /* UB_PAGES_BENCH=N: time N renders of the grid's first page and of a run page (not a check) */
    const char *bench = getenv("UB_PAGES_BENCH");
    long nb = bench ? strtol(bench, NULL, 10) : 0;
    if (nb > 0) {
        snprintf(path, sizeof path, "/pipelines/user_behavior/runs/%s", d3);
        const char *paths[] = { "/pipelines/user_behavior", path };
        for (int k = 0; k < 2; k++) {
            struct timespec a, z;
            clock_gettime(CLOCK_MONOTONIC, &a);
            for (long i = 0; i < nb; i++)
                get(paths[k], NULL, "tok", 0, &b, &ct);
            clock_gettime(CLOCK_MONOTONIC, &z);
            printf("%s: %.2f ms per page, %zu bytes\n", paths[k],
                   ((z.tv_sec - a.tv_sec) * 1e3 + (z.tv_nsec - a.tv_nsec) / 1e6) / (double)nb, b.len);
        }
    }
    ub_buf_free(&b);
    return t_done("test_pages");
}
