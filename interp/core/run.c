/* run.c — execute one ds: tasks in order, retries, journal, resume, subsets. */
#include "core/run.h"
#include "core/journal.h"
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Marks the tasks selected by --only (and --downstream). */
static int select_tasks(ub_spec *s, const ub_run_opts *o, char *sel, ub_diag *diag)
{
    if (!o->only) {
        memset(sel, 1, s->ntasks);
        return 0;
    }
    memset(sel, 0, s->ntasks);
    const char *p = o->only;
    while (*p) {
        size_t l = strcspn(p, ",");
        size_t i;
        for (i = 0; i < s->ntasks; i++)
            if (strlen(s->tasks[i].id) == l && strncmp(s->tasks[i].id, p, l) == 0)
                break;
        if (i == s->ntasks) {
            ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "--only: '%.*s' is not a task of '%s'", (int)l, p,
                          s->pipeline);
            return -1;
        }
        sel[i] = 1;
        p += l + (p[l] == ',');
    }
    if (o->downstream)
        for (size_t k = 0; k < s->ntasks; k++) {          /* order: upstream first */
            ub_task *t = &s->tasks[s->order[k]];
            for (size_t j = 0; j < t->nafter; j++)
                if (sel[t->after[j]])
                    sel[t->index] = 1;
        }
    return 0;
}

static double retry_delay(const ub_task *t, int try_no)
{
    double d = t->retry_delay;
    if (t->retry_backoff)
        d *= pow(2.0, try_no - 1);
    return d > t->max_retry_delay ? t->max_retry_delay : d;
}

/* A line on stderr, secrets masked: progress (error 0) is dropped by
 * --quiet, failures (error 1) never are. */
static void say(const ub_run_opts *o, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const ub_run_opts *o, int error, const char *fmt, ...)
{
    if (o->quiet && !error)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ub_buf m = UB_BUF_INIT;
    ub_secret_mask(msg, &m);
    fprintf(stderr, "%s\n", ub_buf_str(&m));
    ub_buf_free(&m);
}

/* One try of a task; returns 0 on success.  The context is left for the
 * caller to read outputs and errors. */
static int run_try(ub_engine *e, ub_task *t, int try_no, const ub_jtask *prev, ub_opctx **out, ub_buf *logpath)
{
    ub_opctx *c = ub_ctx_new(e, t, try_no);
    *out = c;
    if (!c)
        return -1;
    if (prev)
        ub_ctx_set_prev(c, prev->outputs, prev->nout);
    if (t->timeout > 0)
        ub_ctx_set_deadline(c, now_s() + t->timeout);
    ub_buf_reset(logpath);
    FILE *log = NULL;
    if (ub_journal_log_path(e->state_dir, e->spec->pipeline, e->ds, t->id, try_no, logpath) == 0)
        log = fopen(logpath->p, "w");
    ub_ctx_set_log(c, log);
    ub_op_log(c, "try %d of %d, operator %s", try_no, t->retries + 1, t->op->name);
    int rc = t->op->run(c);
    if (rc == 0 && *ub_ctx_error(c))
        rc = -1;
    if (rc && !*ub_ctx_error(c))
        ub_op_fail(c, "failed");
    if (rc && t->timeout > 0 && now_s() > 0 && ub_op_cancelled(c) && !ub_cancel_requested) {
        ub_op_log(c, "timed out after %gs", t->timeout);
    }
    ub_op_log(c, rc ? "failed: %s" : "success%s", rc ? ub_ctx_error(c) : "");
    ub_ctx_set_log(c, NULL);
    if (log)
        fclose(log);
    return rc;
}

