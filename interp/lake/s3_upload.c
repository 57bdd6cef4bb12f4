/* s3_upload.c — writes to the S3 lake: a writer spools to an anonymous
 * temporary file, hashing as it goes (SHA-256 for SigV4, MD5 for
 * Content-MD5); commit uploads it with one PUT or, above the multipart
 * threshold, a multipart upload by worker threads, aborted on any failure
 * so no orphan parts remain (see the design comment in s3.c). */
#include "lake/s3_int.h"
#include "base/mem.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- hashing helpers ----------------------------------------------------------- */

typedef struct hashes {
    ub_sigv4_hash sha;
    EVP_MD_CTX *md5;
} hashes;

static int hashes_init(hashes *hs, ub_err *err)
{
    memset(hs, 0, sizeof *hs);
    if (ub_sigv4_hash_init(&hs->sha, err))
        return -1;
    hs->md5 = EVP_MD_CTX_new();
    if (!hs->md5 || EVP_DigestInit_ex(hs->md5, EVP_md5(), NULL) != 1) {
        ub_sigv4_hash_release(&hs->sha);
        EVP_MD_CTX_free(hs->md5);
        hs->md5 = NULL;
        return ub_err_set(err, "cannot initialise MD5");
    }
    return 0;
}

static int hashes_update(hashes *hs, const void *p, size_t n, ub_err *err)
{
    if (ub_sigv4_hash_update(&hs->sha, p, n, err))
        return -1;
    if (EVP_DigestUpdate(hs->md5, p, n) != 1)
        return ub_err_set(err, "MD5 update failed");
    return 0;
}

/* sha: hex SHA-256; md5: base64 MD5 (Content-MD5).  Releases hs. */
static int hashes_final(hashes *hs, char sha[65], char md5[32], ub_err *err)
{
    int rc = -1;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (ub_sigv4_hash_final(&hs->sha, sha, err))
        goto out;
    if (EVP_DigestFinal_ex(hs->md5, d, &dl) != 1 || dl != 16) {
        ub_err_set(err, "MD5 final failed");
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)md5, d, 16);   /* 24 chars + NUL */
    rc = 0;
out:
    ub_sigv4_hash_release(&hs->sha);
    EVP_MD_CTX_free(hs->md5);
    hs->md5 = NULL;
    return rc;
}

static void hashes_release(hashes *hs)
{
    ub_sigv4_hash_release(&hs->sha);
    EVP_MD_CTX_free(hs->md5);
    hs->md5 = NULL;
}

/* ---- a reader over a byte range of the spool file ---------------------------- */

typedef struct range_reader {
    ub_reader base;
    int fd;                       /* borrowed */
    uint64_t off, end;
} range_reader;

static ssize_t rr_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    range_reader *rr = (range_reader *)r;
    if (rr->off >= rr->end)
        return 0;
    if (n > rr->end - rr->off)
        n = (size_t)(rr->end - rr->off);
    ssize_t got;
    do
        got = pread(rr->fd, buf, n, (off_t)rr->off);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return ub_err_set(err, "spool file of '%s': %s", r->name, strerror(errno));
    rr->off += (uint64_t)got;
    return got;
}

static void rr_close(ub_reader *r)
{
    ub_free(r);
}

typedef struct range_src {
    int fd;
    uint64_t off, len;
    const char *name;
} range_src;

static ub_reader *range_open(void *ud, ub_err *err)
{
    range_src *s = ud;
    range_reader *rr = ub_calloc(1, sizeof *rr);
    if (!rr) {
        ub_err_oom(err);
        return NULL;
    }
    rr->base.read = rr_read;
    rr->base.close = rr_close;
    rr->base.name = s->name;
    rr->fd = s->fd;
    rr->off = s->off;
    rr->end = s->off + s->len;
    return &rr->base;
}

/* Hashes [off, off+len) of fd. */
static int hash_range(int fd, uint64_t off, uint64_t len, const char *name,
                      char sha[65], char md5[32], ub_err *err)
{
    int rc = -1;
    hashes hs;
    range_src src = { fd, off, len, name };
    ub_reader *r = NULL;
    char *buf = ub_malloc(UB_IO_CHUNK);
    if (!buf) {
        ub_err_oom(err);
        return -1;
    }
    if (hashes_init(&hs, err))
        goto out_buf;
    r = range_open(&src, err);
    if (!r)
        goto out;
    for (;;) {
        ssize_t n = ub_read(r, buf, UB_IO_CHUNK, err);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        if (hashes_update(&hs, buf, (size_t)n, err))
            goto out;
    }
    rc = hashes_final(&hs, sha, md5, err);
    goto out_buf;
out:
    hashes_release(&hs);
out_buf:
    ub_reader_close(r);
    ub_free(buf);
    return rc;
}

