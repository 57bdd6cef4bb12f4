/* s3.c — the S3 lake backend: objects of one bucket under a key prefix, over SigV4-signed HTTP. */
#include "aws/awssign.h"
#include "lake/lake.h"
#include "aws/creds.h"
#include "aws/http.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/secret.h"
#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Requests.  Every request is signed with SigV4 (service "s3") for the
 * payload it really sends: x-amz-content-sha256 is the SHA-256 of the body
 * (of the empty string when there is none), never UNSIGNED-PAYLOAD, and
 * uploads also carry Content-MD5 so S3 checks the bytes it stores.
 *
 * Reads start with a HEAD (size, ETag), then fetch the object in ranges of
 * GET_CHUNK bytes (Range: bytes=a-b, If-Match: that ETag), so a reader holds one chunk, a
 * dropped connection costs one chunk (the HTTP layer retries it), and an
 * object replaced while it is read is an error rather than a mix.
 *
 * Writes spool to an anonymous temporary file (created in TMPDIR and
 * unlinked at once, so nothing is left behind even by a killed process),
 * hashing as they go; commit uploads it with one PUT, or above the multipart
 * threshold with a multipart upload by up to UPLOAD_WORKERS threads, each
 * with its own connection.  A multipart upload that fails anywhere is
 * aborted (AbortMultipartUpload), so no orphan parts remain.  Abort of a
 * writer closes the spool file, which deletes it.
 *
 * Connections: the lake keeps a small pool of HTTP handles (each with its
 * own SigV4 key cache); a request takes one and gives it back, so requests
 * reuse connections and a lake can be used from several threads.
 */

#define MiB            ((uint64_t)1 << 20)
#define GET_CHUNK      ((size_t)8 << 20)
#define MIN_PART       (5 * MiB)
#define DEF_PART       (8 * MiB)
#define MAX_PARTS      10000
#define MAX_OBJECT     ((uint64_t)5 << 40)
#define DEF_THRESHOLD  (64 * MiB)
#define UPLOAD_WORKERS 4
#define POOL_MAX       8
#define MAX_HDRS       12

typedef struct conn {
    ub_http *http;
    ub_sigv4_key key;             /* SigV4 signing key cache of this handle */
    struct conn *next;
} conn;

typedef struct s3lake {
    ub_lake base;
    ub_aws_cfg cfg;
    char *bucket;
    char *prefix;                 /* "" or ends in '/' */
    uint64_t threshold, part_size;
    int list_page, workers;
    pthread_mutex_t mu;           /* guards pool */
    conn *pool;
    int npool;
} s3lake;

/* ---- settings -------------------------------------------------------------- */

/* A byte count from the environment: digits with an optional k/m/g (KiB,
 * MiB, GiB) suffix; def when unset or malformed. */
static uint64_t env_bytes(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v)
        return def;
    switch (*end) {
    case 'k': case 'K': n <<= 10; end++; break;
    case 'm': case 'M': n <<= 20; end++; break;
    case 'g': case 'G': n <<= 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    return *end ? def : (uint64_t)n;
}

/* ---- connections ----------------------------------------------------------- */

static conn *conn_get(s3lake *l, ub_err *err)
{
    pthread_mutex_lock(&l->mu);
    conn *c = l->pool;
    if (c) {
        l->pool = c->next;
        l->npool--;
    }
    pthread_mutex_unlock(&l->mu);
    if (c)
        return c;
    c = ub_calloc(1, sizeof *c);
    if (!c) {
        ub_err_oom(err);
        return NULL;
    }
    c->http = ub_http_new(err);
    if (!c->http) {
        ub_free(c);
        return NULL;
    }
    return c;
}

static void conn_free(conn *c)
{
    ub_http_free(c->http);
    ub_sigv4_key_wipe(&c->key);
    ub_free(c);
}

static void conn_put(s3lake *l, conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&l->mu);
    if (l->npool < POOL_MAX) {
        c->next = l->pool;
        l->pool = c;
        l->npool++;
        c = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (c)
        conn_free(c);
}

/* ---- signed requests ------------------------------------------------------- */

typedef struct signctx {
    s3lake *l;
    conn *c;
    const char *path, *query, *payload_hash;
} signctx;

