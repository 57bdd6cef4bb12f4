/* awssign.c — SigV4-sign an HTTP request for an AWS service. */
#include "aws/awssign.h"
#include <time.h>

#define MAX_SIGNED 16

int ub_aws_sign_request(const ub_aws_sign *s, const ub_http_req *q, ub_http *h, ub_err *err)
{
    const ub_aws_creds *cr = &s->cfg->creds;
    int rc = -1;
    ub_sigv4_out out;
    ub_sigv4_out_init(&out);
    if (!cr->access_key_id || !cr->secret_access_key) {
        ub_err_set(err, "%s: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)",
                   q->what);
        goto out;
    }
    if (q->nheaders > MAX_SIGNED) {
        ub_err_set(err, "%s: too many headers to sign", q->what);
        goto out;
    }
    ub_sigv4_hdr hv[MAX_SIGNED];
    for (size_t i = 0; i < q->nheaders; i++) {
        hv[i].name = q->headers[i].name;
        hv[i].value = q->headers[i].value;
    }
    ub_sigv4_cfg cfg = {
        .access_key_id = cr->access_key_id,
        .secret_access_key = cr->secret_access_key,
        .session_token = cr->session_token,
        .region = ub_aws_region(s->cfg),
        .service = s->service,
        .now = time(NULL),
        .flags = s->flags,
        .key_cache = s->key_cache,
    };
    ub_sigv4_req sr = {
        .method = q->method, .path = s->path, .query = s->query,
        .headers = hv, .nheaders = q->nheaders, .payload_hash = s->payload_hash,
    };
    if (ub_sigv4_sign(&cfg, &sr, &out, err)) {
        ub_err_wrap(err, "%s", q->what);
        goto out;
    }
    for (size_t i = 0; i < out.nadd; i++)
        if (ub_http_add_header(h, out.add[i].name, out.add[i].value)) {
            ub_err_oom(err);
            goto out;
        }
    rc = 0;
out:
    ub_sigv4_out_release(&out);
    return rc;
}
