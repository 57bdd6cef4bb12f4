/* http.c — HTTP requests on libcurl easy handles, with the AWS standard retry mode. */
#include "aws/http.h"
#include "base/mem.h"
#include "base/parse.h"
#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ERR_BODY_MAX   (64 * 1024)
#define RESP_BODY_MAX  ((size_t)16 << 20)
#define CONNECT_TIMEOUT 10L
#define LOW_SPEED_TIME  60L

struct ub_http {
    CURL *curl;
    struct curl_slist *hdrs;      /* headers of the current attempt */
    int hdrs_err;                 /* out of memory while adding */
    uint64_t rng;                 /* xorshift state for the jitter */
    char curl_msg[CURL_ERROR_SIZE];
};

/* State of one attempt, shared with the curl callbacks. */
typedef struct attempt {
    const ub_http_req *req;
    ub_http_resp *resp;
    ub_reader *body;              /* current body reader (NULL: memory body) */
    uint64_t body_sent;
    uint64_t sink_bytes;          /* bytes handed to the sink, all attempts */
    int cb_failed;                /* a callback set err */
    int cleanup;                  /* the cancel flag was up when the request began:
                                     a cleanup (CancelSteps, abort) that must not be cut */
    ub_err *err;
} attempt;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- small helpers ---------------------------------------------------------- */

static void copy_trim(char *dst, size_t dsz, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n >= dsz)
        n = dsz - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static double rand01(ub_http *h)
{
    uint64_t x = h->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    h->rng = x;
    return (double)(x >> 11) / (double)(1ull << 53);
}

/* Set by ub_http_set_cancel: a request in flight, and a retry's backoff,
 * end soon after it turns non-zero. */
static volatile sig_atomic_t *cancel_flag;

void ub_http_set_cancel(volatile sig_atomic_t *flag)
{
    cancel_flag = flag;
}

static int cancelled(void)
{
    return cancel_flag && *cancel_flag;
}

/* curl calls this about once a second even when nothing moves */
static int on_progress(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    const attempt *a = ud;
    return !a->cleanup && cancelled();
}

static void sleep_seconds(double s, int ignore_cancel)
{
    while (s > 0 && (ignore_cancel || !cancelled())) {
        double d = s < 0.1 ? s : 0.1;
        struct timespec ts;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(d * 1e9);
        while (nanosleep(&ts, &ts) != 0)
            ;
        s -= d;
    }
}

/* ---- XML error documents ------------------------------------------------- */

typedef struct xerr {
    int depth, is_error, field;   /* field: 1 Code, 2 Message */
    ub_buf code, msg;
} xerr;

static void XMLCALL xe_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xerr *x = ud;
    x->depth++;
    if (x->depth == 1)
        x->is_error = strcmp(name, "Error") == 0;
    else if (x->depth == 2 && x->is_error)
        x->field = strcmp(name, "Code") == 0 ? 1 : strcmp(name, "Message") == 0 ? 2 : 0;
}

static void XMLCALL xe_end(void *ud, const XML_Char *name)
{
    xerr *x = ud;
    if (x->depth == 2)
        x->field = 0;
    x->depth--;
}

static void XMLCALL xe_text(void *ud, const XML_Char *s, int len)
{
    xerr *x = ud;
    if (x->depth != 2 || !x->field)
        return;
    ub_buf *b = x->field == 1 ? &x->code : &x->msg;
    if (b->len + (size_t)len < 4096)
        ub_buf_add(b, s, (size_t)len);
}

int ub_http_parse_error_xml(const char *p, size_t n, char *code, size_t code_sz,
                            char *message, size_t message_sz)
{
    int rc = -1;
    xerr x;
    memset(&x, 0, sizeof x);
    ub_buf_init(&x.code, 4096);
    ub_buf_init(&x.msg, 4096);
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i == n || p[i] != '<') {
        rc = 0;
        goto out;
    }
    XML_Parser xp = XML_ParserCreate(NULL);
    if (!xp)
        goto out;
    XML_SetUserData(xp, &x);
    XML_SetElementHandler(xp, xe_start, xe_end);
    XML_SetCharacterDataHandler(xp, xe_text);
    int ok = XML_Parse(xp, p, (int)n, 1) == XML_STATUS_OK;
    XML_ParserFree(xp);
    if (!ok)
        goto out;
    rc = x.is_error ? 1 : 0;
    if (rc == 1) {
        copy_trim(code, code_sz, ub_buf_str(&x.code), x.code.len);
        copy_trim(message, message_sz, ub_buf_str(&x.msg), x.msg.len);
    }