static int s3_sign(void *ud, const ub_http_req *q, ub_http *h, ub_err *err)
{
    signctx *s = ud;
    ub_aws_sign as = {
        .cfg = &s->l->cfg, .key_cache = &s->c->key, .service = "s3", .flags = UB_SIGV4_CONTENT_SHA256,
        .path = s->path, .query = s->query, .payload_hash = s->payload_hash,
    };
    return ub_aws_sign_request(&as, q, h, err);
}

/* One request to the bucket.  key: full key (prefix included) or NULL for
 * the bucket; query: wire query or NULL; q: method, body, sink and flags
 * filled by the caller.  Returns 0 when a response came (see resp). */
static int s3_do(s3lake *l, conn *c, ub_http_req *q, const char *key, const char *query,
                 const ub_http_hdr *extra, size_t nextra, const char *payload_hash,
                 ub_http_resp *resp, ub_err *err)
{
    int rc = -1;
    ub_buf url = UB_BUF_INIT, host = UB_BUF_INIT, path = UB_BUF_INIT, what = UB_BUF_INIT;
    ub_http_hdr hv[MAX_HDRS];
    if (nextra + 1 > MAX_HDRS) {
        ub_err_set(err, "s3: too many headers");
        goto out;
    }
    if (ub_aws_s3_url(&l->cfg, l->bucket, key, &url, &host, &path, err))
        goto out;
    if (query && *query)
        ub_buf_addf(&url, "?%s", query);
    ub_buf_addf(&what, "s3 %s 's3://%s/%s'", q->method, l->bucket, key ? key : "");
    if (url.err || what.err) {
        ub_err_oom(err);
        goto out;
    }
    hv[0].name = "Host";
    hv[0].value = ub_buf_str(&host);
    for (size_t i = 0; i < nextra; i++)
        hv[i + 1] = extra[i];
    signctx sc = { l, c, ub_buf_str(&path), query, payload_hash };
    q->url = ub_buf_str(&url);
    q->headers = hv;
    q->nheaders = nextra + 1;
    q->sign = s3_sign;
    q->sign_ud = &sc;
    q->what = ub_buf_str(&what);
    rc = ub_http_do(c->http, q, resp, err);
    if (rc == 0 && !ub_http_ok(resp))
        ub_http_status_err(q, resp, err);    /* the message is ready; the caller decides */
out:
    q->url = NULL;
    q->headers = NULL;
    q->what = NULL;
    q->sign_ud = NULL;
    ub_buf_free(&url);
    ub_buf_free(&host);
    ub_buf_free(&path);
    ub_buf_free(&what);
    return rc;
}

static char *full_key(const s3lake *l, const char *key, ub_err *err)
{
    ub_buf b = UB_BUF_INIT;
    ub_buf_adds(&b, l->prefix);
    ub_buf_adds(&b, key);
    char *s = ub_buf_detach(&b, NULL);
    if (!s)
        ub_err_oom(err);
    return s;
}

/* The full key (lake prefix included) and the display name "s3://bucket/key"
 * of an object; both owned by the caller. */
static int object_names(s3lake *l, const char *key, char **full, char **name, ub_err *err)
{
    ub_buf nb = UB_BUF_INIT;
    *full = full_key(l, key, err);
    if (!*full)
        return -1;
    ub_buf_addf(&nb, "s3://%s/%s", l->bucket, *full);
    *name = ub_buf_detach(&nb, NULL);
    return *name ? 0 : ub_err_oom(err);
}

/* ---- small XML extraction ---------------------------------------------------- */

typedef struct xfield {
    const char *want;
    int in;
    ub_buf text;
    int found;
} xfield;

static void XMLCALL xf_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xfield *x = ud;
    if (!x->found && strcmp(name, x->want) == 0)
        x->in = 1;
}

static void XMLCALL xf_end(void *ud, const XML_Char *name)
{
    xfield *x = ud;
    if (x->in && strcmp(name, x->want) == 0) {
        x->in = 0;
        x->found = 1;
    }
}

static void XMLCALL xf_text(void *ud, const XML_Char *s, int len)
{
    xfield *x = ud;
    if (x->in)
        ub_buf_add(&x->text, s, (size_t)len);
}

/* The text of the first element named want in an XML body; the caller owns
 * it.  NULL with err when it is missing or the XML is bad. */
