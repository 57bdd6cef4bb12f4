/* emr_api.c — the EMR API backend: AddJobFlowSteps, DescribeStep, CancelSteps over AWS JSON 1.1. */
#include "aws/creds.h"
#include "base/jtext.h"
#include "aws/awssign.h"
#include "emr/emr.h"
#include "aws/http.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/secret.h"
#include "base/mem.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * Every call is one signed POST to the service's endpoint (path "/", or the
 * base path of a configured endpoint) with
 *     Content-Type: application/x-amz-json-1.1
 *     X-Amz-Target: ElasticMapReduce.<Operation>
 * and a JSON body; SigV4 service "elasticmapreduce", payload hash of the
 * body.  The HTTP layer retries 5xx and transport failures; a JSON-protocol
 * throttling error (HTTP 400 with __type ThrottlingException) carries no XML
 * code, so it is retried here with the same budget and backoff.
 *
 * Errors come back as {"__type": "[namespace#]Code", "message": "..."}
 * (or "Message"); they are reported as "emr <Op> on cluster 'j-..': HTTP 400
 * Code: message".
 */

#define TARGET_PREFIX "ElasticMapReduce."
#define JSON_CT       "application/x-amz-json-1.1"
#define RESP_MAX      ((size_t)4 << 20)

typedef struct emr_api {
    ub_emr base;
    ub_aws_cfg cfg;
    char *cluster;
    ub_http *http;
    ub_sigv4_key key;             /* signing key cache */
    ub_buf url, host, path;       /* endpoint */
} emr_api;

typedef struct signctx {
    emr_api *a;
    const char *payload_hash;
} signctx;

static int api_sign(void *ud, const ub_http_req *q, ub_http *h, ub_err *err)
{
    signctx *s = ud;
    ub_aws_sign as = {
        .cfg = &s->a->cfg, .key_cache = &s->a->key, .service = "elasticmapreduce",
        .path = ub_buf_str(&s->a->path), .query = NULL, .payload_hash = s->payload_hash,
    };
    return ub_aws_sign_request(&as, q, h, err);
}

