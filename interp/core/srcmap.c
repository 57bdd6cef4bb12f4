/* srcmap.c — rendered template positions back to the file's LINE:COL. */
#include "core/srcmap.h"
#include <string.h>

typedef struct piece { size_t out; int line, col, literal; } piece;

struct ub_srcmap {
    ub_arena   *a;
    const char *key, *disp;
    piece      *p;
    size_t      n, cap;
    const char *text;              /* the rendered text (NULL until done) */
    size_t      len;
    ub_srcmap  *next;
};

ub_srcmap *ub_srcmap_new(ub_arena *a, const char *key, const char *disp)
{
    ub_srcmap *m = ub_arena_alloc(a, sizeof *m);
    if (!m)
        return NULL;
    m->a = a;
    m->key = ub_arena_strdup(a, key);
    m->disp = ub_arena_strdup(a, disp);
    return m->key && m->disp ? m : NULL;
}

int ub_srcmap_add(ub_srcmap *m, size_t out, int line, int col, int literal)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        piece *np = ub_arena_alloc(m->a, cap * sizeof *np);   /* the old array stays in the arena */
        if (!np)
            return -1;
        if (m->n)
            memcpy(np, m->p, m->n * sizeof *np);
        m->p = np;
        m->cap = cap;
    }
    m->p[m->n++] = (piece){ out, line, col, literal };
    return 0;
}

void ub_srcmap_done(ub_srcmap *m, const char *rendered, size_t len)
{
    m->text = rendered;
    m->len = len;
}

ub_srcmap *ub_srcmap_find(ub_srcmap *list, const char *key)
{
    for (; list; list = list->next)
        if (list->text && strcmp(list->key, key) == 0)
            return list;
    return NULL;
}

void ub_srcmap_link(ub_srcmap *m, ub_srcmap *next) { m->next = next; }

size_t ub_srcmap_char_offset(const char *s, size_t len, size_t chr)
{
    if (chr == 0)
        return (size_t)-1;
    size_t seen = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if ((b & 0xC0) != 0x80 && ++seen == chr)     /* a character starts at each non-continuation byte */
            return i;
    }
    return chr == seen + 1 ? len : (size_t)-1;   /* just past the end: an error at end of input */
}

int ub_srcmap_where(const ub_srcmap *m, size_t chr, ub_buf *out)
{
    if (!m->text)
        return -1;
    if (chr == 0) {
        ub_buf_adds(out, m->disp);
        return 0;
    }
    size_t off = ub_srcmap_char_offset(m->text, m->len, chr);
    if (off == (size_t)-1)
        return -1;
    const piece *pc = NULL;
    for (size_t i = 0; i < m->n && m->p[i].out <= off; i++)
        pc = &m->p[i];
    if (!pc) {
        ub_buf_addf(out, "%s", m->disp);
        return 0;
    }
    if (!pc->literal) {
        ub_buf_addf(out, "%s:%d:%d (in the output of the {{ }} that starts there)", m->disp, pc->line, pc->col);
        return 0;
    }
    int line = pc->line, col = pc->col;
    for (size_t i = pc->out; i < off; i++) {
        if (m->text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)m->text[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    ub_buf_addf(out, "%s:%d:%d", m->disp, line, col);
    return 0;
}
