/* awssign.h — sign an HTTP request for an AWS service (the sign callback of
 * the S3 lake and the EMR client): SigV4 with the configured credentials,
 * the resulting headers added to the request. */
#ifndef UB_AWSSIGN_H
#define UB_AWSSIGN_H
#include "aws/creds.h"
#include "aws/http.h"
#include "aws/sigv4.h"

typedef struct ub_aws_sign {
    const ub_aws_cfg *cfg;       /* credentials and region */
    ub_sigv4_key *key_cache;     /* signing keys, reused per day */
    const char *service;         /* "s3", "elasticmapreduce" */
    unsigned flags;              /* UB_SIGV4_* */
    const char *path, *query;    /* as on the wire; query may be NULL */
    const char *payload_hash;    /* hex SHA-256, or "UNSIGNED-PAYLOAD" */
} ub_aws_sign;

/* Signs q (its method and headers) now and adds the signature headers to h.
 * No credentials is an error naming q->what. */
int ub_aws_sign_request(const ub_aws_sign *s, const ub_http_req *q, ub_http *h, ub_err *err);

#endif
