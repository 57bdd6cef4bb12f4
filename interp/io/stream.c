/* stream.c — file and descriptor streams, the atomic file writer, copy and temp sweep. */
#include "io/stream.h"
#include "base/buf.h"
#include "base/mem.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

#define TMP_MARK ".ubtmp."

/* ---- readers over a descriptor ------------------------------------------ */

typedef struct fd_reader {
    ub_reader base;
    int   fd;
    int   own_fd;
    char *name;          /* owned copy; base.name points here */
} fd_reader;

static ssize_t fd_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    fd_reader *f = (fd_reader *)r;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    for (;;) {
        ssize_t got = read(f->fd, buf, n);
        if (got >= 0)
            return got;
        if (errno == EINTR)
            continue;
        ub_err_set(err, "could not read '%s': %s", f->name, strerror(errno));
        return -1;
    }
}

static void fd_close(ub_reader *r)
{
    fd_reader *f = (fd_reader *)r;
    if (f->own_fd && f->fd >= 0)
        close(f->fd);
    ub_free(f->name);
    ub_free(f);
}

ub_reader *ub_fd_reader(int fd, const char *name, int own_fd, ub_err *err)
{
    fd_reader *f = ub_calloc(1, sizeof *f);
    char *nm = ub_strdup(name ? name : "<fd>");
    if (!f || !nm) {
        ub_free(f);
        ub_free(nm);
        ub_err_oom(err);
        return NULL;
    }
    f->fd = fd;
    f->own_fd = own_fd;
    f->name = nm;
    f->base.read = fd_read;
    f->base.close = fd_close;
    f->base.name = nm;
    return &f->base;
}

ub_reader *ub_file_reader_open(const char *path, ub_err *err)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        ub_err_set(err, "could not open '%s': %s", path, strerror(errno));
        return NULL;
    }
    ub_reader *r = ub_fd_reader(fd, path, 1, err);   /* the reader owns fd */
    if (!r)
        close(fd);
    return r;
}

/* ---- the atomic file writer --------------------------------------------- */

typedef struct file_writer {
    ub_writer base;
    int   fd;
    char *path;          /* target; base.name points here */
    char *tmp;           /* "<path>.ubtmp.<pid>.<n>" */
    char  buf[64 * 1024];/* small writes are gathered: one write(2) per 64 KiB */
    size_t blen;
} file_writer;

static atomic_ulong tmp_counter;