static char *xml_field(const ub_buf *body, const char *want, const char *what, ub_err *err)
{
    xfield x = { want, 0, UB_BUF_INIT, 0 };
    char *res = NULL;
    XML_Parser xp = XML_ParserCreate(NULL);
    if (!xp) {
        ub_err_oom(err);
        goto out;
    }
    XML_SetUserData(xp, &x);
    XML_SetElementHandler(xp, xf_start, xf_end);
    XML_SetCharacterDataHandler(xp, xf_text);
    int ok = XML_Parse(xp, body->p ? body->p : "", (int)body->len, 1) == XML_STATUS_OK;
    if (!ok) {
        ub_err_set(err, "%s: bad XML in response: %s at line %lu", what,
                   XML_ErrorString(XML_GetErrorCode(xp)),
                   (unsigned long)XML_GetCurrentLineNumber(xp));
        XML_ParserFree(xp);
        goto out;
    }
    XML_ParserFree(xp);
    if (!x.found) {
        ub_err_set(err, "%s: response has no <%s>", what, want);
        goto out;
    }
    if (x.text.err) {
        ub_err_oom(err);
        goto out;
    }
    res = ub_strdup(ub_buf_str(&x.text));
    if (!res)
        ub_err_oom(err);
out:
    ub_buf_free(&x.text);
    return res;
}

static void xml_escape(ub_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': ub_buf_adds(b, "&amp;"); break;
        case '<': ub_buf_adds(b, "&lt;"); break;
        case '>': ub_buf_adds(b, "&gt;"); break;
        case '"': ub_buf_adds(b, "&quot;"); break;
        default: ub_buf_addc(b, *s); break;
        }
    }
}

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

/* ---- reads ------------------------------------------------------------------------ */

typedef struct s3reader {
    ub_reader base;
    s3lake *l;
    conn *c;
    char *key;                    /* full key */
    char *name;                   /* "s3://bucket/key" */
    uint64_t off;                 /* next byte to fetch */
    uint64_t total;               /* object size once known */
    int eof;
    char etag[128];
    ub_http_resp resp;            /* its body is the current chunk */
    size_t pos;                   /* consumed bytes of the chunk */
} s3reader;

/* "bytes a-b/total" */
static int parse_content_range(const char *s, uint64_t *a, uint64_t *b, uint64_t *total)
{
    unsigned long long x, y, t;
    if (sscanf(s, "bytes %llu-%llu/%llu", &x, &y, &t) != 3 || y < x || y >= t)
        return -1;
    *a = x;
    *b = y;
    *total = t;
    return 0;
}

static int fetch_chunk(s3reader *r, ub_err *err)
{
    char range[64], etag[160];
    ub_http_hdr hv[2];
    size_t nh = 0;
    snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)r->off,
             (unsigned long long)(r->off + GET_CHUNK - 1));
    hv[nh].name = "Range";
    hv[nh++].value = range;
    if (r->etag[0]) {
        snprintf(etag, sizeof etag, "%s", r->etag);
        hv[nh].name = "If-Match";
        hv[nh++].value = etag;
    }
    ub_http_req q = { .method = "GET" };
    r->pos = 0;
    if (s3_do(r->l, r->c, &q, r->key, NULL, hv, nh, NULL, &r->resp, err))
        return -1;
    long st = r->resp.status;
    if (st == 404)
        return ub_err_set(err, "lake object '%s': no such object", r->name);
    if (st == 412)
        return ub_err_set(err, "lake object '%s': changed while it was read", r->name);
    if (st == 416 && r->off == 0) {
        /* the range starts at or past the end: an empty object at offset 0 */
        ub_buf_reset(&r->resp.body);
        r->eof = 1;
        return 0;
    }
    if (!r->etag[0])
        snprintf(r->etag, sizeof r->etag, "%s", r->resp.etag);
    if (st == 206) {
        uint64_t a, b, t;
        if (parse_content_range(r->resp.content_range, &a, &b, &t) || a != r->off ||
            b - a + 1 != r->resp.body.len)
            return ub_err_set(err, "lake object '%s': bad Content-Range '%s' for %zu bytes",
                              r->name, r->resp.content_range, r->resp.body.len);
        r->total = t;
        r->off = b + 1;
        r->eof = r->off >= t;
    } else if (st == 200 && r->off == 0) {
        /* the server sent the whole object */
        r->total = r->off = r->resp.body.len;
        r->eof = 1;
    } else if (st / 100 == 2) {
        return ub_err_set(err, "lake object '%s': unexpected HTTP %ld to a range request",
                          r->name, st);
    } else {
        return -1;                /* err holds the status message */
    }
    return 0;
}

