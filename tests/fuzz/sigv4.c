/* sigv4.c — fuzz target: SigV4 canonicalisation and signing of arbitrary
 * paths, queries and headers.  Input: byte 0 = flags/mode; then
 * PATH LF QUERY LF NAME: VALUE LF ... (at most 8 headers). */
#include "fz.h"
#include "aws/sigv4.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    char *s = fz_str(data + 1, size - 1);
    char *path = s;
    char *query = fz_cut(path, '\n');
    char *rest = fz_cut(query, '\n');
    ub_sigv4_hdr h[9];
    size_t nh = 0;
    h[nh++] = (ub_sigv4_hdr){ "Host", "bucket.s3.amazonaws.com" };
    while (*rest && nh < 9) {
        char *line = rest;
        rest = fz_cut(line, '\n');
        char *val = fz_cut(line, ':');
        h[nh++] = (ub_sigv4_hdr){ line, val };
    }
    unsigned flags = ctl & 7;
    ub_err err = { 0 };
    ub_buf b = UB_BUF_INIT;
    (void)ub_sigv4_uri_encode(&b, path, strlen(path), ctl & 8);
    ub_buf_reset(&b);
    (void)ub_sigv4_canonical_uri(&b, path, (ctl & 16) ? "s3" : "elasticmapreduce", flags, &err);
    ub_buf_reset(&b);
    (void)ub_sigv4_canonical_query(&b, query, &err);
    ub_buf_free(&b);

    ub_sigv4_key key;
    memset(&key, 0, sizeof key);
    ub_sigv4_cfg cfg = {
        .access_key_id = "AKIDEXAMPLE", .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = (ctl & 32) ? "tok/en+=" : NULL, .region = "us-east-1",
        .service = (ctl & 16) ? "s3" : "elasticmapreduce", .now = 1440938160, .flags = flags,
        .expires = 3600, .key_cache = &key,
    };
    ub_sigv4_req req = { .method = (ctl & 64) ? "PUT" : "GET", .path = path, .query = query,
                         .headers = h, .nheaders = nh, .payload_hash = NULL };
    ub_sigv4_out out;
    ub_sigv4_out_init(&out);
    int rc = (ctl & 128) ? ub_sigv4_presign(&cfg, &req, &out, &err) : ub_sigv4_sign(&cfg, &req, &out, &err);
    if (rc == 0) {
        if (strlen(out.signature) != 64)
            abort();
        ub_buf dbg = UB_BUF_INIT;
        ub_sigv4_debug(&cfg, &out, &dbg);
        if (cfg.session_token && dbg.p && strstr(dbg.p, cfg.session_token))
            abort();             /* the debug text never shows the token */
        ub_buf_free(&dbg);
    }
    ub_sigv4_out_release(&out);
    ub_sigv4_key_wipe(&key);
    free(s);
    return 0;
}
