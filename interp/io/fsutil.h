/* fsutil.h — the one home of ubpipe's file helpers: mkdir -p, rm -r, small
 * whole-file reads, atomic replacement (temp + fsync + rename + fsync of the
 * directory), lock files, pid liveness and the sweeper of temporary files
 * that killed writers left behind.
 *
 * Layer: io/ (may include base/ only).
 *
 * Temporary files and directories are named "<target>" UB_TMP_MARK
 * "<pid>.<n>": the pid of the writer, so a sweeper can tell a live writer's
 * temp from a dead one's.  Lake keys may not contain the mark. */
#ifndef UB_FSUTIL_H
#define UB_FSUTIL_H
#include <stddef.h>
#include "base/buf.h"
#include "base/err.h"

#define UB_TMP_MARK ".ubtmp."

/* write(2) until all n bytes are written (EINTR retried): 0, or -1 with errno set. */
int ub_write_all(int fd, const char *p, size_t n);

/* mkdir -p with mode 0755: 0, or -1 with errno set. */
int ub_mkdirs(const char *path);

/* The directory part of path ("." when there is none, "/" for "/x"); the
 * caller owns the result.  NULL when out of memory. */
char *ub_dir_of(const char *path);

/* rm -rf that never follows symlinks: 0 (also when path is missing), or -1
 * with errno set. */
int ub_rm_tree(const char *path);

/* The whole of a small file into out (NUL-terminated, "" when empty):
 * 1 read, 0 missing, -1 error (also when larger than max). */
int ub_read_small(const char *path, ub_buf *out, size_t max, ub_err *err);

/* Opens path for reading when it is a regular file: the descriptor (blocking,
 * close-on-exec).  -1 with errno set when it cannot be opened, or -1 with
 * *bad set ("is a directory, not a file", "is a FIFO, not a file", ...) when
 * it is something else: a FIFO is opened without blocking, so a spec naming
 * one fails at once instead of waiting for a writer.  *bad is NULL otherwise. */
int ub_open_regular(const char *path, const char **bad);

/* Sets out to a fresh temporary name for target: "<target>.ubtmp.<pid>.<n>",
 * n unique within the process.  0, or -1 when out of memory. */
int ub_tmp_name(ub_buf *out, const char *target);

/* fsync(2) with EINTR retried: 0, or -1 with errno set. */
int ub_fsync_fd(int fd);

/* fsync of a directory (file systems that cannot fsync one are not a
 * failure): 0, or -1 with errno set. */
int ub_fsync_dir(const char *dir);

/* Puts the finished (already fsynced and closed) file tmp in the place of
 * path: rename, then fsync of path's directory.  On failure tmp is removed
 * and err says what failed. */
int ub_rename_durable(const char *tmp, const char *path, ub_err *err);

/* Replaces path atomically with the n bytes at p (parent directories are
 * created): temp, write, fsync, rename, fsync of the directory. */
int ub_write_file_atomic(const char *path, const void *p, size_t n, ub_err *err);

/* Opens (creating) the lock file path and takes its flock: the descriptor
 * (the lock lasts until it is closed), -2 when nonblock and someone else
 * holds it, -1 on error (err filled). */
int ub_lock_file(const char *path, int nonblock, ub_err *err);

/* 1 while process pid exists and is not a zombie waiting to be reaped. */
int ub_pid_alive(long long pid);

/* 1 when name carries the temp mark and its writer is gone (names whose pid
 * cannot be read count as gone; the calling process counts as alive). */
int ub_tmp_is_stale(const char *name);

/* Removes, under dir (recursively), every file or directory whose name
 * carries the temp mark and whose writer is gone; returns the number
 * removed (0 when dir is missing, -1 when it cannot be opened). */
int ub_sweep_tmp(const char *dir);

/* Removes the temporaries of path itself ("<path>.ubtmp.*" beside it) whose
 * writer is gone, and those of the calling process too (it is about to make
 * a new one). */
void ub_sweep_tmp_of(const char *path);

#endif
