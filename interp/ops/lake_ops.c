/* lake_ops.c — lake.put (local file → lake) and lake.copy (lake → lake). */
#include "io/csv.h"
#include "io/hashread.h"
#include "io/stream.h"
#include "op.h"
#include <string.h>

static const ub_param put_params[] = {
    { "src", UB_T_PATH, 1, NULL, NULL, "local file to upload" },
    { "dst", UB_T_LAKEREF, 1, NULL, NULL, "lake object to write (AREA:KEY), replaced atomically" },
    { "check", UB_T_ENUM, 0, "none", "none|csv", "csv: refuse a file that is not RFC 4180 CSV with a constant field count" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

/* Reads a whole file as CSV: every record well-formed, with the header's
 * field count.  Errors name the file and line. */
static int check_csv(const char *path, ub_err *err)
{
    ub_reader *r = ub_file_reader_open(path, err);
    ub_csv *csv = NULL;
    int rc = -1, n;
    /* a quote inside an unquoted field is data, as the classifier reads it */
    ub_csv_opts opts = { 0, 1 };
    if (!r || !(csv = ub_csv_open(r, &opts, err)))
        goto out;
    n = ub_csv_next(csv, err);
    if (n < 0)
        goto out;
    if (n == 0) {
        ub_err_set(err, "'%s': empty file (no header)", path);
        goto out;
    }
    ub_csv_expect_fields(csv, (size_t)n);
    while ((n = ub_csv_next(csv, err)) > 0)
        ;
    rc = n;
out:
    ub_csv_free(csv);
    ub_reader_close(r);
    return rc;
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
    int rc = -1;
    if (!src || !dst || !chk || !lake)
        goto out;
    if (strcmp(chk, "csv") == 0 && check_csv(src, &err)) {
        ub_op_fatal(c, "%s", err.msg);
        goto out;
    }
    if (!(r = ub_sha256_reader(ub_file_reader_open(src, &err), &err)) || !(w = ub_lake_open_write(lake, dst, &err))) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    int64_t n = ub_stream_copy(r, w, &err);
    if (n < 0) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    rc = ub_writer_commit(w, &err);
    w = NULL;
    char sha[65];
    if (rc)
        ub_op_fail(c, "%s", err.msg);
    else {
        ub_op_log(c, "wrote %lld bytes to %s", (long long)n, dst);
        if (ub_sha256_reader_hex(r, sha) == 0) {
            ub_op_input_file(c, "src", src, sha);      /* the fingerprint's content hash of src */
            ub_op_set_output(c, "sha256", sha);        /* what it wrote: downstream fingerprints */
        }
    }
out:
    ub_writer_abort(w);
    ub_reader_close(r);
    return rc;
}

static const ub_param copy_params[] = {
    { "src", UB_T_LAKEREF, 1, NULL, NULL, "lake object to copy" },
    { "dst", UB_T_LAKEREF, 1, NULL, NULL, "lake object to write, replaced atomically" },
    { NULL, 0, 0, NULL, NULL, NULL }
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
    "lake.put", "upload a local file into the lake",
    "Streams a local file into a lake object. The object is replaced atomically: on the file backend through a "
    "temporary file, fsync and rename; on S3 by a single PUT or a multipart upload that is aborted on failure. "
    "With check: csv the file is first read as RFC 4180 CSV and refused, naming the file and line, when a record "
    "is malformed or has another field count than the header - so a bad vendor file never lands.",
    put_params, NULL, put_plan, put_run,
};

const ub_opdesc ub_op_lake_copy = {
    "lake.copy", "copy an object inside the lake",
    "Copies one lake object to another key, replacing the destination atomically.",
    copy_params, NULL, copy_plan, copy_run,
};
