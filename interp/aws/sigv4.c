/* sigv4.c — AWS Signature Version 4 signer on OpenSSL (SHA-256, HMAC). */
#include "aws/sigv4.h"
#include "base/mem.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One header of the canonical set; strings live in the signing arena. */
typedef struct hent {
    const char *name;       /* lower-case */
    const char *value;      /* canonical value */
    size_t idx;             /* input order, keeps repeated names stable */
} hent;

/* One query parameter, both parts already AWS-encoded. */
typedef struct qent {
    const char *name;
    const char *value;
} qent;

static const char hexdig[] = "0123456789abcdef";
static const char HEXDIG[] = "0123456789ABCDEF";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* ---- hashing ------------------------------------------------------------ */

int ub_sigv4_sha256_hex(const void *p, size_t n, char hex[65], ub_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return ub_err_set(err, "sha-256 failed");
    to_hex(md, 32, hex);
    return 0;
}

int ub_sigv4_hash_init(ub_sigv4_hash *h, ub_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    h->ctx = NULL;
    if (!ctx)
        return ub_err_oom(err);
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        return ub_err_set(err, "sha-256 init failed");
    }
    h->ctx = ctx;   /* h owns ctx until final or release */
    return 0;
}

int ub_sigv4_hash_update(ub_sigv4_hash *h, const void *p, size_t n, ub_err *err)
{
    if (!h->ctx)
        return ub_err_set(err, "sha-256 used before init");
    if (n && !EVP_DigestUpdate(h->ctx, p, n))
        return ub_err_set(err, "sha-256 update failed");
    return 0;
}

int ub_sigv4_hash_final(ub_sigv4_hash *h, char hex[65], ub_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = -1;
    if (!h->ctx)
        return ub_err_set(err, "sha-256 used before init");
    if (!EVP_DigestFinal_ex(h->ctx, md, &mdlen) || mdlen != 32) {
        ub_err_set(err, "sha-256 final failed");
        goto out;
    }
    to_hex(md, 32, hex);
    rc = 0;
out:
    ub_sigv4_hash_release(h);
    return rc;
}

void ub_sigv4_hash_release(ub_sigv4_hash *h)
{
    if (h && h->ctx) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
}

int64_t ub_sigv4_hash_reader(ub_reader *r, char hex[65], ub_err *err)
{
    ub_sigv4_hash h = { NULL };
    int64_t total = -1, n = 0;
    char *chunk = ub_malloc(UB_IO_CHUNK);
    if (!chunk) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_sigv4_hash_init(&h, err))
        goto out;
    for (;;) {
        ssize_t got = ub_read(r, chunk, UB_IO_CHUNK, err);
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        if (ub_sigv4_hash_update(&h, chunk, (size_t)got, err))
            goto out;
        n += got;
    }
    if (ub_sigv4_hash_final(&h, hex, err))
        goto out;
    total = n;
out:
    ub_sigv4_hash_release(&h);
    ub_free(chunk);
    return total;
}

static int hmac256(const void *key, size_t klen, const char *msg, size_t mlen,
                   unsigned char out[32])
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen) ||
        olen != 32)
        return -1;
    return 0;
}

/* ---- signing key -------------------------------------------------------- */

static int secret_fingerprint(const char *secret, unsigned char fp[32])
{
    static const char label[] = "ub_sigv4_key fingerprint";
    return hmac256(secret, strlen(secret), label, sizeof label - 1, fp);
}

