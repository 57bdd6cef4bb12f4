/* report.c — parse a report (libcmark for the Markdown, libyaml through
 * core's node loader for the block bodies), run its queries (libpq), and
 * write one self-contained HTML page (chart library, styles and data inlined). */
#include "report/report.h"
#include "base/parse.h"
#include "io/fsutil.h"
#include "base/mem.h"
#include "base/secret.h"
#include "core/node.h"
#include "io/html.h"
#include <cmark.h>
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "report_assets.h"

#define MAX_FILE ((size_t)4 << 20)

/* an embedded file by name ("" when absent: the build embeds all three) */
static void add_asset(ub_buf *o, const char *name)
{
    for (size_t i = 0; ub_report_assets[i].name; i++)
        if (strcmp(ub_report_assets[i].name, name) == 0) {
            ub_buf_add(o, ub_report_assets[i].data, ub_report_assets[i].len);
            return;
        }
}

typedef enum { B_SQL, B_CHART, B_TABLE, B_VALUE } bkind;
static const char *const kind_names[] = { "sql", "chart", "table", "value", NULL };

typedef struct block {
    bkind       kind;
    ub_loc      loc;         /* the fence */
    int         body_line;   /* first line of the body */
    const char *name;        /* sql: the query name */
    const char *text;        /* sql: the template */
    ub_node    *body;        /* chart/table/value: the YAML mapping */
    cmark_node *node;
    char       *sql;         /* rendered (arena) */
    PGresult   *res;
    long        rows;
} block;

typedef struct rep {
    const ub_report_opts *o;
    ub_diag    *d;
    const char *file;
    char       *text;
    size_t      len;
    ub_arena    a;
    cmark_node *doc;
    block      *b;
    size_t      nb;
    int         errs;
} rep;

