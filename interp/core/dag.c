/* dag.c — task graph: resolve `after`, refuse cycles, order deterministically. */
#include "core/spec.h"
#include "base/strmap.h"
#include <string.h>

/* binary min-heap of task indices: ties broken by spec order */
typedef struct heap { size_t *v, n; } heap;

static void heap_push(heap *h, size_t x)
{
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
        size_t p = (i - 1) / 2, t = h->v[p];
        h->v[p] = h->v[i];
        h->v[i] = t;
        i = p;
    }
}

static size_t heap_pop(heap *h)
{
    size_t top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l] < h->v[m]) m = l;
        if (r < h->n && h->v[r] < h->v[m]) m = r;
        if (m == i) break;
        size_t t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

/* Finds a cycle among tasks not ordered (indeg > 0) and reports it as
 * "a -> b -> a" at the location of the edge that closes it. */
static void report_cycle(ub_spec *s, ub_diag *d, const size_t *indeg)
{
    size_t n = s->ntasks;
    /* walk upstream from the first unordered task until a task repeats */
    size_t *seen_at = ub_malloc(n * sizeof *seen_at);
    size_t *path = ub_malloc((n + 1) * sizeof *path);
    if (!seen_at || !path) {
        ub_diag_error(d, s->tasks[0].loc, "the tasks form a cycle");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        seen_at[i] = (size_t)-1;
    size_t cur = 0;
    while (cur < n && indeg[cur] == 0)
        cur++;
    size_t len = 0;
    while (seen_at[cur] == (size_t)-1) {
        seen_at[cur] = len;
        path[len++] = cur;
        ub_task *t = &s->tasks[cur];
        size_t next = (size_t)-1;
        for (size_t j = 0; j < t->nafter; j++)       /* first upstream still unordered */
            if (indeg[t->after[j]] > 0) {
                next = t->after[j];
                break;
            }
        if (next == (size_t)-1)
            break;                                   /* cannot happen: unordered has an unordered upstream */
        cur = next;
    }
    /* path[seen_at[cur]..len-1] is the cycle, walked against the edges;
     * print it in the direction data flows: upstream -> downstream */
    ub_buf b = UB_BUF_INIT;
    size_t start = seen_at[cur];
    for (size_t i = len; i-- > start;) {
        ub_buf_adds(&b, s->tasks[path[i]].id);
        ub_buf_adds(&b, " -> ");
    }
    ub_buf_adds(&b, s->tasks[path[len - 1]].id);
    /* locate the `after` entry of path[start] naming path[len-1]... the edge that closes */
    ub_task *t = &s->tasks[path[start]];
    ub_loc loc = t->loc;
    size_t want = len - 1 > start ? path[start + 1] : path[start];
    for (size_t j = 0; j < t->nafter; j++)
        if (t->after[j] == want)
            loc = t->after_nodes[j]->loc;
    ub_diag_error(d, loc, "the tasks form a cycle: %s", b.err ? "(out of memory)" : ub_buf_str(&b));
    ub_buf_free(&b);
out:
    ub_free(seen_at);
    ub_free(path);
}

int ub_dag_build(ub_spec *s, ub_diag *d)
{
    size_t n = s->ntasks, errs0 = ub_diag_count(d);
    ub_strmap ids = { 0 };
    size_t *indeg = NULL, **down = NULL, *ndown = NULL;
    heap h = { NULL, 0 };
    int rc = -1;

    for (size_t i = 0; i < n; i++) {
        size_t first;
        int r = ub_strmap_put(&ids, s->tasks[i].id, i, &first);
        if (r < 0)
            goto oom;
        /* the YAML loader already refuses duplicate keys; keep the check for
         * specs built by other means */
        if (r == 1)
            ub_diag_error(d, s->tasks[i].loc, "duplicate task id '%s' (first at line %d)", s->tasks[i].id,
                          s->tasks[first].loc.line);
    }
    /* resolve after */
    const char **names = ub_malloc((n + 1) * sizeof *names);
    if (!names)
        goto oom;
    for (size_t i = 0; i < n; i++)
        names[i] = s->tasks[i].id;
    names[n] = NULL;
    for (size_t i = 0; i < n; i++) {
        ub_task *t = &s->tasks[i];
        ub_node *a = t->body->kind == UB_MAP ? ub_node_get(t->body, "after") : NULL;
        if (!a)
            continue;
        if (a->kind == UB_MAP) {
            ub_diag_error(d, a->loc, "task '%s': 'after' must be a task id (a string) or a list of them, not a mapping",
                          t->id);
            continue;
        }
        size_t cnt = a->kind == UB_SEQ ? a->n : 1;
        t->after = ub_calloc(cnt ? cnt : 1, sizeof *t->after);
        t->after_nodes = ub_calloc(cnt ? cnt : 1, sizeof *t->after_nodes);
        if (!t->after || !t->after_nodes) {
            ub_free(names);
            goto oom;
        }
        for (size_t j = 0; j < cnt; j++) {
            ub_node *ref = a->kind == UB_SEQ ? a->items[j] : a;
            size_t idx;
            if (ref->kind != UB_SCALAR) {      /* [a: b], [[a]], [{a: [b]}] */
                ub_diag_error(d, ref->loc, "task '%s': item %zu of 'after' must be a task id (a string), not a %s",
                              t->id, j + 1, ub_node_kind_name(ref));
                continue;
            }
            if (!ub_strmap_get(&ids, ref->str, &idx)) {
                const char *sug = ub_suggest(ref->str, names);
                if (sug)
                    ub_diag_error(d, ref->loc, "task '%s' runs after '%s', which is not a task (did you mean '%s'?)",
                                  t->id, ref->str, sug);
                else
                    ub_diag_error(d, ref->loc, "task '%s' runs after '%s', which is not a task", t->id, ref->str);
                continue;
            }
            if (idx == i) {
                ub_diag_error(d, ref->loc, "task '%s' cannot run after itself", t->id);
                continue;
            }
            int dup = 0;
            for (size_t q = 0; q < t->nafter; q++)
                dup |= t->after[q] == idx;
            if (dup) {
                ub_diag_error(d, ref->loc, "task '%s' lists '%s' twice in 'after'", t->id, ref->str);
                continue;
            }
            t->after_nodes[t->nafter] = ref;
            t->after[t->nafter++] = idx;
        }
    }
    ub_free(names);
    if (ub_diag_count(d) != errs0)
        goto out;

    /* Kahn's algorithm with a min-heap of spec positions */
    indeg = ub_calloc(n, sizeof *indeg);
    ndown = ub_calloc(n, sizeof *ndown);
    down = ub_calloc(n, sizeof *down);
    h.v = ub_malloc(n * sizeof *h.v);
    s->order = ub_malloc(n * sizeof *s->order);
    if (!indeg || !ndown || !down || !h.v || !s->order)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        indeg[i] = s->tasks[i].nafter;
        for (size_t j = 0; j < s->tasks[i].nafter; j++)
            ndown[s->tasks[i].after[j]]++;
    }
    for (size_t i = 0; i < n; i++)
        if (ndown[i] && !(down[i] = ub_malloc(ndown[i] * sizeof **down)))
            goto oom;
    memset(ndown, 0, n * sizeof *ndown);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < s->tasks[i].nafter; j++) {
            size_t u = s->tasks[i].after[j];
            down[u][ndown[u]++] = i;
        }
    for (size_t i = 0; i < n; i++)
        if (!indeg[i])
            heap_push(&h, i);
    size_t k = 0;
    while (h.n) {
        size_t u = heap_pop(&h);
        s->order[k++] = u;
        for (size_t j = 0; j < ndown[u]; j++)
            if (--indeg[down[u][j]] == 0)
                heap_push(&h, down[u][j]);
    }
    if (k != n) {
        report_cycle(s, d, indeg);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    ub_diag_error(d, s->tasks[0].loc, "out of memory");
out:
    if (down)
        for (size_t i = 0; i < n; i++)
            ub_free(down[i]);
    ub_free(down);
    ub_free(ndown);
    ub_free(indeg);
    ub_free(h.v);
    ub_strmap_free(&ids);
    if (rc) {
        ub_free(s->order);
        s->order = NULL;
    }
    return rc;
}
