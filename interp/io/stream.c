/* stream.c — file and descriptor streams, the atomic file writer, copy. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* sync_file_range */
#endif
#include "io/stream.h"
#include "io/fsutil.h"
#include "base/buf.h"
#include "base/mem.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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

/* ---- readers over a descriptor ------------------------------------------ */

typedef struct fd_reader {
    ub_reader base;
    int   fd;
    int   own_fd;
    int   drop;          /* UB_FD_DROP_BEHIND */
    off_t pos;           /* bytes read so far */
    off_t dropped;       /* of them, the ones whose pages were let go */
    char *name;          /* owned copy; base.name points here */
} fd_reader;

/* Drop-behind.  A lake object that a task reads (or writes) once, start to
 * end, has no use for its pages in the page cache once they are behind it:
 * left there, a gigabyte of them pushes out what other processes (the
 * warehouse) still need, and each page is a fresh page of memory to fault
 * in.  So, as PostgreSQL's ring buffers do for bulk reads and writes, the
 * stream keeps a window of UB_DROP_WINDOW bytes in the cache and asks the
 * kernel to let go of what lies before it (posix_fadvise DONTNEED).  The
 * pages the kernel frees are the ones the next window reuses.  Only a hint:
 * no failure of it is an error, and it changes no byte read or written. */
#define UB_DROP_WINDOW ((off_t)8 << 20)

static void fd_drop_behind(fd_reader *f)
{
#if defined(POSIX_FADV_DONTNEED)
    if (f->pos - f->dropped < 2 * UB_DROP_WINDOW)
        return;
    off_t upto = f->pos - UB_DROP_WINDOW;
    (void)posix_fadvise(f->fd, f->dropped, upto - f->dropped, POSIX_FADV_DONTNEED);
    f->dropped = upto;
#else
    (void)f;
#endif
}

static ssize_t fd_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    fd_reader *f = (fd_reader *)r;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    for (;;) {
        ssize_t got = read(f->fd, buf, n);
        if (got >= 0) {
            f->pos += got;
            if (f->drop)
                fd_drop_behind(f);
            return got;
        }
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

ub_reader *ub_fd_reader(int fd, const char *name, int flags, ub_err *err)
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
    f->own_fd = (flags & UB_FD_OWN) != 0;
    f->drop = (flags & UB_FD_DROP_BEHIND) != 0;
#if defined(POSIX_FADV_SEQUENTIAL)
    if (f->drop)   /* read once, start to end: a larger readahead; on a pipe, ESPIPE, harmless */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
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
    ub_reader *r = ub_fd_reader(fd, path, UB_FD_OWN, err);   /* the reader owns fd */
    if (!r)
        close(fd);
    return r;
}

