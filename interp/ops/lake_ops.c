/* lake_ops.c — lake.put (local file → lake) and lake.copy (lake → lake). */
#include "io/csv.h"
#include "io/hashread.h"
#include "io/stream.h"
#include "base/mem.h"
#include "op.h"
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const ub_param put_params[] = {
    { .name = "src", .type = UB_T_PATH, .required = 1,
      .desc = "local file to upload" },
    { .name = "dst", .type = UB_T_LAKEREF, .required = 1,
      .desc = "lake object to write (AREA:KEY), replaced atomically" },
    { .name = "check", .type = UB_T_ENUM, .def = "none", .choices = "none|csv",
      .desc = "csv: refuse a file that is not RFC 4180 CSV with a constant field count" },
    { .name = NULL },
};

/* ---- check: csv in the same pass as the upload ----------------------------
 *
 * The checked bytes are the uploaded bytes: a tee reader hands every chunk
 * it reads from the file both to the CSV reader and to the lake writer, and
 * the writer is committed only when the whole file passed.  On its way it
 * refuses NUL bytes and invalid UTF-8 ("FILE:LINE: ..."), which the
 * warehouse's COPY would otherwise meet later.  Bytes after a bad one are
 * held back until the CSV reader has seen the ones before it, so a CSV error
 * earlier in the file is the one reported. */

typedef struct tee_reader {
    ub_reader base;
    ub_reader *in;        /* the file; owned */
    ub_writer *out;       /* the lake object; not owned */
    char *path;           /* for messages; base.name points here */
    uint64_t line;        /* 1-based line of the next byte */
    int need;             /* continuation bytes still expected */
    unsigned char lo, hi; /* range of the next continuation byte */
    int write_failed;     /* the lake, not the file, failed */
    ub_err bad;           /* the bad byte found, reported when reached */
    int has_bad;
} tee_reader;

/* How many of the n bytes at p, in whole 8-byte words, are ASCII without NUL (the
 * common case, checked a word at a time); adds the newlines among them to *line. */
static size_t ascii_words(const unsigned char *p, size_t n, uint64_t *line)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u, lows = 0x7f7f7f7f7f7f7f7fu;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((w & highs) || ((w - ones) & ~w & highs))   /* a byte >= 0x80, or a NUL */
            break;
        /* exactly 0x80 in each byte equal to '\n' (no borrow between bytes: all are < 0x80) */
        uint64_t x = w ^ (ones * '\n');
        uint64_t nl = ~(((x & lows) + lows) | x | lows);
        *line += ((nl >> 7) * ones) >> 56;              /* the sum of the eight 0/1 bytes */
    }
    return i;
}

/* Scans n bytes; returns how many are good (all of them, or up to the first bad one). */
static size_t tee_scan(tee_reader *t, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!t->need) {
            size_t k = ascii_words(p + i, n - i, &t->line);
            if (k) {
                i += k - 1;                   /* the loop's i++ steps past them */
                continue;
            }
        }
        unsigned char c = p[i];
        if (t->need) {
            if (c < t->lo || c > t->hi)
                goto bad;
            t->need--;
            t->lo = 0x80;
            t->hi = 0xbf;
            continue;
        }
        if (c == '\n')
            t->line++;
        if (c == 0) {
            ub_err_set(&t->bad, "%s:%llu: NUL byte (check: csv accepts UTF-8 text only)", t->path,
                       (unsigned long long)t->line);
            t->has_bad = 1;
            return i;
        }
        if (c < 0x80)
            continue;
        t->lo = 0x80;
        t->hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            t->need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            t->need = 2;
            if (c == 0xe0)
                t->lo = 0xa0;         /* no overlong forms */
            else if (c == 0xed)
                t->hi = 0x9f;         /* no UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            t->need = 3;
            if (c == 0xf0)
                t->lo = 0x90;
            else if (c == 0xf4)
                t->hi = 0x8f;         /* nothing above U+10FFFF */
        } else
            goto bad;
        continue;
bad:
        ub_err_set(&t->bad, "%s:%llu: invalid UTF-8 (byte 0x%02X; check: csv accepts UTF-8 text only)", t->path,
                   (unsigned long long)t->line, c);
        t->has_bad = 1;
        return i;
    }
    return n;
}