/* The error code and message of a JSON error body (code after any '#'). */
static void json_error(const ub_buf *body, char *code, size_t csz, char *msg, size_t msz)
{
    code[0] = msg[0] = '\0';
    json_t *root = json_loadb(body->p ? body->p : "", body->len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    const char *t = json_string_value(json_object_get(root, "__type"));
    const char *m = json_string_value(json_object_get(root, "message"));
    if (!m)
        m = json_string_value(json_object_get(root, "Message"));
    if (t) {
        const char *h = strrchr(t, '#');
        snprintf(code, csz, "%s", h ? h + 1 : t);
    }
    if (m)
        snprintf(msg, msz, "%s", m);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    json_decref(root);
}

static void sleep_backoff(int attempt)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double r = (double)(now.tv_nsec % 1000000) / 1e6;
    double s = r * ub_http_backoff_cap(attempt);
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * Calls operation op with the JSON body in; on success *out is the parsed
 * response object (caller decrefs).  Returns 0 or -1 (err filled).
 */
static int api_call(emr_api *a, const char *op, json_t *in, json_t **out, ub_err *err)
{
    int rc = -1;
    char *body = NULL;
    char sha[65], target[96], what[256], code[128], msg[512];
    ub_http_resp resp;
    ub_http_resp_init(&resp, RESP_MAX);
    *out = NULL;
    snprintf(what, sizeof what, "emr %s on cluster '%s'", op, a->cluster);
    snprintf(target, sizeof target, TARGET_PREFIX "%s", op);
    if (!a->cfg.creds.access_key_id || !a->cfg.creds.secret_access_key) {
        ub_err_set(err, "%s: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                   "or AWS_PROFILE)", what);
        goto out;
    }
    body = json_dumps(in, JSON_COMPACT | JSON_PRESERVE_ORDER);   /* jansson's allocator: free() */
    if (!body) {
        ub_err_oom(err);
        goto out;
    }
    size_t blen = strlen(body);
    if (ub_sigv4_sha256_hex(body, blen, sha, err))
        goto out;
    ub_http_hdr hv[3] = {
        { "Host", ub_buf_str(&a->host) },
        { "Content-Type", JSON_CT },
        { "X-Amz-Target", target },
    };
    signctx sc = { a, sha };
    ub_http_req q = {
        .method = "POST", .url = ub_buf_str(&a->url), .headers = hv, .nheaders = 3,
        .body = body, .body_len = blen, .sign = api_sign, .sign_ud = &sc, .what = what,
    };
    int max = ub_http_max_attempts();
    for (int n = 1;; n++) {
        if (ub_http_do(a->http, &q, &resp, err))
            goto out;
        if (resp.status >= 200 && resp.status < 300)
            break;
        json_error(&resp.body, code, sizeof code, msg, sizeof msg);
        if (n < max && resp.status == 400 && strncmp(code, "Throttling", 10) == 0) {
            sleep_backoff(n);
            continue;
        }
        char rid[160] = "";
        if (resp.request_id[0])
            snprintf(rid, sizeof rid, " (request id %s)", resp.request_id);
        if (code[0])
            ub_err_set(err, "%s: HTTP %ld %s%s%s%s", what, resp.status, code, msg[0] ? ": " : "",
                       msg, rid);
        else
            ub_err_set(err, "%s: HTTP %ld%s", what, resp.status, rid);
        goto out;
    }
    json_error_t je;
    json_t *root = json_loadb(resp.body.p ? resp.body.p : "", resp.body.len, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        ub_err_set(err, "%s: the response is not a JSON object%s%s", what, root ? "" : ": ",
                   root ? "" : je.text);
        goto out;
    }
    *out = root;                  /* the caller owns it now */
    rc = 0;
out:
    ub_free(body);
    ub_http_resp_release(&resp);
    return rc;
}

/* ---- operations ------------------------------------------------------------ */

static int api_add_steps(ub_emr *e, const char *steps_json, char ***ids, size_t *n, ub_err *err)
{
    emr_api *a = (emr_api *)e;
    int rc = -1;
    json_t *in = NULL, *out = NULL;
    char **v = NULL;
    size_t nv = 0;
    json_error_t je;
    json_t *steps = json_loads(steps_json, 0, &je);
    if (!json_is_array(steps)) {
        ub_err_set(err, "emr steps for cluster '%s': not a JSON array%s%s", a->cluster,
                   steps ? "" : ": ", steps ? "" : je.text);
        json_decref(steps);
        goto out;
    }
    in = json_object();
    if (!in || json_object_set_new(in, "JobFlowId", ub_jtext(a->cluster)) ||
        json_object_set_new(in, "Steps", steps)) {      /* steps now belongs to in */
        ub_err_oom(err);
        goto out;
    }
    if (api_call(a, "AddJobFlowSteps", in, &out, err))
        goto out;
    json_t *sid = json_object_get(out, "StepIds");
    size_t want = json_array_size(json_object_get(in, "Steps"));
    if (!json_is_array(sid) || json_array_size(sid) != want) {
        ub_err_set(err, "emr AddJobFlowSteps on cluster '%s': expected %zu step ids in the response, got %zu",
                   a->cluster, want, json_array_size(sid));
        goto out;
    }
    v = ub_calloc(want ? want : 1, sizeof *v);
    if (!v) {
        ub_err_oom(err);
        goto out;
    }
    for (nv = 0; nv < want; nv++) {
        const char *s = json_string_value(json_array_get(sid, nv));
        if (!s || !*s || strchr(s, ' ')) {
            ub_err_set(err, "emr AddJobFlowSteps on cluster '%s': step id %zu is not a valid id",
                       a->cluster, nv + 1);
            goto out;
        }
        v[nv] = ub_strdup(s);
        if (!v[nv]) {
            ub_err_oom(err);
            goto out;
        }
    }
    *ids = v;                     /* the caller owns the ids now */
    *n = nv;
    v = NULL;
    rc = 0;
out:
    if (v) {
        for (size_t i = 0; i < nv; i++)
            ub_free(v[i]);
        ub_free(v);
    }
    json_decref(in);
    json_decref(out);
    return rc;
}

static const struct {
    const char *name;
    ub_step_state state;
} states[] = {
    { "PENDING", UB_STEP_PENDING },     { "CANCEL_PENDING", UB_STEP_CANCEL_PENDING },
    { "RUNNING", UB_STEP_RUNNING },     { "COMPLETED", UB_STEP_COMPLETED },
    { "CANCELLED", UB_STEP_CANCELLED }, { "FAILED", UB_STEP_FAILED },
    { "INTERRUPTED", UB_STEP_INTERRUPTED },
};

/* Appends "label: value" (one line) to b when value is a non-empty string. */
static void add_detail(ub_buf *b, const char *label, json_t *val)
{
    const char *s = json_string_value(val);
    if (!s || !*s)
        return;
    if (b->len)
        ub_buf_adds(b, "; ");
    if (label)
        ub_buf_addf(b, "%s: ", label);
    for (; *s; s++)
        ub_buf_addc(b, *s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s);
}

static int api_describe_step(ub_emr *e, const char *id, ub_emr_step_status *st, ub_err *err)
{
    emr_api *a = (emr_api *)e;
    int rc = -1;
    json_t *in = json_pack("{s:s, s:s}", "ClusterId", a->cluster, "StepId", id), *out = NULL;
    ub_buf why = UB_BUF_INIT;
    if (!in) {
        ub_err_oom(err);
        goto out;
    }
    if (api_call(a, "DescribeStep", in, &out, err))
        goto out;
    json_t *step = json_object_get(out, "Step");
    json_t *status = json_object_get(step, "Status");
    const char *state = json_string_value(json_object_get(status, "State"));
    size_t i;
    for (i = 0; state && i < sizeof states / sizeof states[0]; i++)
        if (strcmp(states[i].name, state) == 0)
            break;
    if (!state || i == sizeof states / sizeof states[0]) {
        ub_err_set(err, "emr DescribeStep '%s' on cluster '%s': unknown step state '%s'", id, a->cluster,
                   state ? state : "(none)");
        goto out;
    }
    st->state = states[i].state;
    const char *name = json_string_value(json_object_get(step, "Name"));
    snprintf(st->name, sizeof st->name, "%s", name ? name : "");
    json_t *fd = json_object_get(status, "FailureDetails");
    add_detail(&why, NULL, json_object_get(fd, "Reason"));
    add_detail(&why, NULL, json_object_get(fd, "Message"));
    add_detail(&why, "log", json_object_get(fd, "LogFile"));
    if (!why.len) {               /* CANCELLED, INTERRUPTED: the state change reason */
        json_t *scr = json_object_get(status, "StateChangeReason");
        add_detail(&why, NULL, json_object_get(scr, "Code"));
        add_detail(&why, NULL, json_object_get(scr, "Message"));
    }
    if (why.err) {
        ub_err_oom(err);
        goto out;
    }
    snprintf(st->reason, sizeof st->reason, "%s", ub_buf_str(&why));
    rc = 0;
out:
    ub_buf_free(&why);
    json_decref(in);
    json_decref(out);
    return rc;
}

static int api_cancel_steps(ub_emr *e, char *const *ids, size_t n, ub_err *err)
{
    emr_api *a = (emr_api *)e;
    int rc = -1;
    json_t *in = NULL, *out = NULL, *arr = json_array();
    if (!arr)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(ids[i])))
            goto oom;
    in = json_pack("{s:s, s:o, s:s}", "ClusterId", a->cluster, "StepIds", arr,
                   "StepCancellationOption", "SEND_INTERRUPT");
    arr = NULL;                   /* in owns it (json_pack "o" steals, also on failure) */
    if (!in)
        goto oom;
    if (api_call(a, "CancelSteps", in, &out, err))
        goto out;
    size_t i;
    json_t *info;
    json_array_foreach(json_object_get(out, "CancelStepsInfoList"), i, info) {
        const char *s = json_string_value(json_object_get(info, "Status"));
        if (s && strcmp(s, "FAILED") == 0) {
            const char *sid = json_string_value(json_object_get(info, "StepId"));
            const char *why = json_string_value(json_object_get(info, "Reason"));
            ub_err_set(err, "emr CancelSteps on cluster '%s': step '%s' not cancelled%s%s", a->cluster,
                       sid ? sid : "?", why ? ": " : "", why ? why : "");
            goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    json_decref(arr);
    json_decref(in);
    json_decref(out);
    return rc;
}

static void api_free(ub_emr *e)
{
    emr_api *a = (emr_api *)e;
    if (!a)
        return;
    ub_http_free(a->http);
    ub_sigv4_key_wipe(&a->key);
    ub_aws_cfg_release(&a->cfg);
    ub_buf_free(&a->url);
    ub_buf_free(&a->host);
    ub_buf_free(&a->path);
    ub_free(a->cluster);
    ub_free(a);
}

static const ub_emr_ops api_ops = {
    "api", api_add_steps, api_describe_step, api_cancel_steps, api_free,
};

ub_emr *ub_emr_api_open(const ub_emr_opts *o, ub_err *err)
{
    emr_api *a = ub_calloc(1, sizeof *a);
    if (!a) {
        ub_err_oom(err);
        return NULL;
    }
    a->base.ops = &api_ops;
    ub_buf_init(&a->url, UB_BUF_DEFAULT_MAX);
    ub_buf_init(&a->host, UB_BUF_DEFAULT_MAX);
    ub_buf_init(&a->path, UB_BUF_DEFAULT_MAX);
    a->cluster = ub_strdup(o->cluster);
    if (!a->cluster) {
        ub_err_oom(err);
        goto fail;
    }
    /* credentials are checked when a call is made, with a message naming it */
    if (ub_aws_cfg_load(&a->cfg, NULL, UB_AWS_CREDS_OPTIONAL, err)) {
        ub_err_wrap(err, "emr cluster '%s'", o->cluster);
        goto fail;
    }
    ub_secret_add(a->cfg.creds.secret_access_key);
    ub_secret_add(a->cfg.creds.session_token);
    if (o->region && *o->region) {      /* the connection's region wins */
        char *r = ub_strdup(o->region);
        if (!r) {
            ub_err_oom(err);
            goto fail;
        }
        ub_free(a->cfg.region);
        a->cfg.region = r;
    }
    if (ub_aws_service_url(&a->cfg, "emr", &a->url, &a->host, err)) {
        ub_err_wrap(err, "emr cluster '%s'", o->cluster);
        goto fail;
    }
    /* the wire path: the endpoint's base path, or "/" */
    const char *u = ub_buf_str(&a->url);
    const char *p = strstr(u, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    ub_buf_adds(&a->path, p ? p : "/");
    if (!p)
        ub_buf_addc(&a->url, '/');
    if (a->path.err || a->url.err) {
        ub_err_oom(err);
        goto fail;
    }
    a->http = ub_http_new(err);
    if (!a->http)
        goto fail;
    return &a->base;
fail:
    api_free(&a->base);
    return NULL;
}