int ub_sigv4_derive_key(ub_sigv4_key *key, const char *access_key_id,
                        const char *secret, const char *date8,
                        const char *region, const char *service, ub_err *err)
{
    int rc = -1;
    size_t slen = strlen(secret);
    unsigned char k1[32], k2[32];
    char *ksecret = ub_malloc(slen + 5);
    ub_sigv4_key_wipe(key);
    if (!ksecret)
        return ub_err_oom(err);
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret, slen + 1);
    if (hmac256(ksecret, slen + 4, date8, strlen(date8), k1) ||
        hmac256(k1, 32, region, strlen(region), k2) ||
        hmac256(k2, 32, service, strlen(service), k1) ||
        hmac256(k1, 32, "aws4_request", 12, key->key) ||
        secret_fingerprint(secret, key->secret_fp)) {
        ub_err_set(err, "hmac-sha256 failed while deriving the signing key");
        goto out;
    }
    int n = snprintf(key->id, sizeof key->id, "%s/%s/%s/%s", access_key_id, date8, region, service);
    if (n < 0 || (size_t)n >= sizeof key->id)
        key->id[0] = '\0';          /* too long to cache: still usable once */
    rc = 0;
out:
    OPENSSL_cleanse(ksecret, slen + 5);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    ub_free(ksecret);
    if (rc)
        ub_sigv4_key_wipe(key);
    return rc;
}

void ub_sigv4_key_wipe(ub_sigv4_key *key)
{
    if (key)
        OPENSSL_cleanse(key, sizeof *key);
}

/* Uses cfg->key_cache when it is for the same key, else derives into it (or
 * into *local when there is no cache).  Returns the key to use or NULL. */
static const unsigned char *signing_key(const ub_sigv4_cfg *cfg, const char *date8,
                                        ub_sigv4_key *local, ub_err *err)
{
    ub_sigv4_key *k = cfg->key_cache ? cfg->key_cache : local;
    if (cfg->key_cache && k->id[0]) {
        char id[sizeof k->id];
        unsigned char fp[32];
        int n = snprintf(id, sizeof id, "%s/%s/%s/%s", cfg->access_key_id, date8,
                         cfg->region, cfg->service);
        if (n > 0 && (size_t)n < sizeof id && strcmp(id, k->id) == 0 &&
            secret_fingerprint(cfg->secret_access_key, fp) == 0 &&
            CRYPTO_memcmp(fp, k->secret_fp, 32) == 0)
            return k->key;
    }
    if (ub_sigv4_derive_key(k, cfg->access_key_id, cfg->secret_access_key, date8,
                            cfg->region, cfg->service, err))
        return NULL;
    return k->key;
}

/* ---- encoding ----------------------------------------------------------- */

int ub_sigv4_uri_encode(ub_buf *dst, const char *s, size_t n, int keep_slash)
{
    if (ub_buf_reserve(dst, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            if (ub_buf_addc(dst, (char)c))
                return -1;
        } else {
            char e[3] = { '%', HEXDIG[c >> 4], HEXDIG[c & 15] };
            if (ub_buf_add(dst, e, 3))
                return -1;
        }
    }
    return dst->err ? -1 : 0;
}

int ub_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -1;
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return -1;
    return 0;
}

/* ---- canonical URI ------------------------------------------------------ */

static int is_s3(const char *service) { return service && strcmp(service, "s3") == 0; }