/* ---- single and multipart uploads ---------------------------------------------------- */

static int put_single(s3lake *l, const char *key, int fd, uint64_t size,
                      const char *sha, const char *md5, ub_err *err)
{
    int rc = -1;
    conn *c = s3_conn_get(l, err);
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    range_src src = { fd, 0, size, key };
    ub_reader *body = NULL;
    if (!c)
        goto out;
    ub_http_hdr hv[1] = { { "Content-MD5", md5 } };
    ub_http_req q = { .method = "PUT" };
    if (size) {
        body = range_open(&src, err);
        if (!body)
            goto out;
        q.body_reader = body;
        q.body_reader_len = size;
        q.reopen = range_open;
        q.reopen_ud = &src;
    }
    if (s3_do(l, c, &q, key, NULL, hv, 1, sha, &resp, err))
        goto out;
    if (!ub_http_ok(&resp))
        goto out;                 /* err holds the status message */
    rc = 0;
out:
    ub_reader_close(body);
    ub_http_resp_release(&resp);
    s3_conn_put(l, c);
    return rc;
}

typedef struct mpu {
    s3lake *l;
    const char *key;
    int fd;
    uint64_t size, part_size;
    int nparts;
    char *upload_id;
    char *upload_id_enc;          /* URI-encoded for queries */
    char (*etags)[128];
    pthread_mutex_t mu;           /* guards next, failed, err */
    int next, failed;
    ub_err err;
} mpu;

static int upload_part(mpu *m, conn *c, int n, ub_err *err)
{
    int rc = -1;
    uint64_t off = (uint64_t)(n - 1) * m->part_size;
    uint64_t len = m->size - off < m->part_size ? m->size - off : m->part_size;
    char sha[65], md5[32], query[1024];
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    range_src src = { m->fd, off, len, m->key };
    ub_reader *body = NULL;
    if (hash_range(m->fd, off, len, m->key, sha, md5, err))
        goto out;
    body = range_open(&src, err);
    if (!body)
        goto out;
    if ((size_t)snprintf(query, sizeof query, "partNumber=%d&uploadId=%s", n,
                         m->upload_id_enc) >= sizeof query) {
        ub_err_set(err, "upload id of 's3://%s/%s' is too long", m->l->bucket, m->key);
        goto out;
    }
    ub_http_hdr hv[1] = { { "Content-MD5", md5 } };
    ub_http_req q = {
        .method = "PUT", .body_reader = body, .body_reader_len = len,
        .reopen = range_open, .reopen_ud = &src,
    };
    if (s3_do(m->l, c, &q, m->key, query, hv, 1, sha, &resp, err))
        goto out;
    if (!ub_http_ok(&resp))
        goto out;
    if (!resp.etag[0]) {
        ub_err_set(err, "part %d of 's3://%s/%s': no ETag in the response", n,
                   m->l->bucket, m->key);
        goto out;
    }
    snprintf(m->etags[n - 1], sizeof m->etags[0], "%s", resp.etag);
    rc = 0;
out:
    ub_reader_close(body);
    ub_http_resp_release(&resp);
    return rc;
}

static void *part_worker(void *arg)
{
    mpu *m = arg;
    ub_err err;
    err.msg[0] = '\0';
    conn *c = s3_conn_get(m->l, &err);
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&m->mu);
        if (!c && !m->failed) {
            m->failed = 1;
            m->err = err;
        }
        if (!m->failed && m->next <= m->nparts)
            n = m->next++;
        pthread_mutex_unlock(&m->mu);
        if (!n)
            break;
        if (upload_part(m, c, n, &err)) {
            pthread_mutex_lock(&m->mu);
            if (!m->failed) {
                m->failed = 1;
                m->err = err;
            }
            pthread_mutex_unlock(&m->mu);
            break;
        }
    }
    if (c)
        s3_conn_put(m->l, c);
    return NULL;
}