static ssize_t tee_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    tee_reader *t = (tee_reader *)r;
    if (t->has_bad) {
        *err = t->bad;
        return -1;
    }
    ssize_t got = ub_read(t->in, buf, n, err);
    if (got < 0)
        return -1;
    if (got == 0) {
        if (t->need) {
            ub_err_set(err, "%s:%llu: invalid UTF-8 (the file ends inside a character)", t->path,
                       (unsigned long long)t->line);
            return -1;
        }
        return 0;
    }
    size_t good = tee_scan(t, buf, (size_t)got);
    if (good == 0 && t->has_bad) {
        *err = t->bad;
        return -1;
    }
    if (ub_write(t->out, buf, good, err) < 0) {
        t->write_failed = 1;
        return -1;
    }
    return (ssize_t)good;
}

static void tee_close(ub_reader *r)
{
    tee_reader *t = (tee_reader *)r;
    ub_reader_close(t->in);
    ub_free(t->path);
    ub_free(t);
}

/* the src of a put may be a FIFO: its open waits for a writer only while the try is not cancelled */
static int stop_cb(void *c)
{
    return ub_op_cancelled(c);
}

/* Copies the file path to w while checking it as CSV (every record
 * well-formed, with the header's field count): 0 and the bytes copied in
 * *n and, when known, its content hash (io/chash.h) in hash (*have_hash = 1); -1 when the file is refused (err names the file and line); -2 when
 * writing to the lake failed.  w is neither committed nor aborted here. */
static int put_checked_csv(ub_opctx *c, const char *path, ub_writer *w, int64_t *n, char hash[UB_CHASH_HEX + 1], int *have_hash,
                           ub_err *err)
{
    tee_reader *t = ub_calloc(1, sizeof *t);
    ub_csv *csv = NULL;
    int rc = -1, k;
    /* a quote inside an unquoted field is data, as the classifier reads it */
    ub_csv_opts opts = { 0, 1 };
    if (!t || !(t->path = ub_strdup(path))) {
        ub_free(t);
        return ub_err_oom(err);
    }
    t->base.read = tee_read;
    t->base.close = tee_close;
    t->base.name = t->path;
    t->out = w;
    t->line = 1;
    if (!(t->in = ub_chash_reader(ub_file_reader_open_until(path, stop_cb, c, err), err)) ||
        !(csv = ub_csv_open(&t->base, &opts, err)))
        goto out;
    k = ub_csv_next(csv, err);
    if (k < 0)
        goto out;
    if (k == 0) {
        ub_err_set(err, "'%s': empty file (no header)", path);
        goto out;
    }
    ub_csv_expect_fields(csv, (size_t)k);
    while ((k = ub_csv_next(csv, err)) > 0)
        ;
    if (k == 0) {                     /* the CSV reader saw the end: every byte went through */
        *n = (int64_t)w->bytes;
        *have_hash = ub_chash_reader_hex(t->in, hash) == 0;   /* the content hash, from the same read */
        rc = 0;
    }
out:
    if (rc && t->write_failed)
        rc = -2;
    ub_csv_free(csv);
    ub_reader_close(&t->base);
    return rc;
}

/* 1 when path is inside ubpipe's state directory (files ubpipe wrote itself,
 * always replaced by rename, never rewritten in place). */
static int under_state_dir(ub_opctx *c, const char *path)
{
    const char *sd = ub_op_state_dir(c);
    char *rs = sd ? realpath(sd, NULL) : NULL, *rp = realpath(path, NULL);
    size_t n = rs ? strlen(rs) : 0;
    int in = rs && rp && strncmp(rp, rs, n) == 0 && rp[n] == '/';
    free(rs);                         /* realpath's storage is malloc's */
    free(rp);
    return in;
}

static int put_plan(ub_opctx *c)
{
    const char *src = ub_op_str(c, "src"), *dst = ub_op_str(c, "dst"), *chk = ub_op_str(c, "check");
    if (!src || !dst || !chk)
        return -1;
    ub_op_effect(c, "read", "file", "%s", src);
    if (strcmp(chk, "csv") == 0)
        ub_op_effect(c, "check", "csv", "RFC 4180, every record with the header's field count");
    ub_op_effect(c, "write", ub_op_lake_url(c) ? ub_op_lake_url(c) : "lake", "%s", dst);
    return 0;
}

