/* inspect.c — the verbs that look and touch nothing: plan, validate, render,
 * graph, schema, help, version. */
#include "cli/cli.h"
#include "base/mem.h"
#include "base/parse.h"
#include "core/plan.h"
#include "core/schema.h"
#include "report/spec.h"
#include "web/dagsvg.h"
#include <stdio.h>
#include <string.h>

int ub_cli_plan(ub_cli *c)
{
    ub_engine_opts eo;
    ub_run_opts ro;
    ub_cli_engine_opts(c, &eo);
    ub_cli_run_opts(c, &ro);
    if (c->from)
        return ub_run_plan_range(c->spec, &eo, c->dates, c->ndates, &ro, ub_cli_json(c), stdout, c->diag);
    /* what `run` with the same --only/--downstream/--rerun would run */
    size_t n = c->spec->ntasks ? c->spec->ntasks : 1;
    char *sel = ub_malloc(n), *force = ub_malloc(n);
    ub_engine *e = NULL;
    int rc = UB_EXIT_USAGE;
    if (!sel || !force) {
        ub_diag_error(c->diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
        goto out;
    }
    if (ub_run_selection(c->spec, &ro, sel, force, c->diag) || !(e = ub_engine_new(c->spec, &eo, c->diag)))
        goto out;
    ub_plan_sel ps = { ro.only ? sel : NULL, force };
    rc = ub_plan_print(e, &ps, ub_cli_json(c), stdout, c->diag);
out:
    ub_engine_free(e);
    ub_free(sel);
    ub_free(force);
    return rc;
}

int ub_cli_validate(ub_cli *c)
{
    int bad = 0;
    for (int i = 0; i < c->nargs; i++) {
        ub_spec *s = ub_spec_load(c->args[i], c->diag);
        bad |= s == NULL || ub_report_check_spec(s, c->diag) != 0;   /* its reports too */
        ub_spec_free(s);
        ub_diag_flush(c->diag, stderr);
    }
    if (!bad && !c->quiet)
        fprintf(stderr, "ubpipe: %d spec%s valid\n", c->nargs, c->nargs == 1 ? "" : "s");
    return bad ? UB_EXIT_USAGE : UB_EXIT_OK;
}

int ub_cli_render(ub_cli *c)
{
    ub_engine_opts eo;
    ub_cli_engine_opts(c, &eo);
    ub_engine *e = ub_engine_new(c->spec, &eo, c->diag);
    if (!e)
        return UB_EXIT_USAGE;
    int rc = ub_plan_render(e, c->args[1], stdout, c->diag);
    ub_engine_free(e);
    return rc;
}

int ub_cli_graph(ub_cli *c)
{
    if (c->format && strcmp(c->format, "svg") == 0) {
        ub_err err;
        if (ub_dagsvg_spec(c->spec, stdout, &err) == 0)
            return UB_EXIT_OK;
        ub_diag_error(c->diag, (ub_loc){ NULL, 0, 0 }, "%s", err.msg);
        ub_diag_flush(c->diag, stderr);
        return UB_EXIT_USAGE;
    }
    return ub_plan_graph(c->spec, c->format, stdout);
}

int ub_cli_schema(ub_cli *c)
{
    char *js = ub_schema_json();
    if (!js)
        return ub_cli_usage_error("out of memory");
    printf("%s\n", js);
    ub_free(js);
    return UB_EXIT_OK;
}

int ub_cli_version(ub_cli *c)
{
    printf("ubpipe %s\n", UB_VERSION);
    return UB_EXIT_OK;
}

static void print_param_table(const ub_opdesc *op, FILE *out)
{
    fprintf(out, "%s — %s\n\n", op->name, op->summary);
    /* wrap the doc at ~76 columns */
    const char *d = op->doc;
    while (*d) {
        size_t l = strlen(d);
        size_t cut = l;
        if (l > 76) {
            cut = 76;
            while (cut > 0 && d[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = 76;
        }
        fprintf(out, "  %.*s\n", (int)cut, d);
        d += cut;
        while (*d == ' ')
            d++;
    }
    fprintf(out, "\nParameters:\n");
    for (const ub_param *p = op->params; p->name; p++) {
        fprintf(out, "  %-14s %-10s %s", p->name, ub_ptype_name(p->type), p->required ? "required" : "optional");
        if (p->def)
            fprintf(out, ", default %s", p->def);
        if (p->choices && p->type == UB_T_ENUM)
            fprintf(out, ", one of %s", p->choices);
        long long lo, hi;
        if (p->choices && p->type == UB_T_INT && ub_parse_range(p->choices, &lo, &hi) == 0)
            fprintf(out, ", %lld to %lld", lo, hi);
        fprintf(out, "\n      %s\n", p->desc);
    }
    if (!op->params[0].name)
        fprintf(out, "  (none)\n");
    fprintf(out, "\nEvery task also takes: op, after, description, retries, retry_delay,\n"
                 "retry_backoff, max_retry_delay, timeout, on_success, on_failure, on_retry\n"
                 "(see ubpipe-pipeline(5)).\n");
}

int ub_cli_help(ub_cli *c)
{
    if (c->nargs == 0) {
        ub_cli_usage(stdout);
        printf("\nOperators:\n");
        for (const ub_opdesc *const *o = ub_op_all(); *o; o++)
            printf("  %-16s %s\n", (*o)->name, (*o)->summary);
        return UB_EXIT_OK;
    }
    const ub_opdesc *op = ub_op_find(c->args[0]);
    if (!op)
        return ub_cli_usage_error("no operator '%s' (see 'ubpipe help')", c->args[0]);
    print_param_table(op, stdout);
    return UB_EXIT_OK;
}