int ub_run(ub_engine *e, const ub_run_opts *o, ub_diag *diag)
{
    ub_spec *s = e->spec;
    ub_journal j;
    ub_err err;
    char *sel = ub_malloc(s->ntasks), *state = ub_calloc(s->ntasks, 1);   /* 0 todo, 1 ok, 2 failed */
    ub_buf logpath = UB_BUF_INIT;
    int rc = 2, failed = 0;
    if (!sel || !state) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
        goto out_nojournal;
    }
    if (select_tasks(s, o, sel, diag))
        goto out_nojournal;
    if (ub_journal_open(&j, e->state_dir, s->pipeline, e->ds, 1, &err)) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "%s", err.msg);
        goto out_nojournal;
    }
    say(o, 0, "ubpipe: run %s ds=%s profile=%s (%zu tasks)", s->pipeline, e->ds, e->profile, s->ntasks);
    for (size_t k = 0; k < s->ntasks && !ub_cancel_requested; k++) {
        ub_task *t = &s->tasks[s->order[k]];
        const ub_jtask *jt = ub_journal_task(&j, t->id);
        int done_before = jt && jt->state && strcmp(jt->state, "success") == 0;
        if (!sel[t->index] || (done_before && !o->rerun && !(o->only && sel[t->index]))) {
            if (jt)
                ub_engine_publish(e, t->id, jt->outputs, jt->nout);
            state[t->index] = 1;
            if (sel[t->index])
                say(o, 0, "  done     %s (already successful)", t->id);
            continue;
        }
        int up_failed = 0;
        for (size_t i = 0; i < t->nafter; i++)
            up_failed |= state[t->after[i]] == 2;
        if (up_failed) {
            state[t->index] = 2;
            ub_journal_record(&j, t->id, "upstream_failed", 0, NULL, NULL, 0, &err);
            say(o, 0, "  skipped  %s (upstream failed)", t->id);
            continue;
        }
        ub_journal_record(&j, t->id, "queued", 0, NULL, NULL, 0, &err);
        int base_try = jt ? jt->tries : 0;
        for (int attempt = 1; attempt <= t->retries + 1; attempt++) {
            int try_no = base_try + attempt;
            double t0 = now_s();
            if (ub_journal_record(&j, t->id, "running", try_no, NULL, NULL, 0, &err)) {
                say(o, 1, "ubpipe: %s", err.msg);
                state[t->index] = 2;
                break;
            }
            ub_opctx *c = NULL;
            int r = run_try(e, t, try_no, ub_journal_task(&j, t->id), &c, &logpath);
            const ub_kv *outs = NULL;
            size_t nout = c ? ub_ctx_outputs(c, &outs) : 0;
            if (r == 0) {
                ub_journal_record(&j, t->id, "success", try_no, NULL, outs, nout, &err);
                ub_ctx_publish(c);
                state[t->index] = 1;
                say(o, 0, "  ok       %s (%.2fs)", t->id, now_s() - t0);
                ub_ctx_free(c);
                break;
            }
            const char *msg = c ? ub_ctx_error(c) : "out of memory";
            int last = attempt == t->retries + 1 || ub_cancel_requested || (c && ub_ctx_fatal(c));
            ub_journal_record(&j, t->id, last ? "failed" : "up_for_retry", try_no, msg, outs, nout, &err);
            if (last) {
                state[t->index] = 2;
                failed++;
                say(o, 1, "  FAILED   %s (try %d): %s\n           log: %s", t->id, try_no, msg, ub_buf_str(&logpath));
                ub_ctx_free(c);
                break;
            }
            double d = retry_delay(t, attempt);
            say(o, 0, "  retry    %s (try %d failed: %s); next try in %gs", t->id, try_no, msg, d);
            ub_ctx_free(c);
            for (double left = d; left > 0 && !ub_cancel_requested; left -= 0.1) {
                struct timespec ts = { 0, 100000000 };
                nanosleep(&ts, NULL);
            }
        }
    }
    if (ub_cancel_requested) {
        say(o, 1, "ubpipe: cancelled; run again to complete the run");
        rc = 1;
    } else if (failed) {
        say(o, 1, "ubpipe: %d task(s) failed; fix the cause and run again to resume", failed);
        rc = 1;
    } else {
        say(o, 0, "ubpipe: run %s ds=%s succeeded", s->pipeline, e->ds);
        rc = 0;
    }
    ub_journal_close(&j);
out_nojournal:
    ub_buf_free(&logpath);
    ub_free(sel);
    ub_free(state);
    return rc;
}

int ub_run_status(ub_engine *e, int json, FILE *out)
{
    ub_spec *s = e->spec;
    ub_journal j;
    ub_err err;
    if (ub_journal_open(&j, e->state_dir, s->pipeline, e->ds, 0, &err)) {
        fprintf(stderr, "ubpipe: %s\n", err.msg);
        return 2;
    }
    json_t *jt = json ? json_array() : NULL;
    if (!json)
        fprintf(out, "%s ds=%s\n%-48s %-16s %5s %10s\n", s->pipeline, e->ds, "TASK", "STATE", "TRIES", "DURATION");
    for (size_t k = 0; k < s->ntasks; k++) {
        const ub_task *t = &s->tasks[s->order[k]];
        const ub_jtask *r = ub_journal_task(&j, t->id);
        const char *st = r && r->state ? r->state : "none";
        double dur = r && r->started > 0 && r->ended >= r->started ? r->ended - r->started : 0;
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:i}", "id", t->id, "state", st, "tries", r ? r->tries : 0);
            json_object_set_new(o, "duration_s", r && r->ended > 0 ? json_real(dur) : json_null());
            json_array_append_new(jt, o);
        } else {
            fprintf(out, "%-48s %-16s %5d %9.2fs\n", t->id, st, r ? r->tries : 0, dur);
        }
    }
    if (json) {
        json_t *root = json_pack("{s:s, s:s, s:o}", "pipeline", s->pipeline, "ds", e->ds, "tasks", jt);
        char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (txt)
            fprintf(out, "%s\n", txt);
        free(txt);
        json_decref(root);
    }
    ub_journal_close(&j);
    return 0;
}

int ub_run_logs(ub_engine *e, const char *task, int try_no, FILE *out, ub_diag *diag)
{
    ub_spec *s = e->spec;
    size_t i;
    for (i = 0; i < s->ntasks; i++)
        if (strcmp(s->tasks[i].id, task) == 0)
            break;
    if (i == s->ntasks) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "'%s' is not a task of '%s'", task, s->pipeline);
        return 2;
    }
    int shown = 0;
    for (int n = try_no > 0 ? try_no : 1; n <= (try_no > 0 ? try_no : 1000); n++) {
        ub_buf p = UB_BUF_INIT;
        ub_buf_addf(&p, "%s/runs/%s/%s/logs/%s.%d.log", e->state_dir, s->pipeline, e->ds, task, n);
        FILE *f = p.err ? NULL : fopen(p.p, "r");
        ub_buf_free(&p);
        if (!f) {
            if (try_no > 0 || n > 1)
                break;
            continue;
        }
        fprintf(out, "=== %s try %d ===\n", task, n);
        char buf[8192];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, got, out);
        fclose(f);
        shown++;
    }
    if (!shown) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "no logs for task '%s' at ds %s%s", task, e->ds,
                      try_no > 0 ? " and that try" : "");
        return 2;
    }
    return 0;
}