out:
    ub_buf_free(&x.code);
    ub_buf_free(&x.msg);
    return rc;
}

/* ---- policy ---------------------------------------------------------------- */

int ub_http_retryable(long status, const char *code, int curl_code)
{
    switch (curl_code) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
    if (code && *code) {
        if (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "SlowDown") == 0 ||
            strncmp(code, "Throttling", 10) == 0 || strcmp(code, "ThrottlingException") == 0 ||
            strcmp(code, "RequestTimeoutException") == 0 || strcmp(code, "InternalError") == 0)
            return 1;
    }
    return status == 500 || status == 502 || status == 503 || status == 504;
}

int ub_http_max_attempts(void)
{
    const char *names[] = { "UBPIPE_AWS_MAX_ATTEMPTS", "AWS_MAX_ATTEMPTS" };
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end == '\0' && n >= 1)
                return n > 20 ? 20 : (int)n;
        }
    }
    return 3;
}

double ub_http_backoff_cap(int n)
{
    double cap = 1.0;
    for (int i = 1; i < n && cap < 20.0; i++)
        cap *= 2.0;
    return cap > 20.0 ? 20.0 : cap;
}

int ub_http_ok(const ub_http_resp *resp)
{
    return resp->status >= 200 && resp->status < 300 && resp->code[0] == '\0';
}

/* ---- handles --------------------------------------------------------------- */

void ub_http_resp_init(ub_http_resp *resp, size_t body_max)
{
    memset(resp, 0, sizeof *resp);
    ub_buf_init(&resp->body, body_max ? body_max : RESP_BODY_MAX);
    resp->content_length = -1;
}

void ub_http_resp_release(ub_http_resp *resp)
{
    ub_buf_free(&resp->body);
}

static void resp_clear(ub_http_resp *resp)
{
    ub_buf_reset(&resp->body);
    resp->status = 0;
    resp->etag[0] = resp->request_id[0] = resp->content_range[0] = '\0';
    resp->last_modified[0] = resp->code[0] = resp->message[0] = '\0';
    resp->content_length = -1;
}

ub_http *ub_http_new(ub_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        ub_err_set(err, "libcurl initialisation failed: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    ub_http *h = ub_calloc(1, sizeof *h);
    if (!h) {
        ub_err_oom(err);
        return NULL;
    }
    h->curl = curl_easy_init();
    if (!h->curl) {
        ub_free(h);
        ub_err_set(err, "libcurl: cannot create a handle");
        return NULL;
    }
    h->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)h;
    if (!h->rng)
        h->rng = 0x9e3779b97f4a7c15ull;
    return h;
}

void ub_http_free(ub_http *h)
{
    if (!h)
        return;
    curl_slist_free_all(h->hdrs);
    curl_easy_cleanup(h->curl);
    ub_free(h);
}

int ub_http_add_header(ub_http *h, const char *name, const char *value)
{
    ub_buf line = UB_BUF_INIT;
    int rc = -1;
    /* "Name;" is curl's way to send a header with an empty value. */
    if (*value)
        ub_buf_addf(&line, "%s: %s", name, value);
    else
        ub_buf_addf(&line, "%s;", name);
    if (line.err)
        goto out;
    struct curl_slist *n = curl_slist_append(h->hdrs, ub_buf_str(&line));
    if (!n)
        goto out;
    h->hdrs = n;
    rc = 0;
out:
    if (rc)
        h->hdrs_err = 1;
    ub_buf_free(&line);
    return rc;
}

