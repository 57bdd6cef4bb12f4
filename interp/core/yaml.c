/* yaml.c — libyaml events to a located ub_node tree, with input bounds. */
#include "core/node.h"
#include "io/fsutil.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

const ub_yaml_limits ub_yaml_default_limits = {
    .max_bytes  = 16u << 20,
    .max_depth  = 64,
    .max_nodes  = 2000000,
    .max_expand = 100000,
};

typedef struct anchor {
    char *name;
    ub_node *node;        /* NULL while the anchored node is being built */
    size_t weight;        /* nodes in its subtree, counted through aliases */
} anchor;

typedef struct frame {
    ub_node *node;
    char *anchor;         /* anchor to register when the node completes */
    size_t first_weight;  /* nodes created when the frame opened */
    ub_node **items;      /* growable, in the heap until the node completes */
    size_t n, cap;
} frame;

typedef struct loader {
    ub_arena *a;
    ub_diag *diag;
    const char *file;
    const ub_yaml_limits *lim;
    frame *stack;
    int depth;
    size_t nodes;         /* nodes created plus alias expansions */
    size_t expanded;      /* nodes reached through aliases */
    anchor *anchors;
    size_t nanchors, capanchors;
    int failed;
} loader;

static ub_loc mark_loc(loader *ld, yaml_mark_t m)
{
    ub_loc l = { ld->file, (int)m.line + 1, (int)m.column + 1 };
    return l;
}

static ub_node *new_node(loader *ld, ub_nkind k, yaml_mark_t m)
{
    ub_node *n = ub_arena_alloc(ld->a, sizeof *n);
    if (!n)
        return NULL;
    n->kind = k;
    n->loc = mark_loc(ld, m);
    return n;
}

static int push_item(loader *ld, ub_node *item)
{
    if (ld->depth == 0)
        return 0;
    frame *f = &ld->stack[ld->depth - 1];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        ub_node **p = ub_realloc(f->items, cap * sizeof *p);
        if (!p)
            return -1;
        f->items = p;
        f->cap = cap;
    }
    f->items[f->n++] = item;
    return 0;
}

static anchor *find_anchor(loader *ld, const char *name)
{
    for (size_t i = ld->nanchors; i-- > 0;)       /* latest definition wins */
        if (strcmp(ld->anchors[i].name, name) == 0)
            return &ld->anchors[i];
    return NULL;
}

static int add_anchor(loader *ld, const char *name, ub_node *node, size_t weight)
{
    if (ld->nanchors == ld->capanchors) {
        size_t cap = ld->capanchors ? ld->capanchors * 2 : 8;
        anchor *p = ub_realloc(ld->anchors, cap * sizeof *p);
        if (!p)
            return -1;
        ld->anchors = p;
        ld->capanchors = cap;
    }
    char *nm = ub_arena_strdup(ld->a, name);
    if (!nm)
        return -1;
    ld->anchors[ld->nanchors++] = (anchor){ nm, node, weight };
    return 0;
}

/* The location of byte off of text: libyaml counts columns in characters, so
 * does this (a byte that is not a UTF-8 continuation starts one). */
static ub_loc offset_loc(loader *ld, const char *text, size_t len, size_t off)
{
    ub_loc l = { ld->file, 1, 1 };
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l.line++;
            l.col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            l.col++;
        }
    }
    return l;
}

