/* sigv4.h — AWS Signature Version 4 (HMAC-SHA256) request signing.
 *
 * The signer is a pure function of its inputs: the caller passes the request
 * (method, wire path, wire query, headers, payload hash), the credentials,
 * region, service and the signing time, and gets back the canonical request,
 * the string to sign, the signature and either the headers to add
 * (ub_sigv4_sign) or the query string of a presigned URL (ub_sigv4_presign).
 *
 * Rules applied (AWS General Reference, "Create a canonical request"):
 *   - path: for generic services the path is normalised (empty and "."
 *     segments dropped, ".." resolved) and URI-encoded again ("double
 *     encoding": a wire "%20" is signed as "%2520").  For service "s3" the
 *     wire path is signed exactly as given: no normalisation, no second
 *     encoding (encode object keys once with ub_sigv4_uri_encode).
 *   - query: each name and value is percent-decoded, then encoded with the
 *     AWS rules (unreserved bytes kept, everything else %XX upper-case);
 *     pairs are sorted by encoded name, then encoded value.
 *   - headers: names lower-cased, values trimmed, runs of whitespace
 *     (including folded CRLF + indentation) collapsed to one space; repeated
 *     names are joined with ','.  All headers the caller passes are signed
 *     except authorization, connection, expect, proxy-authorization,
 *     transfer-encoding, user-agent and x-amzn-trace-id.  A Host header is
 *     required.
 *
 * Secrets: the secret key and the signing key never leave this module and
 * are wiped from temporaries; nothing here prints.  The session token is a
 * credential too: use ub_sigv4_debug for log text, which redacts it.
 */
#ifndef UB_SIGV4_H
#define UB_SIGV4_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "base/buf.h"
#include "base/err.h"
#include "io/stream.h"

#define UB_SIGV4_ALGORITHM        "AWS4-HMAC-SHA256"
#define UB_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define UB_SIGV4_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define UB_SIGV4_MAX_EXPIRES      604800L      /* 7 days, the AWS limit */

/* Flags for ub_sigv4_cfg.flags. */
enum {
    /* Do not normalise the path (generic services; S3 never normalises). */
    UB_SIGV4_NO_NORMALIZE   = 1u << 0,
    /* Add the session token after signing instead of signing it (header
     * mode: X-Amz-Security-Token header; presign: query parameter). */
    UB_SIGV4_OMIT_TOKEN     = 1u << 1,
    /* Header mode: add and sign "x-amz-content-sha256: <payload hash>"
     * (S3 requires it). */
    UB_SIGV4_CONTENT_SHA256 = 1u << 2,
};

typedef struct ub_sigv4_hdr {
    const char *name;
    const char *value;
} ub_sigv4_hdr;

/* The request to sign.  Nothing here is modified or retained. */
typedef struct ub_sigv4_req {
    const char *method;             /* "GET", "PUT", ... */
    const char *path;               /* wire path, starts with '/'; NULL or "" = "/" */
    const char *query;              /* wire query without '?'; NULL = none */
    const ub_sigv4_hdr *headers;    /* must include Host */
    size_t nheaders;
    const char *payload_hash;       /* hex SHA-256 of the body, UNSIGNED-PAYLOAD, ...;
                                       NULL = SHA-256 of an empty body */
} ub_sigv4_req;

/* A derived signing key, cacheable per access key / date / region / service.
 * Zero-initialise it before first use; ub_sigv4_key_wipe clears it.  The
 * signer writes to it: one cache per thread, or a lock around signing. */
typedef struct ub_sigv4_key {
    unsigned char key[32];
    unsigned char secret_fp[32];    /* SHA-256 over the secret, to detect a change */
    char id[256];                   /* "akid/date/region/service"; "" = empty */
} ub_sigv4_key;

typedef struct ub_sigv4_cfg {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;      /* NULL or "" = none */
    const char *region;             /* "us-east-1" */
    const char *service;            /* "s3", "elasticmapreduce", ... */
    time_t now;                     /* signing time (the caller's clock) */
    unsigned flags;                 /* UB_SIGV4_* */
    long expires;                   /* presign only: seconds, 1..UB_SIGV4_MAX_EXPIRES */
    ub_sigv4_key *key_cache;        /* optional; reused when it matches */
} ub_sigv4_cfg;

