/* api.c — the JSON replies of `ubpipe serve` (see api.h). */
#include "web/api.h"
#include "base/date.h"
#include "base/jtext.h"
#include "base/mem.h"
#include "base/secret.h"
#include "core/engine.h"
#include "core/journal.h"
#include "core/plan.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* RFC 3339 UTC, or JSON null for 0. */
static json_t *rfc3339(double t)
{
    if (t <= 0)
        return json_null();
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return json_null();
    return json_string(buf);
}

/* A string masked of secrets, as a JSON string. */
static json_t *masked(const char *s)
{
    if (!s)
        return json_null();
    ub_buf b = UB_BUF_INIT;
    ub_secret_mask(s, &b);
    json_t *j = ub_jtext(b.err ? "" : ub_buf_str(&b));
    ub_buf_free(&b);
    return j;
}

static int valid_ds(const char *ds)
{
    ub_date d;
    ub_err e;
    return ds && strlen(ds) == 10 && ub_date_parse(ds, &d, &e) == 0;
}

/* The pipeline by name with a spec, or NULL with 404. */
static ub_serve_pipeline *pipeline_of(ub_serve *s, const char *name, int *status, const char **err)
{
    ub_serve_pipeline *p = ub_serve_find(s, name);
    if (!p || !p->spec) {
        *status = 404;
        *err = "unknown pipeline";
        return NULL;
    }
    return p;
}

static const ub_task *task_of(const ub_spec *sp, const char *id)
{
    for (size_t i = 0; id && i < sp->ntasks; i++)
        if (strcmp(sp->tasks[i].id, id) == 0)
            return &sp->tasks[i];
    return NULL;
}

/* 1 when ds has a run (journal or request) for p. */
static int known_run(ub_serve *s, ub_serve_pipeline *p, const char *ds)
{
    return valid_ds(ds) && ub_serve_run_state(s, p, ds) != NULL;
}

json_t *ub_api_pipelines(ub_serve *s)
{
    json_t *arr = json_array();
    ub_serve_lock(s);
    for (size_t i = 0; arr && i < ub_serve_npipelines(s); i++) {
        ub_serve_pipeline *p = ub_serve_pipeline_at(s, i);
        const char *const *ds;
        size_t n = ub_serve_run_list(s, p, &ds);
        json_t *last = json_null();
        if (n)
            last = json_pack("{s:s, s:s?}", "ds", ds[n - 1], "state", ub_serve_run_state(s, p, ds[n - 1]));
        char next[11];
        ub_serve_next_ds(s, p, next);
        /* the reports the spec declares: id and title (served live at /pipelines/NAME/reports/ID) */
        json_t *reps = json_array();
        const ub_node *rn = p->spec ? ub_node_get(p->spec->root, "reports") : NULL;
        for (size_t q = 0; reps && rn && rn->kind == UB_MAP && q + 1 < rn->n; q += 2) {
            const ub_node *t = ub_node_get(rn->items[q + 1], "title");
            json_array_append_new(reps, json_pack("{s:s, s:s?}", "id", rn->items[q]->str, "title",
                                                  t && t->kind == UB_SCALAR && !ub_node_is_null(t) ? t->str : NULL));
        }
        json_array_append_new(
            arr, json_pack("{s:s, s:s?, s:b, s:s?, s:o, s:o, s:o}", "pipeline", p->name, "schedule",
                           p->spec ? p->spec->schedule : NULL, "paused", p->paused, "next_ds",
                           next[0] ? next : NULL, "last_run", last ? last : json_null(), "error",
                           masked(p->error), "reports", reps ? reps : json_array()));
    }
    ub_serve_unlock(s);
    return arr;
}

