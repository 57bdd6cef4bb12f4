/* handoff.c — the streaming hand-off (handoff.h): finding the chains, and the
 * follower's reader of a growing file and control pipe. */
#include "core/handoff.h"
#include "base/mem.h"
#include "io/stream.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ub_handoff_enabled(void)
{
    const char *v = getenv("UBPIPE_HANDOFF");
    return !(v && strcmp(v, "0") == 0);
}

void ub_handoff_free(ub_handoff *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ub_free(h[i].key);
        ub_free(h[i].file);
    }
    ub_free(h);
}

/* 1 when a scalar under n holds "outputs" (a template reading an upstream's outputs) */
static int uses_outputs(const ub_node *n, int depth)
{
    if (!n || depth > 64)
        return 0;
    if (n->kind == UB_SCALAR)
        return n->str && strstr(n->str, "outputs") != NULL;
    for (size_t i = 0; i < n->n; i++)
        if (uses_outputs(n->items[i], depth + 1))
            return 1;
    return 0;
}

/* 1 when the file at path holds "outputs" (or cannot be read: then it counts as using them) */
static int file_uses_outputs(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[8192 + 8];
    size_t keep = 0, n;
    int found = 0;
    if (!f)
        return 1;
    while (!found && (n = fread(buf + keep, 1, sizeof buf - 8 - keep, f)) > 0) {
        size_t len = keep + n;
        buf[len] = '\0';
        found = strstr(buf, "outputs") != NULL;   /* SQL text: no NUL bytes */
        keep = len < 7 ? len : 7;            /* a word cut at the end of this chunk */
        memmove(buf, buf + len - keep, keep);
    }
    fclose(f);
    return found;
}

static int is_op(const ub_task *t, const char *name) { return t->op && strcmp(t->op->name, name) == 0; }

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* 1 when P -> L -> D is a chain of the hand-off (key: L's object, owned by the caller) */
static int chain(ub_engine *e, ub_task *P, ub_task *L, ub_task *D, char **key, char **file)
{
    ub_opctx *cp = ub_ctx_new(e, P, 0), *cl = ub_ctx_new(e, L, 0), *cd = ub_ctx_new(e, D, 0);
    int ok = 0;
    *key = *file = NULL;
    if (!cp || !cl || !cd)
        goto out;
    const char *to = ub_op_str(cp, "to"), *src = ub_op_str(cl, "src"), *dst = ub_op_str(cl, "dst");
    const char *loc = ub_op_str(cd, "location"), *dialect = ub_op_conn(cd, "conn", "dialect");
    if (!streq(ub_op_str(cp, "compress"), "none") || !streq(ub_op_str(cl, "check"), "none") || !streq(to, src) ||
        !dst || !loc || !*loc || ub_is_zstd_name(dst) || (dialect && strcmp(dialect, "postgres") != 0))
        goto out;
    size_t ll = strlen(loc);
    if (!(strcmp(loc, dst) == 0 || (loc[ll - 1] == '/' && strncmp(dst, loc, ll) == 0)))
        goto out;
    if (uses_outputs(D->body, 0) || (ub_op_has(cd, "setup") && file_uses_outputs(ub_op_str(cd, "setup"))))
        goto out;
    if (!(*key = ub_strdup(dst)) || !(*file = ub_strdup(to))) {
        ub_free(*key);
        *key = NULL;
        goto out;
    }
    ok = 1;
out:
    ub_ctx_free(cp);
    ub_ctx_free(cl);
    ub_ctx_free(cd);
    return ok;
}

int ub_handoff_find(ub_engine *e, ub_handoff **out, size_t *n)
{
    ub_spec *s = e->spec;
    ub_handoff *h = NULL;
    size_t cnt = 0;
    *out = NULL;
    *n = 0;
    const char *url = ub_engine_lake_url(e);
    if (!url || strncmp(url, "file:", 5) != 0)
        return 0;
    for (size_t i = 0; i < s->ntasks; i++) {
        ub_task *D = &s->tasks[i];
        if (!is_op(D, "wh.partition") || D->nafter != 1)
            continue;
        ub_task *L = &s->tasks[D->after[0]];
        if (!is_op(L, "lake.put") || L->nafter != 1)
            continue;
        ub_task *P = &s->tasks[L->after[0]];
        char *key, *file;
        if (!is_op(P, "pg.extract") || !chain(e, P, L, D, &key, &file))
            continue;
        ub_handoff *g = ub_realloc(h, (cnt + 1) * sizeof *g);
        if (!g) {
            ub_free(key);
            ub_free(file);
            ub_handoff_free(h, cnt);
            return -1;
        }
        h = g;
        h[cnt++] = (ub_handoff){ P->index, L->index, D->index, key, file };
    }
    *out = h;
    *n = cnt;
    return 0;
}

/* ---- the follower -------------------------------------------------------------- */

void ub_handoff_poll(ub_handoff_in *h, int ms)
{
    if (h->closed)
        return;
    struct pollfd pf = { h->fd, POLLIN, 0 };
    if (poll(&pf, 1, ms) <= 0)
        return;
    char buf[256];
    ssize_t k = read(h->fd, buf, sizeof buf);
    if (k < 0) {
        if (errno != EINTR && errno != EAGAIN)
            h->closed = 1;
        return;
    }
    if (k == 0) {
        h->closed = 1;
        return;
    }
    for (ssize_t i = 0; i < k; i++) {
        if (buf[i] != '\n') {
            if (h->nline + 1 < sizeof h->line)
                h->line[h->nline++] = buf[i];
            continue;
        }
        h->line[h->nline] = '\0';
        if (strcmp(h->line, "end") == 0)
            h->ended = 1;
        else if (strcmp(h->line, "go") == 0)
            h->go = 1;
        h->nline = 0;
    }
}

typedef struct follow {
    ub_reader      base;
    ub_opctx      *c;
    ub_handoff_in *h;
    int            fd;
    uint64_t       got;          /* bytes read */
    struct stat    st;           /* of the open file */
} follow;

/* At the end: what was read is the extract's committed file, whole — the file
 * it renamed into place is the one followed (P writes it in place, append-only,
 * and never rewrites it), and its size is what was read. */
static int follow_check(follow *f, ub_err *err)
{
    struct stat now;
    if (stat(f->h->final, &now) < 0)
        return ub_err_set(err, "could not stat '%s': %s", f->h->final, strerror(errno));
    if (now.st_dev != f->st.st_dev || now.st_ino != f->st.st_ino)
        return ub_err_set(err, "'%s' is not the file that was followed (another try or process replaced it)",
                          f->h->final);
    if ((uint64_t)now.st_size != f->got)
        return ub_err_set(err, "'%s' holds %lld bytes; %llu were read while it was written", f->h->final,
                          (long long)now.st_size, (unsigned long long)f->got);
    return 0;
}

static ssize_t follow_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    follow *f = (follow *)r;
    for (;;) {
        int ended = f->h->ended;             /* before the read: then an empty read is the real end */
        ssize_t k = read(f->fd, buf, n);
        if (k > 0) {
            f->got += (uint64_t)k;
            return k;
        }
        if (k < 0 && errno != EINTR)
            return ub_err_set(err, "could not read '%s': %s", f->h->path, strerror(errno));
        if (k == 0 && ended)
            return follow_check(f, err) ? -1 : 0;
        if (f->h->closed)
            return ub_err_set(err, "the upstream task ended without handing '%s' over", f->h->path);
        if (ub_op_cancelled(f->c))
            return ub_err_set(err, "stopped while following '%s'", f->h->path);
        ub_handoff_poll(f->h, 2);
    }
}

