/* file.c — the file lake backend: a local directory whose files are the objects. */
#include "lake/lake.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/fsutil.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Layout: the object KEY is the regular file ROOT/KEY; a prefix "a/b/" is
 * the directory ROOT/a/b.  Writes go through the atomic file writer of
 * stream.h (temporary file "<path>.ubtmp.<pid>.<n>", fsync, rename), so a
 * reader sees the old object or the new one, never a mix; listings skip
 * those temporary files.
 *
 * Escaping the root: keys are checked by ub_lake_key_check before they get
 * here (no "..", no absolute keys, ...).  Symlinks are the remaining way out:
 * before touching a path, the backend resolves it (or its deepest existing
 * ancestor) with realpath and refuses it when the result is not inside the
 * real root ("lake key 'K': path leaves the lake root through a symlink").
 * A symlink that stays inside the root is followed by reads and stats, but
 * listings skip every symlink (no loops, no aliases).  The check and the use
 * are two steps, so someone who can create symlinks inside the lake while
 * ubpipe runs can still race it: the lake directory must only be writable
 * by the users that run the pipeline.
 */

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

#define MAX_DEPTH 256

typedef struct flake {
    ub_lake base;
    char *root;        /* absolute, normalized, no trailing '/' (except "/") */
} flake;

/* ---- paths -------------------------------------------------------------- */

/* Lexically normalizes the absolute path p into out: no "//", no "." segment,
 * ".." removes the previous segment (never above "/"), no trailing '/'. */
static int normalize(const char *p, ub_buf *out)
{
    ub_buf_reset(out);
    if (ub_buf_addc(out, '/') < 0)
        return -1;
    while (*p && !out->err) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (out->len > 1 && out->p[out->len - 1] != '/')
                out->len--;
            if (out->len > 1)
                out->len--;                    /* the '/' before the segment */
            out->p[out->len] = '\0';
            continue;
        }
        if (out->len > 1)
            ub_buf_addc(out, '/');
        ub_buf_add(out, s, n);
    }
    return out->err ? -1 : 0;
}

/* ROOT/KEY into out (key may be "" for the root itself) */
static int obj_path(const flake *l, const char *key, ub_buf *out, ub_err *err)
{
    ub_buf_reset(out);
    ub_buf_adds(out, l->root);
    if (*key) {
        if (out->len > 1)
            ub_buf_addc(out, '/');
        ub_buf_adds(out, key);
    }
    return out->err ? ub_err_oom(err) : 0;
}