ub_reader *ub_file_reader_open_until(const char *path, int (*stop)(void *ud), void *ud, ub_err *err)
{
    int fd, fl;
    struct stat st;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO opens at once, writer or not */
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        ub_err_set(err, "could not open '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        /* Linux reports POLLIN once there are bytes and POLLHUP only once a writer
         * came and went, never for a FIFO no writer has opened yet */
        for (;;) {
            struct pollfd pf = { fd, POLLIN, 0 };
            int k = poll(&pf, 1, 200);
            if (k > 0)
                break;
            if (k < 0 && errno != EINTR) {
                ub_err_set(err, "waiting for '%s': %s", path, strerror(errno));
                close(fd);
                return NULL;
            }
            if (stop && stop(ud)) {
                ub_err_set(err, "'%s': stopped while waiting for a writer on the FIFO", path);
                close(fd);
                return NULL;
            }
        }
    }
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {   /* reads block again */
        ub_err_set(err, "'%s': %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    ub_reader *r = ub_fd_reader(fd, path, UB_FD_OWN, err);   /* the reader owns fd */
    if (!r)
        close(fd);
    return r;
}

/* ---- the atomic file writer --------------------------------------------- */

typedef struct file_writer {
    ub_writer base;
    int   fd;
    int   drop;          /* UB_FW_DROP_BEHIND */
    char *path;          /* target; base.name points here */
    char *tmp;           /* "<path>.ubtmp.<pid>.<n>" */
    char  buf[64 * 1024];/* small writes are gathered: one write(2) per 64 KiB */
    size_t blen;
    off_t written;       /* bytes handed to write(2) */
    off_t flushed;       /* of them, the ones whose writeback was started */
    off_t dropped;       /* of those, the ones written back and let go (drop-behind) */
} file_writer;

/* Every FW_FLUSH_AFTER bytes written, the kernel is asked to start writing
 * them out (Linux sync_file_range, SYNC_FILE_RANGE_WRITE: it does not wait
 * for the disk), as PostgreSQL does with its *_flush_after settings.  The
 * fsync of the commit, which still decides durability, then finds little
 * left to write: a large file's disk time overlaps the writing instead of
 * stalling the task at its end, and dirty pages do not pile up in memory
 * for other processes (the warehouse's COPY) to be throttled by.
 * With drop-behind (UB_FW_DROP_BEHIND, see UB_DROP_WINDOW), the window before
 * the one just started is waited for — its writeback has had a window's
 * worth of writing to finish — and its clean pages are let go. */
#define FW_FLUSH_AFTER UB_DROP_WINDOW

static void fw_start_writeback(file_writer *f)
{
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    if (f->written - f->flushed < FW_FLUSH_AFTER)
        return;
    /* a failure here is no failure: the fsync at commit reports what matters */
    (void)sync_file_range(f->fd, f->flushed, f->written - f->flushed, SYNC_FILE_RANGE_WRITE);
    off_t behind = f->flushed;
    f->flushed = f->written;
    if (f->drop && behind > f->dropped) {
        (void)sync_file_range(f->fd, f->dropped, behind - f->dropped,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
        (void)posix_fadvise(f->fd, f->dropped, behind - f->dropped, POSIX_FADV_DONTNEED);
        f->dropped = behind;
    }
#else
    (void)f;
#endif
}

/* write(2) of n bytes of the file, then writeback started when enough piled up */
static int fw_put(file_writer *f, const void *p, size_t n, ub_err *err)
{
    if (ub_write_all(f->fd, p, n) < 0)
        return ub_err_set(err, "could not write '%s': %s", f->path, strerror(errno));
    f->written += (off_t)n;
    fw_start_writeback(f);
    return 0;
}

static int fw_flush(file_writer *f, ub_err *err)
{
    if (f->blen && fw_put(f, f->buf, f->blen, err))
        return -1;
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
        if (fw_put(f, buf, n, err))
            return -1;
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
    if (ub_fsync_fd(fd) < 0) {
        ub_err_set(err, "could not sync '%s': %s", f->path, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) < 0 && errno != EINTR) {
        ub_err_set(err, "could not close '%s': %s", f->path, strerror(errno));
        goto out;
    }
    rc = ub_rename_durable(f->tmp, f->path, err);   /* removes the temp on failure */
out:
    if (rc < 0)
        unlink(f->tmp);        /* harmless when already gone: ENOENT */
    fw_free(f);
    return rc;
}

const char *ub_file_writer_tmp(const ub_writer *w)
{
    return w && w->commit == fw_commit ? ((const file_writer *)w)->tmp : NULL;
}

ub_writer *ub_file_writer_open(const char *path, int flags, ub_err *err)
{
    file_writer *f = ub_calloc(1, sizeof *f);
    char *dir = NULL;
    ub_buf tmp = UB_BUF_INIT;
    if (!f)
        goto oom;
    f->fd = -1;
    f->drop = (flags & UB_FW_DROP_BEHIND) != 0;
    f->path = ub_strdup(path);
    if (!f->path)
        goto oom;
    if (ub_tmp_name(&tmp, path) < 0)
        goto oom;
    f->tmp = ub_buf_detach(&tmp, NULL);   /* f owns the storage now */
    if (!f->tmp)
        goto oom;
    if (flags & UB_FW_MKDIRS) {
        dir = ub_dir_of(path);
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
        ub_err_set(err, "could not create '%s': %s", f->path, strerror(errno));
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