/* The tasks of one run in the summary form of the runs list. */
static json_t *run_summary(ub_serve *s, ub_serve_pipeline *p, const char *ds)
{
    ub_journal j;
    ub_err e;
    json_t *tasks = json_array();
    double start = 0, end = 0;
    if (ub_journal_open(&j, ub_serve_state_dir(s), p->name, ds, 0, &e) == 0) {
        for (size_t t = 0; t < p->spec->ntasks; t++) {
            const ub_jtask *jt = ub_journal_task(&j, p->spec->tasks[t].id);
            if (jt && jt->started > 0 && (start == 0 || jt->started < start))
                start = jt->started;
            if (jt && jt->ended > end)
                end = jt->ended;
            json_array_append_new(
                tasks, json_pack("{s:s, s:s?, s:i, s:o, s:o}", "id", p->spec->tasks[t].id, "state",
                                 jt ? jt->state : NULL, "tries", jt ? jt->tries : 0, "start",
                                 rfc3339(jt ? jt->started : 0), "end", rfc3339(jt ? jt->ended : 0)));
        }
        ub_journal_close(&j);
    }
    const char *state = ub_serve_run_state(s, p, ds);
    int done = state && (!strcmp(state, "success") || !strcmp(state, "failed") || !strcmp(state, "incomplete"));
    return json_pack("{s:s, s:s?, s:o, s:o, s:o}", "ds", ds, "state", state, "start", rfc3339(start), "end",
                     rfc3339(done ? end : 0), "tasks", tasks);
}

json_t *ub_api_runs(ub_serve *s, const char *pipeline, const char *from, const char *to, size_t limit,
                    size_t offset, int *status, const char **err)
{
    if ((from && *from && !valid_ds(from)) || (to && *to && !valid_ds(to))) {
        *status = 400;
        *err = "from and to must be dates YYYY-MM-DD";
        return NULL;
    }
    if (limit == 0 || limit > 1000)
        limit = limit == 0 ? 50 : 1000;
    ub_serve_lock(s);
    json_t *out = NULL;
    ub_serve_pipeline *p = pipeline_of(s, pipeline, status, err);
    if (!p)
        goto done;
    const char *const *ds;
    size_t n = ub_serve_run_list(s, p, &ds);
    json_t *runs = json_array();
    size_t total = 0;
    for (size_t k = n; runs && k-- > 0;) {
        if ((from && *from && strcmp(ds[k], from) < 0) || (to && *to && strcmp(ds[k], to) > 0))
            continue;
        if (total >= offset && total - offset < limit)
            json_array_append_new(runs, run_summary(s, p, ds[k]));
        total++;
    }
    out = json_pack("{s:o, s:I}", "runs", runs, "total", (json_int_t)total);
done:
    ub_serve_unlock(s);
    if (!out && *status == 0) {
        *status = 500;
        *err = "out of memory";
    }
    return out;
}

/* Each try of each task from the journal's lines (read tolerantly: a
 * line that is not an object with task, state and try is skipped). */