static ssize_t s3r_read(ub_reader *rd, void *buf, size_t n, ub_err *err)
{
    s3reader *r = (s3reader *)rd;
    while (r->pos >= r->resp.body.len) {
        if (r->eof)
            return 0;
        if (fetch_chunk(r, err))
            return -1;
    }
    size_t left = r->resp.body.len - r->pos;
    if (n > left)
        n = left;
    memcpy(buf, r->resp.body.p + r->pos, n);
    r->pos += n;
    return (ssize_t)n;
}

static void s3r_close(ub_reader *rd)
{
    s3reader *r = (s3reader *)rd;
    conn_put(r->l, r->c);
    ub_http_resp_release(&r->resp);
    ub_free(r->key);
    ub_free(r->name);
    ub_free(r);
}

static ub_reader *s3_open_read(ub_lake *lk, const char *key, ub_err *err)
{
    s3lake *l = (s3lake *)lk;
    if (ub_lake_key_check(key, err))
        return NULL;
    s3reader *r = ub_calloc(1, sizeof *r);
    if (!r) {
        ub_err_oom(err);
        return NULL;
    }
    r->l = l;
    r->base.read = s3r_read;
    r->base.close = s3r_close;
    ub_http_resp_init(&r->resp, GET_CHUNK + 1);
    if (object_names(l, key, &r->key, &r->name, err))
        goto fail;
    r->base.name = r->name;
    r->c = conn_get(l, err);
    if (!r->c)
        goto fail;
    /* HEAD first: a missing object fails at open, the size and ETag are
     * known, and an empty object needs no GET (S3 refuses any Range on it) */
    ub_http_req q = { .method = "HEAD" };
    if (s3_do(l, r->c, &q, r->key, NULL, NULL, 0, NULL, &r->resp, err))
        goto fail;
    if (r->resp.status == 404) {
        ub_err_set(err, "lake object '%s': no such object", r->name);
        goto fail;
    }
    if (!ub_http_ok(&r->resp))
        goto fail;
    snprintf(r->etag, sizeof r->etag, "%s", r->resp.etag);
    r->total = r->resp.content_length > 0 ? (uint64_t)r->resp.content_length : 0;
    r->eof = r->total == 0;
    ub_buf_reset(&r->resp.body);
    return &r->base;
fail:
    s3r_close(&r->base);
    return NULL;
}

/* ---- single and multipart uploads ---------------------------------------------------- */

