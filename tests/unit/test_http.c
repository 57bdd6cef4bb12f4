/* test_http.c — the HTTP layer: retry policy, error documents, and retries against a scripted loopback server. */
#include "t.h"
#include "aws/http.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* A one-thread HTTP server on 127.0.0.1 that answers each connection's
 * single request with the next canned response, and records the requests. */
typedef struct server {
    int fd, port;
    const char *const *replies;
    int nreplies, served;
    char req[4][4096];            /* the first 4 requests, head + body */
} server;

static void *serve(void *arg)
{
    server *s = arg;
    for (int i = 0; i < s->nreplies; i++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[4096];
        size_t got = 0;
        /* read the head, then Content-Length bytes of body */
        long clen = -1;
        char *end = NULL;
        while (got < sizeof buf - 1) {
            ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
                char *cl = strstr(buf, "Content-Length: ");
                clen = cl ? strtol(cl + 16, NULL, 10) : 0;
            }
            if (end && (long)(got - (size_t)(end + 4 - buf)) >= clen)
                break;
        }
        buf[got] = '\0';
        if (i < 4)
            memcpy(s->req[i], buf, got + 1);
        const char *r = s->replies[i];
        if (write(c, r, strlen(r)) < 0) {
            /* the client may have gone; nothing to do */
        }
        s->served++;
        close(c);
    }
    return NULL;
}

static int server_start(server *s, pthread_t *th)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 8) ||
        getsockname(s->fd, (struct sockaddr *)&a, &al))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(th, NULL, serve, s);
}

static int nsign;

static int count_sign(void *ud, const ub_http_req *req, ub_http *h, ub_err *err)
{
    char v[32];
    snprintf(v, sizeof v, "attempt-%d", ++nsign);
    return ub_http_add_header(h, "X-Test-Sign", v);
}

static void test_policy(void)
{
    /* statuses the standard mode retries, and ones it does not */
    T_INTEQ(ub_http_retryable(500, "", 0), 1);
    T_INTEQ(ub_http_retryable(502, "", 0), 1);
    T_INTEQ(ub_http_retryable(503, "", 0), 1);
    T_INTEQ(ub_http_retryable(504, "", 0), 1);
    T_INTEQ(ub_http_retryable(501, "", 0), 0);
    T_INTEQ(ub_http_retryable(404, "NoSuchKey", 0), 0);
    T_INTEQ(ub_http_retryable(403, "AccessDenied", 0), 0);
    T_INTEQ(ub_http_retryable(200, "", 0), 0);
    /* error codes */
    T_INTEQ(ub_http_retryable(400, "RequestTimeout", 0), 1);
    T_INTEQ(ub_http_retryable(503, "SlowDown", 0), 1);
    T_INTEQ(ub_http_retryable(400, "ThrottlingException", 0), 1);
    T_INTEQ(ub_http_retryable(400, "ThrottledException", 0), 0);
    T_INTEQ(ub_http_retryable(400, "Throttling", 0), 1);
    /* curl results: 7 couldn't connect, 28 timeout, 56 recv error (reset),
     * 52 empty reply; 1 unsupported protocol and 60 bad certificate are not */
    T_INTEQ(ub_http_retryable(0, "", 7), 1);
    T_INTEQ(ub_http_retryable(0, "", 28), 1);
    T_INTEQ(ub_http_retryable(0, "", 56), 1);
    T_INTEQ(ub_http_retryable(0, "", 52), 1);
    T_INTEQ(ub_http_retryable(0, "", 1), 0);
    T_INTEQ(ub_http_retryable(0, "", 60), 0);

    /* backoff cap min(2^(n-1), 20): 1 2 4 8 16 20 20 */
    double want[] = { 1, 2, 4, 8, 16, 20, 20 };
    for (int n = 1; n <= 7; n++)
        T_CHECK(ub_http_backoff_cap(n) == want[n - 1]);

    unsetenv("UBPIPE_AWS_MAX_ATTEMPTS");
    unsetenv("AWS_MAX_ATTEMPTS");
    T_INTEQ(ub_http_max_attempts(), 3);
    setenv("AWS_MAX_ATTEMPTS", "5", 1);
    T_INTEQ(ub_http_max_attempts(), 5);
    setenv("UBPIPE_AWS_MAX_ATTEMPTS", "2", 1);      /* ours wins */
    T_INTEQ(ub_http_max_attempts(), 2);
    setenv("UBPIPE_AWS_MAX_ATTEMPTS", "zero", 1);   /* malformed: next in line */
    T_INTEQ(ub_http_max_attempts(), 5);
    unsetenv("UBPIPE_AWS_MAX_ATTEMPTS");
    unsetenv("AWS_MAX_ATTEMPTS");
}

static void test_error_xml(void)
{
    char code[64], msg[256];
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Error><Code>NoSuchKey</Code><Message>The resource &amp; key</Message>"
        "<Key>a/b</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    T_INTEQ(ub_http_parse_error_xml(doc, strlen(doc), code, sizeof code, msg, sizeof msg), 1);
    T_STREQ(code, "NoSuchKey");
    T_STREQ(msg, "The resource & key");
    const char *ok = "<CompleteMultipartUploadResult><ETag>\"x\"</ETag></CompleteMultipartUploadResult>";
    T_INTEQ(ub_http_parse_error_xml(ok, strlen(ok), code, sizeof code, msg, sizeof msg), 0);
    T_INTEQ(ub_http_parse_error_xml("", 0, code, sizeof code, msg, sizeof msg), 0);
    const char *bad = "<Error><Code>Slow";
    T_INTEQ(ub_http_parse_error_xml(bad, strlen(bad), code, sizeof code, msg, sizeof msg), -1);
}

