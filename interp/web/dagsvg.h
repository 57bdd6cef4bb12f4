/* dagsvg.h — a task graph drawn as SVG, laid out by Graphviz (libgvc).
 *
 * Layer web/: used by the run page (nodes coloured by state, linking to the
 * task) and by `ubpipe graph --format svg` (no states, no links).
 */
#ifndef UB_DAGSVG_H
#define UB_DAGSVG_H
#include "base/buf.h"
#include "base/err.h"
#include <stddef.h>
#include <stdio.h>

typedef struct ub_dag_node {
    const char        *id;       /* task id (required, unique) */
    const char        *op;       /* operator name, or NULL */
    const char        *state;    /* journal state, or NULL: no data-state */
    const char        *href;     /* link for the node, or NULL; must already be URL-safe */
    const char *const *after;    /* ids of upstream tasks (unknown ids are an error) */
    size_t             nafter;
} ub_dag_node;

/* Appends one <svg> element (no XML prolog, so it can sit inside HTML) to out.
 * Each node is a <g class="node st-STATE" data-task="ID" data-state="STATE">
 * (the data-state only when state is set).  0 ok; -1 with err filled. */
int ub_dagsvg(const ub_dag_node *nodes, size_t n, const char *title, ub_buf *out, ub_err *err);

/* `ubpipe graph --format svg`: the spec's tasks (id, operator, after) as a
 * standalone SVG file on out.  0 ok; -1 with err filled. */
struct ub_spec;
int ub_dagsvg_spec(const struct ub_spec *s, FILE *out, ub_err *err);

#endif
