/* node.h — a YAML (or JSON) document as a tree in which every node keeps
 * its file, line and column.
 *
 * Nodes live in the arena given to the loader.  Aliases share the anchored
 * node (the tree is a DAG); the loader bounds what sharing can expand to.
 * A mapping stores keys and values interleaved: items[2i] is a key (always a
 * scalar), items[2i+1] its value.  Duplicate keys are refused at load.
 */
#ifndef UB_NODE_H
#define UB_NODE_H
#include <stddef.h>
#include "base/diag.h"
#include "base/mem.h"

typedef enum { UB_SCALAR, UB_SEQ, UB_MAP } ub_nkind;

typedef struct ub_node ub_node;
struct ub_node {
    ub_nkind  kind;
    ub_loc    loc;
    int       plain;      /* scalar written without quotes (1) or quoted/block (0) */
    char     *str;        /* scalar text, NUL-terminated */
    size_t    len;
    ub_node **items;      /* seq items; map keys and values interleaved */
    size_t    n;          /* number of items (a map has n/2 pairs) */
};

typedef struct ub_yaml_limits {
    size_t max_bytes;     /* file size */
    int    max_depth;     /* nesting */
    size_t max_nodes;     /* nodes created */
    size_t max_expand;    /* nodes reachable through aliases, counted per use */
} ub_yaml_limits;

extern const ub_yaml_limits ub_yaml_default_limits;

/* Loads one YAML document from path.  The file text is kept in the arena
 * and registered with diag for caret lines.  On error every problem found is
 * reported to diag and NULL is returned.  `display` is the name used in
 * messages (usually the path as the user gave it). */
ub_node *ub_yaml_load_file(const char *path, const char *display, ub_arena *a,
                           ub_diag *diag, const ub_yaml_limits *lim);
/* Same from memory (text must live as long as the arena). */
ub_node *ub_yaml_load_mem(const char *display, const char *text, size_t len,
                          ub_arena *a, ub_diag *diag, const ub_yaml_limits *lim);

/* Map lookup; NULL when absent or when map is not a mapping. */
ub_node    *ub_node_get(const ub_node *map, const char *key);
const char *ub_node_kind_name(const ub_node *n);   /* "string", "list", "mapping" */
/* 1 when the scalar is null-ish: plain "", "~", "null" */
int         ub_node_is_null(const ub_node *n);

#endif