/* 1 when real (a resolved path) is root_real or below it */
static int under(const char *real, const char *root_real)
{
    size_t n = strlen(root_real);
    if (strcmp(root_real, "/") == 0)
        return 1;
    return strncmp(real, root_real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/* Refuses path (ROOT/key) when it, or its deepest existing ancestor, resolves
 * outside the real root.  A missing root is fine: nothing below it exists. */
static int check_inside(const flake *l, const char *path, const char *key, ub_err *err)
{
    char root_real[PATH_MAX], real[PATH_MAX];
    ub_buf p = UB_BUF_INIT;
    int rc = -1;
    if (!realpath(l->root, root_real)) {
        if (errno == ENOENT)
            return 0;
        return ub_err_set(err, "lake root '%s': %s", l->root, strerror(errno));
    }
    if (ub_buf_adds(&p, path) < 0) {
        ub_err_oom(err);
        goto out;
    }
    size_t rootlen = strlen(l->root);
    for (;;) {
        if (realpath(p.p, real)) {
            if (!under(real, root_real)) {
                ub_err_set(err, "lake key '%s': path leaves the lake root through a symlink", key);
                goto out;
            }
            break;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            break;                    /* let the operation itself report it */
        char *slash = strrchr(p.p, '/');
        if (!slash || (size_t)(slash - p.p) < rootlen)
            break;
        *slash = '\0';
        p.len = (size_t)(slash - p.p);
    }
    rc = 0;
out:
    ub_buf_free(&p);
    return rc;
}

static const char *url_of(const ub_lake *l) { return l->url; }

/* ---- reading and writing ------------------------------------------------ */

static ub_reader *f_open_read(ub_lake *lake, const char *key, ub_err *err)
{
    flake *l = (flake *)lake;
    ub_buf path = UB_BUF_INIT;
    ub_reader *r = NULL;
    int fd = -1;
    if (obj_path(l, key, &path, err) || check_inside(l, path.p, key, err))
        goto out;
    /* O_NONBLOCK: a FIFO in the lake must not hang us; it is refused below */
    do
        fd = open(path.p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            ub_err_set(err, "lake object '%s' does not exist in '%s'", key, url_of(lake));
        else
            ub_err_set(err, "could not open lake object '%s' ('%s'): %s", key, path.p, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ub_err_set(err, "could not stat lake object '%s' ('%s'): %s", key, path.p, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        ub_err_set(err, "lake object '%s' does not exist in '%s' (it is a prefix, not an object)",
                   key, url_of(lake));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ub_err_set(err, "lake object '%s' ('%s') is not a regular file", key, path.p);
        goto out;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        ub_err_set(err, "could not open lake object '%s' ('%s'): %s", key, path.p, strerror(errno));
        goto out;
    }
    /* a lake object is read once, start to end: drop-behind (stream.h) */
    r = ub_fd_reader(fd, path.p, UB_FD_OWN | UB_FD_DROP_BEHIND, err);   /* the reader owns fd from here */
    if (r)
        fd = -1;
out:
    if (fd >= 0)
        close(fd);
    ub_buf_free(&path);
    return r;
}

static ub_writer *f_open_write(ub_lake *lake, const char *key, ub_err *err)
{
    flake *l = (flake *)lake;
    ub_buf path = UB_BUF_INIT;
    ub_writer *w = NULL;
    if (obj_path(l, key, &path, err) || check_inside(l, path.p, key, err))
        goto out;
    /* an object at rest, read later by another task if at all: drop-behind (stream.h) */
    w = ub_file_writer_open(path.p, UB_FW_MKDIRS | UB_FW_DROP_BEHIND, err);
out:
    ub_buf_free(&path);
    return w;
}

static int f_stat(ub_lake *lake, const char *key, ub_lake_info *info, ub_err *err)
{
    flake *l = (flake *)lake;
    ub_buf path = UB_BUF_INIT;
    int rc = -1;
    if (obj_path(l, key, &path, err) || check_inside(l, path.p, key, err))
        goto out;
    struct stat st;
    if (stat(path.p, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = 0;
        else
            ub_err_set(err, "could not stat lake object '%s' ('%s'): %s", key, path.p, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = 0;                       /* a prefix is not an object */
        goto out;
    }
    if (info) {
        info->size = (uint64_t)st.st_size;
        info->mtime = (int64_t)st.st_mtime;
    }
    rc = 1;
out:
    ub_buf_free(&path);
    return rc;
}

static int f_copy(ub_lake *lake, const char *src, const char *dst, ub_err *err)
{
    ub_reader *r = f_open_read(lake, src, err);
    ub_writer *w = NULL;
    int rc = -1;
    if (!r)
        goto out;
    if (!(w = f_open_write(lake, dst, err)))
        goto out;
    if (ub_stream_copy(r, w, err) < 0)
        goto out;
    rc = ub_writer_commit(w, err);    /* frees w, even on failure */
    w = NULL;
out:
    ub_writer_abort(w);
    ub_reader_close(r);
    return rc;
}

/* ub_lake_put_link: link(2) into "<object>.ubtmp.<pid>.<n>", fsync, rename, fsync of the directory. */
static int f_put_link(ub_lake *lake, const char *key, const char *src, ub_err *err)
{
    flake *l = (flake *)lake;
    ub_buf path = UB_BUF_INIT, tmp = UB_BUF_INIT;
    char *dir = NULL;
    int rc = -1, fd = -1, linked = 0;
    struct stat st;
    if (lstat(src, &st) < 0) {
        ub_err_set(err, "could not open '%s': %s", src, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = 0;                       /* a symlink would be linked itself: copy instead */
        goto out;
    }
    if (obj_path(l, key, &path, err) || check_inside(l, path.p, key, err))
        goto out;
    if (!(dir = ub_dir_of(path.p)) || ub_tmp_name(&tmp, path.p) < 0) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_mkdirs(dir) < 0) {
        ub_err_set(err, "could not create directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    if (link(src, tmp.p) < 0) {
        if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == ENOTSUP || errno == EOPNOTSUPP)
            rc = 0;                   /* another file system, or no hard links here: copy */
        else
            ub_err_set(err, "could not link '%s' to '%s': %s", src, path.p, strerror(errno));
        goto out;
    }
    linked = 1;
    do
        fd = open(tmp.p, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ub_err_set(err, "could not open '%s': %s", path.p, fd < 0 ? strerror(errno) : "not a regular file");
        goto out;
    }
    if (ub_fsync_fd(fd) < 0) {
        ub_err_set(err, "could not sync '%s': %s", path.p, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    linked = 0;                       /* ub_rename_durable removes tmp on failure */
    if (ub_rename_durable(tmp.p, path.p, err))
        goto out;
    rc = 1;
out:
    if (fd >= 0)
        close(fd);
    if (linked)
        unlink(tmp.p);
    ub_free(dir);
    ub_buf_free(&tmp);
    ub_buf_free(&path);
    return rc;
}

/* Removes the now empty directories between path's parent and the root. */
static void prune_parents(const flake *l, char *path)
{
    size_t rootlen = strlen(l->root);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) <= rootlen)
            return;
        *slash = '\0';
        if (rmdir(path) < 0)
            return;
    }
}

static int f_remove(ub_lake *lake, const char *key, ub_err *err)
{
    flake *l = (flake *)lake;
    ub_buf path = UB_BUF_INIT;
    int rc = -1;
    if (obj_path(l, key, &path, err) || check_inside(l, path.p, key, err))
        goto out;
    struct stat st;
    if (lstat(path.p, &st) == 0 && S_ISDIR(st.st_mode)) {
        ub_err_set(err, "lake key '%s' names a prefix, not an object", key);
        goto out;
    }
    if (unlink(path.p) < 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            ub_err_set(err, "could not remove lake object '%s' ('%s'): %s", key, path.p, strerror(errno));
            goto out;
        }
    } else {
        prune_parents(l, path.p);
    }
    rc = 0;
out:
    ub_buf_free(&path);
    return rc;
}

/* ---- listing ------------------------------------------------------------ */

typedef struct ent {
    char *name;
    size_t len;
    int is_dir;
    ub_lake_info info;
} ent;

/* Key order: a directory sorts as its name followed by '/', so walking each
 * directory in this order yields every key in byte order. */
static int char_at(const ent *e, size_t i)
{
    if (i < e->len)
        return (unsigned char)e->name[i];
    return i == e->len && e->is_dir ? '/' : -1;
}

static int ent_cmp(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    for (size_t i = 0;; i++) {
        int cx = char_at(x, i), cy = char_at(y, i);
        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (cx < 0)
            return 0;
    }
}

static void free_ents(ent *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ub_free(v[i].name);
    ub_free(v);
}

typedef struct walk {
    ub_lake_list_cb cb;
    void *ud;
    ub_err *err;
    ub_buf key;        /* key of the directory being walked, with its '/' */
    ub_buf path;       /* ROOT/key */
} walk;

/* Reads directory w->path (entries starting with only, when given) into a
 * sorted array; a missing directory gives no entries. */
static int read_dir(walk *w, const char *only, ent **out, size_t *nout)
{
    DIR *d = opendir(w->path.p);
    ent *v = NULL;
    size_t n = 0, cap = 0;
    size_t onlen = only ? strlen(only) : 0;
    int rc = -1;
    ub_buf p = UB_BUF_INIT;
    *out = NULL;
    *nout = 0;
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return ub_err_set(w->err, "could not list lake prefix '%s' ('%s'): %s", ub_buf_str(&w->key),
                          w->path.p, strerror(errno));
    }
    struct dirent *de;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) {
            if (errno) {
                ub_err_set(w->err, "could not list lake prefix '%s' ('%s'): %s", ub_buf_str(&w->key),
                           w->path.p, strerror(errno));
                goto out;
            }
            break;
        }
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strstr(nm, UB_TMP_MARK))
            continue;
        if (onlen && strncmp(nm, only, onlen) != 0)
            continue;
        ub_buf_reset(&p);
        if (ub_buf_addf(&p, "%s/%s", w->path.p, nm) < 0) {
            ub_err_oom(w->err);
            goto out;
        }
        struct stat st;
        if (lstat(p.p, &st) < 0) {
            if (errno == ENOENT)
                continue;             /* removed while we list: gone */
            ub_err_set(w->err, "could not stat '%s': %s", p.p, strerror(errno));
            goto out;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            continue;                 /* symlinks, fifos, sockets: not objects */
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            ent *nv = ub_realloc(v, nc * sizeof *nv);
            if (!nv) {
                ub_err_oom(w->err);
                goto out;
            }
            v = nv;
            cap = nc;
        }
        v[n].len = strlen(nm);
        if (!(v[n].name = ub_strndup(nm, v[n].len))) {
            ub_err_oom(w->err);
            goto out;
        }
        v[n].is_dir = S_ISDIR(st.st_mode);
        v[n].info.size = (uint64_t)st.st_size;
        v[n].info.mtime = (int64_t)st.st_mtime;
        n++;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, ent_cmp);
    *out = v;                         /* the caller owns the entries now */
    *nout = n;
    v = NULL;
    n = 0;
    rc = 0;
out:
    free_ents(v, n);
    ub_buf_free(&p);
    closedir(d);
    return rc;
}

/* Walks w->path recursively; 1 when the callback asked to stop, -1 on error. */
static int walk_dir(walk *w, const char *only, int depth)
{
    ent *v = NULL;
    size_t n = 0;
    int rc = -1;
    if (depth > MAX_DEPTH) {
        ub_err_set(w->err, "lake prefix '%s' is nested too deeply", ub_buf_str(&w->key));
        return -1;
    }
    if (read_dir(w, only, &v, &n))
        return -1;
    size_t klen = w->key.len, plen = w->path.len;
    for (size_t i = 0; i < n; i++) {
        w->key.len = klen;
        w->path.len = plen;
        ub_buf_add(&w->key, v[i].name, v[i].len);
        ub_buf_addc(&w->path, '/');
        ub_buf_add(&w->path, v[i].name, v[i].len);
        if (v[i].is_dir)
            ub_buf_addc(&w->key, '/');
        if (w->key.err || w->path.err) {
            ub_err_oom(w->err);
            goto out;
        }
        int r;
        if (v[i].is_dir) {
            r = walk_dir(w, NULL, depth + 1);
            if (r < 0)
                goto out;
        } else {
            r = w->cb(w->ud, w->key.p, &v[i].info);
            if (r < 0)
                goto out;             /* ub_lake_list words the error */
        }
        if (r > 0) {
            rc = 1;
            goto out;
        }
    }
    rc = 0;
out:
    w->key.len = klen;
    w->path.len = plen;
    if (w->key.p)
        w->key.p[klen] = '\0';
    if (w->path.p)
        w->path.p[plen] = '\0';
    free_ents(v, n);
    return rc;
}

/* S3 semantics: every key that starts with prefix, in byte order.  "a/b/"
 * lists the directory a/b recursively; "a/b" also matches "a/b.csv" and
 * "a/bc/x".  Temporary files of unfinished writes are never listed. */
static int f_list(ub_lake *lake, const char *prefix, ub_lake_list_cb cb, void *ud, ub_err *err)
{
    flake *l = (flake *)lake;
    walk w = { cb, ud, err, UB_BUF_INIT, UB_BUF_INIT };
    int rc = -1;
    const char *slash = strrchr(prefix, '/');
    size_t dlen = slash ? (size_t)(slash - prefix) : 0;   /* directory part, without its '/' */
    const char *only = slash ? slash + 1 : prefix;
    if (slash)
        ub_buf_add(&w.key, prefix, dlen + 1);
    else
        ub_buf_adds(&w.key, "");
    ub_buf_adds(&w.path, l->root);
    if (dlen) {
        if (w.path.len > 1)
            ub_buf_addc(&w.path, '/');
        ub_buf_add(&w.path, prefix, dlen);
    }
    if (w.key.err || w.path.err) {
        ub_err_oom(err);
        goto out;
    }
    if (check_inside(l, w.path.p, ub_buf_str(&w.key), err))
        goto out;
    if (walk_dir(&w, *only ? only : NULL, 0) < 0)
        goto out;
    rc = 0;
out:
    ub_buf_free(&w.key);
    ub_buf_free(&w.path);
    return rc;
}

static void f_free(ub_lake *lake)
{
    flake *l = (flake *)lake;
    ub_free(l->root);
    ub_free(l->base.url);
    ub_free(l);
}

/* ub_lake_local_path: the object's file under the root (it need not exist) */
static int f_local_path(ub_lake *lake, const char *key, ub_buf *out, ub_err *err)
{
    flake *l = (flake *)lake;
    ub_buf path = UB_BUF_INIT;
    int rc = -1;
    if (obj_path(l, key, &path, err) || check_inside(l, path.p, key, err))
        goto out;
    ub_buf_adds(out, path.p);
    rc = out->err ? ub_err_oom(err) : 1;
out:
    ub_buf_free(&path);
    return rc;
}

static const ub_lake_ops file_ops = {
    .scheme = "file",
    .open_read = f_open_read,
    .open_write = f_open_write,
    .stat = f_stat,
    .list = f_list,
    .copy = f_copy,
    .remove = f_remove,
    .free = f_free,
    .put_link = f_put_link,
    .local_path = f_local_path,
};

ub_lake *ub_lake_file_open(const char *dir, ub_err *err)
{
    flake *l = NULL;
    ub_buf root = UB_BUF_INIT, url = UB_BUF_INIT;
    if (!dir || dir[0] != '/') {
        ub_err_set(err, "lake directory '%s' must be an absolute path", dir ? dir : "");
        return NULL;
    }
    if (normalize(dir, &root) || ub_buf_addf(&url, "file:%s", root.p) < 0)
        goto oom;
    if (!(l = ub_calloc(1, sizeof *l)))
        goto oom;
    l->base.ops = &file_ops;
    l->root = ub_buf_detach(&root, NULL);     /* l owns both strings now */
    l->base.url = ub_buf_detach(&url, NULL);
    if (!l->root || !l->base.url)
        goto oom;
    return &l->base;
oom:
    ub_err_oom(err);
    if (l)
        f_free(&l->base);
    ub_buf_free(&root);
    ub_buf_free(&url);
    return NULL;
}
