/* plan.c — the plan of a run: every task's effects, rendered, in order. */
#include "core/plan.h"
#include "core/hooks.h"
#include "core/fingerprint.h"
#include "core/handoff.h"
#include "core/journal.h"
#include "base/jtext.h"
#include "base/show.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Secrets masked; a text plan also made safe for a terminal (base/show.h):
 * SQL, keys and parameters can hold ESC sequences.  JSON carries no raw
 * control (ub_jtext_dumps). */
static void print_masked(const ub_buf *b, FILE *out, int json)
{
    ub_buf m = UB_BUF_INIT;
    ub_secret_mask(ub_buf_str(b), &m);
    if (json)
        fputs(ub_buf_str(&m), out);
    else
        ub_show_fwrite(ub_buf_str(&m), m.len, out);
    ub_buf_free(&m);
}

/* "  kind    target  first line\n" then continuation lines indented */
static void text_effect(ub_buf *b, const ub_effect *ef)
{
    const char *t = ef->text;
    int multi = strchr(t, '\n') != NULL;
    ub_buf_addf(b, "    %-8s %s%s", ef->kind, ef->target, multi ? "\n" : "  ");
    if (!multi) {
        ub_buf_addf(b, "%s\n", t);
        return;
    }
    while (*t) {
        const char *nl = strchr(t, '\n');
        size_t l = nl ? (size_t)(nl - t) : strlen(t);
        ub_buf_adds(b, "      | ");
        ub_buf_add(b, t, l);
        ub_buf_addc(b, '\n');
        t += l + (nl ? 1 : 0);
    }
}

/* --only: the selected tasks run, the others are taken as done. */
static ub_fp_decision *only_decisions(const ub_spec *s, const char *only)
{
    ub_fp_decision *d = ub_calloc(s->ntasks ? s->ntasks : 1, sizeof *d);
    for (size_t i = 0; d && i < s->ntasks; i++) {
        d[i].action = only[i] ? UB_FP_RUN : UB_FP_SKIP;
        if (!(d[i].reason = ub_strdup(only[i] ? "selected (--only)"
                                               : "not selected (--only): taken as done"))) {
            ub_fp_decisions_free(d, i);
            ub_free(d);
            d = NULL;
        }
    }
    return d;
}

/* What a run would do with each task, and why: with --only the selection,
 * else, when the ds ran before, the fingerprints (fingerprint.h) with the
 * tasks sel forces.  NULL when there is no journal (or it cannot be read):
 * every task runs. */
static ub_fp_decision *decisions(ub_engine *e, const ub_plan_sel *sel)
{
    ub_engine_opts o = e->opts;
    ub_diag quiet;
    ub_journal j;
    ub_err err;
    ub_fp_decision *d = NULL;
    int legacy = 0;
    if (sel && sel->only)
        return only_decisions(e->spec, sel->only);
    if (!e->state_dir || ub_journal_open(&j, e->state_dir, e->spec->pipeline, e->ds, 0, &err))
        return NULL;
    ub_diag_init(&quiet);
    o.planning = 0;
    o.ds = e->ds;
    ub_engine *re = j.n ? ub_engine_new(e->spec, &o, &quiet) : NULL;    /* renders as the run would */
    if (re && (d = ub_calloc(e->spec->ntasks ? e->spec->ntasks : 1, sizeof *d)) != NULL &&
        ub_fp_decide(re, &j, sel ? sel->force : NULL, d, &legacy)) {
        ub_fp_decisions_free(d, e->spec->ntasks);
        ub_free(d);
        d = NULL;
    }
    ub_engine_free(re);
    ub_diag_free(&quiet);
    ub_journal_close(&j);
    return d;
}