static json_t *journal_tries(ub_serve *s, const char *pipeline, const char *ds)
{
    json_t *by_task = json_object();
    ub_buf path = UB_BUF_INIT;
    ub_buf_addf(&path, "%s/runs/%s/%s/journal.jsonl", ub_serve_state_dir(s), pipeline, ds);
    FILE *f = path.err ? NULL : fopen(path.p, "r");
    ub_buf_free(&path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (f && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break;
        json_t *r = json_loads(line, 0, NULL);
        const char *task = json_string_value(json_object_get(r, "task"));
        const char *state = json_string_value(json_object_get(r, "state"));
        json_int_t tr = json_integer_value(json_object_get(r, "try"));
        double ts = json_number_value(json_object_get(r, "ts"));
        if (task && state && tr > 0 && tr < 100000) {
            json_t *tries = json_object_get(by_task, task);
            if (!tries) {
                tries = json_array();
                json_object_set_new(by_task, task, tries);
            }
            json_t *t = NULL;
            for (size_t i = 0; i < json_array_size(tries); i++)
                if (json_integer_value(json_object_get(json_array_get(tries, i), "try")) == tr)
                    t = json_array_get(tries, i);
            if (!t) {
                t = json_pack("{s:I, s:s, s:n, s:n}", "try", tr, "state", state, "start", "end");
                json_array_append_new(tries, t);
            }
            json_object_set_new(t, "state", json_string(state));
            if (!strcmp(state, "running"))
                json_object_set_new(t, "start", rfc3339(ts));
            else if (strcmp(state, "queued") != 0)
                json_object_set_new(t, "end", rfc3339(ts));
        }
        json_decref(r);
    }
    free(line);
    if (f)
        fclose(f);
    return by_task;
}

/* The plan of the run as `plan --format json` prints it: tasks by id. */
static json_t *plan_effects(ub_serve *s, ub_serve_pipeline *p, const char *ds)
{
    ub_engine_opts eo = { .ds = ds, .planning = 1, .state_dir = ub_serve_state_dir(s) };
    ub_diag d;
    ub_diag_init(&d);
    json_t *by_id = json_object();
    ub_engine *e = ub_engine_new(p->spec, &eo, &d);
    char *text = NULL;
    size_t len = 0;
    FILE *f = e ? open_memstream(&text, &len) : NULL;
    if (f) {
        ub_plan_print(e, NULL, 1, f, &d);
        fclose(f);
        json_t *plan = json_loadb(text ? text : "", len, 0, NULL);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(plan, "tasks"), i, t) {
            const char *id = json_string_value(json_object_get(t, "id"));
            json_t *eff = json_object_get(t, "effects");
            if (id && eff)
                json_object_set(by_id, id, eff);
        }
        json_decref(plan);
        free(text);
    }
    ub_engine_free(e);
    ub_diag_free(&d);
    ub_secret_mask_json(by_id);
    return by_id;
}

json_t *ub_api_run(ub_serve *s, const char *pipeline, const char *ds, int *status, const char **err)
{
    ub_serve_lock(s);
    json_t *out = NULL;
    ub_serve_pipeline *p = pipeline_of(s, pipeline, status, err);
    if (!p)
        goto done;
    if (!known_run(s, p, ds)) {
        *status = 404;
        *err = "no run of that pipeline for that ds";
        goto done;
    }
    out = run_summary(s, p, ds);
    json_t *tries = journal_tries(s, p->name, ds);
    json_t *effects = plan_effects(s, p, ds);
    ub_journal j;
    ub_err e;
    int have_j = ub_journal_open(&j, ub_serve_state_dir(s), p->name, ds, 0, &e) == 0;
    json_t *tasks = json_array();
    for (size_t t = 0; t < p->spec->ntasks; t++) {
        const ub_task *tk = &p->spec->tasks[t];
        const ub_jtask *jt = have_j ? ub_journal_task(&j, tk->id) : NULL;
        json_t *after = json_array();
        for (size_t a = 0; a < tk->nafter; a++)
            json_array_append_new(after, json_string(p->spec->tasks[tk->after[a]].id));
        json_t *outputs = json_object();
        for (size_t k = 0; jt && k < jt->nout; k++)
            json_object_set_new(outputs, jt->outputs[k].key, masked(jt->outputs[k].val));
        json_t *tt = json_object_get(tries, tk->id);
        json_t *eff = json_object_get(effects, tk->id);
        json_array_append_new(
            tasks, json_pack("{s:s, s:s, s:o, s:s?, s:o, s:o, s:o, s:o}", "id", tk->id, "op", tk->op->name,
                             "after", after, "state", jt ? jt->state : NULL, "tries",
                             tt ? json_incref(tt) : json_array(), "effects", eff ? json_incref(eff) : json_array(),
                             "outputs", outputs, "error", masked(jt ? jt->error : NULL)));
    }
    if (have_j)
        ub_journal_close(&j);
    json_object_set_new(out, "tasks", tasks);
    json_decref(tries);
    json_decref(effects);
done:
    ub_serve_unlock(s);
    return out;
}

