/* zst.c — zstd stream wrappers: a decompressing reader and a compressing writer. */
#include "io/stream.h"
#include "base/mem.h"
#include <string.h>
#include <zstd.h>

/* ---- reader ------------------------------------------------------------- */

typedef struct zst_reader {
    ub_reader      base;
    ub_reader     *in;         /* owned */
    ZSTD_DCtx     *dctx;
    char          *ibuf;
    size_t         icap;
    ZSTD_inBuffer  ib;
    int            eof;        /* the wrapped stream has ended */
    int            seen;       /* at least one input byte */
    size_t         last;       /* last ZSTD_decompressStream result (0 = frame complete) */
} zst_reader;

static ssize_t zr_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    zst_reader *z = (zst_reader *)r;
    if (n == 0)
        return 0;
    ZSTD_outBuffer ob = { buf, n, 0 };
    for (;;) {
        if (z->ib.pos == z->ib.size && !z->eof) {
            ssize_t got = ub_read(z->in, z->ibuf, z->icap, err);
            if (got < 0)
                return -1;
            z->ib.src = z->ibuf;
            z->ib.size = (size_t)got;
            z->ib.pos = 0;
            if (got == 0)
                z->eof = 1;
            else
                z->seen = 1;
        }
        if (z->eof && z->ib.pos == z->ib.size && z->last == 0 && z->seen)
            return 0;                      /* every frame complete */
        size_t before_in = z->ib.pos;
        size_t ret = ZSTD_decompressStream(z->dctx, &ob, &z->ib);
        if (ZSTD_isError(ret)) {
            ub_err_set(err, "'%s': corrupt zstd data (%s)", z->base.name, ZSTD_getErrorName(ret));
            return -1;
        }
        z->last = ret;
        if (ob.pos > 0)
            return (ssize_t)ob.pos;
        if (z->ib.pos != before_in)
            continue;                      /* progress: keep going */
        if (z->ib.pos < z->ib.size) {      /* input left but no progress */
            ub_err_set(err, "'%s': corrupt zstd data (decoder stalled)", z->base.name);
            return -1;
        }
        if (z->eof && (ret != 0 || !z->seen)) {
            ub_err_set(err, "'%s': truncated zstd frame", z->base.name);
            return -1;
        }
    }
}

static void zr_close(ub_reader *r)
{
    zst_reader *z = (zst_reader *)r;
    ub_reader_close(z->in);
    ZSTD_freeDCtx(z->dctx);
    ub_free(z->ibuf);
    ub_free(z);
}

/* Takes ownership of in on success; on failure in stays the caller's. */
ub_reader *ub_zstd_reader(ub_reader *in, ub_err *err)
{
    zst_reader *z = ub_calloc(1, sizeof *z);
    if (!z)
        goto oom;
    z->in = in;
    z->icap = ZSTD_DStreamInSize();
    z->ibuf = ub_malloc(z->icap);
    z->dctx = ZSTD_createDCtx();
    if (!z->ibuf || !z->dctx)
        goto oom;
    z->last = 1;
    z->base.read = zr_read;
    z->base.close = zr_close;
    z->base.name = in->name;
    return &z->base;
oom:
    ub_err_oom(err);
    if (z) {
        ZSTD_freeDCtx(z->dctx);
        ub_free(z->ibuf);
        ub_free(z);
    }
    return NULL;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct zst_writer {
    ub_writer   base;
    ub_writer  *out;           /* owned */
    ZSTD_CCtx  *cctx;
    char       *obuf;
    size_t      ocap;
} zst_writer;

/* Feeds src through the compressor with the given directive, passing every
 * compressed byte on; for ZSTD_e_end it loops until the frame is flushed. */
static int zw_pump(zst_writer *z, const void *src, size_t n, ZSTD_EndDirective mode, ub_err *err)
{
    ZSTD_inBuffer ib = { src, n, 0 };
    for (;;) {
        ZSTD_outBuffer ob = { z->obuf, z->ocap, 0 };
        size_t ret = ZSTD_compressStream2(z->cctx, &ob, &ib, mode);
        if (ZSTD_isError(ret))
            return ub_err_set(err, "'%s': zstd compression failed (%s)", z->base.name,
                              ZSTD_getErrorName(ret));
        if (ob.pos > 0 && ub_write(z->out, z->obuf, ob.pos, err) < 0)
            return -1;
        if (mode == ZSTD_e_end ? ret == 0 : ib.pos == ib.size)
            return 0;
    }
}

static int zw_write(ub_writer *w, const void *buf, size_t n, ub_err *err)
{
    zst_writer *z = (zst_writer *)w;
    if (n == 0)
        return 0;
    if (zw_pump(z, buf, n, ZSTD_e_continue, err) < 0)
        return -1;
    z->base.bytes += n;
    return 0;
}

static void zw_free(zst_writer *z)
{
    ZSTD_freeCCtx(z->cctx);
    ub_free(z->obuf);
    ub_free(z);
}

static void zw_abort(ub_writer *w)
{
    zst_writer *z = (zst_writer *)w;
    ub_writer_abort(z->out);
    zw_free(z);
}

static int zw_commit(ub_writer *w, ub_err *err)
{
    zst_writer *z = (zst_writer *)w;
    int rc;
    if (zw_pump(z, NULL, 0, ZSTD_e_end, err) < 0) {
        ub_writer_abort(z->out);
        rc = -1;
    } else {
        rc = ub_writer_commit(z->out, err);
    }
    zw_free(z);
    return rc;
}

/* Takes ownership of out on success; on failure out stays the caller's.  Frames carry
 * a content checksum, so corruption is caught on reading. */
ub_writer *ub_zstd_writer(ub_writer *out, int level, ub_err *err)
{
    zst_writer *z = ub_calloc(1, sizeof *z);
    if (!z)
        goto oom;
    z->out = out;
    z->ocap = ZSTD_CStreamOutSize();
    z->obuf = ub_malloc(z->ocap);
    z->cctx = ZSTD_createCCtx();
    if (!z->obuf || !z->cctx)
        goto oom;
    size_t r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel,
                                      level ? level : ZSTD_CLEVEL_DEFAULT);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(r)) {
        ub_err_set(err, "'%s': bad zstd level %d (%s)", out->name, level, ZSTD_getErrorName(r));
        goto fail;
    }
    z->base.write = zw_write;
    z->base.commit = zw_commit;
    z->base.abort = zw_abort;
    z->base.name = out->name;
    return &z->base;
oom:
    ub_err_oom(err);
fail:
    if (z)
        zw_free(z);
    return NULL;
}