int ub_plan_print(ub_engine *e, const ub_plan_sel *sel, int json, FILE *out, ub_diag *diag)
{
    ub_spec *s = e->spec;
    ub_buf b = UB_BUF_INIT;
    json_t *jtasks = json ? json_array() : NULL;
    size_t counts[8] = { 0 };
    static const char *const kinds[] = { "sql", "write", "read", "copy", "emr.step", "wait", "delete", NULL };
    int rc = 0;
    size_t errs0 = ub_diag_count(diag);

    ub_fp_decision *dec = decisions(e, sel);
    size_t nrun = 0;
    /* the streaming hand-offs a run would make (handoff.h): a note on each load */
    ub_handoff *ho = NULL;
    size_t nho = 0;
    if (ub_handoff_enabled() && ub_handoff_find(e, &ho, &nho))
        nho = 0;
    if (!json)
        ub_buf_addf(&b, "Plan for pipeline %s, ds %s, profile %s\n", s->pipeline, e->ds, e->profile);
    for (size_t k = 0; k < s->ntasks; k++) {
        ub_task *t = &s->tasks[s->order[k]];
        ub_opctx *c = ub_ctx_new(e, t, 1);
        if (!c) {
            ub_diag_error(diag, t->loc, "out of memory");
            rc = 2;
            break;
        }
        size_t terrs0 = ub_diag_count(diag);
        int nrc = ub_ctx_preflight(c) | (t->op->check ? t->op->check(c) : 0);
        int prc = t->op->plan(c) || nrc;       /* the operator's own errors too */
        if (prc == 0) {
            /* the task's Lua hooks and the grants they run with (ubpipe-lua(7)) */
            ub_buf hb = UB_BUF_INIT;
            if (ub_hooks_describe(e, t, &hb) && !hb.err)
                ub_op_effect(c, "hook", "lua", "%s", ub_buf_str(&hb));
            ub_buf_free(&hb);
            for (size_t q = 0; q < nho; q++)
                if (ho[q].dst == t->index)
                    ub_op_effect(c, "note", "-",
                                 "streaming hand-off: starts while %s runs, loading its file as it is written; "
                                 "commits only after %s and %s succeeded (UBPIPE_HANDOFF=0: after them)",
                                 s->tasks[ho[q].src].id, s->tasks[ho[q].src].id, s->tasks[ho[q].link].id);
        }
        if (prc && ub_diag_count(diag) == terrs0)       /* an error not tied to a node */
            ub_diag_error(diag, t->loc, "task '%s': %s", t->id,
                          *ub_ctx_error(c) ? ub_ctx_error(c) : "cannot be planned");
        const ub_effect *ef;
        size_t ne = ub_ctx_effects(c, &ef);
        for (size_t i = 0; i < ne; i++)
            for (size_t q = 0; kinds[q]; q++)
                if (strcmp(ef[i].kind, kinds[q]) == 0)
                    counts[q]++;
        if (json) {
            json_t *jt = json_object(), *after = json_array(), *effs = json_array();
            for (size_t i = 0; i < t->nafter; i++)
                json_array_append_new(after, json_string(s->tasks[t->after[i]].id));
            for (size_t i = 0; i < ne; i++) {
                /* target and text as ub_jtext: invalid UTF-8 in SQL or a -p value is
                 * shown as \xNN, never a dropped effect */
                json_t *je = json_object();
                json_object_set_new(je, "kind", ub_jtext(ef[i].kind));
                json_object_set_new(je, "target", ub_jtext(ef[i].target));
                json_object_set_new(je, "text", ub_jtext(ef[i].text));
                json_array_append_new(effs, je);
            }
            json_object_set_new(jt, "id", json_string(t->id));
            json_object_set_new(jt, "op", json_string(t->op->name));
            json_object_set_new(jt, "after", after);
            json_object_set_new(jt, "effects", effs);
            if (dec) {
                json_object_set_new(jt, "action", json_string(dec[t->index].action == UB_FP_RUN ? "run" : "skip"));
                json_object_set_new(jt, "reason", ub_jtext(dec[t->index].reason));
            }
            json_array_append_new(jtasks, jt);
        } else {
            ub_buf_addf(&b, "\n[%zu/%zu] %s  (%s)", k + 1, s->ntasks, t->id, t->op->name);
            for (size_t i = 0; i < t->nafter; i++)
                ub_buf_addf(&b, "%s%s", i ? ", " : "  after ", s->tasks[t->after[i]].id);
            ub_buf_addc(&b, '\n');
            if (dec)
                ub_buf_addf(&b, "    %-8s %s\n", dec[t->index].action == UB_FP_RUN ? "RUN" : "SKIP", dec[t->index].reason);
            for (size_t i = 0; i < ne; i++)
                text_effect(&b, &ef[i]);
        }
        if (dec)
            nrun += dec[t->index].action == UB_FP_RUN;
        ub_ctx_free(c);
    }
    if (ub_diag_count(diag) != errs0) {
        rc = 2;
        goto out;
    }
    if (json) {
        json_t *root = json_object(), *sum = json_object();
        json_object_set_new(root, "pipeline", json_string(s->pipeline));
        json_object_set_new(root, "ds", json_string(e->ds));
        json_object_set_new(root, "profile", json_string(e->profile));
        json_object_set_new(root, "tasks", jtasks);
        jtasks = NULL;
        json_object_set_new(sum, "tasks", json_integer((json_int_t)s->ntasks));
        for (size_t q = 0; kinds[q]; q++)
            json_object_set_new(sum, kinds[q], json_integer((json_int_t)counts[q]));
        json_object_set_new(root, "summary", sum);
        ub_secret_mask_json(root);            /* the values first: the text stays valid JSON */
        char *txt = ub_jtext_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (!txt) {
            rc = 2;
            goto out;
        }
        ub_buf_adds(&b, txt);
        ub_buf_addc(&b, '\n');
        ub_free(txt);
    } else {
        ub_buf_addf(&b, "\nPlan: %zu task%s; %zu SQL statement%s, %zu read%s, %zu write%s, %zu cop%s, "
                        "%zu EMR step%s, %zu wait%s. Nothing has been run.\n",
                    s->ntasks, s->ntasks == 1 ? "" : "s", counts[0], counts[0] == 1 ? "" : "s",
                    counts[2], counts[2] == 1 ? "" : "s", counts[1], counts[1] == 1 ? "" : "s",
                    counts[3], counts[3] == 1 ? "y" : "ies", counts[4], counts[4] == 1 ? "" : "s",
                    counts[5], counts[5] == 1 ? "" : "s");
        if (dec && sel && sel->only)
            ub_buf_addf(&b, "With --only: a run would run %zu task%s and skip %zu (taken as done).\n", nrun,
                        nrun == 1 ? "" : "s", s->ntasks - nrun);
        else if (dec)
            ub_buf_addf(&b, "This ds ran before: a run would run %zu task%s and skip %zu (unchanged).\n", nrun,
                        nrun == 1 ? "" : "s", s->ntasks - nrun);
    }
    print_masked(&b, out, json);
out:
    ub_handoff_free(ho, nho);
    ub_fp_decisions_free(dec, dec ? s->ntasks : 0);
    ub_free(dec);
    json_decref(jtasks);
    ub_buf_free(&b);
    return rc;
}

