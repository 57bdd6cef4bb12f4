/* lake.h — the data lake: one interface, a file and an S3 backend.
 *
 * Keys are relative, '/'-separated ("raw/movie_review/2021-05-01/movie.csv").
 * ub_lake_key_check refuses empty keys, absolute keys, "." and ".." segments,
 * empty segments, backslashes and control characters, so no key can escape
 * the lake root.  Operators only use these functions; they never know which
 * backend is behind a lake.
 */
#ifndef UB_LAKE_H
#define UB_LAKE_H
#include <stdint.h>
#include "base/buf.h"
#include "base/err.h"
#include "io/stream.h"

typedef struct ub_lake ub_lake;

typedef struct ub_lake_info {
    uint64_t size;
    int64_t  mtime;        /* seconds since the epoch, 0 if unknown */
} ub_lake_info;

/* Called once per object of a listing, in key order; return non-zero to stop. */
typedef int (*ub_lake_list_cb)(void *ud, const char *key, const ub_lake_info *st);

typedef struct ub_lake_ops {
    const char *scheme;                                   /* "file", "s3" */
    ub_reader *(*open_read)(ub_lake *, const char *key, ub_err *);
    ub_writer *(*open_write)(ub_lake *, const char *key, ub_err *);
    int  (*stat)(ub_lake *, const char *key, ub_lake_info *st, ub_err *);  /* 1 found, 0 missing, -1 error */
    int  (*list)(ub_lake *, const char *prefix, ub_lake_list_cb cb, void *ud, ub_err *);
    int  (*copy)(ub_lake *, const char *src, const char *dst, ub_err *);
    int  (*remove)(ub_lake *, const char *key, ub_err *);   /* missing is not an error */
    void (*free)(ub_lake *);
    /* optional (NULL: the backend cannot): see ub_lake_put_link */
    int  (*put_link)(ub_lake *, const char *key, const char *path, ub_err *);
    /* optional: see ub_lake_local_path */
    int  (*local_path)(ub_lake *, const char *key, ub_buf *out, ub_err *);
} ub_lake_ops;

struct ub_lake {
    const ub_lake_ops *ops;
    char *url;            /* "file:/abs/dir" or "s3://bucket/prefix" */
};

/* Opens a lake from its URL: "file:DIR" (DIR relative to base_dir unless
 * absolute) or "s3://BUCKET[/PREFIX]".  The caller owns the result. */
ub_lake *ub_lake_open(const char *url, const char *base_dir, ub_err *err);
/* 1 when url starts with a scheme ub_lake_open knows (file:, s3://), for checks before any open. */
int      ub_lake_url_known(const char *url);
void     ub_lake_free(ub_lake *lake);

int ub_lake_key_check(const char *key, ub_err *err);

/* The areas of a lake reference "AREA:KEY" in a spec (NULL-terminated);
 * AREA is the first segment of the key. */
extern const char *const ub_lake_areas[];
/* 1 when the n bytes at s name one of ub_lake_areas. */
int ub_lake_is_area(const char *s, size_t n);
/* ref is a lake reference "AREA:KEY" (colon: its ':'): -1 with a message when
 * KEY starts with '/' ("raw:/etc/passwd"), which the joined key "raw//etc/passwd"
 * would only show as an empty segment. */
int ub_lake_ref_relative(const char *ref, const char *colon, ub_err *err);

/* "s3://BUCKET[/KEY]" split in place: 1 with *bucket (blen bytes) and *key
 * (after the first '/' of the path, "" when none) pointing into url; 0 when
 * url is not an s3:// URL; -1 when it is one without a bucket. */
int ub_s3_url_split(const char *url, const char **bucket, size_t *blen, const char **key);

/* Opens key for reading, decompressing it when its name ends in ".zst"
 * (ub_is_zstd_name).  The caller owns the reader. */
ub_reader *ub_lake_open_read_decoded(ub_lake *l, const char *key, ub_err *err);

ub_reader *ub_lake_open_read(ub_lake *l, const char *key, ub_err *err);
ub_writer *ub_lake_open_write(ub_lake *l, const char *key, ub_err *err);
int ub_lake_stat(ub_lake *l, const char *key, ub_lake_info *st, ub_err *err);
int ub_lake_list(ub_lake *l, const char *prefix, ub_lake_list_cb cb, void *ud, ub_err *err);
int ub_lake_copy(ub_lake *l, const char *src, const char *dst, ub_err *err);
int ub_lake_remove(ub_lake *l, const char *key, ub_err *err);
/* Makes the local regular file path the object key without copying its
 * bytes, when the backend can: on the file lake, on the same file system, a
 * hard link to an atomic temporary name beside the object, fsync of the file,
 * rename over the object, fsync of the directory.  The object then shares the
 * file's inode, so only use it for files that are never rewritten in place
 * (ubpipe's own, which are always replaced by rename).  Returns 1 done, 0 when
 * the backend cannot (another backend or file system, not a regular file: the
 * caller streams the bytes instead; nothing was written), -1 error. */
int ub_lake_put_link(ub_lake *l, const char *key, const char *path, ub_err *err);
/* The local file holding the object key, when the backend keeps objects as
 * local files (the file lake): 1 with its path appended to out; 0 for another
 * backend; -1 error.  The file is the lake's: read it, link it (it is never
 * rewritten in place, only replaced by rename), never write it. */
int ub_lake_local_path(ub_lake *l, const char *key, ub_buf *out, ub_err *err);
/* Removes every object under prefix (which must end in '/'). */
int ub_lake_remove_prefix(ub_lake *l, const char *prefix, ub_err *err);

/* Backends */
ub_lake *ub_lake_file_open(const char *dir, ub_err *err);
ub_lake *ub_lake_s3_open(const char *url, ub_err *err);

#endif
