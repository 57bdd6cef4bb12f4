/* diag.c — collected, sorted, located error messages with a caret line. */
#include "base/diag.h"
#include "base/buf.h"
#include "base/jtext.h"
#include "base/mem.h"
#include "base/secret.h"
#include "base/show.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct ub_diag_msg {
    ub_loc loc;           /* loc.file is a copy owned by the message */
    size_t seq;
    char *text;
};

struct ub_diag_src {      /* a copy of a source text, for caret lines */
    ub_diag_src *next;
    char *file;
    char *text;
    size_t len;
};

void ub_diag_init(ub_diag *d)
{
    memset(d, 0, sizeof *d);
    d->max_print = 20;
}

void ub_diag_free(ub_diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        ub_free(d->msgs[i].text);
        ub_free((char *)d->msgs[i].loc.file);
    }
    ub_free(d->msgs);
    ub_diag_src *s = d->srcs;
    while (s) {
        ub_diag_src *next = s->next;
        ub_free(s->file);
        ub_free(s->text);
        ub_free(s);
        s = next;
    }
    memset(d, 0, sizeof *d);
}

void ub_diag_source(ub_diag *d, const char *file, const char *text, size_t len)
{
    ub_diag_src *s = ub_malloc(sizeof *s);
    if (!s)
        return;                     /* errors will just lack the caret line */
    s->file = ub_strdup(file);
    s->text = ub_strndup(text, len);
    s->len = len;
    if (!s->file || !s->text) {
        ub_free(s->file);
        ub_free(s->text);
        ub_free(s);
        return;
    }
    s->next = d->srcs;
    d->srcs = s;
}

void ub_diag_error(ub_diag *d, ub_loc loc, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        ub_diag_msg *m = ub_realloc(d->msgs, cap * sizeof *m);
        if (!m) {
            fprintf(stderr, "ubpipe: out of memory while reporting: %s\n", tmp);
            return;
        }
        d->msgs = m;
        d->cap = cap;
    }
    char *text = ub_strdup(tmp);
    char *file = loc.file ? ub_strdup(loc.file) : NULL;
    if (!text || (loc.file && !file)) {
        ub_free(text);
        ub_free(file);
        fprintf(stderr, "ubpipe: out of memory while reporting: %s\n", tmp);
        return;
    }
    loc.file = file;
    d->msgs[d->n].loc = loc;
    d->msgs[d->n].seq = d->n;
    d->msgs[d->n].text = text;
    d->n++;
}

size_t ub_diag_count(const ub_diag *d) { return d->n; }

static int cmp_msg(const void *a, const void *b)
{
    const ub_diag_msg *x = a, *y = b;
    const char *fx = x->loc.file ? x->loc.file : "", *fy = y->loc.file ? y->loc.file : "";
    int c = strcmp(fx, fy);
    if (c)
        return c;
    if (x->loc.line != y->loc.line)
        return x->loc.line < y->loc.line ? -1 : 1;
    if (x->loc.col != y->loc.col)
        return x->loc.col < y->loc.col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

ub_loc ub_diag_seek(const ub_diag *d, ub_loc from, const char *needle, size_t nth)
{
    const ub_diag_src *s = d->srcs;
    size_t nl = strlen(needle);
    while (s && !(from.file && strcmp(s->file, from.file) == 0))
        s = s->next;
    if (!s || from.line <= 0 || from.col <= 0 || nl == 0)
        return from;
    const char *p = s->text, *end = s->text + s->len;
    for (int l = 1; l < from.line; l++) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (!q)
            return from;
        p = q + 1;
    }
    ub_loc at = from;
    at.col = 1;
    while (at.col < from.col && p < end && *p != '\n') {   /* columns count characters */
        p++;
        while (p < end && ((unsigned char)*p & 0xC0) == 0x80)
            p++;
        at.col++;
    }
    while (p < end) {
        if ((size_t)(end - p) >= nl && memcmp(p, needle, nl) == 0) {
            if (nth-- == 0)
                return at;
            p += nl;
            at.col += (int)nl;      /* the needle is ASCII: one column a byte */
            continue;
        }
        if (*p == '\n') {
            at.line++;
            at.col = 1;
        } else if (((unsigned char)*p & 0xC0) != 0x80) {
            at.col++;
        }
        p++;
    }
    return from;
}

