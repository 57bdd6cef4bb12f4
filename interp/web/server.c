/* server.c — HTTP for `ubpipe serve` on libmicrohttpd (see server.h).
 *
 * libmicrohttpd parses HTTP, decodes the URL, the query and the login
 * form; this file only routes.  One thread per connection (so an SSE
 * stream may block), at most MAX_CONN connections, request bodies of at
 * most MAX_BODY bytes, idle connections dropped after TIMEOUT seconds.
 * The scheduler runs in the main thread and never waits on a client. */
#include "web/server.h"
#include "base/mem.h"
#include "base/jtext.h"
#include "base/parse.h"
#include "base/date.h"
#include "web/api.h"
#include "web/pages.h"
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { MAX_BODY = 64 * 1024, MAX_CONN = 64, TIMEOUT = 60, MAX_SESSIONS = 64, LOG_PAGE = 1 << 20 };
#define SESSION_TTL (12 * 3600.0)
#define COOKIE "ubpipe_session"

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

typedef struct session {
    char   sid[65], csrf[65];
    double expires;
} session;

struct ub_server {
    struct MHD_Daemon *d;
    ub_serve *s;
    char     *token;
    char      origin[300];
    pthread_mutex_t mu;
    session   sessions[MAX_SESSIONS];
};

/* Per request: the body so far, and the login form. */
typedef struct req {
    ub_buf body;
    int    too_big;
    struct MHD_PostProcessor *pp;
    char  *form_token;
} req;

static void random_hex(char out[65])
{
    unsigned char r[32];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* Compares without an early exit, so timing tells nothing of the token. */
static int same_secret(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0 && lb > 0;
}

static const session *find_session(ub_server *srv, const char *sid, session *copy)
{
    const session *found = NULL;
    if (!sid || strlen(sid) != 64)
        return NULL;
    pthread_mutex_lock(&srv->mu);
    double now = ub_now();
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *x = &srv->sessions[i];
        if (x->sid[0] && x->expires > now && same_secret(x->sid, sid)) {
            *copy = *x;
            found = copy;
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return found;
}

static void new_session(ub_server *srv, session *out)
{
    random_hex(out->sid);
    random_hex(out->csrf);
    out->expires = ub_now() + SESSION_TTL;
    pthread_mutex_lock(&srv->mu);
    int slot = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) {      /* a free or expired slot, else the oldest */
        if (srv->sessions[i].expires < srv->sessions[slot].expires)
            slot = i;
    }
    srv->sessions[slot] = *out;
    pthread_mutex_unlock(&srv->mu);
}

static void drop_session(ub_server *srv, const char *sid)
{
    pthread_mutex_lock(&srv->mu);
    for (int i = 0; sid && i < MAX_SESSIONS; i++)
        if (srv->sessions[i].sid[0] && same_secret(srv->sessions[i].sid, sid))
            memset(&srv->sessions[i], 0, sizeof srv->sessions[i]);
    pthread_mutex_unlock(&srv->mu);
}

static void security_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    /* same-origin, not no-referrer: under no-referrer browsers send "Origin: null"
     * with same-origin POSTs, which the CSRF check refuses */
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *type, const char *p, size_t n,
                                const char *hname, const char *hval)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    security_headers(r);
    MHD_add_response_header(r, "Content-Type", type);
    if (hname)
        MHD_add_response_header(r, hname, hval);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *v)
{
    char *txt = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!txt)
        return send_buf(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25, NULL, NULL);
    enum MHD_Result rc = send_buf(c, status, "application/json", txt, strlen(txt), NULL, NULL);
    free(txt);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg)
{
    return send_json(c, status, json_pack("{s:o}", "error", ub_jtext(msg)));   /* never a 500 for odd bytes */
}

/* ---- Server-Sent Events --------------------------------------------------------------------- */

typedef struct sse {
    ub_server *srv;
    ub_buf     pending;
    size_t     sent;
    unsigned long long seq;
    int        ended;
    /* log stream */
    int        is_log;
    char      *pipeline, *ds, *task;
    int        try_no;
    uint64_t   offset;
    double     last_write;
} sse;