static int put_single(s3lake *l, const char *key, int fd, uint64_t size,
                      const char *sha, const char *md5, ub_err *err)
{
    int rc = -1;
    conn *c = conn_get(l, err);
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
    conn_put(l, c);
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
    conn *c = conn_get(m->l, &err);
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
        conn_put(m->l, c);
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
    m->upload_id = xml_field(&resp.body, "UploadId", what, err);
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
        xml_escape(&body, m->etags[i]);
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
    c = conn_get(l, err);
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
    conn_put(l, c);
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

static ub_writer *s3_open_write(ub_lake *lk, const char *key, ub_err *err)
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
    if (object_names(l, key, &w->key, &w->name, err))
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

/* ---- stat, copy, remove ----------------------------------------------------------- */

/* One request on one object (HEAD, DELETE): 0 when S3 answered 2xx or 404
 * (resp tells which), else -1 with err set. */
static int key_request(s3lake *l, const char *method, const char *key, ub_http_resp *resp, ub_err *err)
{
    int rc = -1;
    char *fk = NULL;
    conn *c = NULL;
    if (ub_lake_key_check(key, err) || !(fk = full_key(l, key, err)) || !(c = conn_get(l, err)))
        goto out;
    ub_http_req q = { .method = method };
    if (s3_do(l, c, &q, fk, NULL, NULL, 0, NULL, resp, err))
        goto out;
    if (!ub_http_ok(resp) && resp->status != 404) {
        ub_http_status_err(&q, resp, err);
        goto out;
    }
    rc = 0;
out:
    conn_put(l, c);
    ub_free(fk);
    return rc;
}

static int s3_stat(ub_lake *lk, const char *key, ub_lake_info *st, ub_err *err)
{
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    int rc = key_request((s3lake *)lk, "HEAD", key, &resp, err);
    if (rc == 0 && resp.status != 404) {
        if (st) {
            st->size = resp.content_length >= 0 ? (uint64_t)resp.content_length : 0;
            time_t t = resp.last_modified[0] ? curl_getdate(resp.last_modified, NULL) : 0;
            st->mtime = t > 0 ? (int64_t)t : 0;
        }
        rc = 1;
    }
    ub_http_resp_release(&resp);
    return rc;
}

static int s3_copy(ub_lake *lk, const char *src, const char *dst, ub_err *err)
{
    s3lake *l = (s3lake *)lk;
    int rc = -1;
    char *fs = NULL, *fd = NULL;
    conn *c = NULL;
    ub_buf source = UB_BUF_INIT;
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    if (ub_lake_key_check(src, err) || ub_lake_key_check(dst, err) ||
        !(fs = full_key(l, src, err)) || !(fd = full_key(l, dst, err)) ||
        !(c = conn_get(l, err)))
        goto out;
    ub_buf_addf(&source, "/%s/", l->bucket);
    ub_sigv4_uri_encode(&source, fs, strlen(fs), 1);
    if (source.err) {
        ub_err_oom(err);
        goto out;
    }
    ub_http_hdr hv[1] = { { "x-amz-copy-source", ub_buf_str(&source) } };
    ub_http_req q = { .method = "PUT", .flags = UB_HTTP_ERROR_IN_200 };
    if (s3_do(l, c, &q, fd, NULL, hv, 1, NULL, &resp, err))
        goto out;
    if (resp.status == 404) {
        ub_err_set(err, "lake object 's3://%s/%s': no such object (copy to '%s')",
                   l->bucket, fs, fd);
        goto out;
    }
    if (!ub_http_ok(&resp))
        goto out;
    rc = 0;
out:
    ub_buf_free(&source);
    ub_http_resp_release(&resp);
    conn_put(l, c);
    ub_free(fs);
    ub_free(fd);
    return rc;
}

static int s3_remove(ub_lake *lk, const char *key, ub_err *err)
{
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    int rc = key_request((s3lake *)lk, "DELETE", key, &resp, err);   /* missing is not an error */
    ub_http_resp_release(&resp);
    return rc;
}

/* ---- listing ---------------------------------------------------------------------- */

typedef struct entry {
    char *key;
    ub_lake_info info;
} entry;

typedef struct listing {
    int depth, in_contents, field;  /* field: 1 Key 2 Size 3 LastModified 4 IsTruncated 5 NextContinuationToken */
    ub_buf text;
    entry cur;
    entry *v;
    size_t n, cap;
    int truncated;
    char *next_token;
    int oom;
} listing;

static int64_t parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t;
}

static void XMLCALL ls_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    listing *x = ud;
    x->depth++;
    x->field = 0;
    ub_buf_reset(&x->text);
    if (x->depth == 2 && strcmp(name, "Contents") == 0) {
        x->in_contents = 1;
        memset(&x->cur, 0, sizeof x->cur);
    } else if (x->depth == 3 && x->in_contents) {
        x->field = strcmp(name, "Key") == 0 ? 1 : strcmp(name, "Size") == 0 ? 2
                 : strcmp(name, "LastModified") == 0 ? 3 : 0;
    } else if (x->depth == 2) {
        x->field = strcmp(name, "IsTruncated") == 0 ? 4
                 : strcmp(name, "NextContinuationToken") == 0 ? 5 : 0;
    }
}

static void XMLCALL ls_end(void *ud, const XML_Char *name)
{
    listing *x = ud;
    const char *t = ub_buf_str(&x->text);
    if (x->text.err)
        x->oom = 1;
    switch (x->field) {
    case 1:
        ub_free(x->cur.key);
        x->cur.key = ub_strdup(t);
        if (!x->cur.key)
            x->oom = 1;
        break;
    case 2: x->cur.info.size = strtoull(t, NULL, 10); break;
    case 3: x->cur.info.mtime = parse_iso8601(t); break;
    case 4: x->truncated = strcmp(t, "true") == 0; break;
    case 5:
        ub_free(x->next_token);
        x->next_token = ub_strdup(t);
        if (!x->next_token)
            x->oom = 1;
        break;
    default: break;
    }
    x->field = 0;
    if (x->depth == 2 && x->in_contents) {
        x->in_contents = 0;
        if (x->cur.key) {
            if (x->n == x->cap) {
                size_t nc = x->cap ? x->cap * 2 : 64;
                entry *nv = ub_realloc(x->v, nc * sizeof *nv);
                if (!nv) {
                    x->oom = 1;
                    ub_free(x->cur.key);
                    x->cur.key = NULL;
                    x->depth--;
                    return;
                }
                x->v = nv;
                x->cap = nc;
            }
            x->v[x->n++] = x->cur;
            x->cur.key = NULL;
        }
    }
    x->depth--;
}

