/* status.c — the readers of what runs left behind: `ubpipe status` (the
 * journal of each date) and `ubpipe logs` (the log of each try).  They only
 * read; the executor that writes both is run.c. */
#include "core/status.h"
#include "core/fingerprint.h"
#include "core/journal.h"
#include "core/run.h"
#include "base/jtext.h"
#include "base/show.h"
#include <jansson.h>
#include <string.h>

/* A successful task whose fingerprint changed since (fingerprint.h) is
 * "stale"; its reason in why.  Otherwise the journal's state. */
static const char *state_of(const ub_jtask *r, const ub_fp_decision *d, const char **why)
{
    *why = NULL;
    if (!r || !r->state)
        return "none";
    if (d && strcmp(r->state, "success") == 0 && d->action == UB_FP_RUN) {
        *why = d->reason;
        return "stale";
    }
    return r->state;
}

static json_t *status_json(const ub_spec *s, const char *ds, const ub_journal *j, const ub_fp_decision *dec)
{
    json_t *arr = json_array();
    for (size_t k = 0; k < s->ntasks; k++) {
        const ub_task *t = &s->tasks[s->order[k]];
        const ub_jtask *r = ub_journal_task(j, t->id);
        const char *why;
        const char *st = state_of(r, dec ? &dec[t->index] : NULL, &why);
        double dur = r && r->started > 0 && r->ended >= r->started ? r->ended - r->started : 0;
        json_t *o = json_pack("{s:s, s:s, s:i}", "id", t->id, "state", st, "tries", r ? r->tries : 0);
        json_object_set_new(o, "duration_s", r && r->ended > 0 ? json_real(dur) : json_null());
        if (r && r->error)
            json_object_set_new(o, "error", ub_jtext(r->error));
        if (why)
            json_object_set_new(o, "reason", ub_jtext(why));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:s, s:s, s:o}", "pipeline", s->pipeline, "ds", ds, "tasks", arr);
}

int ub_run_status(ub_spec *s, const ub_engine_opts *eo, const ub_ds *dates, size_t n, int json, FILE *out,
                  ub_diag *diag)
{
    int rc = 0;
    for (size_t d = 0; d < n && rc == 0; d++) {
        ub_engine_opts o = *eo;
        o.ds = dates[d].s;
        o.planning = 1;
        ub_engine *e = ub_engine_new(s, &o, diag);
        ub_journal j;
        ub_err err;
        if (!e)
            return 2;
        if (ub_journal_open(&j, e->state_dir, s->pipeline, e->ds, 0, &err)) {
            ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "%s", err.msg);
            ub_engine_free(e);
            return 2;
        }
        /* what changed since each success: decided in a run-mode engine, as a run would */
        ub_fp_decision *dec = NULL;
        if (j.n) {
            ub_engine_opts ro = o;
            ub_diag quiet;
            int legacy = 0;
            ro.planning = 0;
            if (!ro.nparams) {                 /* no -p: the values the last run was given */
                ro.params = j.params;
                ro.nparams = j.nparams;
            }
            ub_diag_init(&quiet);
            ub_engine *re = ub_engine_new(s, &ro, &quiet);
            dec = re ? ub_calloc(s->ntasks ? s->ntasks : 1, sizeof *dec) : NULL;
            if (dec && ub_fp_decide(re, &j, NULL, dec, &legacy)) {
                ub_fp_decisions_free(dec, s->ntasks);
                ub_free(dec);
                dec = NULL;
            }
            ub_engine_free(re);
            ub_diag_free(&quiet);
        }
        if (json) {
            json_t *root = status_json(s, e->ds, &j, dec);
            ub_secret_mask_json(root);        /* journals of older versions held secrets in clear */
            char *txt = root ? ub_jtext_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
            if (txt)
                fprintf(out, "%s\n", txt);
            else
                rc = 2;
            ub_free(txt);
            json_decref(root);
        } else {
            if (d)
                fputc('\n', out);
            fprintf(out, "%s ds=%s\n%-48s %-16s %5s %10s\n", s->pipeline, e->ds, "TASK", "STATE", "TRIES",
                    "DURATION");
            for (size_t k = 0; k < s->ntasks; k++) {
                const ub_task *t = &s->tasks[s->order[k]];
                const ub_jtask *r = ub_journal_task(&j, t->id);
                double dur = r && r->started > 0 && r->ended >= r->started ? r->ended - r->started : 0;
                const char *why;
                const char *st = state_of(r, dec ? &dec[t->index] : NULL, &why);
                ub_buf line = UB_BUF_INIT;
                ub_buf_addf(&line, "%-48s %-16s %5d %9.2fs%s%s\n", t->id, st, r ? r->tries : 0, dur,
                            why ? "  " : "", why ? why : "");
                /* the error of a try that failed, as the journal has it */
                if (r && r->error && *r->error && strcmp(st, "success") && strcmp(st, "stale")) {
                    ub_buf_adds(&line, "    error: ");
                    for (const char *q = r->error; *q; q++) {     /* a traceback's lines indented too */
                        ub_buf_addc(&line, *q);
                        if (*q == '\n' && q[1])
                            ub_buf_adds(&line, "           ");
                    }
                    ub_buf_addc(&line, '\n');
                }
                ub_buf m = UB_BUF_INIT;          /* journals of older versions held secrets in clear */
                ub_secret_mask(ub_buf_str(&line), &m);
                ub_show_fwrite(ub_buf_str(&m), m.len, out);    /* reasons and errors quote paths, data */
                ub_buf_free(&m);
                ub_buf_free(&line);
            }
        }
        ub_fp_decisions_free(dec, dec ? s->ntasks : 0);
        ub_free(dec);
        ub_journal_close(&j);
        ub_engine_free(e);
    }
    return rc;
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
    for (int n = try_no > 0 ? try_no : 1; n <= (try_no > 0 ? try_no : 1000); n++) {   /* tries may have gaps */
        ub_buf p = UB_BUF_INIT;
        ub_buf_addf(&p, "%s/runs/%s/%s/logs/%s.%d.log", e->state_dir, s->pipeline, e->ds, task, n);
        FILE *f = p.err ? NULL : fopen(p.p, "r");
        ub_buf_free(&p);
        if (!f)
            continue;
        fprintf(out, "=== %s try %d ===\n", task, n);
        /* line by line, masked (a log of an older version, or one a hook wrote to) and made
         * safe to print (base/show.h), to a terminal or not: a log quotes data, SQL and what
         * the servers said; the file keeps the raw bytes */
        char *line = NULL;
        size_t cap = 0;
        ssize_t got;
        while ((got = getline(&line, &cap, f)) > 0) {
            ub_buf m = UB_BUF_INIT, safe = UB_BUF_INIT;
            ub_secret_mask(line, &m);
            if (m.err || ub_show(&safe, ub_buf_str(&m), m.len))
                fputs("(out of memory)\n", out);
            else
                fwrite(ub_buf_str(&safe), 1, safe.len, out);
            ub_buf_free(&m);
            ub_buf_free(&safe);
        }
        free(line);
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
