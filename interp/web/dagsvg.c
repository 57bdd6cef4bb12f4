/* dagsvg.c — a task graph as SVG: Graphviz lays it out and draws it; we only
 * tag each node with its task and state so pages can colour and update it. */
#include "web/dagsvg.h"
#include "base/mem.h"
#include "core/spec.h"
#include "io/html.h"
#include <graphviz/gvc.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libgvc keeps global state: one context, one caller at a time */
static pthread_mutex_t gv_lock = PTHREAD_MUTEX_INITIALIZER;
static GVC_t *gv_ctx;

/* A Graphviz escString that shows s literally (a backslash would start an escape). */
static void gv_literal(ub_buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            ub_buf_addc(b, '\\');
        ub_buf_addc(b, *s);
    }
}

static long node_index(const ub_dag_node *nodes, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* Copies Graphviz's SVG from "<svg" on, adding our attributes to every
 * <g id="ubtask_N" class="node"> it drew. */
static int tag_nodes(const ub_dag_node *nodes, size_t n, const char *svg, size_t len, ub_buf *out, ub_err *err)
{
    static const char mark[] = "<g id=\"ubtask_";
    static const char cls[] = "class=\"node\"";
    const char *p = strstr(svg, "<svg");
    const char *end = svg + len;
    if (!p)
        return ub_err_set(err, "graphviz drew no <svg> element");
    for (;;) {
        const char *m = strstr(p, mark);
        if (!m) {
            ub_buf_add(out, p, (size_t)(end - p));
            break;
        }
        char *stop;
        unsigned long k = strtoul(m + sizeof mark - 1, &stop, 10);
        const char *c = strstr(stop, cls);
        const char *gt = c ? strchr(c, '>') : NULL;
        if (k >= n || *stop != '"' || !c || !gt || gt != c + sizeof cls - 1)
            return ub_err_set(err, "graphviz drew a node ubpipe cannot tag");
        ub_buf_add(out, p, (size_t)(c - p));
        const ub_dag_node *d = &nodes[k];
        ub_html_textf(out, "class=\"node st-%s\" data-task=\"%s\"", d->state ? d->state : "none", d->id);
        if (d->state)
            ub_html_textf(out, " data-state=\"%s\"", d->state);
        p = gt;                        /* the '>' itself is copied next round */
    }
    return out->err ? ub_err_oom(err) : 0;
}

int ub_dagsvg(const ub_dag_node *nodes, size_t n, const char *title, ub_buf *out, ub_err *err)
{
    int rc = -1;
    Agraph_t *g = NULL;
    char *data = NULL;
    unsigned int dlen = 0;
    int laid = 0;
    ub_buf t = UB_BUF_INIT;
    Agnode_t **gn = NULL;
    pthread_mutex_lock(&gv_lock);
    if (!gv_ctx && !(gv_ctx = gvContext())) {
        ub_err_set(err, "graphviz: cannot create a context");
        goto fail;
    }
    agseterr(AGERR);                   /* warnings would go to the daemon's stderr */
    g = agopen((char *)(title && *title ? title : "tasks"), Agdirected, NULL);
    if (!g) {
        ub_err_set(err, "graphviz: cannot create a graph");
        goto fail;
    }
    agattr(g, AGRAPH, "rankdir", "LR");
    agattr(g, AGRAPH, "bgcolor", "transparent");
    agattr(g, AGRAPH, "nodesep", "0.25");
    agattr(g, AGRAPH, "ranksep", "0.45");
    agattr(g, AGNODE, "shape", "box");
    agattr(g, AGNODE, "style", "rounded,filled");
    agattr(g, AGNODE, "fillcolor", "#ffffff");
    agattr(g, AGNODE, "fontname", "Helvetica");
    agattr(g, AGNODE, "fontsize", "11");
    agattr(g, AGNODE, "label", "\\N");
    agattr(g, AGNODE, "id", "");
    agattr(g, AGNODE, "URL", "");
    agattr(g, AGNODE, "tooltip", "");
    agattr(g, AGEDGE, "arrowsize", "0.7");
    gn = ub_calloc(n ? n : 1, sizeof *gn);
    if (!gn) {
        ub_err_oom(err);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].id || !*nodes[i].id || node_index(nodes, i, nodes[i].id) >= 0) {
            ub_err_set(err, "task graph: empty or repeated task id '%s'", nodes[i].id ? nodes[i].id : "");
            goto fail;
        }
        gn[i] = agnode(g, (char *)nodes[i].id, 1);
        ub_buf_reset(&t);
        gv_literal(&t, nodes[i].id);
        if (nodes[i].op) {
            ub_buf_adds(&t, "\\n");
            gv_literal(&t, nodes[i].op);
        }
        agset(gn[i], "label", (char *)ub_buf_str(&t));
        ub_buf_reset(&t);
        ub_buf_addf(&t, "ubtask_%zu", i);
        agset(gn[i], "id", (char *)ub_buf_str(&t));
        ub_buf_reset(&t);
        gv_literal(&t, nodes[i].id);
        if (nodes[i].state) {
            ub_buf_adds(&t, ": ");
            gv_literal(&t, nodes[i].state);
        }
        agset(gn[i], "tooltip", (char *)ub_buf_str(&t));
        if (nodes[i].href)
            agset(gn[i], "URL", (char *)nodes[i].href);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < nodes[i].nafter; a++) {
            long up = node_index(nodes, n, nodes[i].after[a]);
            if (up < 0) {
                ub_err_set(err, "task '%s': upstream '%s' is not in the graph", nodes[i].id, nodes[i].after[a]);
                goto fail;
            }
            agedge(g, gn[up], gn[i], NULL, 1);
        }
    if (t.err) {
        ub_err_oom(err);
        goto fail;
    }
    if (gvLayout(gv_ctx, g, "dot") != 0) {
        ub_err_set(err, "graphviz: the dot layout failed");
        goto fail;
    }
    laid = 1;
    if (gvRenderData(gv_ctx, g, "svg", &data, &dlen) != 0 || !data) {
        ub_err_set(err, "graphviz: cannot render SVG");
        goto fail;
    }
    rc = tag_nodes(nodes, n, data, dlen, out, err);