static int put_run(ub_opctx *c)
{
    const char *src = ub_op_str(c, "src"), *dst = ub_op_str(c, "dst"), *chk = ub_op_str(c, "check");
    ub_lake *lake = ub_op_lake(c);
    ub_reader *r = NULL;
    ub_writer *w = NULL;
    ub_err err;
    int64_t n = 0;
    int rc = -1, have_hash = 0;
    char hash[UB_CHASH_HEX + 1];
    if (!src || !dst || !chk || !lake)
        goto out;
    if (strcmp(chk, "csv") == 0) {
        /* one read of the file: the check sees the bytes the lake gets */
        if (!(w = ub_lake_open_write(lake, dst, &err))) {
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        int bad = put_checked_csv(c, src, w, &n, hash, &have_hash, &err);
        if (bad == -1)
            ub_op_fatal(c, "%s", err.msg);   /* refused: out aborts w, nothing lands */
        else if (bad)
            ub_op_fail(c, "%s", err.msg);    /* the lake failed: a retry may do */
        if (bad)
            goto out;
    } else {
        /* ubpipe's own file on the file lake's file system: no copy at all */
        int linked = under_state_dir(c, src) ? ub_lake_put_link(lake, dst, src, &err) : 0;
        if (linked < 0) {
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        if (linked) {
            struct stat st;
            ub_op_log(c, "wrote %lld bytes to %s", stat(src, &st) == 0 ? (long long)st.st_size : 0LL, dst);
            rc = 0;
            goto out;
        }
        if (!(r = ub_chash_reader(ub_file_reader_open_until(src, stop_cb, c, &err), &err)) ||
            !(w = ub_lake_open_write(lake, dst, &err))) {
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        if ((n = ub_stream_copy(r, w, &err)) < 0) {
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        have_hash = ub_chash_reader_hex(r, hash) == 0;
    }
    rc = ub_writer_commit(w, &err);
    w = NULL;
    if (rc)
        ub_op_fail(c, "%s", err.msg);
    else {
        ub_op_log(c, "wrote %lld bytes to %s", (long long)n, dst);
        if (have_hash) {
            ub_op_input_file(c, "src", src, hash);      /* the fingerprint's content hash of src */
            ub_op_set_output(c, "hash", hash);        /* what it wrote: downstream fingerprints */
        }
    }
out:
    ub_writer_abort(w);
    ub_reader_close(r);
    return rc;
}

static const ub_param copy_params[] = {
    { .name = "src", .type = UB_T_LAKEREF, .required = 1,
      .desc = "lake object to copy" },
    { .name = "dst", .type = UB_T_LAKEREF, .required = 1,
      .desc = "lake object to write, replaced atomically" },
    { .name = NULL },
};

static int copy_plan(ub_opctx *c)
{
    const char *src = ub_op_str(c, "src"), *dst = ub_op_str(c, "dst");
    if (!src || !dst)
        return -1;
    ub_op_effect(c, "copy", ub_op_lake_url(c) ? ub_op_lake_url(c) : "lake", "%s -> %s", src, dst);
    return 0;
}

static int copy_run(ub_opctx *c)
{
    const char *src = ub_op_str(c, "src"), *dst = ub_op_str(c, "dst");
    ub_lake *lake = ub_op_lake(c);
    ub_err err;
    if (!src || !dst || !lake)
        return -1;
    if (ub_lake_copy(lake, src, dst, &err))
        return ub_op_fail(c, "%s", err.msg);
    return 0;
}

const ub_opdesc ub_op_lake_put = {
    .name = "lake.put",
    .summary = "upload a local file into the lake",
    .doc = "Streams a local file into a lake object. The object is replaced atomically: on the file backend through a "
           "temporary file, fsync and rename; on S3 by a single PUT or a multipart upload that is aborted on failure. "
           "With check: csv the file is read once: the same bytes are checked as RFC 4180 CSV as they stream to the lake, "
           "and the object is only committed when the whole file passed; it is refused, naming the file and line, when a "
           "record is malformed or has another field count than the header, or when it holds a NUL byte or invalid UTF-8 "
           "- so a bad vendor file never lands. A file under ubpipe's state directory (an extract in the work directory) "
           "goes into a file lake on the same file system as a hard link instead of a copy; a copy into a file lake keeps "
           "at most two 8 MiB windows of the object in the page cache (drop-behind), so a large file does not push "
           "the warehouse's pages out. The file may be a FIFO "
           "(a vendor file streamed in): it is read once as it comes, and waiting for its writer ends at the task's "
           "timeout or a cancel.",
    .params = put_params,
    .plan = put_plan,
    .run = put_run,
};

const ub_opdesc ub_op_lake_copy = {
    .name = "lake.copy",
    .summary = "copy an object inside the lake",
    .doc = "Copies one lake object to another key, replacing the destination atomically.",
    .params = copy_params,
    .plan = copy_plan,
    .run = copy_run,
};