/* ---- curl callbacks -------------------------------------------------------- */

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    attempt *a = ud;
    ub_http_resp *r = a->resp;
    size_t n = size * nmemb;
    if (n > 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue or a redirect): start over */
        const char *sp = memchr(p, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->etag[0] = r->request_id[0] = r->content_range[0] = r->last_modified[0] = '\0';
        r->content_length = -1;
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    if (nl == 4 && strncasecmp(p, "etag", 4) == 0)
        copy_trim(r->etag, sizeof r->etag, v, vl);
    else if (nl == 16 && strncasecmp(p, "x-amz-request-id", 16) == 0)
        copy_trim(r->request_id, sizeof r->request_id, v, vl);
    else if (nl == 13 && strncasecmp(p, "content-range", 13) == 0)
        copy_trim(r->content_range, sizeof r->content_range, v, vl);
    else if (nl == 13 && strncasecmp(p, "last-modified", 13) == 0)
        copy_trim(r->last_modified, sizeof r->last_modified, v, vl);
    else if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
        char tmp[32];
        copy_trim(tmp, sizeof tmp, v, vl);
        char *end;
        long long cl = strtoll(tmp, &end, 10);
        if (end != tmp && *end == '\0' && cl >= 0)
            r->content_length = cl;
    }
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    attempt *a = ud;
    ub_http_resp *r = a->resp;
    size_t n = size * nmemb;
    int success = r->status >= 200 && r->status < 300;
    if (success && a->req->sink) {
        if (a->req->sink(a->req->sink_ud, p, n, a->err)) {
            a->cb_failed = 1;
            return 0;
        }
        a->sink_bytes += n;
        return n;
    }
    if (!success) {
        /* keep the start of an error body, drop the rest */
        if (r->body.len < ERR_BODY_MAX) {
            size_t take = ERR_BODY_MAX - r->body.len;
            ub_buf_add(&r->body, p, n < take ? n : take);
        }
        return n;
    }
    if (ub_buf_add(&r->body, p, n)) {
        if (r->body.err == ENOMEM) {
            ub_err_oom(a->err);
        } else {
            ub_err_set(a->err, "%s: response body larger than %zu bytes",
                       a->req->what ? a->req->what : "http", r->body.max);
        }
        a->cb_failed = 1;
        return 0;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    attempt *a = ud;
    const ub_http_req *q = a->req;
    size_t want = size * nmemb;
    if (a->body) {
        uint64_t left = q->body_reader_len - a->body_sent;
        if (want > left)
            want = (size_t)left;
        if (want == 0)
            return 0;
        ssize_t got = ub_read(a->body, buf, want, a->err);
        if (got < 0) {
            a->cb_failed = 1;
            return CURL_READFUNC_ABORT;
        }
        if (got == 0) {
            ub_err_set(a->err, "%s: request body '%s' ended after %llu of %llu bytes",
                       q->what ? q->what : "http", a->body->name ? a->body->name : "?",
                       (unsigned long long)a->body_sent, (unsigned long long)q->body_reader_len);
            a->cb_failed = 1;
            return CURL_READFUNC_ABORT;
        }
        a->body_sent += (uint64_t)got;
        return (size_t)got;
    }
    size_t left = q->body_len - (size_t)a->body_sent;
    if (want > left)
        want = left;
    if (want)
        memcpy(buf, (const char *)q->body + a->body_sent, want);
    a->body_sent += want;
    return want;
}

/* ---- requests -------------------------------------------------------------- */

static int setup(ub_http *h, attempt *a, ub_err *err)
{
    const ub_http_req *q = a->req;
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_slist_free_all(h->hdrs);
    h->hdrs = NULL;
    h->hdrs_err = 0;
    h->curl_msg[0] = '\0';

    for (size_t i = 0; i < q->nheaders; i++)
        ub_http_add_header(h, q->headers[i].name, q->headers[i].value);
    /* no "Expect: 100-continue" round trip; no default Accept */
    struct curl_slist *nx = curl_slist_append(h->hdrs, "Expect:");   /* "Name:" removes */
    if (nx)
        h->hdrs = nx;
    else
        h->hdrs_err = 1;
    if (q->sign && q->sign(q->sign_ud, q, h, err))
        return -1;
    if (h->hdrs_err)
        return ub_err_oom(err);

    int has_body = q->body_reader || q->body_len;
    const char *m = q->method;
    int ok = 1;
#define SET(opt, val) (ok = ok && curl_easy_setopt(c, opt, val) == CURLE_OK)
    SET(CURLOPT_URL, q->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    long lst = LOW_SPEED_TIME;
    const char *e = getenv("UBPIPE_HTTP_LOW_SPEED_TIME");
    long long v;
    if (e && ub_parse_int(e, 1, LONG_MAX, &v, NULL) == 0)
        lst = (long)v;
    SET(CURLOPT_LOW_SPEED_TIME, lst);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    const char *ca = getenv("UBPIPE_CA_BUNDLE");
    if (!ca || !*ca)
        ca = getenv("AWS_CA_BUNDLE");
    if (ca && *ca)
        SET(CURLOPT_CAINFO, ca);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, a);
    SET(CURLOPT_ERRORBUFFER, h->curl_msg);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, a);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, a);
    SET(CURLOPT_HTTPHEADER, h->hdrs);
    if (strcmp(m, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0 && !has_body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0) {
        /* an upload with a known length, the method set explicitly */
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, a);
        SET(CURLOPT_INFILESIZE_LARGE,
            (curl_off_t)(q->body_reader ? q->body_reader_len : q->body_len));
        SET(CURLOPT_CUSTOMREQUEST, m);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, m);
    }