static void scanner_error(loader *ld, yaml_parser_t *p, const char *text, size_t len)
{
    yaml_mark_t m = p->problem_mark;
    ub_loc loc = mark_loc(ld, m);
    if (p->error == YAML_READER_ERROR) {
        /* the reader gives a byte offset, not a mark: the offending byte's line and column */
        size_t off = p->problem_offset;
        if (off < len && p->problem && strstr(p->problem, "trailing")) {
            for (size_t k = 1; k <= 3 && k <= off; k++) {   /* the sequence's first byte, not the bad follower */
                unsigned char c = (unsigned char)text[off - k];
                if (c >= 0xC0) {
                    off -= k;
                    break;
                }
                if ((c & 0xC0) != 0x80)
                    break;
            }
        }
        loc = offset_loc(ld, text, len, off);
        unsigned char b = off < len ? (unsigned char)text[off] : 0;
        if (off < len && b == 0)
            ub_diag_error(ld->diag, loc, "NUL byte in the spec (a spec is text)");
        else if (p->problem && strstr(p->problem, "control characters"))
            ub_diag_error(ld->diag, loc, "control character 0x%02X is not allowed in YAML (write it as an escape "
                          "in a double-quoted string)", (unsigned)p->problem_value);
        else
            ub_diag_error(ld->diag, loc, "invalid UTF-8 (byte 0x%02X); a spec is UTF-8 text", b);
        return;
    }
    const char *prob = p->problem ? p->problem : "syntax error";
    if (m.index < len && text[m.index] == '\t') {
        ub_diag_error(ld->diag, loc, "tab character in indentation; YAML indents with spaces");
        return;
    }
    size_t rest = m.index;
    while (rest < len && (text[rest] == ' ' || text[rest] == '\n' || text[rest] == '\r' || text[rest] == '\t'))
        rest++;
    if (p->context && rest >= len && p->context_mark.index < m.index) {
        /* the file ended inside a construct (an unclosed quote, bracket or brace): the end
         * of the file says nothing, the place where the construct opened does */
        ub_diag_error(ld->diag, mark_loc(ld, p->context_mark), "YAML syntax error: %s %s (it starts here and "
                      "is never closed)", prob, p->context);
    } else if (p->context && p->context_mark.line < m.line) {
        ub_loc at = mark_loc(ld, p->context_mark);
        ub_diag_error(ld->diag, loc, "YAML syntax error: %s %s (begun at %d:%d)", prob, p->context,
                      at.line, at.col);
    } else if (p->context)
        ub_diag_error(ld->diag, loc, "YAML syntax error: %s %s", prob, p->context);
    else
        ub_diag_error(ld->diag, loc, "YAML syntax error: %s", prob);
}

/* Explicit tags (!!str, !!binary, !custom): ubpipe types values by the spec's
 * own rules, so a tag would be silently ignored; it is refused instead. */
static int refuse_tag(loader *ld, const yaml_char_t *tag, yaml_mark_t m)
{
    if (!tag)
        return 0;
    static const char core[] = "tag:yaml.org,2002:";
    const char *t = (const char *)tag;
    int is_core = strncmp(t, core, sizeof core - 1) == 0;
    ub_diag_error(ld->diag, mark_loc(ld, m), "YAML tags are not supported ('%s%.64s'); %s", is_core ? "!!" : "",
                  is_core ? t + sizeof core - 1 : t,
                  is_core && strcmp(t + sizeof core - 1, "str") == 0 ? "quote the value to make it a string"
                                                                      : "write the value without a tag");
    ld->failed = 1;
    return 1;
}

static int keycmp(const void *a, const void *b)
{
    const ub_node *x = *(ub_node *const *)a, *y = *(ub_node *const *)b;
    int c = strcmp(x->str ? x->str : "", y->str ? y->str : "");
    if (c)
        return c;
    return x->loc.line != y->loc.line ? (x->loc.line < y->loc.line ? -1 : 1)
                                      : (x->loc.col < y->loc.col ? -1 : x->loc.col > y->loc.col);
}

/* Checks a finished mapping: keys are scalars and unique. */
static void check_map(loader *ld, ub_node *map)
{
    size_t np = map->n / 2;
    for (size_t i = 0; i < np; i++) {
        ub_node *k = map->items[2 * i];
        if (k->kind != UB_SCALAR) {
            ub_diag_error(ld->diag, k->loc, "mapping key must be a string, not a %s",
                          ub_node_kind_name(k));
            ld->failed = 1;
        } else if (k->plain && strcmp(k->str, "<<") == 0) {
            /* YAML 1.1 merge keys: not taken as a key named "<<", nor merged */
            ub_diag_error(ld->diag, k->loc, "YAML merge keys ('<<') are not supported; write the keys out "
                          "(an alias '*name' may stand for a whole value)");
            ld->failed = 1;
        }
    }
    if (np < 2 || ld->failed)
        return;
    ub_node **keys = ub_malloc(np * sizeof *keys);
    if (!keys) {
        ub_diag_error(ld->diag, map->loc, "out of memory");
        ld->failed = 1;
        return;
    }
    for (size_t i = 0; i < np; i++)
        keys[i] = map->items[2 * i];
    qsort(keys, np, sizeof *keys, keycmp);
    for (size_t i = 1; i < np; i++)
        if (strcmp(keys[i]->str, keys[i - 1]->str) == 0) {
            ub_diag_error(ld->diag, keys[i]->loc, "duplicate key '%s' (first at line %d)",
                          keys[i]->str, keys[i - 1]->loc.line);
            ld->failed = 1;
        }
    ub_free(keys);
}

