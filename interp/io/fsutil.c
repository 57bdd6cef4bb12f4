/* fsutil.c — file helpers: mkdir -p, rm -r, small reads, atomic replacement, locks, pids, temp sweep. */
#include "io/fsutil.h"
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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

#define MAX_DEPTH 64

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

static int rm_tree(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
    if (depth > MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    DIR *d = opendir(path);
    if (!d)
        return -1;
    ub_buf p = UB_BUF_INIT;
    int rc = 0, saved = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        ub_buf_reset(&p);
        if (ub_buf_addf(&p, "%s/%s", path, de->d_name) < 0) {
            rc = -1;
            saved = ENOMEM;
            break;
        }
        if (rm_tree(p.p, depth + 1) < 0 && !saved) {
            rc = -1;
            saved = errno;
        }
    }
    closedir(d);
    ub_buf_free(&p);
    if (rc == 0 && rmdir(path) < 0)
        return -1;
    errno = saved;
    return rc;
}

int ub_rm_tree(const char *path)
{
    return rm_tree(path, 0);
}

int ub_open_regular(const char *path, const char **bad)
{
    int fd;
    struct stat st;
    *bad = NULL;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *bad = S_ISDIR(st.st_mode)  ? "is a directory, not a file"
             : S_ISFIFO(st.st_mode) ? "is a FIFO, not a file"
             : S_ISSOCK(st.st_mode) ? "is a socket, not a file"
             : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "is a device, not a file"
                                                          : "is not a regular file";
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int ub_read_small(const char *path, ub_buf *out, size_t max, ub_err *err)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return ub_err_set(err, "could not open '%s': %s", path, strerror(errno));
    }
    ub_buf_reset(out);
    char chunk[4096];
    int rc = 1;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ub_err_set(err, "could not read '%s': %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > max) {
            rc = ub_err_set(err, "'%s' is larger than %zu bytes", path, max);
            break;
        }
        if (ub_buf_add(out, chunk, (size_t)n) < 0) {
            rc = ub_err_oom(err);
            break;
        }
    }
    if (rc == 1 && ub_buf_add(out, "", 0) < 0)   /* "" rather than NULL when empty */
        rc = ub_err_oom(err);
    close(fd);
    return rc;
}

int ub_tmp_name(ub_buf *out, const char *target)
{
    unsigned long n = atomic_fetch_add(&tmp_counter, 1);
    ub_buf_reset(out);
    return ub_buf_addf(out, "%s" UB_TMP_MARK "%ld.%lu", target, (long)getpid(), n) < 0 ? -1 : 0;
}

int ub_fsync_fd(int fd)
{
    int r;
    while ((r = fsync(fd)) < 0 && errno == EINTR)
        ;
    return r;
}

int ub_fsync_dir(const char *dir)
{
    int fd, rc;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    rc = ub_fsync_fd(fd);
    /* some file systems cannot fsync a directory; that is not a failure */
    if (rc < 0 && (errno == EINVAL || errno == ENOTSUP))
        rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

char *ub_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ub_strdup(".");
    if (slash == path)
        return ub_strdup("/");
    return ub_strndup(path, (size_t)(slash - path));
}