static void follow_close(ub_reader *r)
{
    follow *f = (follow *)r;
    if (f->fd >= 0)
        close(f->fd);
    ub_free(f);
}

int ub_op_stream_in(ub_opctx *c, const char **key)
{
    ub_handoff_in *h = ub_ctx_handoff(c);
    if (key)
        *key = h ? h->key : NULL;
    return h != NULL;
}

ub_reader *ub_op_stream_open(ub_opctx *c, ub_err *err)
{
    ub_handoff_in *h = ub_ctx_handoff(c);
    if (!h) {
        ub_err_set(err, "no streaming hand-off in this try");
        return NULL;
    }
    follow *f = ub_calloc(1, sizeof *f);
    if (!f) {
        ub_err_oom(err);
        return NULL;
    }
    f->fd = open(h->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0 && errno == ENOENT) {
        /* P ended before this try opened its temporary: committed (renamed), or failed
         * (removed).  Its verdict decides; the hash check catches any other file. */
        while (!h->ended && !h->closed && !ub_op_cancelled(c))
            ub_handoff_poll(h, 200);
        if (h->ended)
            f->fd = open(h->final, O_RDONLY | O_CLOEXEC);
        else
            errno = ENOENT;
    }
    if (f->fd < 0 || fstat(f->fd, &f->st) < 0) {
        ub_err_set(err, "could not open '%s': %s", h->path, strerror(errno));
        if (f->fd >= 0)
            close(f->fd);
        ub_free(f);
        return NULL;
    }
    f->base.read = follow_read;
    f->base.close = follow_close;
    f->base.name = h->path;
    f->c = c;
    f->h = h;
    return &f->base;
}

int ub_op_stream_wait(ub_opctx *c)
{
    ub_handoff_in *h = ub_ctx_handoff(c);
    if (!h)
        return 0;
    while (!h->go) {
        if (h->closed || ub_op_cancelled(c))
            return -1;
        ub_handoff_poll(h, 200);
    }
    return 0;
}