int ub_sigv4_canonical_uri(ub_buf *dst, const char *path, const char *service,
                           unsigned flags, ub_err *err)
{
    int rc = -1;
    size_t *seg = NULL, nseg = 0;
    if (!path || !*path)
        path = "/";
    if (path[0] != '/')
        return ub_err_set(err, "request path '%s' does not start with '/'", path);
    if (is_s3(service)) {
        /* S3: the wire path as is (already encoded once by the caller) */
        for (const unsigned char *p = (const unsigned char *)path; *p; p++)
            if (*p <= ' ' || *p >= 0x7f || *p == '?' || *p == '#')
                return ub_err_set(err, "request path '%s' is not URI-encoded", path);
        if (ub_buf_adds(dst, path))
            return ub_err_oom(err);
        return 0;
    }
    if (flags & UB_SIGV4_NO_NORMALIZE) {
        if (ub_sigv4_uri_encode(dst, path, strlen(path), 1))
            return ub_err_oom(err);
        return 0;
    }
    /* Normalise: a stack of (start, length) segments. */
    size_t len = strlen(path), cap = 1, trailing = 0;
    for (size_t i = 0; i < len; i++)
        cap += path[i] == '/';
    seg = ub_calloc(cap, 2 * sizeof *seg);
    if (!seg) {
        ub_err_oom(err);
        goto out;
    }
    for (size_t i = 1; i <= len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        const char *s = path + i;
        trailing = 0;
        if (n == 0 || (n == 1 && s[0] == '.')) {
            trailing = 1;
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg)
                nseg--;
            trailing = 1;
        } else {
            seg[2 * nseg] = i;
            seg[2 * nseg + 1] = n;
            nseg++;
        }
        i = j + 1;
    }
    if (ub_buf_addc(dst, '/'))
        goto oom;
    for (size_t k = 0; k < nseg; k++) {
        if (k && ub_buf_addc(dst, '/'))
            goto oom;
        if (ub_sigv4_uri_encode(dst, path + seg[2 * k], seg[2 * k + 1], 0))
            goto oom;
    }
    if (nseg && trailing && ub_buf_addc(dst, '/'))
        goto oom;
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    ub_free(seg);
    return rc;
}

/* ---- canonical query ---------------------------------------------------- */

/* Percent-decodes s[0..n) (invalid escapes stay literal), then encodes it
 * with the AWS rules into an arena string. */
static const char *recode(ub_arena *a, ub_buf *tmp, const char *s, size_t n)
{
    ub_buf_reset(tmp);
    char *dec = ub_arena_alloc(a, n + 1);
    if (!dec)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            dec[m++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[m++] = s[i];
        }
    }
    if (ub_sigv4_uri_encode(tmp, dec, m, 0))
        return NULL;
    return ub_arena_strndup(a, ub_buf_str(tmp), tmp->len);
}

static int qent_cmp(const void *x, const void *y)
{
    const qent *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->value, b->value);
}

/* Parses the wire query into q (which has room for every parameter);
 * returns the count or -1 (out of memory). */
static long parse_query(ub_arena *a, ub_buf *tmp, const char *query, qent *q)
{
    long n = 0;
    const char *p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            q[n].name = recode(a, tmp, p, nlen);
            q[n].value = eq ? recode(a, tmp, eq + 1, len - nlen - 1) : "";
            if (!q[n].name || !q[n].value)
                return -1;
            n++;
        }
        p = end ? end + 1 : NULL;
    }
    return n;
}

static size_t count_params(const char *query)
{
    size_t n = 1;
    for (const char *p = query; p && *p; p++)
        n += *p == '&';
    return n;
}

static int join_query(ub_buf *dst, qent *q, size_t n)
{
    qsort(q, n, sizeof *q, qent_cmp);
    for (size_t i = 0; i < n; i++)
        ub_buf_addf(dst, "%s%s=%s", i ? "&" : "", q[i].name, q[i].value);
    return dst->err ? -1 : 0;
}

int ub_sigv4_canonical_query(ub_buf *dst, const char *query, ub_err *err)
{
    int rc = -1;
    ub_arena a = { 0 };
    ub_buf tmp = UB_BUF_INIT;
    qent *q = ub_arena_alloc(&a, count_params(query) * sizeof *q);
    long n = q ? parse_query(&a, &tmp, query, q) : -1;
    if (n < 0 || join_query(dst, q, (size_t)n)) {
        ub_err_oom(err);
        goto out;
    }
    rc = 0;
out:
    ub_buf_free(&tmp);
    ub_arena_free(&a);
    return rc;
}

/* ---- canonical headers -------------------------------------------------- */

static const char *const unsigned_headers[] = {
    "authorization", "connection", "expect", "proxy-authorization",
    "transfer-encoding", "user-agent", "x-amzn-trace-id",
};