static void sse_free(void *cls)
{
    sse *x = cls;
    ub_buf_free(&x->pending);
    ub_free(x->pipeline);
    ub_free(x->ds);
    ub_free(x->task);
    ub_free(x);
}

/* The next lines of the log as SSE data lines; "event: end" once the try
 * is over and everything was sent. */
static void log_more(sse *x)
{
    ub_buf chunk = UB_BUF_INIT;
    uint64_t total = 0;
    int status = 0;
    int done = ub_api_try_done(x->srv->s, x->pipeline, x->ds, x->task, x->try_no);
    const uint64_t page = 64 * 1024;
    if (ub_api_log(x->srv->s, x->pipeline, x->ds, x->task, x->try_no, x->offset, page, &chunk, &total,
                   &status) == 0 && chunk.len) {
        /* the raw bytes read: [offset, offset + raw); the masked text may be
         * longer or shorter.  Sent only when they end a line (or the try is
         * over, or a whole page came), so a line is never cut in two. */
        uint64_t raw = total - x->offset < page ? total - x->offset : page;
        if (chunk.p[chunk.len - 1] == '\n' || done == 1 || raw == page) {
            size_t i = 0;
            while (i < chunk.len) {
                size_t j = i;
                while (j < chunk.len && chunk.p[j] != '\n' && chunk.p[j] != '\r')
                    j++;
                ub_buf_adds(&x->pending, "data: ");
                ub_buf_add(&x->pending, chunk.p + i, j - i);
                ub_buf_adds(&x->pending, "\n\n");
                i = j + (j + 1 < chunk.len && chunk.p[j] == '\r' && chunk.p[j + 1] == '\n' ? 2 : 1);
            }
            x->offset += raw;
        }
    } else if (status == 404 && done == -1) {
        ub_buf_adds(&x->pending, "event: end\ndata: unknown\n\n");
        x->ended = 1;
    }
    ub_buf_free(&chunk);
    if (!x->ended && !x->pending.len && done == 1) {
        ub_buf_addf(&x->pending, "event: end\ndata: {\"offset\":%llu}\n\n", (unsigned long long)x->offset);
        x->ended = 1;
    }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse *x = cls;
    (void)pos;
    while (x->sent >= x->pending.len) {
        ub_buf_reset(&x->pending);
        x->sent = 0;
        if (x->ended || ub_serve_stopping(x->srv->s))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (x->is_log) {
            log_more(x);
            if (!x->pending.len) {
                struct timespec ts = { 0, 300 * 1000 * 1000 };
                nanosleep(&ts, NULL);
            }
        } else if (ub_serve_events_wait(x->srv->s, &x->seq, 1.0, &x->pending)) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (!x->pending.len && ub_mono() - x->last_write > 15)
            ub_buf_adds(&x->pending, ": keepalive\n\n");   /* keeps proxies and the timeout from closing it */
        if (x->pending.err)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->pending.len - x->sent;
    if (n > max)
        n = max;
    memcpy(buf, x->pending.p + x->sent, n);
    x->sent += n;
    x->last_write = ub_mono();
    return (ssize_t)n;
}

static enum MHD_Result send_sse(struct MHD_Connection *c, sse *x)
{
    x->last_write = ub_mono();
    ub_buf_init(&x->pending, 1 << 22);
    ub_buf_adds(&x->pending, "retry: 2000\n\n");
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, x, sse_free);
    if (!r) {
        sse_free(x);
        return MHD_NO;
    }
    security_headers(r);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- routing -------------------------------------------------------------------------------- */

/* Splits the path after the prefix into at most 8 parts (in buf). */
static size_t split(const char *path, char *buf, size_t bufsz, char **parts, size_t max)
{
    size_t n = 0;
    snprintf(buf, bufsz, "%s", path);
    char *p = buf;
    while (*p && n < max) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        parts[n++] = p;
        while (*p && *p != '/')
            p++;
        if (*p)
            *p++ = 0;
    }
    return *p ? max + 1 : n;
}

static const char *arg(struct MHD_Connection *c, const char *k)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