static void XMLCALL ls_text(void *ud, const XML_Char *s, int len)
{
    listing *x = ud;
    if (x->field)
        ub_buf_add(&x->text, s, (size_t)len);
}

static void listing_clear(listing *x)
{
    for (size_t i = 0; i < x->n; i++)
        ub_free(x->v[i].key);
    ub_free(x->v);
    ub_free(x->cur.key);
    ub_free(x->next_token);
    ub_buf_free(&x->text);
    memset(x, 0, sizeof *x);
}

/* Parses one ListObjectsV2 page into x (cleared first).  0, or -1 with err
 * naming the listing (bad XML, out of memory). */
static int listing_parse(listing *x, const ub_buf *body, const char *bucket, const char *fp, ub_err *err)
{
    listing_clear(x);
    XML_Parser xp = XML_ParserCreate(NULL);
    if (!xp)
        return ub_err_oom(err);
    XML_SetUserData(xp, x);
    XML_SetElementHandler(xp, ls_start, ls_end);
    XML_SetCharacterDataHandler(xp, ls_text);
    int ok = XML_Parse(xp, body->p ? body->p : "", (int)body->len, 1) == XML_STATUS_OK;
    if (!ok)
        ub_err_set(err, "listing 's3://%s/%s': bad XML in response: %s at line %lu",
                   bucket, fp, XML_ErrorString(XML_GetErrorCode(xp)),
                   (unsigned long)XML_GetCurrentLineNumber(xp));
    XML_ParserFree(xp);
    if (!ok)
        return -1;
    if (x->oom)
        return ub_err_oom(err);
    return 0;
}

static int s3_list(ub_lake *lk, const char *prefix, ub_lake_list_cb cb, void *ud, ub_err *err)
{
    s3lake *l = (s3lake *)lk;
    int rc = -1, stop = 0;
    char *fp = NULL, *token = NULL;
    conn *c = NULL;
    ub_buf query = UB_BUF_INIT, chk = UB_BUF_INIT;
    listing x;
    memset(&x, 0, sizeof x);
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    size_t plen = strlen(l->prefix);

    if (!prefix)
        prefix = "";
    if (*prefix) {
        /* the prefix is a key, or a key with a trailing '/' */
        size_t n = strlen(prefix);
        ub_buf_add(&chk, prefix, n && prefix[n - 1] == '/' ? n - 1 : n);
        if (chk.err) {
            ub_err_oom(err);
            goto out;
        }
        if (ub_lake_key_check(ub_buf_str(&chk), err))
            goto out;
    }
    if (!(fp = full_key(l, prefix, err)) || !(c = conn_get(l, err)))
        goto out;
    do {
        ub_buf_reset(&query);
        if (token) {
            ub_buf_adds(&query, "continuation-token=");
            ub_sigv4_uri_encode(&query, token, strlen(token), 0);
            ub_buf_addc(&query, '&');
        }
        ub_buf_addf(&query, "list-type=2&max-keys=%d&prefix=", l->list_page);
        ub_sigv4_uri_encode(&query, fp, strlen(fp), 0);
        if (query.err) {
            ub_err_oom(err);
            goto out;
        }
        ub_http_req q = { .method = "GET" };
        if (s3_do(l, c, &q, NULL, ub_buf_str(&query), NULL, 0, NULL, &resp, err))
            goto out;
        if (!ub_http_ok(&resp))
            goto out;
        if (listing_parse(&x, &resp.body, l->bucket, fp, err))
            goto out;
        for (size_t i = 0; i < x.n && !stop; i++) {
            const char *k = x.v[i].key;
            if (strncmp(k, l->prefix, plen) != 0)
                continue;
            stop = cb(ud, k + plen, &x.v[i].info) != 0;
        }
        ub_free(token);
        token = NULL;
        if (x.truncated && !stop) {
            if (!x.next_token || !*x.next_token) {
                ub_err_set(err, "listing 's3://%s/%s': truncated page without a continuation token",
                           l->bucket, fp);
                goto out;
            }
            token = x.next_token;
            x.next_token = NULL;
        }
    } while (token);
    rc = 0;
out:
    listing_clear(&x);
    ub_free(token);
    ub_buf_free(&query);
    ub_buf_free(&chk);
    ub_http_resp_release(&resp);
    conn_put(l, c);
    ub_free(fp);
    return rc;
}