static const char *const retry_replies[] = {
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 71\r\n"
    "Connection: close\r\n\r\n"
    "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>",
    "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nx-amz-request-id: RID1\r\nContent-Length: 5\r\n"
    "Connection: close\r\n\r\nhello",
};

static void test_retries(void)
{
    server s;
    memset(&s, 0, sizeof s);
    s.replies = retry_replies;
    s.nreplies = 3;
    pthread_t th;
    T_INTEQ(server_start(&s, &th), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/b/k?x=1", s.port);
    setenv("UBPIPE_AWS_MAX_ATTEMPTS", "3", 1);
    ub_err err;
    ub_http *h = ub_http_new(&err);
    T_CHECK(h != NULL);
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    const char body[] = "payload!";
    ub_http_req q = {
        .method = "PUT", .url = url, .body = body, .body_len = 8,
        .sign = count_sign, .what = "test PUT",
    };
    nsign = 0;
    T_INTEQ(ub_http_do(h, &q, &resp, &err), 0);
    pthread_join(th, NULL);
    T_INTEQ(resp.status, 200);
    T_INTEQ(resp.attempts, 3);
    T_INTEQ(nsign, 3);                      /* signed again before every attempt */
    T_STREQ(resp.etag, "\"abc\"");
    T_STREQ(resp.request_id, "RID1");
    T_INTEQ(resp.content_length, 5);
    T_STREQ(ub_buf_str(&resp.body), "hello");
    T_CHECK(ub_http_ok(&resp));
    /* each attempt carried the whole body and its own signature header */
    T_CHECK(strstr(s.req[0], "X-Test-Sign: attempt-1") != NULL);
    T_CHECK(strstr(s.req[2], "X-Test-Sign: attempt-3") != NULL);
    T_CHECK(strstr(s.req[2], "\r\n\r\npayload!") != NULL);
    T_CHECK(strncmp(s.req[1], "PUT /b/k?x=1 HTTP/1.1", 21) == 0);
    T_CHECK(strstr(s.req[0], "Expect:") == NULL);
    close(s.fd);
    ub_http_resp_release(&resp);
    ub_http_free(h);
    unsetenv("UBPIPE_AWS_MAX_ATTEMPTS");
}

static const char *const noretry_replies[] = {
    "HTTP/1.1 403 Forbidden\r\nx-amz-request-id: R403\r\nContent-Length: 79\r\n"
    "Connection: close\r\n\r\n"
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>       ",
};

static const char *const error200_replies[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 68\r\nConnection: close\r\n\r\n"
    "<Error><Code>AccessDenied</Code><Message>Nope here</Message></Error>",
};

static void test_no_retry_and_error_in_200(void)
{
    server s;
    pthread_t th;
    ub_err err;
    char url[64];
    ub_http_resp resp;
    ub_http_resp_init(&resp, 0);
    ub_http *h = ub_http_new(&err);

    memset(&s, 0, sizeof s);
    s.replies = noretry_replies;
    s.nreplies = 1;
    T_INTEQ(server_start(&s, &th), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/k", s.port);
    ub_http_req q = { .method = "GET", .url = url, .what = "s3 GET 'k'" };
    T_INTEQ(ub_http_do(h, &q, &resp, &err), 0);
    pthread_join(th, NULL);
    close(s.fd);
    T_INTEQ(resp.status, 403);
    T_INTEQ(resp.attempts, 1);
    T_STREQ(resp.code, "AccessDenied");
    T_CHECK(!ub_http_ok(&resp));
    ub_http_status_err(&q, &resp, &err);
    T_STREQ(err.msg, "s3 GET 'k': HTTP 403 AccessDenied: Access Denied (request id R403)");

    /* a 200 carrying an <Error> (CopyObject, CompleteMultipartUpload);
     * AccessDenied is not retryable, so one attempt */
    memset(&s, 0, sizeof s);
    s.replies = error200_replies;
    s.nreplies = 1;
    T_INTEQ(server_start(&s, &th), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/k", s.port);
    ub_http_req q2 = { .method = "PUT", .url = url, .flags = UB_HTTP_ERROR_IN_200, .what = "copy" };
    T_INTEQ(ub_http_do(h, &q2, &resp, &err), 0);
    pthread_join(th, NULL);
    close(s.fd);
    T_INTEQ(resp.status, 200);
    T_STREQ(resp.code, "AccessDenied");
    T_CHECK(!ub_http_ok(&resp));

    /* nothing listening: a transport error after the allowed attempts */
    setenv("UBPIPE_AWS_MAX_ATTEMPTS", "2", 1);
    ub_http_req q3 = { .method = "GET", .url = "http://127.0.0.1:1/", .what = "probe" };
    T_INTEQ(ub_http_do(h, &q3, &resp, &err), -1);
    T_INTEQ(resp.attempts, 2);
    T_CHECK(strncmp(err.msg, "probe: ", 7) == 0);
    T_CHECK(strstr(err.msg, "(after 2 attempts)") != NULL);
    unsetenv("UBPIPE_AWS_MAX_ATTEMPTS");

    ub_http_resp_release(&resp);
    ub_http_free(h);
}

int main(void)
{
    test_policy();
    test_error_xml();
    test_retries();
    test_no_retry_and_error_in_200();
    return t_done("test_http");
}