static int mpu_create(mpu *m, conn *c, ub_err *err)
{
    int rc = -1;
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    ub_buf enc = UB_BUF_INIT;
    ub_http_req q = { .method = "POST" };
    if (s3_do(m->l, c, &q, m->key, "uploads=", NULL, 0, NULL, &resp, err) || !ub_http_ok(&resp))
        goto out;
    char what[512];
    snprintf(what, sizeof what, "CreateMultipartUpload 's3://%s/%s'", m->l->bucket, m->key);
    m->upload_id = s3_xml_field(&resp.body, "UploadId", what, err);
    if (!m->upload_id)
        goto out;
    ub_sigv4_uri_encode(&enc, m->upload_id, strlen(m->upload_id), 0);
    m->upload_id_enc = ub_buf_detach(&enc, NULL);
    if (!m->upload_id_enc) {
        ub_err_oom(err);
        goto out;
    }
    rc = 0;
out:
    ub_buf_free(&enc);
    ub_http_resp_release(&resp);
    return rc;
}

static int mpu_complete(mpu *m, conn *c, ub_err *err)
{
    int rc = -1;
    ub_buf body = UB_BUF_INIT, query = UB_BUF_INIT;
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    char sha[65];
    ub_buf_adds(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (int i = 0; i < m->nparts; i++) {
        ub_buf_addf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        s3_xml_escape(&body, m->etags[i]);
        ub_buf_adds(&body, "</ETag></Part>");
    }
    ub_buf_adds(&body, "</CompleteMultipartUpload>");
    ub_buf_addf(&query, "uploadId=%s", m->upload_id_enc);
    if (body.err || query.err) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_sigv4_sha256_hex(body.p, body.len, sha, err))
        goto out;
    ub_http_hdr hv[1] = { { "Content-Type", "application/xml" } };
    ub_http_req q = {
        .method = "POST", .flags = UB_HTTP_ERROR_IN_200,
        .body = body.p, .body_len = body.len,
    };
    if (s3_do(m->l, c, &q, m->key, ub_buf_str(&query), hv, 1, sha, &resp, err) ||
        !ub_http_ok(&resp))
        goto out;
    rc = 0;
out:
    ub_buf_free(&body);
    ub_buf_free(&query);
    ub_http_resp_release(&resp);
    return rc;
}

/* AbortMultipartUpload; a failure is appended to err's message. */
static void mpu_abort(mpu *m, conn *c, ub_err *err)
{
    ub_err e2;
    ub_buf query = UB_BUF_INIT;
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    ub_http_req q = { .method = "DELETE" };
    ub_buf_addf(&query, "uploadId=%s", m->upload_id_enc);
    if (query.err) {
        snprintf(e2.msg, sizeof e2.msg, "out of memory");
    } else if (s3_do(m->l, c, &q, m->key, ub_buf_str(&query), NULL, 0, NULL, &resp, &e2) == 0 &&
               (ub_http_ok(&resp) || resp.status == 404)) {
        e2.msg[0] = '\0';
    }
    if (e2.msg[0]) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len,
                 "; aborting upload id '%s' failed too: %s", m->upload_id, e2.msg);
    }
    ub_buf_free(&query);
    ub_http_resp_release(&resp);
}

static uint64_t fit_part_size(uint64_t size, uint64_t part)
{
    if (part < MIN_PART)
        part = MIN_PART;
    if ((size + part - 1) / part > MAX_PARTS) {
        part = (size + MAX_PARTS - 1) / MAX_PARTS;
        part = (part + MiB - 1) / MiB * MiB;
    }
    return part;
}