/* Prints line `line` of the registered source of file, and a caret under col. */
static void print_caret(const ub_diag *d, FILE *out, ub_loc loc)
{
    const ub_diag_src *s = d->srcs;
    while (s && !(loc.file && strcmp(s->file, loc.file) == 0))
        s = s->next;
    if (!s || loc.line <= 0)
        return;
    const char *p = s->text, *end = s->text + s->len;
    for (int l = 1; l < loc.line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        p = nl + 1;
    }
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e)
        e = end;
    if (e > p && e[-1] == '\r')
        e--;
    size_t len = (size_t)(e - p);
    if (len > 200)
        len = 200;
    /* the line made safe to print (base/show.h), and the caret under the
     * col-th character of it: a character shown as \xNN is four columns wide */
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b, "%5d | ", loc.line);
    ub_show(&b, p, len);
    ub_buf_adds(&b, "\n      | ");
    size_t i = 0;
    for (int c = 1; c < loc.col && i < len; c++) {
        size_t l = ub_jtext_seq((const unsigned char *)p + i, len - i);
        if (!l)
            l = 1;
        if (p[i] == '\t')
            ub_buf_addc(&b, '\t');
        else
            for (size_t w = ub_show_width(p + i, l); w > 0; w--)
                ub_buf_addc(&b, ' ');
        i += l;
    }
    ub_buf_adds(&b, "^\n");
    fputs(ub_buf_str(&b), out);
    ub_buf_free(&b);
}

/* One message line, made safe to print: messages quote keys, values and paths. */
static void print_line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void print_line(FILE *out, const char *fmt, ...)
{
    ub_buf b = UB_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ub_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    ub_show_fwrite(ub_buf_str(&b), b.len, out);
    ub_buf_free(&b);
}

/* 1 when message i (sorted) repeats an earlier one at the same place: two checks that
 * meet the same problem (a task's preflight and its operator) report it once */
static int shown_before(const ub_diag *d, size_t i)
{
    const ub_diag_msg *m = &d->msgs[i];
    for (size_t j = i; j-- > 0;) {
        const ub_diag_msg *o = &d->msgs[j];
        if (o->loc.line != m->loc.line || o->loc.col != m->loc.col ||
            strcmp(o->loc.file ? o->loc.file : "", m->loc.file ? m->loc.file : "") != 0)
            return 0;                         /* sorted: no earlier one at this place */
        if (strcmp(o->text, m->text) == 0)
            return 1;
    }
    return 0;
}

size_t ub_diag_flush(ub_diag *d, FILE *out)
{
    size_t n = d->n;
    if (d->n)
        qsort(d->msgs, d->n, sizeof *d->msgs, cmp_msg);
    for (size_t i = 0; i < d->n; i++) {
        if (i == d->max_print) {
            fprintf(out, "ubpipe: too many errors (%zu); only the first %zu are shown\n",
                    d->n, d->max_print);
            break;
        }
        ub_diag_msg *m = &d->msgs[i];
        if (shown_before(d, i))
            continue;
        ub_buf t = UB_BUF_INIT;
        ub_secret_mask(m->text, &t);        /* a message may quote a rendered value */
        const char *text = t.err ? "(out of memory)" : ub_buf_str(&t);
        if (m->loc.file && m->loc.line > 0)
            print_line(out, "%s:%d:%d: %s\n", m->loc.file, m->loc.line, m->loc.col, text);
        else if (m->loc.file)
            print_line(out, "%s: %s\n", m->loc.file, text);
        else
            print_line(out, "ubpipe: %s\n", text);
        ub_buf_free(&t);
        print_caret(d, out, m->loc);
    }
    for (size_t i = 0; i < d->n; i++) {
        ub_free(d->msgs[i].text);
        ub_free((char *)d->msgs[i].loc.file);
    }
    d->n = 0;
    return n;
}

/* ---- did you mean ---------------------------------------------------- */
static size_t lev(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = prev + cost;
            if (row[j] + 1 < v)
                v = row[j] + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            prev = cur;
        }
    }
    return row[lb];
}

const char *ub_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    size_t wl = strlen(word);
    for (size_t i = 0; candidates && candidates[i]; i++) {
        size_t dist = lev(word, candidates[i]);
        if (dist < bestd) {
            bestd = dist;
            best = candidates[i];
        }
    }
    /* close enough: at most a third of the word, and at least one edit allowed */
    size_t limit = wl / 3 > 1 ? wl / 3 : 1;
    if (wl >= 4 && limit < 2)
        limit = 2;
    return best && bestd <= limit ? best : NULL;
}
