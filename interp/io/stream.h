/* stream.h — byte streams: the one way data moves through ubpipe.
 *
 * Readers and writers are small vtables so a pipeline stage never knows what
 * is behind it (a file, a lake object, zstd, a PostgreSQL COPY, an HTTP
 * body).  Data moves in bounded buffers; nothing holds a whole object.
 *
 * Lifetimes: ub_reader_close frees the reader.  A writer ends with exactly one
 * of ub_writer_commit (make the bytes visible, atomically where the backend
 * can) or ub_writer_abort (discard everything written; nothing becomes
 * visible); both free the writer.  Wrappers (zstd) own the stream they wrap.
 */
#ifndef UB_STREAM_H
#define UB_STREAM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"
#include "io/fsutil.h"    /* ub_write_all, ub_mkdirs, ub_sweep_tmp */

typedef struct ub_reader ub_reader;
struct ub_reader {
    /* >0 bytes read, 0 at end of stream, -1 on error (err filled) */
    ssize_t (*read)(ub_reader *r, void *buf, size_t n, ub_err *err);
    void    (*close)(ub_reader *r);
    const char *name;     /* what to call it in messages (path, key, url) */
};

typedef struct ub_writer ub_writer;
struct ub_writer {
    int  (*write)(ub_writer *w, const void *buf, size_t n, ub_err *err);
    int  (*commit)(ub_writer *w, ub_err *err);   /* frees w, even on failure */
    void (*abort)(ub_writer *w);                 /* frees w */
    const char *name;
    uint64_t bytes;       /* bytes accepted so far (for progress) */
};

static inline ssize_t ub_read(ub_reader *r, void *buf, size_t n, ub_err *e) { return r->read(r, buf, n, e); }
static inline void    ub_reader_close(ub_reader *r) { if (r) r->close(r); }
static inline int     ub_write(ub_writer *w, const void *buf, size_t n, ub_err *e) { return w->write(w, buf, n, e); }
static inline int     ub_writer_commit(ub_writer *w, ub_err *e) { return w->commit(w, e); }
static inline void    ub_writer_abort(ub_writer *w) { if (w) w->abort(w); }

#define UB_IO_CHUNK (256 * 1024)

/* Files.  The writer is atomic: it writes "<path>.ubtmp.<pid>.<n>" next to the
 * target, and commit fsyncs, renames over the target and fsyncs the
 * directory; abort unlinks the temporary file.  Its flags:
 *   UB_FW_MKDIRS       create missing parent directories;
 *   UB_FW_DROP_BEHIND  a file written once and not read back soon (a lake
 *                      object): as it grows, the pages already written back
 *                      leave the page cache, so that at most two 8 MiB
 *                      windows of it are in memory at a time (stream.c).
 * Neither changes durability: commit fsyncs either way. */
enum { UB_FW_MKDIRS = 1, UB_FW_DROP_BEHIND = 2 };
ub_reader *ub_file_reader_open(const char *path, ub_err *err);
/* The same, for a path that may be a FIFO (a vendor file streamed in): where a plain open
 * would block until a writer comes, this one waits in poll and asks stop(ud) every 200 ms;
 * when it says stop, NULL with "stopped while waiting for a writer".  stop may be NULL. */
ub_reader *ub_file_reader_open_until(const char *path, int (*stop)(void *ud), void *ud, ub_err *err);
ub_writer *ub_file_writer_open(const char *path, int flags, ub_err *err);
/* The temporary file a file writer writes (until commit or abort), NULL for another writer. */
const char *ub_file_writer_tmp(const ub_writer *w);
/* Reader over an already open descriptor.  Flags:
 *   UB_FD_OWN          the reader closes fd (else the caller keeps it);
 *   UB_FD_DROP_BEHIND  a regular file read once, start to end (a lake
 *                      object): sequential readahead, and what lies more than
 *                      8 MiB behind the reader leaves the page cache. */
enum { UB_FD_OWN = 1, UB_FD_DROP_BEHIND = 2 };
ub_reader *ub_fd_reader(int fd, const char *name, int flags, ub_err *err);

/* zstd: the reader decompresses its input, the writer compresses into its
 * output (level 0 = default).  Both take ownership of the wrapped stream. */
ub_reader *ub_zstd_reader(ub_reader *in, ub_err *err);
ub_writer *ub_zstd_writer(ub_writer *out, int level, ub_err *err);

/* Copies everything from r to w; returns bytes copied or -1. Does not close
 * or commit either side. */
int64_t ub_stream_copy(ub_reader *r, ub_writer *w, ub_err *err);

/* 1 when name ends in ".zst" */
int ub_is_zstd_name(const char *name);

/* Removes the temporaries that a killed process left in dir (recursively);
 * returns the number removed.  The sweeper is ub_sweep_tmp of fsutil.h; this
 * is its name for the stream users that predate fsutil.h. */
static inline int ub_stream_sweep_tmp(const char *dir) { return ub_sweep_tmp(dir); }

#endif