json_t *ub_api_dag(ub_serve *s, const char *pipeline, int *status, const char **err)
{
    ub_serve_lock(s);
    json_t *out = NULL;
    ub_serve_pipeline *p = pipeline_of(s, pipeline, status, err);
    if (!p)
        goto done;
    json_t *tasks = json_array();
    for (size_t i = 0; i < p->spec->ntasks; i++) {
        const ub_task *tk = &p->spec->tasks[p->spec->order[i]];
        json_t *after = json_array();
        for (size_t a = 0; a < tk->nafter; a++)
            json_array_append_new(after, json_string(p->spec->tasks[tk->after[a]].id));
        json_array_append_new(tasks, json_pack("{s:s, s:s, s:o}", "id", tk->id, "op", tk->op->name, "after", after));
    }
    out = json_pack("{s:o}", "tasks", tasks);
done:
    ub_serve_unlock(s);
    return out;
}

int ub_api_log(ub_serve *s, const char *pipeline, const char *ds, const char *task, int try_no, uint64_t offset,
               uint64_t max, ub_buf *out, uint64_t *total, int *status)
{
    int rc = -1, fd = -1;
    char *chunk = NULL;
    ub_buf path = UB_BUF_INIT;
    const char *err = NULL;
    ub_serve_lock(s);
    ub_serve_pipeline *p = pipeline_of(s, pipeline, status, &err);
    if (!p)
        goto done;
    const ub_task *tk = task_of(p->spec, task);
    if (!known_run(s, p, ds) || !tk || try_no < 1 || try_no > 100000) {
        *status = 404;
        goto done;
    }
    /* every part checked against the spec and the journal above */
    ub_buf_addf(&path, "%s/runs/%s/%s/logs/%s.%d.log", ub_serve_state_dir(s), p->name, ds, tk->id, try_no);
    fd = path.err ? -1 : open(path.p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        *status = errno == ENOENT ? 404 : 500;
        goto done;
    }
    *total = (uint64_t)st.st_size;
    if (max > ((uint64_t)1 << 24))
        max = (uint64_t)1 << 24;
    if (offset < *total) {
        uint64_t want = *total - offset < max ? *total - offset : max;
        chunk = ub_malloc((size_t)want + 1);
        if (!chunk) {
            *status = 500;
            goto done;
        }
        ssize_t got = pread(fd, chunk, (size_t)want, (off_t)offset);
        if (got < 0) {
            *status = 500;
            goto done;
        }
        chunk[got] = 0;
        /* NUL bytes end the masked text early; logs are text */
        ub_secret_mask(chunk, out);
    }
    rc = out->err ? -1 : 0;
    if (rc)
        *status = 500;
done:
    ub_serve_unlock(s);
    if (fd >= 0)
        close(fd);
    ub_free(chunk);
    ub_buf_free(&path);
    return rc;
}

int ub_api_try_done(ub_serve *s, const char *pipeline, const char *ds, const char *task, int try_no)
{
    int status = 0, rc = -1;
    const char *err = NULL;
    ub_serve_lock(s);
    ub_serve_pipeline *p = pipeline_of(s, pipeline, &status, &err);
    const ub_task *tk = p ? task_of(p->spec, task) : NULL;
    if (!tk || !known_run(s, p, ds))
        goto done;
    ub_journal j;
    ub_err e;
    if (ub_journal_open(&j, ub_serve_state_dir(s), p->name, ds, 0, &e)) {
        rc = 1;
        goto done;
    }
    const ub_jtask *jt = ub_journal_task(&j, tk->id);
    const char *st = ub_serve_run_state(s, p, ds);
    int live = st && (!strcmp(st, "running") || !strcmp(st, "queued"));
    rc = !jt || jt->tries > try_no || !live ||
         (jt->tries == try_no && jt->state && strcmp(jt->state, "running") != 0 && strcmp(jt->state, "queued") != 0);
    ub_journal_close(&j);
done:
    ub_serve_unlock(s);
    return rc;
}