int ub_plan_preflight(ub_engine *e, ub_diag *diag)
{
    size_t errs0 = ub_diag_count(diag);
    for (size_t k = 0; k < e->spec->ntasks; k++) {
        ub_task *t = &e->spec->tasks[e->spec->order[k]];
        ub_opctx *c = ub_ctx_new(e, t, 1);
        if (!c) {
            ub_diag_error(diag, t->loc, "out of memory");
            break;
        }
        size_t terrs0 = ub_diag_count(diag);
        int rc = ub_ctx_preflight(c);
        if (!rc && t->op->check)
            rc = t->op->check(c);
        if (rc && ub_diag_count(diag) == terrs0)
            ub_diag_error(diag, t->loc, "task '%s': %s", t->id, ub_ctx_error(c));
        ub_ctx_free(c);
    }
    return ub_diag_count(diag) == errs0 ? 0 : 2;
}

int ub_plan_render(ub_engine *e, const char *what, FILE *out, ub_diag *diag)
{
    ub_spec *s = e->spec;
    ub_buf b = UB_BUF_INIT;
    int rc = 2;
    size_t errs0 = ub_diag_count(diag);
    const char *dot = strchr(what, '.');
    ub_task *task = NULL;
    /* a task id, or TASK.KEY (task ids may hold dots: longest match wins) */
    for (size_t i = 0; i < s->ntasks; i++) {
        size_t l = strlen(s->tasks[i].id);
        if (strncmp(what, s->tasks[i].id, l) == 0 && (what[l] == '\0' || what[l] == '.') &&
            (!task || strlen(task->id) < l))
            task = &s->tasks[i];
    }
    (void)dot;
    if (!task) {
        /* a template text */
        const char *r = NULL;
        ub_err err;
        if (ub_tmpl_render(e->lua, what, strlen(what), "<command line>", &b, &err) == 0)
            r = ub_buf_str(&b);
        else
            ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "%s", err.msg);
        if (r) {
            ub_buf_addc(&b, '\n');
            print_masked(&b, out, !isatty(fileno(out)));
            rc = 0;
        }
        goto out;
    }
    const char *key = what[strlen(task->id)] == '.' ? what + strlen(task->id) + 1 : NULL;
    ub_opctx *c = ub_ctx_new(e, task, 1);
    if (!c)
        goto out;
    int found = 0;
    for (const ub_param *p = task->op->params; p->name; p++) {
        if (key && strcmp(key, p->name) != 0)
            continue;
        found = 1;
        if (!ub_op_has(c, p->name))
            continue;
        const char *v = NULL;
        if (p->type == UB_T_LIST) {
            ub_buf_addf(&b, "%s:\n", p->name);
            for (size_t i = 0; i < ub_op_list_len(c, p->name); i++) {
                const char *it = ub_op_list_item(c, p->name, i);
                ub_buf_addf(&b, "  - %s\n", it ? it : "(error)");
            }
            continue;
        }
        if (p->type == UB_T_MAP) {
            ub_buf_addf(&b, "%s:\n", p->name);
            for (size_t i = 0; i < ub_op_map_len(c, p->name); i++) {
                const char *mv = ub_op_map_val(c, p->name, i);
                ub_buf_addf(&b, "  %s: %s\n", ub_op_map_key(c, p->name, i), mv ? mv : "(error)");
            }
            continue;
        }
        if (key && p->type == UB_T_PATH)
            v = ub_op_file_rendered(c, p->name);       /* the file's rendered text */
        else
            v = ub_op_str(c, p->name);
        if (key)
            ub_buf_addf(&b, "%s\n", v ? v : "");
        else
            ub_buf_addf(&b, "%s: %s\n", p->name, v ? v : "(error)");
    }
    if (!found)
        ub_diag_error(diag, task->loc, "operator %s has no parameter '%s'", task->op->name, key);
    if (*ub_ctx_error(c) && ub_diag_count(diag) == errs0)
        ub_diag_error(diag, task->loc, "%s", ub_ctx_error(c));
    ub_ctx_free(c);
    if (ub_diag_count(diag) == errs0) {
        /* raw bytes into a pipe (`render ... | psql` gets exactly what a run sends),
         * made safe on a terminal */
        print_masked(&b, out, !isatty(fileno(out)));
        rc = 0;
    }
out:
    ub_buf_free(&b);
    return rc;
}

int ub_plan_graph(const ub_spec *s, const char *format, FILE *out)
{
    int mermaid = format && strcmp(format, "mermaid") == 0;
    if (mermaid)
        fputs("flowchart LR\n", out);
    else
        fprintf(out, "digraph \"%s\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", s->pipeline);
    for (size_t k = 0; k < s->ntasks; k++) {
        const ub_task *t = &s->tasks[s->order[k]];
        if (mermaid)
            fprintf(out, "  %s[\"%s<br/><i>%s</i>\"]\n", t->id, t->id, t->op->name);
        else
            fprintf(out, "  \"%s\" [label=\"%s\\n(%s)\"];\n", t->id, t->id, t->op->name);
    }
    for (size_t k = 0; k < s->ntasks; k++) {
        const ub_task *t = &s->tasks[s->order[k]];
        for (size_t i = 0; i < t->nafter; i++) {
            if (mermaid)
                fprintf(out, "  %s --> %s\n", s->tasks[t->after[i]].id, t->id);
            else
                fprintf(out, "  \"%s\" -> \"%s\";\n", s->tasks[t->after[i]].id, t->id);
        }
    }
    if (!mermaid)
        fputs("}\n", out);
    return 0;
}