#undef SET
    if (!ok)
        return ub_err_set(err, "%s: cannot set up the request", q->what ? q->what : "http");
    return 0;
}

int ub_http_do(ub_http *h, const ub_http_req *req, ub_http_resp *resp, ub_err *err)
{
    int rc = -1, max = ub_http_max_attempts();
    const char *what = req->what ? req->what : req->method;
    attempt a;
    memset(&a, 0, sizeof a);
    a.req = req;
    a.resp = resp;
    a.err = err;
    a.body = req->body_reader;
    a.cleanup = cancelled();
    ub_reader *owned = NULL;       /* a reopened body reader: ours to close */
    CURLcode cc = CURLE_OK;
    resp->attempts = 0;

    for (int n = 1; n <= max; n++) {
        resp_clear(resp);
        resp->attempts = n;
        a.cb_failed = 0;
        if (n > 1 && a.body && a.body_sent > 0) {
            ub_reader *r = req->reopen(req->reopen_ud, err);
            if (!r)
                goto out;
            ub_reader_close(owned);
            owned = a.body = r;
        }
        a.body_sent = 0;
        if (setup(h, &a, err))
            goto out;
        cc = curl_easy_perform(h->curl);
        if (a.cb_failed)
            goto out;               /* our own callback failed: err is set */
        if (cc == CURLE_OK && (resp->status < 200 || resp->status >= 300 ||
                               (req->flags & UB_HTTP_ERROR_IN_200))) {
            int x = ub_http_parse_error_xml(resp->body.p ? resp->body.p : "", resp->body.len,
                                            resp->code, sizeof resp->code,
                                            resp->message, sizeof resp->message);
            if (x < 0 && resp->status >= 200 && resp->status < 300) {
                /* a 200 whose body may hold an error, cut or garbled */
                snprintf(resp->code, sizeof resp->code, "InternalError");
                snprintf(resp->message, sizeof resp->message, "malformed response body");
            }
        }
        int retry = ub_http_retryable(cc == CURLE_OK ? resp->status : 0, resp->code, (int)cc);
        if (cc == CURLE_OK && ub_http_ok(resp))
            retry = 0;
        if (retry && a.sink_bytes > 0)
            retry = 0;              /* part of the body is already consumed */
        if (retry && a.body && a.body_sent > 0 && !req->reopen)
            retry = 0;
        if (!retry || n == max || (cancelled() && !a.cleanup))
            break;
        sleep_seconds(rand01(h) * ub_http_backoff_cap(n), a.cleanup);
    }
    if (cc != CURLE_OK && cancelled() && !a.cleanup) {
        ub_err_set(err, "%s: stopped by a cancel (task timeout or signal) after %d attempt%s", what,
                   resp->attempts, resp->attempts == 1 ? "" : "s");
        goto out;
    }
    if (cc != CURLE_OK) {
        ub_err_set(err, "%s: %s%s%s (after %d attempt%s)", what, curl_easy_strerror(cc),
                   h->curl_msg[0] ? ": " : "", h->curl_msg, resp->attempts,
                   resp->attempts == 1 ? "" : "s");
        goto out;
    }
    rc = 0;
out:
    ub_reader_close(owned);
    return rc;
}

int ub_http_status_err(const ub_http_req *req, const ub_http_resp *resp, ub_err *err)
{
    const char *what = req->what ? req->what : req->method;
    char rid[160] = "";
    if (resp->request_id[0])
        snprintf(rid, sizeof rid, " (request id %s)", resp->request_id);
    if (resp->code[0])
        return ub_err_set(err, "%s: HTTP %ld %s%s%s%s", what, resp->status, resp->code,
                          resp->message[0] ? ": " : "", resp->message, rid);
    return ub_err_set(err, "%s: HTTP %ld%s", what, resp->status, rid);
}