static int is_unsigned_header(const char *lname)
{
    for (size_t i = 0; i < sizeof unsigned_headers / sizeof *unsigned_headers; i++)
        if (strcmp(lname, unsigned_headers[i]) == 0)
            return 1;
    return 0;
}

/* Lower-cased copy of a header name (NULL when out of memory); *name_ok is
 * 0 when the name is empty or holds whitespace, ':' or control bytes. */
static char *lower_name(ub_arena *a, const char *name, int *name_ok)
{
    size_t n = strlen(name);
    *name_ok = n > 0;
    char *s = ub_arena_alloc(a, n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == ':' || c >= 0x7f)
            *name_ok = 0;
        s[i] = lower(name[i]);
    }
    return s;
}

/* Trimmed value with every run of whitespace (folded lines too) as one space. */
static char *canon_value(ub_arena *a, const char *v)
{
    size_t n = strlen(v), m = 0;
    char *s = ub_arena_alloc(a, n + 1);
    if (!s)
        return NULL;
    int pending = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_ws(v[i])) {
            pending = m > 0;
            continue;
        }
        if (pending)
            s[m++] = ' ';
        pending = 0;
        s[m++] = v[i];
    }
    s[m] = '\0';
    return s;
}

static int hent_cmp(const void *x, const void *y)
{
    const hent *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

/* ---- the signer --------------------------------------------------------- */

void ub_sigv4_out_init(ub_sigv4_out *out)
{
    memset(out, 0, sizeof *out);
    ub_buf_init(&out->creq, 0);
    ub_buf_init(&out->sts, 0);
    ub_buf_init(&out->signed_headers, 0);
    ub_buf_init(&out->authorization, 0);
    ub_buf_init(&out->query, 0);
}

void ub_sigv4_out_release(ub_sigv4_out *out)
{
    if (!out)
        return;
    ub_buf_free(&out->creq);
    ub_buf_free(&out->sts);
    ub_buf_free(&out->signed_headers);
    ub_buf_free(&out->authorization);
    ub_buf_free(&out->query);
    out->nadd = 0;
}

/* A scope part (key id, region, service) must be non-empty, printable and
 * free of '/' so the credential scope stays unambiguous. */
static int check_part(const char *what, const char *s, ub_err *err)
{
    if (!s || !*s)
        return ub_err_set(err, "sigv4: no %s given", what);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '/' || *p >= 0x7f)
            return ub_err_set(err, "sigv4: %s contains a character that is not allowed", what);
    return 0;
}

static int check_token(const char *what, const char *s, ub_err *err)
{
    if (!s || !*s)
        return ub_err_set(err, "sigv4: no %s given", what);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return ub_err_set(err, "sigv4: %s '%s' contains whitespace or a control character",
                              what, s);
    return 0;
}

static void add_hent(hent *h, size_t *n, const char *name, const char *value)
{
    h[*n].name = name;
    h[*n].value = value;
    h[*n].idx = *n;
    (*n)++;
}

static void add_out(ub_sigv4_out *out, const char *name, const char *value)
{
    out->add[out->nadd].name = name;
    out->add[out->nadd].value = value;
    out->nadd++;
}