fail:
    if (data)
        gvFreeRenderData(data);
    if (laid)
        gvFreeLayout(gv_ctx, g);
    if (g)
        agclose(g);
    pthread_mutex_unlock(&gv_lock);
    ub_free(gn);
    ub_buf_free(&t);
    return rc;
}

int ub_dagsvg_spec(const ub_spec *s, FILE *out, ub_err *err)
{
    int rc = -1;
    ub_buf b = UB_BUF_INIT;
    ub_dag_node *nodes = ub_calloc(s->ntasks ? s->ntasks : 1, sizeof *nodes);
    const char **after = NULL;
    size_t nafter = 0, k = 0;
    for (size_t i = 0; i < s->ntasks; i++)
        nafter += s->tasks[i].nafter;
    after = ub_calloc(nafter ? nafter : 1, sizeof *after);
    if (!nodes || !after) {
        ub_err_oom(err);
        goto fail;
    }
    for (size_t i = 0; i < s->ntasks; i++) {
        const ub_task *t = &s->tasks[s->order[i]];
        nodes[i] = (ub_dag_node){ .id = t->id, .op = t->op->name, .after = after + k, .nafter = t->nafter };
        for (size_t a = 0; a < t->nafter; a++)
            after[k++] = s->tasks[t->after[a]].id;
    }
    ub_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    if (ub_dagsvg(nodes, s->ntasks, s->pipeline, &b, err))
        goto fail;
    ub_buf_addc(&b, '\n');
    if (b.err) {
        ub_err_oom(err);
        goto fail;
    }
    if (fwrite(b.p, 1, b.len, out) != b.len || fflush(out)) {
        ub_err_set(err, "cannot write the SVG: %s", strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    ub_free(nodes);
    ub_free(after);
    ub_buf_free(&b);
    return rc;
}
