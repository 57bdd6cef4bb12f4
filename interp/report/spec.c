/* spec.c — finding a spec's declared reports (the keys are checked by core/spec.c). */
#include "report/spec.h"
#include "report/report.h"
#include "base/mem.h"
#include <string.h>

static const char *str_of(const ub_node *m, const char *key)
{
    const ub_node *n = ub_node_get(m, key);
    return n && n->kind == UB_SCALAR && !ub_node_is_null(n) ? n->str : NULL;
}

static int fill(ub_spec *s, const ub_node *k, const ub_node *v, ub_report_decl *decl)
{
    memset(decl, 0, sizeof *decl);
    decl->id = k->str;
    decl->loc = k->loc;
    decl->display = str_of(v, "file");
    decl->conn = str_of(v, "conn");
    decl->title = str_of(v, "title");
    if (!decl->conn)
        decl->conn = "warehouse";
    if (!decl->display)
        return -1;
    if (decl->display[0] == '/') {
        decl->path = decl->display;
        return 0;
    }
    size_t n = strlen(s->dir) + strlen(decl->display) + 2;
    char *p = ub_arena_alloc(&s->arena, n);
    if (!p)
        return -1;
    snprintf(p, n, "%s/%s", s->dir, decl->display);
    decl->path = p;
    /* messages name the file as the spec's directory relative to the cwd would: keep the spec's own prefix */
    const char *slash = strrchr(s->path, '/');
    if (slash) {
        size_t m = (size_t)(slash - s->path) + 1 + strlen(decl->display) + 1;
        char *q = ub_arena_alloc(&s->arena, m);
        if (q) {
            snprintf(q, m, "%.*s/%s", (int)(slash - s->path), s->path, decl->display);
            /* "pipelines/../reports/x.md" reads "reports/x.md" */
            char *up;
            while ((up = strstr(q, "/../")) != NULL) {
                char *seg = up;
                while (seg > q && seg[-1] != '/')
                    seg--;
                if (strncmp(seg, "../", 3) == 0 || seg == up)
                    break;
                memmove(seg, up + 4, strlen(up + 4) + 1);
            }
            decl->display = q;
        }
    }
    return 0;
}

int ub_report_find(ub_spec *s, const char *id, ub_report_decl *decl, ub_diag *diag)
{
    const ub_node *r = ub_node_get(s->root, "reports");
    const ub_node *v = r && r->kind == UB_MAP ? ub_node_get(r, id) : NULL;
    if (!v || v->kind != UB_MAP) {
        char names[512] = "";
        const char *cand[65];
        size_t used = 0, nc = 0;
        for (size_t i = 0; r && r->kind == UB_MAP && i < r->n && used < sizeof names; i += 2) {
            int k = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", r->items[i]->str);
            used += k > 0 ? (size_t)k : 0;
            if (nc + 1 < sizeof cand / sizeof cand[0])
                cand[nc++] = r->items[i]->str;
        }
        cand[nc] = NULL;
        const char *sug = ub_suggest(id, cand);
        ub_diag_error(diag, (ub_loc){ s->path, r ? r->loc.line : 0, r ? r->loc.col : 0 },
                      "no report '%s' in the spec%s%s%s (reports: %s)", id, sug ? "; did you mean '" : "",
                      sug ? sug : "", sug ? "'?" : "", names[0] ? names : "none declared");
        return -1;
    }
    for (size_t i = 0; i + 1 < r->n; i += 2)
        if (r->items[i + 1] == v)
            return fill(s, r->items[i], v, decl) ? -1 : 0;
    return -1;
}

const char *ub_report_dsn(ub_engine *e, const char *conn, ub_diag *diag)
{
    for (size_t i = 0; i < e->nconns; i++) {
        const ub_conn *c = &e->conns[i];
        if (strcmp(c->name, conn) != 0)
            continue;
        for (size_t j = 0; j < c->nfields; j++)
            if ((strcmp(c->fields[j].key, "dsn") == 0 || strcmp(c->fields[j].key, "main") == 0) && c->fields[j].val)
                return c->fields[j].val;
        ub_diag_error(diag, c->loc, "connection '%s' has no dsn (a report runs on a PostgreSQL connection)", conn);
        return NULL;
    }
    ub_diag_error(diag, (ub_loc){ e->spec->path, 0, 0 }, "connection '%s' is not defined in profile '%s'", conn,
                  e->profile);
    return NULL;
}

int ub_report_check_spec(ub_spec *s, ub_diag *diag)
{
    const ub_node *r = ub_node_get(s->root, "reports");
    int rc = 0;
    for (size_t i = 0; r && r->kind == UB_MAP && i < r->n; i += 2) {
        ub_report_decl decl;
        if (r->items[i + 1]->kind != UB_MAP || fill(s, r->items[i], r->items[i + 1], &decl))
            continue;   /* core/spec.c reported it */
        ub_report_opts o = { .path = decl.path, .display = decl.display, .id = decl.id };
        rc |= ub_report_check(&o, NULL, diag);
    }
    return rc;
}