/* A non-negative integer argument; def when absent, -1 when malformed. */
static long long num_arg(struct MHD_Connection *c, const char *k, long long def)
{
    const char *v = arg(c, k);
    if (!v || !*v)
        return def;
    long long x;
    if (ub_parse_dec(v, 0, LLONG_MAX, &x, NULL))     /* no " 5", "+5", "0x10", overflow */
        return -1;
    return x;
}

static enum MHD_Result api_get(ub_server *srv, struct MHD_Connection *c, char **part, size_t n)
{
    ub_serve *s = srv->s;
    int status = 0;
    const char *err = "not found";
    json_t *v = NULL;
    if (n == 1 && !strcmp(part[0], "pipelines"))
        return send_json(c, 200, ub_api_pipelines(s));
    if (n == 1 && !strcmp(part[0], "events")) {
        sse *x = ub_calloc(1, sizeof *x);
        if (!x)
            return MHD_NO;
        x->srv = srv;
        x->seq = ULLONG_MAX;               /* events from now on */
        return send_sse(c, x);
    }
    if (n < 3 || strcmp(part[0], "pipelines") != 0)
        return send_error(c, 404, "not found");
    const char *name = part[1];
    if (n == 3 && !strcmp(part[2], "dag")) {
        v = ub_api_dag(s, name, &status, &err);
    } else if (n == 3 && !strcmp(part[2], "runs")) {
        long long lim = num_arg(c, "limit", 50), off = num_arg(c, "offset", 0);
        if (lim < 0 || off < 0)
            return send_error(c, 400, "limit and offset must be non-negative integers");
        v = ub_api_runs(s, name, arg(c, "from"), arg(c, "to"), (size_t)lim, (size_t)off, &status, &err);
    } else if (n == 4 && !strcmp(part[2], "runs")) {
        v = ub_api_run(s, name, part[3], &status, &err);
    } else if ((n == 7 || n == 8) && !strcmp(part[2], "runs") && !strcmp(part[4], "tasks") &&
               !strcmp(part[6], "logs") && (n == 7 || !strcmp(part[7], "stream"))) {
        long long tr = num_arg(c, "try", 1), off = num_arg(c, "offset", 0), max = num_arg(c, "max", LOG_PAGE);
        if (tr < 1 || tr > 100000 || off < 0 || max < 0)
            return send_error(c, 400, "try, offset and max must be integers (try >= 1)");
        if (n == 8) {
            if (ub_api_try_done(s, name, part[3], part[5], (int)tr) < 0)
                return send_error(c, 404, "no such pipeline, run or task");
            sse *x = ub_calloc(1, sizeof *x);
            if (!x)
                return MHD_NO;
            x->srv = srv;
            x->is_log = 1;
            x->pipeline = ub_strdup(name);
            x->ds = ub_strdup(part[3]);
            x->task = ub_strdup(part[5]);
            x->try_no = (int)tr;
            x->offset = (uint64_t)off;
            if (!x->pipeline || !x->ds || !x->task) {
                sse_free(x);
                return MHD_NO;
            }
            return send_sse(c, x);
        }
        ub_buf out = UB_BUF_INIT;
        uint64_t total = 0;
        if (ub_api_log(s, name, part[3], part[5], (int)tr, (uint64_t)off, (uint64_t)max, &out, &total, &status)) {
            ub_buf_free(&out);
            return send_error(c, status ? status : 500, status == 404 ? "no such log" : "cannot read the log");
        }
        char size[32];
        snprintf(size, sizeof size, "%llu", (unsigned long long)total);
        enum MHD_Result rc = send_buf(c, 200, "text/plain; charset=utf-8", ub_buf_str(&out), out.len,
                                      "X-Ubpipe-Log-Size", size);
        ub_buf_free(&out);
        return rc;
    } else {
        return send_error(c, 404, "not found");
    }
    if (!v)
        return send_error(c, status ? status : 500, err ? err : "error");
    return send_json(c, 200, v);
}