int ub_rename_durable(const char *tmp, const char *path, ub_err *err)
{
    char *dir = NULL;
    int rc = -1;
    if (rename(tmp, path) < 0) {
        /* named by its target: the temporary file is an implementation detail, and gone */
        ub_err_set(err, "could not write '%s': %s", path, strerror(errno));
        goto out;
    }
    if (!(dir = ub_dir_of(path))) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_fsync_dir(dir) < 0) {
        /* the file is in place; only its durability is in doubt */
        ub_err_set(err, "could not sync directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        unlink(tmp);           /* harmless after a successful rename: ENOENT */
    ub_free(dir);
    return rc;
}

int ub_write_file_atomic(const char *path, const void *p, size_t n, ub_err *err)
{
    ub_buf tmp = UB_BUF_INIT;
    char *dir = NULL;
    int fd = -1, rc = -1;
    if (ub_tmp_name(&tmp, path) < 0 || !(dir = ub_dir_of(path))) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_mkdirs(dir) < 0) {
        ub_err_set(err, "could not create directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    do
        fd = open(tmp.p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        ub_err_set(err, "could not create '%s': %s", path, strerror(errno));
        goto out;
    }
    if (ub_write_all(fd, p, n) < 0) {
        ub_err_set(err, "could not write '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (ub_fsync_fd(fd) < 0) {
        ub_err_set(err, "could not sync '%s': %s", path, strerror(errno));
        goto fail;
    }
    int cr = close(fd);
    fd = -1;
    if (cr < 0 && errno != EINTR) {
        ub_err_set(err, "could not close '%s': %s", path, strerror(errno));
        goto fail;
    }
    rc = ub_rename_durable(tmp.p, path, err);   /* removes tmp on failure */
    goto out;
fail:
    unlink(tmp.p);
out:
    if (fd >= 0)
        close(fd);
    ub_free(dir);
    ub_buf_free(&tmp);
    return rc;
}

int ub_lock_file(const char *path, int nonblock, ub_err *err)
{
    int fd;
    do
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return ub_err_set(err, "could not open lock '%s': %s", path, strerror(errno));
    int r;
    while ((r = flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0))) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        int busy = errno == EWOULDBLOCK;
        if (!busy)
            ub_err_set(err, "could not lock '%s': %s", path, strerror(errno));
        close(fd);
        return busy ? -2 : -1;
    }
    return fd;
}

int ub_pid_alive(long long pid)
{
    if (pid <= 0 || pid > INT_MAX || (kill((pid_t)pid, 0) < 0 && errno != EPERM))
        return 0;
#ifdef __linux__
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        const char *paren = strrchr(buf, ')');      /* "pid (comm) S ..." */
        if (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
            return 0;
    }
#endif
    return 1;
}

/* The writer's pid in a temp name (after the mark), or 0 when unreadable. */
static long long tmp_pid(const char *mark)
{
    const char *s = mark + sizeof UB_TMP_MARK - 1;
    char *end;
    errno = 0;
    long long pid = strtoll(s, &end, 10);
    if (errno || end == s || *end != '.' || pid <= 0)
        return 0;
    return pid;
}

int ub_tmp_is_stale(const char *name)
{
    const char *m = strstr(name, UB_TMP_MARK);
    if (!m)
        return 0;
    long long pid = tmp_pid(m);
    if (pid == 0)
        return 1;
    if (pid == (long long)getpid())
        return 0;          /* another thread may be writing it */
    return !ub_pid_alive(pid);
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
        if (strstr(e->d_name, UB_TMP_MARK)) {
            if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && ub_tmp_is_stale(e->d_name) &&
                rm_tree(path.p, 0) == 0)
                removed++;
        } else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
            int r = sweep(path.p, depth + 1);
            if (r > 0)
                removed += r;
        }
    }
    closedir(d);
    ub_buf_free(&path);
    return removed;
}

int ub_sweep_tmp(const char *dir)
{
    return sweep(dir, 0);
}

void ub_sweep_tmp_of(const char *path)
{
    char *parent = ub_dir_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    ub_buf p = UB_BUF_INIT;
    DIR *d = parent ? opendir(parent) : NULL;
    struct dirent *de;
    if (!d)
        goto out;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, UB_TMP_MARK, sizeof UB_TMP_MARK - 1) != 0)
            continue;
        long long pid = tmp_pid(nm + bl);
        if (pid != (long long)getpid() && ub_pid_alive(pid))
            continue;
        ub_buf_reset(&p);
        if (ub_buf_addf(&p, "%s/%s", parent, nm) == 0)
            rm_tree(p.p, 0);
    }
    closedir(d);
out:
    ub_buf_free(&p);
    ub_free(parent);
}