int ub_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n > SSIZE_MAX ? SSIZE_MAX : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {          /* should not happen for regular files */
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Directory part of path ("." when there is none); caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ub_strdup(".");
    if (slash == path)
        return ub_strdup("/");
    return ub_strndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *dir)
{
    int fd, rc = -1;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    while ((rc = fsync(fd)) < 0 && errno == EINTR)
        ;
    /* some file systems cannot fsync a directory; that is not a failure */
    if (rc < 0 && (errno == EINVAL || errno == ENOTSUP))
        rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int ub_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        tmp[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int fw_flush(file_writer *f, ub_err *err)
{
    if (f->blen && ub_write_all(f->fd, f->buf, f->blen) < 0)
        return ub_err_set(err, "could not write '%s': %s", f->tmp, strerror(errno));
    f->blen = 0;
    return 0;
}

static int fw_write(ub_writer *w, const void *buf, size_t n, ub_err *err)
{
    file_writer *f = (file_writer *)w;
    if (f->fd < 0)
        return ub_err_set(err, "could not write '%s': writer already failed", f->path);
    if (f->blen + n > sizeof f->buf && fw_flush(f, err))
        return -1;
    if (n >= sizeof f->buf) {
        if (ub_write_all(f->fd, buf, n) < 0)
            return ub_err_set(err, "could not write '%s': %s", f->tmp, strerror(errno));
    } else {
        memcpy(f->buf + f->blen, buf, n);
        f->blen += n;
    }
    f->base.bytes += n;
    return 0;
}

static void fw_free(file_writer *f)
{
    ub_free(f->path);
    ub_free(f->tmp);
    ub_free(f);
}

static void fw_abort(ub_writer *w)
{
    file_writer *f = (file_writer *)w;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->tmp);
    fw_free(f);
}

static int fw_commit(ub_writer *w, ub_err *err)
{
    file_writer *f = (file_writer *)w;
    char *dir = NULL;
    int rc = -1, fd = f->fd;
    if (fd >= 0 && fw_flush(f, err)) {
        close(fd);
        f->fd = -1;
        goto out;                       /* out: unlinks the temporary file */
    }
    f->fd = -1;
    if (fd < 0) {
        ub_err_set(err, "could not write '%s': writer already failed", f->path);
        goto out;
    }
    int r;
    while ((r = fsync(fd)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        ub_err_set(err, "could not sync '%s': %s", f->tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) < 0 && errno != EINTR) {
        ub_err_set(err, "could not close '%s': %s", f->tmp, strerror(errno));
        goto out;
    }
    if (rename(f->tmp, f->path) < 0) {
        ub_err_set(err, "could not rename '%s' to '%s': %s", f->tmp, f->path, strerror(errno));
        goto out;
    }
    dir = dir_of(f->path);
    if (!dir) {
        ub_err_oom(err);
        goto out;
    }
    if (fsync_dir(dir) < 0) {
        /* the file is in place; only its durability is in doubt */
        ub_err_set(err, "could not sync directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        unlink(f->tmp);        /* harmless after a successful rename: ENOENT */
    ub_free(dir);
    fw_free(f);
    return rc;
}

ub_writer *ub_file_writer_open(const char *path, int make_dirs, ub_err *err)
{
    file_writer *f = ub_calloc(1, sizeof *f);
    char *dir = NULL;
    ub_buf tmp = UB_BUF_INIT;
    if (!f)
        goto oom;
    f->fd = -1;
    f->path = ub_strdup(path);
    if (!f->path)
        goto oom;
    unsigned long n = atomic_fetch_add(&tmp_counter, 1);
    if (ub_buf_addf(&tmp, "%s" TMP_MARK "%ld.%lu", path, (long)getpid(), n) < 0)
        goto oom;
    f->tmp = ub_buf_detach(&tmp, NULL);   /* f owns the storage now */
    if (!f->tmp)
        goto oom;
    if (make_dirs) {
        dir = dir_of(path);
        if (!dir)
            goto oom;
        if (ub_mkdirs(dir) < 0) {
            ub_err_set(err, "could not create directory '%s': %s", dir, strerror(errno));
            goto fail;
        }
    }
    do
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        ub_err_set(err, "could not create '%s': %s", f->tmp, strerror(errno));
        goto fail;
    }
    f->base.write = fw_write;
    f->base.commit = fw_commit;
    f->base.abort = fw_abort;
    f->base.name = f->path;
    ub_free(dir);
    return &f->base;
oom:
    ub_err_oom(err);
fail:
    ub_buf_free(&tmp);
    ub_free(dir);
    if (f)
        fw_free(f);
    return NULL;
}

/* ---- helpers ------------------------------------------------------------ */

int64_t ub_stream_copy(ub_reader *r, ub_writer *w, ub_err *err)
{
    int64_t total = 0;
    char *buf = ub_malloc(UB_IO_CHUNK);
    if (!buf)
        return ub_err_oom(err);
    for (;;) {
        ssize_t n = ub_read(r, buf, UB_IO_CHUNK, err);
        if (n < 0) {
            total = -1;
            goto out;
        }
        if (n == 0)
            break;
        if (ub_write(w, buf, (size_t)n, err) < 0) {
            total = -1;
            goto out;
        }
        total += n;
    }
out:
    ub_free(buf);
    return total;
}

int ub_is_zstd_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n >= 4 && memcmp(name + n - 4, ".zst", 4) == 0;
}

/* A temp file is stale unless the pid in its name is alive (ours included:
 * another thread may be writing it).  Names we cannot parse count as stale. */
/* 1 when /proc says the process has exited and waits to be reaped. */
static int pid_is_zombie(long pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');        /* the state follows "(comm) " */
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static int tmp_is_stale(const char *name)
{
    const char *m = strstr(name, TMP_MARK);
    if (!m)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(m + sizeof TMP_MARK - 1, &end, 10);
    if (errno || end == m + sizeof TMP_MARK - 1 || *end != '.' || pid <= 0)
        return 1;
    if ((pid_t)pid == getpid())
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return 1;
    return pid_is_zombie(pid);       /* a zombie writes nothing more */
}

static int sweep(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int removed = 0;
    ub_buf path = UB_BUF_INIT;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        ub_buf_reset(&path);
        if (ub_buf_addf(&path, "%s/%s", dir, e->d_name) < 0)
            continue;
        struct stat st;
        if (lstat(path.p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 64) {
                int r = sweep(path.p, depth + 1);
                if (r > 0)
                    removed += r;
            }
        } else if (S_ISREG(st.st_mode) && tmp_is_stale(e->d_name)) {
            if (unlink(path.p) == 0)
                removed++;
        }
    }
    closedir(d);
    ub_buf_free(&path);
    return removed;
}

int ub_stream_sweep_tmp(const char *dir)
{
    return sweep(dir, 0);
}
