/* http.h — one small HTTP client layer on libcurl easy handles, with AWS retries.
 *
 * A ub_http wraps one curl easy handle; keep it across requests to the same
 * host so connections are reused.  A handle is used by one thread at a time
 * (give each worker thread its own).
 *
 * Policy applied to every request:
 *   - connect timeout 10 s; a transfer slower than 1 byte/s for 60 s is
 *     aborted (UBPIPE_HTTP_LOW_SPEED_TIME changes the 60);
 *   - TLS peer and host verification on; CA bundle from UBPIPE_CA_BUNDLE or
 *     AWS_CA_BUNDLE when set;
 *   - the AWS SDK "standard" retry mode: at most UBPIPE_AWS_MAX_ATTEMPTS (else
 *     AWS_MAX_ATTEMPTS, else 3) attempts; before attempt n+1 the layer sleeps
 *     random(0,1) x min(2^(n-1), 20) seconds.  Retried: HTTP 500, 502, 503,
 *     504; error codes RequestTimeout, SlowDown, Throttling*, ThrottlingException,
 *     InternalError (also inside a 200 with UB_HTTP_ERROR_IN_200); transport
 *     failures (cannot connect, connection reset, timeout, empty reply).
 *     A body streamed from a reader is retried only when the request has a
 *     reopen callback; a response streamed to a sink only when the sink has
 *     not received a byte yet.  The sign callback runs before every attempt,
 *     so each attempt carries a fresh signature and date.
 *
 * Nothing here logs; header values (which hold signatures) never appear in
 * messages.
 */
#ifndef UB_HTTP_H
#define UB_HTTP_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "base/err.h"
#include "io/stream.h"

typedef struct ub_http ub_http;

typedef struct ub_http_hdr {
    const char *name;
    const char *value;
} ub_http_hdr;

/* Flags for ub_http_req.flags. */
enum {
    /* A 200 whose body is an <Error> document is an error (S3 CopyObject and
     * CompleteMultipartUpload answer that way). */
    UB_HTTP_ERROR_IN_200 = 1u << 0,
};

typedef struct ub_http_req ub_http_req;

/* Per-attempt hook: adds headers for this attempt (a fresh signature) with
 * ub_http_add_header(h, ...).  Returns 0 or -1 (err filled). */
typedef int (*ub_http_sign_fn)(void *ud, const ub_http_req *req, ub_http *h, ub_err *err);
/* Rewinds a streamed request body for another attempt: returns a new reader
 * positioned at the start (the layer closes the old one) or NULL. */
typedef ub_reader *(*ub_http_reopen_fn)(void *ud, ub_err *err);
/* Receives response body bytes of a 2xx response; 0 to go on, -1 to stop. */
typedef int (*ub_http_sink_fn)(void *ud, const void *p, size_t n, ub_err *err);

struct ub_http_req {
    const char *method;           /* "GET", "PUT", "HEAD", "POST", "DELETE" */
    const char *url;              /* full URL with query */
    const ub_http_hdr *headers;   /* sent as given (Host included if set) */
    size_t nheaders;
    unsigned flags;               /* UB_HTTP_* */
    /* Body: memory, or a reader with a known length, or none. */
    const void *body;
    size_t body_len;
    ub_reader *body_reader;       /* borrowed; with reopen, replaced per attempt */
    uint64_t body_reader_len;
    ub_http_reopen_fn reopen;
    void *reopen_ud;
    /* Response body: to sink when set, else to resp->body (bounded by its max). */
    ub_http_sink_fn sink;
    void *sink_ud;
    ub_http_sign_fn sign;
    void *sign_ud;
    const char *what;             /* names the request in messages ("s3 GET 'k'") */
};

typedef struct ub_http_resp {
    long status;                  /* 0 when no response came */
    ub_buf body;                  /* 2xx without sink; error bodies (first 64 KiB) */
    char etag[128];               /* header values of interest, "" when absent */
    char request_id[128];         /* x-amz-request-id */
    char content_range[128];
    char last_modified[64];
    int64_t content_length;       /* -1 when absent */
    char code[64];                /* error code from an XML error body, "" if none */
    char message[256];            /* its Message */
    int attempts;                 /* attempts made */
} ub_http_resp;

/* Initialises resp; body_max bounds resp->body (0 = 16 MiB). */
void ub_http_resp_init(ub_http_resp *resp, size_t body_max);
void ub_http_resp_release(ub_http_resp *resp);

/* A new handle; the caller owns it (ub_http_free). */
ub_http *ub_http_new(ub_err *err);
void     ub_http_free(ub_http *h);

/* From inside a sign callback: adds one header to the current attempt
 * (copied).  Returns -1 when out of memory. */
int ub_http_add_header(ub_http *h, const char *name, const char *value);

/* Performs req with retries.  Returns 0 when a response was received (any
 * status: look at resp->status, and resp->code for an error body), -1 when
 * none was (transport failure after the last attempt, local failure, sink
 * error); err is filled then.  resp is reset first. */
int ub_http_do(ub_http *h, const ub_http_req *req, ub_http_resp *resp, ub_err *err);

/* 1 when resp is a success: status 2xx and no error document. */
int ub_http_ok(const ub_http_resp *resp);

/* Fills err with a one-line message for a non-success response:
 * "<what>: HTTP 403 AccessDenied: Access Denied (request id ABC)"; returns -1. */
int ub_http_status_err(const ub_http_req *req, const ub_http_resp *resp, ub_err *err);

/* 1 when an attempt ending with this status / error code / curl result is
 * retried by the standard mode (exposed for tests). */
int ub_http_retryable(long status, const char *code, int curl_code);
/* Attempts allowed by the environment (1..20; default 3). */
int ub_http_max_attempts(void);
/* Upper bound in seconds of the delay before attempt n+1 (n >= 1):
 * min(2^(n-1), 20). */
double ub_http_backoff_cap(int n);

/* Bounds of every request: connect (name lookup, TCP, TLS handshake) 10 s;
 * then, for the first byte and the rest of the transfer either way, less
 * than 1 byte/s for 60 s (UBPIPE_HTTP_LOW_SPEED_TIME) ends the attempt.
 * With a cancel flag set here (the run's), a request in flight and the
 * backoff between retries stop within about a second of it turning
 * non-zero; the request then fails with "stopped by a cancel".  A request
 * that begins with the flag already up (a cleanup after the cancel, such
 * as CancelSteps or an upload's abort) runs to its own bounds. */
void ub_http_set_cancel(volatile sig_atomic_t *flag);

/* Parses an S3/AWS XML error document (<Error><Code>..</Code><Message>..):
 * 1 when p[0..n) is one (code/message filled), 0 when not, -1 on bad XML. */
int ub_http_parse_error_xml(const char *p, size_t n, char *code, size_t code_sz,
                            char *message, size_t message_sz);

#endif
