/* needs.c — what the tasks of a spec need of its profiles, checked when it is loaded.
 *
 * A task names connections through its UB_T_CONN parameters (written, or the
 * operator's default) and uses the lake through its UB_T_LAKEREF parameters; a
 * declared report names the connection its queries run on.  Each must be
 * defined by every profile the spec declares, so that `validate` and `plan`
 * say so, at the parameter, instead of a task failing in `run`.  A spec
 * without `profiles` runs with an empty `local` profile: it can name none.
 * A connection name that holds a template is checked by `plan`, rendered
 * (ctx.c, ub_ctx_preflight).  A profile's lake written out in the spec must
 * have a scheme the lake knows (unless UBPIPE_CONN_LAKE replaces it).
 */
#include "core/spec.h"
#include "lake/lake.h"
#include <stdlib.h>
#include <string.h>

/* the profiles to check: each declared one, or the implicit empty `local` */
typedef struct prof {
    const char    *name;
    const ub_node *conns;   /* mapping name -> connection; NULL when none */
} prof;

static void conn_list(const prof *p, ub_buf *b)
{
    for (size_t i = 0; p->conns && i < p->conns->n; i += 2)
        ub_buf_addf(b, "%s%s", i ? ", " : "", p->conns->items[i]->str);
    if (!b->len)
        ub_buf_adds(b, "none");
}

/* "(its connections: a, b; did you mean 'x'?)" or "(the spec declares no profiles)" */
static void tail(const ub_spec *s, const prof *p, const char *name, ub_buf *b)
{
    if (!s->profiles || !s->profiles->n) {
        ub_buf_adds(b, " (the spec declares no profiles)");
        return;
    }
    const char *cands[128];
    size_t n = 0;
    for (size_t i = 0; p->conns && i < p->conns->n && n < 127; i += 2)
        cands[n++] = p->conns->items[i]->str;
    cands[n] = NULL;
    const char *sug = ub_suggest(name, cands);
    ub_buf_adds(b, " (its connections: ");
    conn_list(p, b);
    if (sug)
        ub_buf_addf(b, "; did you mean '%s'?", sug);
    ub_buf_addc(b, ')');
}

static int defines(const prof *p, const char *name)
{
    return p->conns && ub_node_get(p->conns, name) != NULL;
}

static void check_task(const ub_spec *s, const ub_task *t, const prof *p, ub_diag *d)
{
    const ub_param *lakeref = NULL;
    const ub_node *lakeref_node = NULL;
    ub_buf m = UB_BUF_INIT;
    for (const ub_param *q = t->op->params; q->name; q++) {
        const ub_node *n = ub_node_get(t->body, q->name);
        if (q->type == UB_T_LAKEREF && !lakeref && (n || q->def)) {
            lakeref = q;
            lakeref_node = n;
        }
        if (q->type != UB_T_CONN)
            continue;
        const char *name = n ? (n->kind == UB_SCALAR ? n->str : NULL) : q->def;
        if (!name || strstr(name, "{{") || defines(p, name))
            continue;                           /* not a string (reported), templated, or defined */
        ub_buf_reset(&m);
        if (n)
            ub_buf_addf(&m, "connection '%s' is not defined in profile '%s'", name, p->name);
        else
            ub_buf_addf(&m, "task '%s' uses connection '%s' (the default of key '%s'), which profile '%s' does "
                            "not define", t->id, name, q->name, p->name);
        tail(s, p, name, &m);
        ub_diag_error(d, n ? n->loc : t->loc, "%s", m.err ? "out of memory" : ub_buf_str(&m));
    }
    if (lakeref && !defines(p, "lake")) {
        ub_buf_reset(&m);
        ub_buf_addf(&m, "task '%s' uses the lake (key '%s'), but profile '%s' defines no 'lake' connection", t->id,
                    lakeref->name, p->name);
        tail(s, p, "lake", &m);
        ub_diag_error(d, lakeref_node ? lakeref_node->loc : t->loc, "%s", m.err ? "out of memory" : ub_buf_str(&m));
    }
    ub_buf_free(&m);
}

/* reports: id -> {file, conn (default warehouse), title} */
static void check_reports(const ub_spec *s, const prof *p, ub_diag *d)
{
    const ub_node *r = ub_node_get(s->root, "reports");
    ub_buf m = UB_BUF_INIT;
    for (size_t i = 0; r && r->kind == UB_MAP && i < r->n; i += 2) {
        const ub_node *v = r->items[i + 1];
        const ub_node *cn = v->kind == UB_MAP ? ub_node_get(v, "conn") : NULL;
        if (v->kind != UB_MAP || (cn && cn->kind != UB_SCALAR))
            continue;                           /* reported by the loader */
        const char *name = cn ? cn->str : "warehouse";
        if (defines(p, name))
            continue;
        ub_buf_reset(&m);
        ub_buf_addf(&m, "report '%s' runs its queries on connection '%s'%s, which profile '%s' does not define",
                    r->items[i]->str, name, cn ? "" : " (the default of 'conn')", p->name);
        tail(s, p, name, &m);
        ub_diag_error(d, cn ? cn->loc : r->items[i]->loc, "%s", m.err ? "out of memory" : ub_buf_str(&m));
    }
    ub_buf_free(&m);
}

/* the lake's URL (a string, or the url field of a mapping), when written out */
static void check_lake_url(const prof *p, ub_diag *d)
{
    const ub_node *l = p->conns ? ub_node_get(p->conns, "lake") : NULL;
    if (l && l->kind == UB_MAP)
        l = ub_node_get(l, "url");
    if (!l || l->kind != UB_SCALAR || ub_node_is_null(l) || strstr(l->str, "{{") || ub_lake_url_known(l->str))
        return;
    const char *env = getenv("UBPIPE_CONN_LAKE");
    if (env && *env)
        return;                                 /* replaced at run time (ubpipe-pipeline(5)) */
    ub_diag_error(d, l->loc, "lake '%s' of profile '%s': unknown URL scheme (expected file:DIR or s3://BUCKET[/PREFIX])",
                  l->str, p->name);
}

void ub_spec_check_needs(const ub_spec *s, ub_diag *d)
{
    int declared = s->profiles && s->profiles->n;     /* `profiles: {}` declares none either */
    size_t np = declared ? s->profiles->n / 2 : 1;
    for (size_t k = 0; k < np; k++) {
        prof p = { "local", NULL };
        if (declared) {
            const ub_node *pv = s->profiles->items[2 * k + 1];
            if (pv->kind != UB_MAP)
                continue;                       /* reported by check_profiles */
            p.name = s->profiles->items[2 * k]->str;
            p.conns = pv;
        }
        for (size_t i = 0; i < s->ntasks; i++)
            if (s->tasks[i].op && s->tasks[i].body->kind == UB_MAP)
                check_task(s, &s->tasks[i], &p, d);
        check_reports(s, &p, d);
        check_lake_url(&p, d);
    }
}