static enum MHD_Result api_post(ub_server *srv, struct MHD_Connection *c, char **part, size_t n, req *rq)
{
    ub_serve *s = srv->s;
    int status = 0;
    const char *err = "not found";
    json_t *body = NULL;
    if (rq->body.len) {
        json_error_t je;
        body = json_loadb(rq->body.p, rq->body.len, 0, &je);
        if (!json_is_object(body)) {
            json_decref(body);
            return send_error(c, 400, "the body must be a JSON object");
        }
    }
    enum MHD_Result rc;
    if (n < 3 || strcmp(part[0], "pipelines") != 0) {
        rc = send_error(c, 404, "not found");
    } else if (n == 3 && (!strcmp(part[2], "pause") || !strcmp(part[2], "unpause"))) {
        int paused = !strcmp(part[2], "pause");
        if (ub_serve_set_paused(s, part[1], paused, &status, &err))
            rc = send_error(c, status, err);
        else
            rc = send_json(c, 200, json_pack("{s:s, s:b}", "pipeline", part[1], "paused", paused));
    } else if (n == 3 && !strcmp(part[2], "runs")) {
        const char *ds = json_string_value(json_object_get(body, "ds"));
        const char *from = json_string_value(json_object_get(body, "from"));
        const char *to = json_string_value(json_object_get(body, "to"));
        ub_date d1, d2;
        ub_err e;
        if (ds && !from && !to) {
            from = to = ds;
        }
        if (!from || !to || ub_date_parse(from, &d1, &e) || ub_date_parse(to, &d2, &e) ||
            ub_date_to_days(d2) < ub_date_to_days(d1)) {
            rc = send_error(c, 400, "give {\"ds\": D} or {\"from\": D1, \"to\": D2} with D1 <= D2 (YYYY-MM-DD)");
        } else if (ub_date_to_days(d2) - ub_date_to_days(d1) >= 10000) {
            rc = send_error(c, 400, "a backfill covers at most 10000 days");
        } else if (!ub_serve_find(s, part[1])) {
            rc = send_error(c, 404, "unknown pipeline");
        } else {
            json_t *queued = json_array();
            int failed = 0;
            for (long day = ub_date_to_days(d1); day <= ub_date_to_days(d2) && !failed; day++) {
                char dd[11];
                ub_date_format(ub_date_from_days(day), 0, dd);
                if (ub_serve_request(s, part[1], dd, NULL, 0, &status, &err))
                    failed = 1;
                else
                    json_array_append_new(queued, json_string(dd));
            }
            if (failed) {
                json_decref(queued);
                rc = send_error(c, status, err);
            } else {
                rc = send_json(c, 202, json_pack("{s:s, s:o}", "pipeline", part[1], "queued", queued));
            }
        }
    } else if (n == 7 && !strcmp(part[2], "runs") && !strcmp(part[4], "tasks") && !strcmp(part[6], "clear")) {
        json_t *ds_j = json_object_get(body, "downstream");
        if (ds_j && !json_is_boolean(ds_j)) {
            rc = send_error(c, 400, "downstream must be true or false");
        } else {
            /* the run must exist: clearing is of a task that ran */
            json_t *run = ub_api_run(s, part[1], part[3], &status, &err);
            if (!run) {
                rc = send_error(c, status, err);
            } else {
                json_decref(run);
                int down = json_is_true(ds_j);
                if (ub_serve_request(s, part[1], part[3], part[5], down, &status, &err))
                    rc = send_error(c, status, err);
                else
                    rc = send_json(c, 202, json_pack("{s:s, s:s, s:s, s:b}", "pipeline", part[1], "ds", part[3],
                                                     "task", part[5], "downstream", down));
            }
        }
    } else {
        rc = send_error(c, 404, "not found");
    }
    json_decref(body);
    return rc;
}

/* May this POST change anything?  0 yes; else the status to refuse with. */
static int post_allowed(ub_server *srv, struct MHD_Connection *c, const char **why)
{
    if (ub_serve_read_only(srv->s)) {
        *why = "the server is read-only (--read-only)";
        return 403;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth) {
        if (strncmp(auth, "Bearer ", 7) == 0 && same_secret(auth + 7, srv->token))
            return 0;
        *why = "wrong token";
        return 401;
    }
    session ses;
    const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    if (!find_session(srv, sid, &ses)) {
        *why = "a token is needed: Authorization: Bearer TOKEN, or log in";
        return 401;
    }
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!origin || strcmp(origin, srv->origin) != 0) {
        *why = "cross-origin request refused";
        return 403;
    }
    const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Ubpipe-Csrf");
    if (!same_secret(csrf, ses.csrf)) {
        *why = "missing or wrong X-Ubpipe-Csrf";
        return 403;
    }
    return 0;
}