static void err_at(rep *r, ub_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err_at(rep *r, ub_loc loc, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ub_diag_error(r->d, loc, "%s", msg);
    r->errs++;
}

static int read_file(rep *r)
{
    const char *bad = NULL;
    int fd = ub_open_regular(r->o->path, &bad);   /* a FIFO fails at once, it does not block */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    ub_buf b = UB_BUF_INIT;
    int rc = -1;
    if (!f) {
        err_at(r, (ub_loc){ r->file, 0, 0 }, "cannot open report: %s", bad ? bad : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ub_buf_init(&b, MAX_FILE);
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ub_buf_add(&b, chunk, n);
    if (ferror(f) || b.err) {
        err_at(r, (ub_loc){ r->file, 0, 0 }, "cannot read report: %s",
               b.err == E2BIG ? "larger than 4 MiB" : strerror(b.err ? b.err : EIO));
        goto fail;
    }
    r->len = b.len;
    r->text = ub_arena_strndup(&r->a, b.p ? b.p : "", b.len);
    if (!r->text)
        goto fail;
    if (memchr(r->text, '\0', r->len)) {
        err_at(r, (ub_loc){ r->file, 0, 0 }, "the report holds a NUL byte (not a text file)");
        goto fail;
    }
    ub_diag_source(r->d, r->file, r->text, r->len);
    rc = 0;
fail:
    ub_buf_free(&b);
    fclose(f);
    return rc;
}

static int is_ident(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return 0;
    return 1;
}

static block *find_query(rep *r, const char *name)
{
    for (size_t i = 0; i < r->nb; i++)
        if (r->b[i].kind == B_SQL && strcmp(r->b[i].name, name) == 0)
            return &r->b[i];
    return NULL;
}

static const char *query_names(rep *r, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->nb && used + 2 < cap; i++)
        if (r->b[i].kind == B_SQL) {
            int k = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", r->b[i].name);
            if (k < 0)
                break;
            used += (size_t)k;
        }
    return buf[0] ? buf : "none";
}

/* ---- parsing ------------------------------------------------------------ */

static int add_block(rep *r, cmark_node *n)
{
    const char *info = cmark_node_get_fence_info(n);
    if (!info || !*info)
        return 0;
    size_t wl = strcspn(info, " \t");
    char word[32];
    if (wl >= sizeof word)
        return 0;
    memcpy(word, info, wl);
    word[wl] = '\0';
    int kind = -1;
    for (int i = 0; kind_names[i]; i++)
        if (strcmp(word, kind_names[i]) == 0)
            kind = i;
    ub_loc loc = { r->file, cmark_node_get_start_line(n), cmark_node_get_start_column(n) };
    if (kind < 0) {
        const char *sug = ub_suggest(word, kind_names);
        if (sug && strcmp(word, "sh") && strcmp(word, "c"))
            err_at(r, loc, "unknown block type '%s' (did you mean '%s'?); a code block's language must not look "
                   "like a report block", word, sug);
        return 0;
    }
    block *nb = ub_realloc(r->b, (r->nb + 1) * sizeof *nb);
    if (!nb)
        return -1;
    r->b = nb;
    block *b = &r->b[r->nb++];
    memset(b, 0, sizeof *b);
    b->kind = (bkind)kind;
    b->loc = loc;
    b->node = n;
    b->body_line = loc.line + 1;
    const char *rest = info + wl;
    rest += strspn(rest, " \t");
    const char *lit = cmark_node_get_literal(n);
    if (!lit)
        lit = "";
    if (kind == B_SQL) {
        size_t nl = strcspn(rest, " \t");
        if (nl == 0) {
            err_at(r, loc, "a sql block needs a name: ```sql NAME");
            b->name = "";
        } else if (!is_ident(rest, nl) || rest[nl + strspn(rest + nl, " \t")] != '\0') {
            err_at(r, loc, "query name '%s' must be one word of letters, digits and '_' (not starting with a digit)",
                   rest);
            b->name = "";
        } else {
            b->name = ub_arena_strndup(&r->a, rest, nl);
            for (size_t i = 0; i + 1 < r->nb; i++)
                if (r->b[i].kind == B_SQL && strcmp(r->b[i].name, b->name) == 0)
                    err_at(r, loc, "query '%s' is defined twice (first at line %d)", b->name, r->b[i].loc.line);
        }
        b->text = ub_arena_strdup(&r->a, lit);
        if (b->name && *b->name && !lit[strspn(lit, " \t\r\n")])
            err_at(r, loc, "query '%s' is empty", b->name);
        return 0;
    }
    if (*rest) {
        err_at(r, loc, "a %s block takes no words after '%s' (its settings are YAML in the body)", word, word);
        return 0;
    }
    /* the body keeps its place in the file: pad with as many newlines as
     * there are lines before it, so YAML errors carry the file's line */
    if (!lit[strspn(lit, " \t\r\n")]) {
        err_at(r, loc, "the %s block is empty: it needs YAML settings (data: QUERY, ...)", word);
        return 0;
    }
    /* and an indented fence had its indent taken off each line: give it back, so columns match too */
    size_t pad = (size_t)b->body_line - 1, ll = strlen(lit), ind = (size_t)(loc.col > 1 ? loc.col - 1 : 0), lines = 1;
    for (const char *p = lit; *p; p++)
        lines += *p == '\n';
    char *t = ub_arena_alloc(&r->a, pad + ll + lines * ind + 1);
    if (!t)
        return -1;
    memset(t, '\n', pad);
    size_t w = pad;
    for (const char *p = lit; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
        memset(t + w, ' ', ind);
        memcpy(t + w + ind, p, len);
        w += ind + len;
        p += len;
    }
    b->body = ub_yaml_load_mem(r->file, t, w, &r->a, r->d, NULL);
    ub_diag_source(r->d, r->file, r->text, r->len);   /* carets from the whole file again */
    if (!b->body) {
        r->errs++;
        return 0;
    }
    if (b->body->kind != UB_MAP) {
        err_at(r, b->body->loc.line ? b->body->loc : loc, "a %s block's body is a YAML mapping (data: QUERY, ...), "
               "not a %s", word, ub_node_kind_name(b->body));
        b->body = NULL;
    }
    return 0;
}

/* ---- checks --------------------------------------------------------------- */

static const char *const chart_types[] = { "bar", "line", "scatter", "pie", "doughnut", "histogram", NULL };
static const char *const formats[] = { "number", "currency", "percent", "integer", NULL };
static const char *const chart_keys[] = { "type", "data", "x", "y", "y2", "series", "title", "format", "bins", NULL };
static const char *const table_keys[] = { "data", "columns", "sort", "limit", "title", "format", NULL };
static const char *const value_keys[] = { "data", "column", "title", "compare", "format", "label", NULL };

static const ub_node *scalar(rep *r, block *b, const char *key, int required)
{
    const ub_node *n = ub_node_get(b->body, key);
    if (!n || ub_node_is_null(n)) {
        if (required)
            err_at(r, b->loc, "%s block: '%s' is required", kind_names[b->kind], key);
        return NULL;
    }
    if (n->kind != UB_SCALAR) {
        err_at(r, n->loc, "%s block: '%s' must be a string, not a %s", kind_names[b->kind], key, ub_node_kind_name(n));
        return NULL;
    }
    return n;
}

static void check_enum(rep *r, const ub_node *n, const char *what, const char *const *choices)
{
    if (!n)
        return;
    for (size_t i = 0; choices[i]; i++)
        if (strcmp(n->str, choices[i]) == 0)
            return;
    const char *sug = ub_suggest(n->str, choices);
    char all[256] = "";
    size_t used = 0;
    for (size_t i = 0; choices[i] && used < sizeof all; i++) {
        int k = snprintf(all + used, sizeof all - used, "%s%s", i ? ", " : "", choices[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    if (sug)
        err_at(r, n->loc, "unknown %s '%s' (did you mean '%s'?)", what, n->str, sug);
    else
        err_at(r, n->loc, "unknown %s '%s' (one of: %s)", what, n->str, all);
}

/* A number format: one of formats, or "currency CODE" with an ISO 4217 code in capitals
 * (plain "currency" is US dollars). */
static void check_format(rep *r, const ub_node *n)
{
    if (!n)
        return;
    const char *v = n->str;
    if (strncmp(v, "currency ", 9) == 0) {
        const char *code = v + 9;
        if (strlen(code) == 3 && isupper((unsigned char)code[0]) && isupper((unsigned char)code[1]) &&
            isupper((unsigned char)code[2]))
            return;
        err_at(r, n->loc, "format '%s': the currency is an ISO 4217 code in capitals, such as 'currency EUR'", v);
        return;
    }
    check_enum(r, n, "format", formats);
}

static void check_data(rep *r, block *b, const char *key)
{
    const ub_node *n = scalar(r, b, key, strcmp(key, "data") == 0);
    char names[512];
    if (n && !find_query(r, n->str))
        err_at(r, n->loc, "%s block: unknown query '%s' (queries: %s)", kind_names[b->kind], n->str,
               query_names(r, names, sizeof names));
}

/* a column or a list of columns */
static void check_columns(rep *r, block *b, const char *key)
{
    const ub_node *n = ub_node_get(b->body, key);
    if (!n || n->kind == UB_SCALAR)
        return;
    if (n->kind != UB_SEQ || n->n == 0) {
        err_at(r, n->loc, "%s block: '%s' is a column or a list of columns, not %s", kind_names[b->kind], key,
               n->kind == UB_SEQ ? "an empty list" : "a mapping");
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        if (n->items[i]->kind != UB_SCALAR)
            err_at(r, n->items[i]->loc, "%s block: each '%s' item is a column name, not a %s", kind_names[b->kind],
                   key, ub_node_kind_name(n->items[i]));
}

static void check_keys(rep *r, block *b, const char *const *keys)
{
    for (size_t i = 0; i + 1 < b->body->n; i += 2) {
        const ub_node *k = b->body->items[i];
        int ok = 0;
        for (size_t j = 0; keys[j]; j++)
            ok |= strcmp(k->str, keys[j]) == 0;
        if (!ok) {
            const char *sug = ub_suggest(k->str, keys);
            err_at(r, k->loc, "%s block: unknown key '%s'%s%s%s", kind_names[b->kind], k->str,
                   sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        }
    }
}

static long int_key(rep *r, block *b, const char *key, long lo, long hi)
{
    const ub_node *n = ub_node_get(b->body, key);
    if (!n)
        return 0;
    long long v = 0;
    if (n->kind != UB_SCALAR || ub_parse_dec(n->str, lo, hi, &v, NULL)) {    /* no " 5", "+5", "05", overflow */
        err_at(r, n->loc, "%s block: '%s' must be a whole number from %ld to %ld", kind_names[b->kind], key, lo, hi);
        return 0;
    }
    return v;
}

static void check_block(rep *r, block *b)
{
    if (b->kind == B_SQL || !b->body)
        return;
    if (b->kind == B_CHART) {
        check_keys(r, b, chart_keys);
        check_data(r, b, "data");
        const ub_node *t = scalar(r, b, "type", 1);
        check_enum(r, t, "chart type", chart_types);
        check_format(r, scalar(r, b, "format", 0));
        scalar(r, b, "title", 0);
        scalar(r, b, "series", 0);
        int hist = t && strcmp(t->str, "histogram") == 0;
        if (!scalar(r, b, "x", 1))
            return;
        check_columns(r, b, "y");
        check_columns(r, b, "y2");
        if (hist && ub_node_get(b->body, "y"))
            err_at(r, ub_node_get(b->body, "y")->loc, "chart block: a histogram counts the values of 'x'; it takes no 'y'");
        else if (!hist && t && !ub_node_get(b->body, "y"))
            err_at(r, b->loc, "chart block: a %s chart needs 'y' (a column or a list of columns)", t->str);
        if (!hist && ub_node_get(b->body, "bins"))
            err_at(r, ub_node_get(b->body, "bins")->loc, "chart block: 'bins' goes with type histogram only");
        int_key(r, b, "bins", 1, 1000);
        const ub_node *y = ub_node_get(b->body, "y");
        if (t && (strcmp(t->str, "pie") == 0 || strcmp(t->str, "doughnut") == 0) && y && y->kind == UB_SEQ &&
            y->n != 1)
            err_at(r, y->loc, "chart block: a %s chart shows one 'y' column", t->str);
        if (ub_node_get(b->body, "series") && y && y->kind == UB_SEQ && y->n != 1)
            err_at(r, y->loc, "chart block: with 'series' give one 'y' column");
    } else if (b->kind == B_TABLE) {
        check_keys(r, b, table_keys);
        check_data(r, b, "data");
        check_columns(r, b, "columns");
        scalar(r, b, "title", 0);
        const ub_node *s = scalar(r, b, "sort", 0);
        if (s) {
            const char *sp = strchr(s->str, ' ');
            if (sp && strcmp(sp, " desc") && strcmp(sp, " asc"))
                err_at(r, s->loc, "table block: sort is 'COLUMN', 'COLUMN asc' or 'COLUMN desc', not '%s'", s->str);
        }
        int_key(r, b, "limit", 1, 100000);
        const ub_node *f = ub_node_get(b->body, "format");
        if (f && f->kind != UB_MAP)
            err_at(r, f->loc, "table block: 'format' maps columns to formats (amount: currency)");
        for (size_t i = 1; f && f->kind == UB_MAP && i < f->n; i += 2)
            if (f->items[i]->kind != UB_SCALAR)
                err_at(r, f->items[i]->loc, "table block: a format is a string");
            else
                check_format(r, f->items[i]);
    } else {
        check_keys(r, b, value_keys);
        check_data(r, b, "data");
        check_data(r, b, "compare");
        scalar(r, b, "column", 1);
        scalar(r, b, "title", 0);
        scalar(r, b, "label", 0);
        check_format(r, scalar(r, b, "format", 0));
    }
}

/* ---- templates -------------------------------------------------------------- */

static int render_sql(rep *r, block *b)
{
    char where[1024];
    snprintf(where, sizeof where, "%s:%d:%d", r->file, b->body_line, 1);
    if (!r->o->render) {
        b->sql = (char *)b->text;
        return 0;
    }
    ub_buf out = UB_BUF_INIT;
    ub_err err;
    int rc = r->o->render(r->o->ud, b->text, strlen(b->text), where, &out, &err);
    if (rc == 0 && out.err)
        rc = ub_err_set(&err, "out of memory");
    if (rc)
        err_at(r, b->loc, "query '%s': %s", b->name, err.msg);
    else
        b->sql = ub_arena_strdup(&r->a, ub_buf_str(&out));
    ub_buf_free(&out);
    return rc;
}

/* Line `line` (1-based) of the report's text: its start, and its length without the newline. */
static const char *text_line(const rep *r, int line, size_t *len)
{
    const char *p = r->text, *end = r->text + r->len;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
    }
    const char *e = memchr(p, '\n', (size_t)(end - p));
    *len = (size_t)((e ? e : end) - p);
    return p;
}

/* A fence on the line at p (up to three spaces of indent, then three or more
 * '`' or '~'): its character and length, else 0. */
static size_t fence_of(const char *p, size_t len, char *c)
{
    size_t i = 0, k = 0;
    while (i < len && i < 3 && p[i] == ' ')
        i++;
    if (i >= len || (p[i] != '`' && p[i] != '~'))
        return 0;
    *c = p[i];
    while (i + k < len && p[i + k] == *c)
        k++;
    return k >= 3 ? k : 0;
}

/* cmark runs a fenced block that is never closed to the end of the document,
 * so the rest of the report silently becomes its body: 1 when n is such a
 * block (it opens with a fence and no later line closes it). */
static int fence_unclosed(const rep *r, cmark_node *n)
{
    size_t len;
    char c = 0, cc = 0;
    const char *p = text_line(r, cmark_node_get_start_line(n), &len);
    size_t k = p ? fence_of(p, len, &c) : 0;
    if (!k)
        return 0;                                   /* an indented block */
    for (int line = cmark_node_get_start_line(n) + 1; (p = text_line(r, line, &len)) != NULL; line++) {
        size_t m = fence_of(p, len, &cc);
        if (m >= k && cc == c) {
            size_t i = 0;
            while (p[i] == ' ')
                i++;
            i += m;
            while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
                i++;
            if (i == len)
                return 0;                           /* its closing fence */
        }
        if (p + len >= r->text + r->len)
            break;
    }
    return 1;
}

static int load(rep *r, const ub_report_opts *o, ub_diag *d)
{
    memset(r, 0, sizeof *r);
    r->o = o;
    r->d = d;
    r->file = o->display ? o->display : o->path;
    if (read_file(r))
        return -1;
    r->doc = cmark_parse_document(r->text, r->len, CMARK_OPT_DEFAULT);
    if (!r->doc) {
        err_at(r, (ub_loc){ r->file, 0, 0 }, "out of memory");
        return -1;
    }
    for (cmark_node *n = cmark_node_first_child(r->doc); n; n = cmark_node_next(n)) {
        if (cmark_node_get_type(n) != CMARK_NODE_CODE_BLOCK)
            continue;
        if (fence_unclosed(r, n)) {
            err_at(r, (ub_loc){ r->file, cmark_node_get_start_line(n), cmark_node_get_start_column(n) },
                   "this code fence is never closed: the rest of the file would be its body (close it with "
                   "a line of the same fence)");
            continue;
        }
        if (add_block(r, n))
            return -1;
    }
    for (size_t i = 0; i < r->nb; i++)
        check_block(r, &r->b[i]);
    for (size_t i = 0; i < r->nb && !r->errs; i++)
        if (r->b[i].kind == B_SQL)
            render_sql(r, &r->b[i]);
    return r->errs ? -1 : 0;
}

static void unload(rep *r)
{
    for (size_t i = 0; i < r->nb; i++)
        PQclear(r->b[i].res);
    ub_free(r->b);
    if (r->doc)
        cmark_node_free(r->doc);
    ub_arena_free(&r->a);
}

/* ---- JSON ----------------------------------------------------------------------- */

static void json_str(ub_buf *o, const char *s)
{
    ub_buf_addc(o, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            ub_buf_addc(o, '\\');
            ub_buf_addc(o, (char)*p);
        } else if (*p < 0x20) {
            ub_buf_addf(o, "\\u%04x", *p);
        } else {
            ub_buf_addc(o, (char)*p);
        }
    }
    ub_buf_addc(o, '"');
}

static void json_node(ub_buf *o, const ub_node *n)
{
    if (n->kind == UB_SCALAR) {
        char *end = NULL;
        if (n->plain && *n->str && (strtod(n->str, &end), end && !*end) && strspn(n->str, "-0123456789.") == n->len &&
            n->str[0] != '.' && !(n->str[0] == '0' && n->len > 1 && n->str[1] != '.'))
            ub_buf_adds(o, n->str);
        else if (n->plain && (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0))
            ub_buf_adds(o, n->str);
        else
            json_str(o, n->str);
    } else if (n->kind == UB_SEQ) {
        ub_buf_addc(o, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                ub_buf_addc(o, ',');
            json_node(o, n->items[i]);
        }
        ub_buf_addc(o, ']');
    } else {
        ub_buf_addc(o, '{');
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            if (i)
                ub_buf_addc(o, ',');
            json_str(o, n->items[i]->str);
            ub_buf_addc(o, ':');
            json_node(o, n->items[i + 1]);
        }
        ub_buf_addc(o, '}');
    }
}

/* the block spec as JSON: {"id":"b3","kind":"chart",...the YAML settings} */
static void block_json(ub_buf *o, const block *b, size_t idx)
{
    ub_buf_addf(o, "{\"id\":\"ub-b%zu\",\"kind\":\"%s\"", idx, kind_names[b->kind]);
    for (size_t i = 0; i + 1 < b->body->n; i += 2) {
        ub_buf_addc(o, ',');
        json_str(o, b->body->items[i]->str);
        ub_buf_addc(o, ':');
        json_node(o, b->body->items[i + 1]);
    }
    ub_buf_addc(o, '}');
}

static int numeric_oid(Oid t) { return t == 20 || t == 21 || t == 23 || t == 26 || t == 700 || t == 701 || t == 1700; }

static void json_value(ub_buf *o, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        ub_buf_adds(o, "null");
        return;
    }
    const char *v = PQgetvalue(res, row, col);
    Oid t = PQftype(res, col);
    if (numeric_oid(t)) {
        char *end = NULL;
        double x = strtod(v, &end);
        int plain = (v[0] == '-' ? v[1] : v[0]) >= '0' && (v[0] == '-' ? v[1] : v[0]) <= '9' &&
                    strspn(v, "-0123456789.eE+") == strlen(v);
        if (!end || *end || !isfinite(x))
            ub_buf_adds(o, "null");
        else if (plain)
            ub_buf_adds(o, v);
        else
            ub_buf_addf(o, "%.17g", x);
    } else if (t == 16) {
        ub_buf_adds(o, v[0] == 't' ? "true" : "false");
    } else {
        json_str(o, v);
    }
}

static void data_json(rep *r, ub_buf *o)
{
    ub_buf_addc(o, '{');
    int first = 1;
    for (size_t i = 0; i < r->nb; i++) {
        block *b = &r->b[i];
        if (b->kind != B_SQL || !b->res)
            continue;
        if (!first)
            ub_buf_addc(o, ',');
        first = 0;
        json_str(o, b->name);
        ub_buf_adds(o, ":{\"columns\":[");
        int nc = PQnfields(b->res);
        for (int c = 0; c < nc; c++) {
            if (c)
                ub_buf_addc(o, ',');
            json_str(o, PQfname(b->res, c));
        }
        ub_buf_adds(o, "],\"rows\":[");
        for (long rw = 0; rw < b->rows; rw++) {
            ub_buf_adds(o, rw ? ",[" : "[");
            for (int c = 0; c < nc; c++) {
                if (c)
                    ub_buf_addc(o, ',');
                json_value(o, b->res, (int)rw, c);
            }
            ub_buf_addc(o, ']');
        }
        ub_buf_adds(o, "]}");
    }
    ub_buf_addc(o, '}');
}

/* ---- check mode ------------------------------------------------------------------- */

static int walk(const ub_report_opts *o, ub_diag *d, rep *r)
{
    if (load(r, o, d)) {
        unload(r);
        return -1;
    }
    return 0;
}

int ub_report_check(const ub_report_opts *o, FILE *out, ub_diag *d)
{
    rep r;
    if (walk(o, d, &r))
        return -1;
    ub_buf b = UB_BUF_INIT;
    for (size_t i = 0; out && i < r.nb; i++) {
        block *k = &r.b[i];
        ub_buf_reset(&b);
        if (k->kind == B_SQL) {
            ub_buf_addf(&b, "-- query %s (%s:%d:%d)\n", k->name, r.file, k->loc.line, k->loc.col);
            ub_secret_mask(k->sql, &b);
            if (b.len && b.p[b.len - 1] != '\n')
                ub_buf_addc(&b, '\n');
        } else {
            ub_buf_addf(&b, "-- %s (%s:%d:%d)\n", kind_names[k->kind], r.file, k->loc.line, k->loc.col);
            block_json(&b, k, i);
            ub_buf_addc(&b, '\n');
        }
        fputs(ub_buf_str(&b), out);
    }
    ub_buf_free(&b);
    unload(&r);
    return 0;
}

int ub_report_queries(const ub_report_opts *o, void (*fn)(void *ud, const char *name, const char *sql), void *ud,
                      ub_diag *d)
{
    rep r;
    if (walk(o, d, &r))
        return -1;
    for (size_t i = 0; i < r.nb; i++)
        if (r.b[i].kind == B_SQL)
            fn(ud, r.b[i].name, r.b[i].sql);
    unload(&r);
    return 0;
}

/* ---- queries ---------------------------------------------------------------------- */

static void pg_error(rep *r, ub_loc loc, const char *what, PGconn *db, const PGresult *res)
{
    char line[1024];
    const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (prim) {
        const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
        const char *det = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        int syntax = strncmp(prim, "syntax error at or near", 23) == 0;
        snprintf(line, sizeof line, "%s: %s%s%s%s%s%s", sev ? sev : "ERROR", prim, det ? " (" : "", det ? det : "",
                 det ? ")" : "", hint ? "; hint: " : "", hint ? hint : "");
        size_t used = strlen(line);
        if (syntax)
            snprintf(line + used, sizeof line - used, " (a query is one SELECT, VALUES or WITH ... SELECT)");
    } else {
        const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(db);
        /* no error text: the server answered a second statement (DECLARE ... FOR q1; q2) */
        snprintf(line, sizeof line, "%s",
                 m && *m ? m : "more than one statement (a query is one SELECT, VALUES or WITH ... SELECT)");
    }
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ' ' : '\0';
    ub_buf mb = UB_BUF_INIT;
    ub_secret_mask(line, &mb);
    err_at(r, loc, "%s: %s", what, ub_buf_str(&mb));
    ub_buf_free(&mb);
}

static int exec_ok(rep *r, PGconn *db, const char *sql, ub_loc loc, const char *what)
{
    PGresult *res = PQexec(db, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        pg_error(r, loc, what, db, res);
    PQclear(res);
    return ok ? 0 : -1;
}

static int run_queries(rep *r)
{
    const ub_report_opts *o = r->o;
    ub_loc top = { r->file, 0, 0 };
    PGconn *db = PQconnectdb(o->dsn);
    int rc = -1;
    ub_buf q = UB_BUF_INIT;
    if (PQstatus(db) != CONNECTION_OK) {
        pg_error(r, top, "cannot connect to the report's database", db, NULL);
        goto fail;
    }
    PQsetClientEncoding(db, "UTF8");
    long ms = (long)((o->timeout > 0 ? o->timeout : 30) * 1000);
    char set[256];
    snprintf(set, sizeof set,
             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = %ld; "
             "SET LOCAL DateStyle = ISO; SET LOCAL application_name = 'ubpipe report'", ms);
    if (exec_ok(r, db, set, top, "cannot start the read-only transaction"))
        goto fail;
    long cap = o->max_rows > 0 ? o->max_rows : 10000;
    for (size_t i = 0; i < r->nb; i++) {
        block *b = &r->b[i];
        if (b->kind != B_SQL)
            continue;
        size_t n = strlen(b->sql);
        while (n && (b->sql[n - 1] == ';' || b->sql[n - 1] == ' ' || b->sql[n - 1] == '\n' || b->sql[n - 1] == '\t' ||
                     b->sql[n - 1] == '\r'))
            n--;
        char what[256];
        snprintf(what, sizeof what, "query '%s'", b->name);
        ub_buf_reset(&q);
        ub_buf_adds(&q, "DECLARE ubpipe_q NO SCROLL CURSOR FOR ");
        ub_buf_add(&q, b->sql, n);
        if (q.err || exec_ok(r, db, ub_buf_str(&q), b->loc, what))
            goto fail;
        snprintf(set, sizeof set, "FETCH FORWARD %ld FROM ubpipe_q", cap + 1);
        b->res = PQexec(db, set);
        if (PQresultStatus(b->res) != PGRES_TUPLES_OK) {
            pg_error(r, b->loc, what, db, b->res);
            goto fail;
        }
        b->rows = PQntuples(b->res);
        if (b->rows > cap) {
            err_at(r, b->loc, "query '%s' returns more than %ld rows (the row cap); aggregate or add a LIMIT", b->name,
                   cap);
            goto fail;
        }
        if (exec_ok(r, db, "CLOSE ubpipe_q", b->loc, what))
            goto fail;
    }
    rc = 0;
fail:
    ub_buf_free(&q);
    PQfinish(db);   /* never committed: the transaction was read-only anyway */
    return rc;
}

static int col_index(const PGresult *res, const char *name)
{
    for (int c = 0; c < PQnfields(res); c++)
        if (strcmp(PQfname(res, c), name) == 0)
            return c;
    return -1;
}

static void col_check(rep *r, block *b, const ub_node *n, const char *qname)
{
    if (!n)
        return;
    if (n->kind == UB_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            col_check(r, b, n->items[i], qname);
        return;
    }
    block *q = find_query(r, qname);
    if (n->kind != UB_SCALAR || !q || !q->res || col_index(q->res, n->str) >= 0)
        return;
    ub_buf cols = UB_BUF_INIT;
    for (int c = 0; c < PQnfields(q->res); c++)
        ub_buf_addf(&cols, "%s%s", c ? ", " : "", PQfname(q->res, c));
    err_at(r, n->loc, "%s block: query '%s' has no column '%s' (columns: %s)", kind_names[b->kind], qname, n->str,
           ub_buf_str(&cols));
    ub_buf_free(&cols);
}

static void check_results(rep *r)
{
    for (size_t i = 0; i < r->nb; i++) {
        block *b = &r->b[i];
        if (b->kind == B_SQL || !b->body)
            continue;
        const char *q = ub_node_get(b->body, "data")->str;
        const char *const keys[] = { "x", "y", "y2", "series", "columns", "column", NULL };
        for (size_t k = 0; keys[k]; k++)
            col_check(r, b, ub_node_get(b->body, keys[k]), q);
        const ub_node *s = ub_node_get(b->body, "sort");
        if (s) {
            char col[256];
            snprintf(col, sizeof col, "%.*s", (int)strcspn(s->str, " "), s->str);
            ub_node tmp = *s;
            tmp.str = col;
            col_check(r, b, &tmp, q);
        }
        const ub_node *f = ub_node_get(b->body, "format");
        for (size_t k = 0; f && f->kind == UB_MAP && k < f->n; k += 2)
            col_check(r, b, f->items[k], q);
        const ub_node *c = ub_node_get(b->body, "compare");
        if (c)
            col_check(r, b, ub_node_get(b->body, "column"), c->str);
        block *qb = find_query(r, q);
        if (b->kind == B_VALUE && qb && qb->res && qb->rows == 0)
            err_at(r, b->loc, "value block: query '%s' returned no rows", q);
    }
}

/* ---- HTML --------------------------------------------------------------------------- */

static void fmt_number(ub_buf *o, const char *v, const char *fmt)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (!fmt || !end || *end || !isfinite(x)) {
        ub_html_text(o, v);
        return;
    }
    int dec = 2;
    char other[8];                       /* "XXX" and a no-break space */
    const char *pre = "", *post = "";
    if (strcmp(fmt, "percent") == 0) {
        x *= 100;
        dec = 1;
        post = "%";
    } else if (strcmp(fmt, "currency") == 0 || strncmp(fmt, "currency ", 9) == 0) {
        /* as the page's script shows it (Intl, en-US): a symbol for the common codes, else
         * the code and a no-break space; no minor unit for the yen */
        static const struct { const char *code, *sym; int dec; } cur[] = {
            { "USD", "$", 2 },  { "EUR", "\u20ac", 2 }, { "GBP", "\u00a3", 2 }, { "JPY", "\u00a5", 0 },
            { "INR", "\u20b9", 2 }, { "CNY", "CN\u00a5", 2 }, { "CAD", "CA$", 2 }, { "AUD", "A$", 2 },
        };
        const char *code = fmt[8] == ' ' ? fmt + 9 : "USD";
        snprintf(other, sizeof other, "%.3s\u00a0", code);
        pre = other;
        for (size_t k = 0; k < sizeof cur / sizeof cur[0]; k++)
            if (strcmp(code, cur[k].code) == 0) {
                pre = cur[k].sym;
                dec = cur[k].dec;
            }
    } else if (strcmp(fmt, "integer") == 0) {
        dec = 0;
    } else if (x == floor(x)) {
        dec = 0;
    }
    char digits[64];
    snprintf(digits, sizeof digits, "%.*f", dec, fabs(x));
    size_t ip = strcspn(digits, ".");
    if (x < 0)
        ub_buf_addc(o, '-');
    ub_buf_adds(o, pre);
    for (size_t i = 0; i < ip; i++) {
        if (i && (ip - i) % 3 == 0)
            ub_buf_addc(o, ',');
        ub_buf_addc(o, digits[i]);
    }
    ub_buf_adds(o, digits + ip);
    ub_buf_adds(o, post);
}

/* cmark escapes & < > " in text; a {{ }} expression gets them back */
static void unescape(char *s)
{
    static const struct { const char *ent; char c; } ents[] = { { "&quot;", '"' }, { "&amp;", '&' }, { "&lt;", '<' },
                                                                { "&gt;", '>' }, { NULL, 0 } };
    char *w = s;
    for (const char *p = s; *p;) {
        int done = 0;
        for (size_t i = 0; ents[i].ent && !done; i++)
            if (strncmp(p, ents[i].ent, strlen(ents[i].ent)) == 0) {
                *w++ = ents[i].c;
                p += strlen(ents[i].ent);
                done = 1;
            }
        if (!done)
            *w++ = *p++;
    }
    *w = '\0';
}

/* one {{ expr }}: QUERY.COLUMN [| FORMAT] shows the first row's value, anything else is a template */
static void expr_value(rep *r, ub_buf *o, const char *expr, ub_loc loc)
{
    char e[512];
    snprintf(e, sizeof e, "%s", expr);
    unescape(e);
    char *s = e + strspn(e, " \t\n");
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
        s[--n] = '\0';
    char *bar = strchr(s, '|');
    char *fmt = NULL;
    if (bar) {
        fmt = bar + 1 + strspn(bar + 1, " ");
        *bar = '\0';
        for (char *t = bar - 1; t >= s && *t == ' '; t--)
            *t = '\0';
    }
    char *dot = strchr(s, '.');
    if (dot && is_ident(s, (size_t)(dot - s)) && is_ident(dot + 1, strlen(dot + 1))) {
        *dot = '\0';
        block *q = find_query(r, s);
        if (q) {
            int c = q->res ? col_index(q->res, dot + 1) : -1;
            if (!q->res) {
                ub_html_text(o, "");
            } else if (c < 0) {
                err_at(r, loc, "{{ %s.%s }}: query '%s' has no column '%s'", s, dot + 1, s, dot + 1);
            } else if (q->rows == 0 || PQgetisnull(q->res, 0, c)) {
                ub_html_text(o, "–");
            } else {
                if (fmt)
                    check_format(r, &(ub_node){ .kind = UB_SCALAR, .loc = loc, .str = fmt });
                fmt_number(o, PQgetvalue(q->res, 0, c), fmt ? fmt : numeric_oid(PQftype(q->res, c)) ? "number" : NULL);
            }
            return;
        }
        *dot = '.';
    }
    if (bar)
        *bar = '|';
    if (!r->o->render) {
        ub_html_textf(o, "{{ %s }}", s);
        return;
    }
    char where[1024], tmpl[600];
    snprintf(where, sizeof where, "%s:%d:%d", r->file, loc.line, loc.col);
    snprintf(tmpl, sizeof tmpl, "{{ %s }}", s);
    ub_buf out = UB_BUF_INIT;
    ub_err err;
    if (r->o->render(r->o->ud, tmpl, strlen(tmpl), where, &out, &err))
        err_at(r, loc, "%s", err.msg);
    else
        ub_html_text(o, ub_buf_str(&out));
    ub_buf_free(&out);
}

static void narrative(rep *r, ub_buf *o, cmark_node *n)
{
    char *h = cmark_render_html(n, CMARK_OPT_DEFAULT);
    if (!h) {
        err_at(r, (ub_loc){ r->file, 0, 0 }, "out of memory");
        return;
    }
    ub_loc loc = { r->file, cmark_node_get_start_line(n), cmark_node_get_start_column(n) };
    for (char *p = h; *p;) {
        char *s = strstr(p, "{{");
        char *e = s ? strstr(s + 2, "}}") : NULL;
        if (!s || !e) {
            ub_buf_adds(o, p);
            break;
        }
        ub_buf_add(o, p, (size_t)(s - p));
        *e = '\0';
        expr_value(r, o, s + 2, loc);
        p = e + 2;
    }
    free(h);   /* cmark allocates with the C allocator */
}

static void block_html(rep *r, ub_buf *o, block *b, size_t idx)
{
    const ub_node *t = ub_node_get(b->body, "title");
    if (b->kind == B_VALUE) {
        ub_html_textf(o, "<div class=\"ub-value\" id=\"ub-b%zu\"><div class=\"ub-vtitle\">%s</div>"
                      "<div class=\"ub-vnum\"></div><div class=\"ub-vdelta\"></div></div>\n", idx,
                      t ? t->str : ub_node_get(b->body, "column")->str);
        return;
    }
    ub_html_textf(o, "<figure class=\"ub-%s\" id=\"ub-b%zu\">", kind_names[b->kind], idx);
    if (t)
        ub_html_textf(o, "<figcaption>%s</figcaption>", t->str);
    if (b->kind == B_CHART)
        ub_buf_adds(o, "<div class=\"ub-canvas\"><canvas></canvas></div>");
    else
        ub_buf_adds(o, "<div class=\"ub-tools\"><button type=\"button\" class=\"ub-csv\">Download CSV</button>"
                       "<span class=\"ub-count\"></span></div><div class=\"ub-scroll\"><table></table></div>");
    ub_buf_adds(o, "</figure>\n");
}

/* live: the serve page (assets by URL under /assets/, bar after <body>), else the self-contained file */
static void page(rep *r, ub_buf *o, const char *live_bar)
{
    const ub_report_opts *op = r->o;
    const char *title = op->title ? op->title : op->id ? op->id : r->file;
    ub_buf_adds(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta name=\"generator\" content=\"ubpipe " UB_VERSION "\">\n");
    ub_html_textf(o, "<title>%s%s%s</title>\n", title, op->ds ? " · " : "", op->ds ? op->ds : "");
    if (live_bar) {
        ub_buf_adds(o, "<link rel=\"icon\" href=\"/assets/favicon.svg\">\n<link rel=\"stylesheet\" href=\"/assets/report.css\">\n"
                       "<link rel=\"stylesheet\" href=\"/assets/report-live.css\">\n</head>\n<body>\n");
        ub_buf_adds(o, live_bar);
    } else {
        ub_buf_adds(o, "<style>\n");
        add_asset(o, "report.css");
        ub_buf_adds(o, "</style>\n</head>\n<body>\n");
    }
    ub_buf_adds(o, "<header class=\"ub-head\"><div class=\"ub-wrap\">");
    ub_html_textf(o, "<h1>%s</h1><p class=\"ub-meta\">", title);
    if (op->pipeline)
        ub_html_textf(o, "pipeline <b>%s</b> · ", op->pipeline);
    if (op->ds)
        ub_html_textf(o, "ds <b>%s</b> · ", op->ds);
    /* the id, not the path: the page is the same wherever the spec was checked out */
    const char *base = strrchr(r->file, '/');
    ub_html_textf(o, "report <code>%s</code></p></div></header>\n<main class=\"ub-wrap\">\n",
                  op->id ? op->id : base ? base + 1 : r->file);
    size_t bi = 0;
    int in_cards = 0;
    for (cmark_node *n = cmark_node_first_child(r->doc); n; n = cmark_node_next(n)) {
        block *b = NULL;
        while (bi < r->nb && r->b[bi].node != n && r->b[bi].node &&
               cmark_node_get_start_line(r->b[bi].node) < cmark_node_get_start_line(n))
            bi++;
        if (bi < r->nb && r->b[bi].node == n)
            b = &r->b[bi];
        int value = b && b->kind == B_VALUE;
        if (in_cards && !value) {
            ub_buf_adds(o, "</div>\n");
            in_cards = 0;
        }
        if (value && !in_cards) {
            ub_buf_adds(o, "<div class=\"ub-cards\">\n");
            in_cards = 1;
        }
        if (!b)
            narrative(r, o, n);
        else if (b->kind == B_SQL)
            ub_html_textf(o, "<details class=\"ub-sql\"><summary>query <code>%s</code></summary><pre><code>%s</code>"
                          "</pre></details>\n", b->name, b->sql);
        else
            block_html(r, o, b, bi);
    }
    if (in_cards)
        ub_buf_adds(o, "</div>\n");
    if (live_bar)
        ub_buf_adds(o, "</main>\n<footer class=\"ub-wrap ub-foot\">Rendered by ubpipe " UB_VERSION
                       " from the warehouse on request (charts: Chart.js 3.9.1, MIT)."
                       "</footer>\n<script type=\"application/json\" id=\"ubpipe-data\">");
    else
        ub_buf_adds(o, "</main>\n<footer class=\"ub-wrap ub-foot\">Rendered by ubpipe " UB_VERSION
                       " — one self-contained file: the data, the charts (Chart.js 3.9.1, MIT) and the styles are inside."
                       "</footer>\n<script type=\"application/json\" id=\"ubpipe-data\">");
    ub_buf data = UB_BUF_INIT;
    data_json(r, &data);
    ub_html_json_script(o, data.p ? data.p : "{}", data.p ? data.len : 2);
    if (data.err)
        o->err = data.err;
    ub_buf_reset(&data);
    ub_buf_addc(&data, '[');
    int first = 1;
    for (size_t i = 0; i < r->nb; i++)
        if (r->b[i].kind != B_SQL && r->b[i].body) {
            if (!first)
                ub_buf_addc(&data, ',');
            first = 0;
            block_json(&data, &r->b[i], i);
        }
    ub_buf_addc(&data, ']');
    ub_buf_adds(o, "</script>\n<script type=\"application/json\" id=\"ubpipe-blocks\">");
    ub_html_json_script(o, data.p, data.len);
    if (data.err)
        o->err = data.err;
    ub_buf_free(&data);
    if (live_bar) {
        ub_buf_adds(o, "</script>\n<script src=\"/assets/chart.min.js\"></script>\n"
                       "<script src=\"/assets/report.js\"></script>\n</body>\n</html>\n");
        return;
    }
    ub_buf_adds(o, "</script>\n<script>\n");
    add_asset(o, "chart.min.js");
    ub_buf_adds(o, "\n</script>\n<script>\n");
    add_asset(o, "report.js");
    ub_buf_adds(o, "\n</script>\n</body>\n</html>\n");
}

const void *ub_report_asset(const char *name, size_t *len)
{
    for (size_t i = 0; name && ub_report_assets[i].name; i++)
        if (strcmp(ub_report_assets[i].name, name) == 0) {
            *len = ub_report_assets[i].len;
            return ub_report_assets[i].data;
        }
    return NULL;
}

/* Masks one page into out; -1 (reported) when writing it failed. */
static int finish(rep *r, ub_buf *out, ub_buf *html)
{
    if (r->errs || out->err) {
        if (out->err)
            err_at(r, (ub_loc){ r->file, 0, 0 }, "out of memory writing the page");
        return -1;
    }
    ub_secret_mask(ub_buf_str(out), html);
    return html->err ? -1 : 0;
}

int ub_report_render_live(const ub_report_opts *o, const char *live_bar, ub_buf *html, ub_buf *live, ub_diag *d)
{
    rep r;
    if (walk(o, d, &r))
        return -1;
    int rc = -1;
    ub_buf out = UB_BUF_INIT;
    if (!o->dsn) {
        err_at(&r, (ub_loc){ r.file, 0, 0 }, "no connection to run the report's queries on");
        goto fail;
    }
    if (run_queries(&r))
        goto fail;
    check_results(&r);
    if (r.errs)
        goto fail;
    page(&r, &out, NULL);
    if (finish(&r, &out, html))
        goto fail;
    if (live) {
        ub_buf_reset(&out);
        page(&r, &out, live_bar ? live_bar : "");
        if (finish(&r, &out, live))
            goto fail;
    }
    rc = 0;
fail:
    ub_buf_free(&out);
    unload(&r);
    return rc;
}

int ub_report_render(const ub_report_opts *o, ub_buf *html, ub_diag *d)
{
    return ub_report_render_live(o, NULL, html, NULL, d);
}