/* ---- the lake ------------------------------------------------------------------------- */

static void s3_free(ub_lake *lk)
{
    s3lake *l = (s3lake *)lk;
    if (!l)
        return;
    while (l->pool) {
        conn *c = l->pool;
        l->pool = c->next;
        conn_free(c);
    }
    pthread_mutex_destroy(&l->mu);
    ub_aws_cfg_release(&l->cfg);
    ub_free(l->bucket);
    ub_free(l->prefix);
    ub_free(l->base.url);
    ub_free(l);
}

static const ub_lake_ops s3_ops = {
    .scheme = "s3",
    .open_read = s3_open_read,
    .open_write = s3_open_write,
    .stat = s3_stat,
    .list = s3_list,
    .copy = s3_copy,
    .remove = s3_remove,
    .free = s3_free,
};

ub_lake *ub_lake_s3_open(const char *url, ub_err *err)
{
    s3lake *l = NULL;
    ub_buf pre = UB_BUF_INIT;
    const char *b, *path;
    size_t blen;
    int s3 = ub_s3_url_split(url, &b, &blen, &path);
    if (s3 == 0) {
        ub_err_set(err, "lake URL '%s' is not an s3:// URL", url);
        return NULL;
    }
    if (s3 < 0) {
        ub_err_set(err, "lake URL '%s' has no bucket", url);
        return NULL;
    }
    l = ub_calloc(1, sizeof *l);
    if (!l) {
        ub_err_oom(err);
        return NULL;
    }
    if (pthread_mutex_init(&l->mu, NULL)) {
        ub_free(l);
        ub_err_set(err, "cannot create a mutex");
        return NULL;
    }
    l->base.ops = &s3_ops;
    l->base.url = ub_strdup(url);
    l->bucket = ub_strndup(b, blen);
    if (*path) {
        const char *p = path;
        size_t n = strlen(p);
        while (n && p[n - 1] == '/')
            n--;
        if (n) {
            ub_buf_add(&pre, p, n);
            if (!pre.err && ub_lake_key_check(ub_buf_str(&pre), err)) {
                ub_err_wrap(err, "lake URL '%s'", url);
                goto fail;
            }
            ub_buf_addc(&pre, '/');
        }
    }
    l->prefix = pre.len ? ub_buf_detach(&pre, NULL) : ub_strdup("");
    if (!l->base.url || !l->bucket || !l->prefix) {
        ub_err_oom(err);
        goto fail;
    }
    /* credentials are only needed when a request is made (plan makes none);
     * read once, here, and masked in every message and log from now on */
    if (ub_aws_cfg_load(&l->cfg, NULL, UB_AWS_CREDS_OPTIONAL, err)) {
        ub_err_wrap(err, "lake '%s'", url);
        goto fail;
    }
    ub_secret_add(l->cfg.creds.secret_access_key);
    ub_secret_add(l->cfg.creds.session_token);
    if (ub_aws_s3_url(&l->cfg, l->bucket, NULL, NULL, NULL, NULL, err)) {
        ub_err_wrap(err, "lake '%s'", url);
        goto fail;
    }
    l->threshold = env_bytes("UBPIPE_S3_MULTIPART_THRESHOLD", DEF_THRESHOLD);
    l->part_size = env_bytes("UBPIPE_S3_PART_SIZE", DEF_PART);
    uint64_t page = env_bytes("UBPIPE_S3_LIST_PAGE", 1000);
    l->list_page = page >= 1 && page <= 1000 ? (int)page : 1000;
    uint64_t w = env_bytes("UBPIPE_S3_UPLOAD_WORKERS", UPLOAD_WORKERS);
    l->workers = w >= 1 && w <= 16 ? (int)w : UPLOAD_WORKERS;
    return &l->base;
fail:
    ub_buf_free(&pre);
    s3_free(&l->base);
    return NULL;
}