static int put_multipart(s3lake *l, const char *key, int fd, uint64_t size, ub_err *err)
{
    int rc = -1, started = 0, created = 0;
    pthread_t th[16];
    mpu m;
    memset(&m, 0, sizeof m);
    m.l = l;
    m.key = key;
    m.fd = fd;
    m.size = size;
    m.part_size = fit_part_size(size, l->part_size);
    m.nparts = (int)((size + m.part_size - 1) / m.part_size);
    m.next = 1;
    conn *c = NULL;
    if (size > MAX_OBJECT) {
        ub_err_set(err, "lake object 's3://%s/%s': %llu bytes is more than S3's 5 TiB limit",
                   l->bucket, key, (unsigned long long)size);
        return -1;
    }
    if (pthread_mutex_init(&m.mu, NULL)) {
        ub_err_set(err, "cannot create a mutex");
        return -1;
    }
    m.etags = ub_calloc((size_t)m.nparts, sizeof *m.etags);
    if (!m.etags) {
        ub_err_oom(err);
        goto out;
    }
    c = s3_conn_get(l, err);
    if (!c || mpu_create(&m, c, err))
        goto out;
    created = 1;
    int nw = l->workers < m.nparts ? l->workers : m.nparts;
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&th[i], NULL, part_worker, &m) != 0) {
            pthread_mutex_lock(&m.mu);
            if (!m.failed) {
                m.failed = 1;
                ub_err_set(&m.err, "cannot start an upload thread for 's3://%s/%s'",
                           l->bucket, key);
            }
            pthread_mutex_unlock(&m.mu);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (m.failed) {
        *err = m.err;
        goto out;
    }
    if (mpu_complete(&m, c, err))
        goto out;
    rc = 0;
out:
    if (rc && created)
        mpu_abort(&m, c, err);
    s3_conn_put(l, c);
    pthread_mutex_destroy(&m.mu);
    ub_free(m.etags);
    ub_free(m.upload_id);
    ub_free(m.upload_id_enc);
    return rc;
}

/* ---- writes ------------------------------------------------------------------------ */

typedef struct s3writer {
    ub_writer base;
    s3lake *l;
    char *key;                    /* full key */
    char *name;
    int fd;                       /* the spool file, already unlinked */
    hashes hs;
} s3writer;

static void s3w_free(s3writer *w)
{
    if (w->fd >= 0)
        close(w->fd);            /* the spool file was unlinked: this deletes it */
    hashes_release(&w->hs);
    ub_free(w->key);
    ub_free(w->name);
    ub_free(w);
}

static int s3w_write(ub_writer *wr, const void *buf, size_t n, ub_err *err)
{
    s3writer *w = (s3writer *)wr;
    const char *p = buf;
    if (hashes_update(&w->hs, buf, n, err))
        return -1;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return ub_err_set(err, "spool file of '%s': %s", w->name, strerror(errno));
        p += k;
        n -= (size_t)k;
        w->base.bytes += (uint64_t)k;
    }
    return 0;
}

static void s3w_abort(ub_writer *wr)
{
    s3w_free((s3writer *)wr);
}

static int s3w_commit(ub_writer *wr, ub_err *err)
{
    s3writer *w = (s3writer *)wr;
    int rc = -1;
    char sha[65], md5[32];
    uint64_t size = w->base.bytes;
    if (hashes_final(&w->hs, sha, md5, err))
        goto out;
    if (size > w->l->threshold)
        rc = put_multipart(w->l, w->key, w->fd, size, err);
    else
        rc = put_single(w->l, w->key, w->fd, size, sha, md5, err);
out:
    s3w_free(w);
    return rc;
}

static int spool_open(const char *name, ub_err *err)
{
    const char *dir = getenv("TMPDIR");
    ub_buf path = UB_BUF_INIT;
    int fd = -1;
    ub_buf_addf(&path, "%s/ubpipe-s3.XXXXXX", dir && *dir ? dir : "/tmp");
    if (path.err) {
        ub_err_oom(err);
        goto out;
    }
    fd = mkstemp(path.p);
    if (fd < 0) {
        ub_err_set(err, "spool file for '%s' in '%s': %s", name, dir && *dir ? dir : "/tmp",
                   strerror(errno));
        goto out;
    }
    unlink(path.p);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
out:
    ub_buf_free(&path);
    return fd;
}

ub_writer *s3_open_write(ub_lake *lk, const char *key, ub_err *err)
{
    s3lake *l = (s3lake *)lk;
    if (ub_lake_key_check(key, err))
        return NULL;
    s3writer *w = ub_calloc(1, sizeof *w);
    if (!w) {
        ub_err_oom(err);
        return NULL;
    }
    w->fd = -1;
    w->l = l;
    w->base.write = s3w_write;
    w->base.commit = s3w_commit;
    w->base.abort = s3w_abort;
    if (s3_object_names(l, key, &w->key, &w->name, err))
        goto fail;
    w->base.name = w->name;
    if (hashes_init(&w->hs, err))
        goto fail;
    w->fd = spool_open(w->name, err);
    if (w->fd < 0)
        goto fail;
    return &w->base;
fail:
    s3w_free(w);
    return NULL;
}