static int open_frame(loader *ld, ub_node *n, const yaml_char_t *anchor_name)
{
    if (ld->depth >= ld->lim->max_depth) {
        ub_diag_error(ld->diag, n->loc, "nesting deeper than %d levels", ld->lim->max_depth);
        return -1;
    }
    frame *f = &ld->stack[ld->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    f->first_weight = ld->nodes;
    if (anchor_name) {
        f->anchor = ub_arena_strdup(ld->a, (const char *)anchor_name);
        if (!f->anchor || add_anchor(ld, f->anchor, NULL, 0))
            return -1;
    }
    return 0;
}

static int close_frame(loader *ld)
{
    frame *f = &ld->stack[--ld->depth];
    ub_node *n = f->node;
    int rc = 0;
    if (f->n) {
        n->items = ub_arena_alloc(ld->a, f->n * sizeof *n->items);
        if (!n->items)
            rc = -1;
        else
            memcpy(n->items, f->items, f->n * sizeof *n->items);
        n->n = f->n;
    }
    ub_free(f->items);
    f->items = NULL;
    if (rc)
        return rc;
    if (n->kind == UB_MAP)
        check_map(ld, n);
    if (f->anchor) {
        anchor *an = find_anchor(ld, f->anchor);
        an->node = n;
        an->weight = ld->nodes - f->first_weight + 1;
    }
    return push_item(ld, n);
}

static ub_node *load(loader *ld, const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    ub_node *root = NULL;
    int done = 0, oom = 0;

    if (!yaml_parser_initialize(&p)) {
        ub_diag_error(ld->diag, (ub_loc){ ld->file, 0, 0 }, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    ld->stack = ub_calloc((size_t)ld->lim->max_depth + 1, sizeof *ld->stack);
    if (!ld->stack) {
        oom = 1;
        goto out;
    }
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            scanner_error(ld, &p, text, len);
            ld->failed = 1;
            break;
        }
        ub_node *n = NULL;
        int rc = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root) {
                ub_diag_error(ld->diag, mark_loc(ld, ev.start_mark),
                              "more than one YAML document; a spec is one document");
                ld->failed = 1;
                done = 1;
            }
            break;
        case YAML_SCALAR_EVENT:
            refuse_tag(ld, ev.data.scalar.tag, ev.start_mark);
            n = new_node(ld, UB_SCALAR, ev.start_mark);
            if (!n) { rc = -1; break; }
            n->str = ub_arena_strndup(ld->a, (const char *)ev.data.scalar.value, ev.data.scalar.length);
            if (!n->str) { rc = -1; break; }
            n->len = ev.data.scalar.length;
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (memchr(n->str, '\0', n->len)) {
                ub_diag_error(ld->diag, n->loc, "string holds a NUL character");
                ld->failed = 1;
            }
            ld->nodes++;
            if (ev.data.scalar.anchor && add_anchor(ld, (const char *)ev.data.scalar.anchor, n, 1)) {
                rc = -1;
                break;
            }
            rc = push_item(ld, n);
            if (!ld->depth)
                root = n;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            refuse_tag(ld, ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.tag : ev.data.sequence_start.tag,
                       ev.start_mark);
            n = new_node(ld, ev.type == YAML_MAPPING_START_EVENT ? UB_MAP : UB_SEQ, ev.start_mark);
            if (!n) { rc = -1; break; }
            ld->nodes++;
            if (open_frame(ld, n, ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.anchor
                                                                        : ev.data.sequence_start.anchor)) {
                ld->failed = 1;
                done = 1;
                break;
            }
            if (ld->depth == 1)
                root = n;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = close_frame(ld);
            break;
        case YAML_ALIAS_EVENT: {
            ub_loc loc = mark_loc(ld, ev.start_mark);
            anchor *an = find_anchor(ld, (const char *)ev.data.alias.anchor);
            if (!an) {
                ub_diag_error(ld->diag, loc, "alias '*%s' names no anchor", ev.data.alias.anchor);
                ld->failed = 1;
                done = 1;
            } else if (!an->node) {
                ub_diag_error(ld->diag, loc, "alias '*%s' refers to its own enclosing node (alias cycle)",
                              ev.data.alias.anchor);
                ld->failed = 1;
                done = 1;
            } else {
                ld->nodes += an->weight;
                ld->expanded += an->weight;
                if (ld->expanded > ld->lim->max_expand) {
                    ub_diag_error(ld->diag, loc,
                                  "aliases expand to more than %zu nodes (alias bomb?)",
                                  ld->lim->max_expand);
                    ld->failed = 1;
                    done = 1;
                    break;
                }
                rc = push_item(ld, an->node);
            }
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (rc) {
            oom = 1;
            break;
        }
        if (!done && ld->nodes > ld->lim->max_nodes) {
            ub_diag_error(ld->diag, mark_loc(ld, p.mark), "document too large: more than %zu nodes",
                          ld->lim->max_nodes);
            ld->failed = 1;
            done = 1;
        }
    }
out:
    if (oom) {
        ub_diag_error(ld->diag, (ub_loc){ ld->file, 0, 0 }, "out of memory");
        ld->failed = 1;
    }
    while (ld->stack && ld->depth > 0)
        ub_free(ld->stack[--ld->depth].items);
    ub_free(ld->stack);
    ub_free(ld->anchors);
    yaml_parser_delete(&p);
    if (ld->failed)
        return NULL;
    if (!root) {
        ub_diag_error(ld->diag, (ub_loc){ ld->file, 1, 1 }, "empty document");
        return NULL;
    }
    return root;
}

ub_node *ub_yaml_load_mem(const char *display, const char *text, size_t len,
                          ub_arena *a, ub_diag *diag, const ub_yaml_limits *lim)
{
    loader ld = { .a = a, .diag = diag, .lim = lim ? lim : &ub_yaml_default_limits };
    ld.file = ub_arena_strdup(a, display);
    if (!ld.file) {
        ub_diag_error(diag, (ub_loc){ display, 0, 0 }, "out of memory");
        return NULL;
    }
    ub_diag_source(diag, ld.file, text, len);
    return load(&ld, text, len);
}

ub_node *ub_yaml_load_file(const char *path, const char *display, ub_arena *a,
                           ub_diag *diag, const ub_yaml_limits *lim)
{
    if (!lim)
        lim = &ub_yaml_default_limits;
    ub_loc where = { display, 0, 0 };
    const char *bad = NULL;
    int fd = ub_open_regular(path, &bad);     /* a FIFO fails at once, it does not block */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (bad)
            ub_diag_error(diag, where, "cannot use: %s", bad);
        else
            ub_diag_error(diag, where, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct stat st;
    char *text = NULL;
    ub_node *root = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        ub_diag_error(diag, where, "not a regular file");
        goto out;
    }
    if ((size_t)st.st_size > lim->max_bytes) {
        ub_diag_error(diag, where, "file too large: %lld bytes (limit %zu)",
                      (long long)st.st_size, lim->max_bytes);
        goto out;
    }
    text = ub_arena_alloc(a, (size_t)st.st_size + 1);
    if (!text) {
        ub_diag_error(diag, where, "out of memory");
        goto out;
    }
    size_t got = fread(text, 1, (size_t)st.st_size, f);
    if (got != (size_t)st.st_size || ferror(f)) {
        ub_diag_error(diag, where, "read error: %s", strerror(errno));
        goto out;
    }
    root = ub_yaml_load_mem(display, text, got, a, diag, lim);
out:
    fclose(f);
    return root;
}

ub_node *ub_node_get(const ub_node *map, const char *key)
{
    if (!map || map->kind != UB_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i += 2)
        if (strcmp(map->items[i]->str, key) == 0)
            return map->items[i + 1];
    return NULL;
}

const char *ub_node_kind_name(const ub_node *n)
{
    switch (n->kind) {
    case UB_SCALAR: return "string";
    case UB_SEQ:    return "list";
    case UB_MAP:    return "mapping";
    }
    return "node";
}

int ub_node_is_null(const ub_node *n)
{
    return n->kind == UB_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0);
}