static enum MHD_Result login_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                   const char *content_type, const char *transfer_encoding, const char *data,
                                   uint64_t off, size_t size)
{
    req *rq = cls;
    if (strcmp(key, "token") != 0)
        return MHD_YES;
    if (off + size > 4096)
        return MHD_NO;
    char *old = rq->form_token;
    size_t have = old ? strlen(old) : 0;
    char *nt = ub_realloc(old, have + size + 1);
    if (!nt)
        return MHD_NO;
    memcpy(nt + have, data, size);
    nt[have + size] = 0;
    rq->form_token = nt;
    return MHD_YES;
}

static const char login_page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ubpipe: log in</title>"
    "<link rel=\"stylesheet\" href=\"/assets/ubpipe.css\"></head>\n<body><main><h1>ubpipe</h1>\n"
    "<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" "
    "autocomplete=\"current-password\" required></label> <button type=\"submit\">Log in</button></form>\n"
    "<p>The token is UBPIPE_SERVE_TOKEN, or the content of $UBPIPE_HOME/serve.token.</p></main></body></html>\n";

static enum MHD_Result do_login(ub_server *srv, struct MHD_Connection *c, req *rq)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin && strcmp(origin, srv->origin) != 0)
        return send_error(c, 403, "cross-origin request refused");
    if (!same_secret(rq->form_token, srv->token))
        return send_buf(c, 401, "text/html; charset=utf-8", login_page, sizeof login_page - 1, NULL, NULL);
    session ses;
    new_session(srv, &ses);
    char cookie[160];
    snprintf(cookie, sizeof cookie, COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d", ses.sid,
             (int)SESSION_TTL);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    security_headers(r);
    MHD_add_response_header(r, "Set-Cookie", cookie);
    MHD_add_response_header(r, "Location", "/");
    enum MHD_Result rc = MHD_queue_response(c, 303, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result do_logout(ub_server *srv, struct MHD_Connection *c)
{
    drop_session(srv, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE));
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    security_headers(r);
    MHD_add_response_header(r, "Set-Cookie", COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    MHD_add_response_header(r, "Location", "/");
    enum MHD_Result rc = MHD_queue_response(c, 303, r);
    MHD_destroy_response(r);
    return rc;
}

static void pct(ub_buf *b, const char *v)
{
    for (; v && *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~')
            ub_buf_addc(b, (char)ch);
        else
            ub_buf_addf(b, "%%%02X", ch);
    }
}

/* The query string again, from the arguments libmicrohttpd decoded. */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    ub_buf *b = cls;
    if (b->len)
        ub_buf_addc(b, '&');
    pct(b, key);
    if (value) {
        ub_buf_addc(b, '=');
        pct(b, value);
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    ub_server *srv = cls;
    req *rq = *con_cls;
    int is_post = strcmp(method, "POST") == 0;
    if (!rq) {
        rq = ub_calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        ub_buf_init(&rq->body, MAX_BODY);
        if (is_post && strcmp(url, "/login") == 0)
            rq->pp = MHD_create_post_processor(c, 4096, login_field, rq);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->pp) {
            if (MHD_post_process(rq->pp, upload, *upload_size) != MHD_YES)
                rq->too_big = 1;
        } else if (ub_buf_add(&rq->body, upload, *upload_size)) {
            rq->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return send_error(c, 413, "request body too large");
    char buf[2048];
    char *part[9];
    if (strncmp(url, "/api/v1/", 8) == 0 || strcmp(url, "/api/v1") == 0) {
        size_t n = split(url + 7, buf, sizeof buf, part, 8);
        if (n > 8)
            return send_error(c, 404, "not found");
        if (is_post) {
            const char *why = NULL;
            int st = post_allowed(srv, c, &why);
            if (st)
                return send_error(c, st, why);
            return api_post(srv, c, part, n, rq);
        }
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return send_error(c, 405, "method not allowed");
        return api_get(srv, c, part, n);
    }
    if (strncmp(url, "/api/", 5) == 0)
        return send_error(c, 404, "not found");
    if (strcmp(url, "/metrics") == 0) {
        ub_buf out = UB_BUF_INIT;
        ub_serve_metrics(srv->s, &out);
        enum MHD_Result rc = send_buf(c, out.err ? 500 : 200, "text/plain; version=0.0.4; charset=utf-8",
                                      ub_buf_str(&out), out.len, NULL, NULL);
        ub_buf_free(&out);
        return rc;
    }
    if (strcmp(url, "/login") == 0) {
        if (is_post)
            return do_login(srv, c, rq);
        return send_buf(c, 200, "text/html; charset=utf-8", login_page, sizeof login_page - 1, NULL, NULL);
    }
    if (strcmp(url, "/logout") == 0) {
        if (!is_post)
            return send_error(c, 405, "log out with POST /logout");
        const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
        if (origin && strcmp(origin, srv->origin) != 0)
            return send_error(c, 403, "cross-origin request refused");
        return do_logout(srv, c);
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_error(c, 405, "method not allowed");
    session ses;
    int logged = find_session(srv, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE), &ses) != NULL;
    ub_buf query = UB_BUF_INIT;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &query);
    char disp[256] = "";
    ub_page_req pr = { url, ub_buf_str(&query), logged ? ses.csrf : NULL, ub_serve_read_only(srv->s), disp };
    ub_buf body = UB_BUF_INIT;
    const char *type = "text/html; charset=utf-8";
    int st = ub_pages_get(srv->s, &pr, &body, &type);
    enum MHD_Result rc = send_buf(c, st, type, ub_buf_str(&body), body.len, st == 200 && disp[0] ? "Content-Disposition" : NULL,
                                  disp);
    ub_buf_free(&body);
    ub_buf_free(&query);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    req *rq = *con_cls;
    if (!rq)
        return;
    if (rq->pp)
        MHD_destroy_post_processor(rq->pp);
    ub_buf_free(&rq->body);
    ub_free(rq->form_token);
    ub_free(rq);
    *con_cls = NULL;
}

ub_server *ub_server_start(ub_serve *s, const char *host, int port, const char *token, int *bound, ub_err *err)
{
    /* host is an IPv4 or IPv6 address (no brackets) or "localhost" (127.0.0.1) */
    struct sockaddr_storage ss;
    unsigned family_flag = 0;
    int v6 = 0;
    memset(&ss, 0, sizeof ss);
    const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, h, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, h, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        family_flag = MHD_USE_IPv6;
        v6 = 1;
    } else {
        ub_err_set(err, "--listen: '%s' is not an IPv4 or IPv6 address (or localhost)", host);
        return NULL;
    }
    ub_server *srv = ub_calloc(1, sizeof *srv);
    if (!srv) {
        ub_err_oom(err);
        return NULL;
    }
    srv->s = s;
    srv->token = ub_strdup(token);
    pthread_mutex_init(&srv->mu, NULL);
    srv->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                                  family_flag,
                              0, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONN, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                              (unsigned)(MAX_CONN / 2), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)TIMEOUT,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
                              completed, srv, MHD_OPTION_END);
    if (!srv->d || !srv->token) {
        ub_err_set(err, "cannot listen on %s%s%s:%d (in use, or not an address of this machine)", v6 ? "[" : "", host,
                   v6 ? "]" : "", port);
        ub_free(srv->token);
        pthread_mutex_destroy(&srv->mu);
        ub_free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = di ? di->port : port;
    snprintf(srv->origin, sizeof srv->origin, v6 ? "http://[%s]:%d" : "http://%s:%d", host, *bound);
    return srv;
}

void ub_server_quiesce(ub_server *srv)
{
    if (!srv)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void ub_server_stop(ub_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->d);
    ub_free(srv->token);
    pthread_mutex_destroy(&srv->mu);
    ub_free(srv);
}
