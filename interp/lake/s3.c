/* s3.c — the S3 lake backend: objects of one bucket under a key prefix, over SigV4-signed HTTP. */
#include "lake/s3_int.h"
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

conn *s3_conn_get(s3lake *l, ub_err *err)
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

void s3_conn_put(s3lake *l, conn *c)
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
int s3_do(s3lake *l, conn *c, ub_http_req *q, const char *key, const char *query,
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
int s3_object_names(s3lake *l, const char *key, char **full, char **name, ub_err *err)
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
char *s3_xml_field(const ub_buf *body, const char *want, const char *what, ub_err *err)
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

void s3_xml_escape(ub_buf *b, const char *s)
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
    s3_conn_put(r->l, r->c);
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
    if (s3_object_names(l, key, &r->key, &r->name, err))
        goto fail;
    r->base.name = r->name;
    r->c = s3_conn_get(l, err);
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

/* ---- stat, copy, remove ----------------------------------------------------------- */

/* One request on one object (HEAD, DELETE): 0 when S3 answered 2xx or 404
 * (resp tells which), else -1 with err set. */
static int key_request(s3lake *l, const char *method, const char *key, ub_http_resp *resp, ub_err *err)
{
    int rc = -1;
    char *fk = NULL;
    conn *c = NULL;
    if (ub_lake_key_check(key, err) || !(fk = full_key(l, key, err)) || !(c = s3_conn_get(l, err)))
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
    s3_conn_put(l, c);
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
        !(c = s3_conn_get(l, err)))
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
    s3_conn_put(l, c);
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
    if (!(fp = full_key(l, prefix, err)) || !(c = s3_conn_get(l, err)))
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
    s3_conn_put(l, c);
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