static int sign_request(const ub_sigv4_cfg *cfg, const ub_sigv4_req *req,
                        ub_sigv4_out *out, int presign, ub_err *err)
{
    int rc = -1;
    ub_arena a = { 0 };
    ub_buf tmp = UB_BUF_INIT, hblock = UB_BUF_INIT, scope = UB_BUF_INIT;
    ub_sigv4_key local = { { 0 }, { 0 }, { 0 } };
    unsigned char sig[32];
    char date8[9], creq_hash[65];
    const char *token = cfg->session_token && *cfg->session_token ? cfg->session_token : NULL;
    const char *ph = req->payload_hash ? req->payload_hash : UB_SIGV4_EMPTY_SHA256;
    int sign_token = token && !(cfg->flags & UB_SIGV4_OMIT_TOKEN);
    hent *h = NULL;
    qent *q = NULL;
    size_t nh = 0;

    ub_buf_reset(&out->creq);
    ub_buf_reset(&out->sts);
    ub_buf_reset(&out->signed_headers);
    ub_buf_reset(&out->authorization);
    ub_buf_reset(&out->query);
    out->nadd = 0;
    out->signature[0] = '\0';

    if (check_part("access key id", cfg->access_key_id, err) ||
        check_part("region", cfg->region, err) || check_part("service", cfg->service, err))
        goto out;
    if (!cfg->secret_access_key || !*cfg->secret_access_key) {
        ub_err_set(err, "sigv4: no secret access key given");
        goto out;
    }
    if (check_token("method", req->method, err) || check_token("payload hash", ph, err))
        goto out;
    for (const unsigned char *t = (const unsigned char *)token; t && *t; t++)
        if (*t <= ' ' || *t >= 0x7f) {
            ub_err_set(err, "sigv4: session token contains whitespace or a control character");
            goto out;
        }
    if (strlen(ph) >= sizeof out->payload_hash) {
        ub_err_set(err, "sigv4: payload hash '%.40s...' is too long", ph);
        goto out;
    }
    memcpy(out->payload_hash, ph, strlen(ph) + 1);
    if (presign && (cfg->expires < 1 || cfg->expires > UB_SIGV4_MAX_EXPIRES)) {
        ub_err_set(err, "sigv4: presign expiry %ld is outside 1..%ld seconds",
                   cfg->expires, UB_SIGV4_MAX_EXPIRES);
        goto out;
    }
    if (ub_sigv4_amz_date(cfg->now, out->amz_date)) {
        ub_err_set(err, "sigv4: signing time %lld cannot be formatted", (long long)cfg->now);
        goto out;
    }
    memcpy(date8, out->amz_date, 8);
    date8[8] = '\0';
    ub_buf_addf(&scope, "%s/%s/%s/aws4_request", date8, cfg->region, cfg->service);
    if (scope.err)
        goto oom;

    /* Headers: the caller's, then the ones the signer adds. */
    h = ub_arena_alloc(&a, (req->nheaders + 3) * sizeof *h);
    if (!h)
        goto oom;
    int have_host = 0, have_date = 0, have_csha = 0, have_tok = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        int ok;
        const char *rawname = req->headers[i].name ? req->headers[i].name : "";
        char *name = lower_name(&a, rawname, &ok);
        char *value = canon_value(&a, req->headers[i].value ? req->headers[i].value : "");
        if (!name || !value)
            goto oom;
        if (!ok) {
            ub_err_set(err, "sigv4: invalid header name '%s'", rawname);
            goto out;
        }
        if (is_unsigned_header(name))
            continue;
        if (strcmp(name, "host") == 0) {
            have_host = 1;
        } else if (!presign && strcmp(name, "x-amz-date") == 0) {
            if (strcmp(value, out->amz_date) != 0) {
                ub_err_set(err, "sigv4: header 'x-amz-date' is '%s' but the signing time is '%s'",
                           value, out->amz_date);
                goto out;
            }
            have_date = 1;
        } else if (!presign && strcmp(name, "x-amz-content-sha256") == 0) {
            if (strcmp(value, ph) != 0) {
                ub_err_set(err, "sigv4: header 'x-amz-content-sha256' does not match the payload hash");
                goto out;
            }
            have_csha = 1;
        } else if (!presign && strcmp(name, "x-amz-security-token") == 0) {
            have_tok = 1;
            if (!sign_token)
                continue;           /* UB_SIGV4_OMIT_TOKEN: sent, not signed */
        }
        add_hent(h, &nh, name, value);
    }
    if (!have_host) {
        ub_err_set(err, "sigv4: request has no 'host' header");
        goto out;
    }
    if (!presign) {
        if (!have_date) {
            add_hent(h, &nh, "x-amz-date", out->amz_date);
            add_out(out, "X-Amz-Date", out->amz_date);
        }
        if ((cfg->flags & UB_SIGV4_CONTENT_SHA256) && !have_csha) {
            add_hent(h, &nh, "x-amz-content-sha256", out->payload_hash);
            add_out(out, "x-amz-content-sha256", out->payload_hash);
        }
        if (sign_token && !have_tok) {
            add_hent(h, &nh, "x-amz-security-token", token);
            add_out(out, "X-Amz-Security-Token", token);
        }
    }
    qsort(h, nh, sizeof *h, hent_cmp);
    for (size_t i = 0; i < nh; i++) {
        if (i && strcmp(h[i].name, h[i - 1].name) == 0) {
            ub_buf_addf(&hblock, ",%s", h[i].value);
            continue;
        }
        ub_buf_addf(&hblock, "%s%s:%s", i ? "\n" : "", h[i].name, h[i].value);
        ub_buf_addf(&out->signed_headers, "%s%s", i ? ";" : "", h[i].name);
    }
    ub_buf_addc(&hblock, '\n');
    if (hblock.err || out->signed_headers.err)
        goto oom;

    /* Method and path. */
    ub_buf_addf(&out->creq, "%s\n", req->method);
    if (out->creq.err)
        goto oom;
    if (ub_sigv4_canonical_uri(&out->creq, req->path, cfg->service, cfg->flags, err))
        goto out;
    if (ub_buf_addc(&out->creq, '\n'))
        goto oom;

    /* Query: the request's parameters, plus the X-Amz-* ones when presigning. */
    q = ub_arena_alloc(&a, (count_params(req->query) + 6) * sizeof *q);
    if (!q)
        goto oom;
    long nq = parse_query(&a, &tmp, req->query, q);
    if (nq < 0)
        goto oom;
    if (presign) {
        char expires[24];
        snprintf(expires, sizeof expires, "%ld", cfg->expires);
        struct { const char *n; const char *v; } xs[] = {
            { "X-Amz-Algorithm", UB_SIGV4_ALGORITHM },
            { "X-Amz-Credential", NULL },
            { "X-Amz-Date", out->amz_date },
            { "X-Amz-Expires", expires },
            { "X-Amz-SignedHeaders", ub_buf_str(&out->signed_headers) },
            { "X-Amz-Security-Token", sign_token ? token : NULL },
        };
        for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
            ub_buf_reset(&tmp);
            if (i == 1)
                ub_buf_addf(&tmp, "%s/%s", cfg->access_key_id, ub_buf_str(&scope));
            else if (xs[i].v)
                ub_buf_adds(&tmp, xs[i].v);
            else
                continue;
            if (tmp.err)
                goto oom;
            char *raw = ub_arena_strndup(&a, ub_buf_str(&tmp), tmp.len);
            if (!raw)
                goto oom;
            ub_buf_reset(&tmp);
            if (ub_sigv4_uri_encode(&tmp, raw, strlen(raw), 0))
                goto oom;
            q[nq].name = xs[i].n;
            q[nq].value = ub_arena_strndup(&a, ub_buf_str(&tmp), tmp.len);
            if (!q[nq].value)
                goto oom;
            nq++;
        }
    }
    size_t cq_start = out->creq.len;
    if (join_query(&out->creq, q, (size_t)nq))
        goto oom;
    size_t cq_len = out->creq.len - cq_start;
    ub_buf_addf(&out->creq, "\n%s\n%s\n%s", ub_buf_str(&hblock),
                ub_buf_str(&out->signed_headers), ph);
    if (out->creq.err)
        goto oom;

    /* String to sign, key, signature. */
    if (ub_sigv4_sha256_hex(out->creq.p, out->creq.len, creq_hash, err))
        goto out;
    ub_buf_addf(&out->sts, "%s\n%s\n%s\n%s", UB_SIGV4_ALGORITHM, out->amz_date,
                ub_buf_str(&scope), creq_hash);
    if (out->sts.err)
        goto oom;
    const unsigned char *key = signing_key(cfg, date8, &local, err);
    if (!key)
        goto out;
    if (hmac256(key, 32, out->sts.p, out->sts.len, sig)) {
        ub_err_set(err, "sigv4: hmac-sha256 failed");
        goto out;
    }
    to_hex(sig, 32, out->signature);

    if (presign) {
        /* The URL's query: canonical query, the signature, and an unsigned token. */
        ub_buf_add(&out->query, out->creq.p + cq_start, cq_len);
        ub_buf_addf(&out->query, "%sX-Amz-Signature=%s", out->query.len ? "&" : "",
                    out->signature);
        if (token && !sign_token) {
            ub_buf_adds(&out->query, "&X-Amz-Security-Token=");
            ub_sigv4_uri_encode(&out->query, token, strlen(token), 0);
        }
        if (out->query.err)
            goto oom;
    } else {
        if (token && !sign_token && !have_tok)
            add_out(out, "X-Amz-Security-Token", token);
        ub_buf_addf(&out->authorization, "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                    UB_SIGV4_ALGORITHM, cfg->access_key_id, ub_buf_str(&scope),
                    ub_buf_str(&out->signed_headers), out->signature);
        if (out->authorization.err)
            goto oom;
        add_out(out, "Authorization", ub_buf_str(&out->authorization));
    }
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    OPENSSL_cleanse(sig, sizeof sig);
    ub_sigv4_key_wipe(&local);
    ub_buf_free(&tmp);
    ub_buf_free(&hblock);
    ub_buf_free(&scope);
    ub_arena_free(&a);
    if (rc) {
        out->nadd = 0;
        out->signature[0] = '\0';
    }
    return rc;
}

