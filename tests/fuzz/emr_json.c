/* emr_json.c — fuzz target: the EMR API backend's JSON handling — the steps
 * JSON of a spec (AddJobFlowSteps) and the service's replies to
 * AddJobFlowSteps, DescribeStep and CancelSteps, success and error bodies.
 * emr_api.c is included with the HTTP call replaced by one that answers
 * with the fuzz bytes (the archive's emr_api.o is then not linked).
 * Input: byte 0 = operation and status; then SPEC_JSON NUL REPLY. */
#include "fz.h"
#include "aws/http.h"

static const uint8_t *reply;
static size_t reply_n;
static long reply_status;

static int fz_http_do(ub_http *h, const ub_http_req *req, ub_http_resp *resp, ub_err *err);
static int fz_max_attempts(void) { return 1; }
#define ub_http_do fz_http_do
#define ub_http_max_attempts fz_max_attempts
#include "../../interp/emr/emr_api.c"
#undef ub_http_do
#undef ub_http_max_attempts

static int fz_http_do(ub_http *h, const ub_http_req *req, ub_http_resp *resp, ub_err *err)
{
    (void)h;
    (void)req;
    (void)err;
    ub_buf_reset(&resp->body);
    ub_buf_add(&resp->body, reply, reply_n);
    resp->status = reply_status;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const long statuses[] = { 200, 200, 400, 500 };
    int op = data[0] % 3;
    reply_status = statuses[(data[0] >> 2) & 3];
    char *spec = fz_str(data + 1, size - 1);
    size_t sl = strlen(spec);
    reply = data + 1 + sl + (sl < size - 1);
    reply_n = size - 1 - sl - (sl < size - 1);

    emr_api a;
    memset(&a, 0, sizeof a);
    a.cluster = (char *)"j-FUZZ";
    a.cfg.creds.access_key_id = (char *)"AKIDEXAMPLE";
    a.cfg.creds.secret_access_key = (char *)"secret";
    ub_buf_adds(&a.url, "https://elasticmapreduce.us-east-1.amazonaws.com/");
    ub_buf_adds(&a.host, "elasticmapreduce.us-east-1.amazonaws.com");
    ub_err err = { 0 };
    if (op == 0) {
        char **ids = NULL;
        size_t n = 0;
        if (api_add_steps(&a.base, spec, &ids, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (!ids[i] || !*ids[i])
                    abort();
                ub_free(ids[i]);
            }
            ub_free(ids);
        }
    } else if (op == 1) {
        ub_emr_step_status st;
        memset(&st, 0, sizeof st);
        if (api_describe_step(&a.base, "s-FUZZ", &st, &err) == 0 && memchr(st.reason, '\n', sizeof st.reason))
            abort();             /* the reason is one line */
    } else {
        char *ids[2] = { (char *)"s-1", (char *)"s-2" };
        (void)api_cancel_steps(&a.base, ids, 2, &err);
    }
    if (!memchr(err.msg, '\0', sizeof err.msg))
        abort();
    ub_buf_free(&a.url);
    ub_buf_free(&a.host);
    free(spec);
    return 0;
}