/* The result.  Init before use, release after; reusable across calls. */
typedef struct ub_sigv4_out {
    ub_buf creq;                    /* canonical request */
    ub_buf sts;                     /* string to sign */
    ub_buf signed_headers;          /* "host;x-amz-date" */
    ub_buf authorization;           /* header mode: value of Authorization */
    ub_buf query;                   /* presign mode: full query to send, without '?' */
    char signature[65];             /* lower-case hex */
    char amz_date[17];              /* "20150830T123600Z" */
    char payload_hash[80];          /* as signed */
    /* Header mode: headers the caller adds to the request, in this order.
     * Values point into this struct or into cfg->session_token. */
    ub_sigv4_hdr add[4];
    size_t nadd;
} ub_sigv4_out;

void ub_sigv4_out_init(ub_sigv4_out *out);
void ub_sigv4_out_release(ub_sigv4_out *out);

/* Signs for an Authorization header.  Adds X-Amz-Date unless the request
 * has it (it must then equal cfg->now), x-amz-content-sha256 with
 * UB_SIGV4_CONTENT_SHA256, X-Amz-Security-Token when there is a token, and
 * Authorization: all listed in out->add. */
int ub_sigv4_sign(const ub_sigv4_cfg *cfg, const ub_sigv4_req *req,
                  ub_sigv4_out *out, ub_err *err);

/* Signs for a presigned URL: out->query holds the request's own parameters
 * plus X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
 * X-Amz-SignedHeaders, X-Amz-Security-Token (with a token) and
 * X-Amz-Signature.  The URL is scheme://host + path + "?" + out->query. */
int ub_sigv4_presign(const ub_sigv4_cfg *cfg, const ub_sigv4_req *req,
                     ub_sigv4_out *out, ub_err *err);

/* Derives the signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region),
 * service), "aws4_request") into key (which records what it is for). */
int  ub_sigv4_derive_key(ub_sigv4_key *key, const char *access_key_id,
                         const char *secret, const char *date8,
                         const char *region, const char *service, ub_err *err);
void ub_sigv4_key_wipe(ub_sigv4_key *key);

/* "YYYYMMDDTHHMMSSZ" (UTC) for t; -1 if t cannot be represented. */
int ub_sigv4_amz_date(time_t t, char out[17]);

/* Appends the AWS URI encoding of s[0..n) to dst: A-Z a-z 0-9 - . _ ~ kept,
 * every other byte as %XX (upper-case); '/' kept when keep_slash.
 * Returns -1 when dst is in error. */
int ub_sigv4_uri_encode(ub_buf *dst, const char *s, size_t n, int keep_slash);

/* Canonical parts on their own (used by the signer; exposed for tests and
 * for callers that build URLs).  Both append to dst. */
int ub_sigv4_canonical_uri(ub_buf *dst, const char *path, const char *service,
                           unsigned flags, ub_err *err);
int ub_sigv4_canonical_query(ub_buf *dst, const char *query, ub_err *err);

/* Text for a debug log: the canonical request and string to sign with the
 * session token (raw and URI-encoded) replaced by "<redacted>". */
int ub_sigv4_debug(const ub_sigv4_cfg *cfg, const ub_sigv4_out *out, ub_buf *dst);

/* SHA-256 as lower-case hex. */
int ub_sigv4_sha256_hex(const void *p, size_t n, char hex[65], ub_err *err);

/* Incremental SHA-256 for streams: init, update..., final (which also
 * releases); release alone discards an unfinished hash. */
typedef struct ub_sigv4_hash {
    void *ctx;                      /* EVP_MD_CTX, owned */
} ub_sigv4_hash;

int  ub_sigv4_hash_init(ub_sigv4_hash *h, ub_err *err);
int  ub_sigv4_hash_update(ub_sigv4_hash *h, const void *p, size_t n, ub_err *err);
int  ub_sigv4_hash_final(ub_sigv4_hash *h, char hex[65], ub_err *err);
void ub_sigv4_hash_release(ub_sigv4_hash *h);

/* Reads r to its end (bounded chunks) and gives the hex SHA-256 of what it
 * read; returns the byte count or -1.  Does not close r. */
int64_t ub_sigv4_hash_reader(ub_reader *r, char hex[65], ub_err *err);

#endif