int ub_sigv4_sign(const ub_sigv4_cfg *cfg, const ub_sigv4_req *req,
                  ub_sigv4_out *out, ub_err *err)
{
    return sign_request(cfg, req, out, 0, err);
}

int ub_sigv4_presign(const ub_sigv4_cfg *cfg, const ub_sigv4_req *req,
                     ub_sigv4_out *out, ub_err *err)
{
    return sign_request(cfg, req, out, 1, err);
}

/* ---- debug text --------------------------------------------------------- */

/* Appends text with every occurrence of the non-empty needles replaced. */
static void add_redacted(ub_buf *dst, const char *text, const char *n1, const char *n2)
{
    size_t l1 = n1 ? strlen(n1) : 0, l2 = n2 ? strlen(n2) : 0;
    const char *p = text;
    while (*p) {
        if (l1 && strncmp(p, n1, l1) == 0) {
            ub_buf_adds(dst, "<redacted>");
            p += l1;
        } else if (l2 && strncmp(p, n2, l2) == 0) {
            ub_buf_adds(dst, "<redacted>");
            p += l2;
        } else {
            ub_buf_addc(dst, *p++);
        }
    }
}

int ub_sigv4_debug(const ub_sigv4_cfg *cfg, const ub_sigv4_out *out, ub_buf *dst)
{
    ub_buf enc = UB_BUF_INIT;
    const char *token = cfg && cfg->session_token && *cfg->session_token ? cfg->session_token : NULL;
    if (token)
        ub_sigv4_uri_encode(&enc, token, strlen(token), 0);
    ub_buf_adds(dst, "canonical request:\n");
    add_redacted(dst, ub_buf_str(&out->creq), token, token ? ub_buf_str(&enc) : NULL);
    ub_buf_adds(dst, "\nstring to sign:\n");
    add_redacted(dst, ub_buf_str(&out->sts), token, token ? ub_buf_str(&enc) : NULL);
    ub_buf_addc(dst, '\n');
    int rc = enc.err || dst->err ? -1 : 0;
    ub_buf_free(&enc);
    return rc;
}
