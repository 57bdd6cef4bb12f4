/* creds.h — AWS credentials, region, endpoints and S3 addressing from the standard chain.
 *
 * What ub_aws_cfg_load reads, in order of precedence (as the AWS CLI does):
 *
 *   profile      the argument, else AWS_PROFILE, else AWS_DEFAULT_PROFILE,
 *                else "default".  A profile other than "default" must exist
 *                in one of the two files.
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
 *                skipped when the profile is passed as an argument (like
 *                `aws --profile`); then aws_access_key_id /
 *                aws_secret_access_key / aws_session_token of section [NAME]
 *                in the credentials file; then of [profile NAME] ([default]
 *                for the default profile) in the config file.
 *   region       AWS_REGION, AWS_DEFAULT_REGION, then `region` in the config
 *                profile.  ub_aws_region falls back to us-east-1.
 *   endpoints    per service (s3, emr): AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_EMR,
 *                then AWS_ENDPOINT_URL, then the `s3 =` / `emr =` sub-section
 *                `endpoint_url` of the [services NAME] section the profile
 *                names with `services = NAME`, then the profile's
 *                `endpoint_url`.  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
 *                (or the profile's ignore_configured_endpoint_urls = true)
 *                turns all of them off.
 *   addressing   the profile's sub-section `s3 =` / `  addressing_style =
 *                auto|virtual|path`.
 *
 * Files: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials) and
 * AWS_CONFIG_FILE (default ~/.aws/config); a leading "~/" means $HOME.  A
 * missing file is no error.  INI syntax as the AWS CLI reads it: "[section]",
 * "key = value" (or "key: value"; keys are case-insensitive), whole-line
 * comments starting with '#' or ';', inline comments when '#' or ';'
 * follows a blank, and sub-sections: a key with an empty value followed by
 * indented "key = value" lines.
 *
 * Secrets: the secret key and session token are wiped when released and
 * never appear in messages; use ub_aws_mask / ub_aws_cfg_describe to show
 * what was loaded.
 */
#ifndef UB_CREDS_H
#define UB_CREDS_H
#include "base/buf.h"
#include "base/err.h"

typedef struct ub_aws_creds {
    char *access_key_id;          /* owned; NULL when none were found */
    char *secret_access_key;      /* owned; wiped on release */
    char *session_token;          /* owned; wiped on release; NULL = none */
    char *source;                 /* owned: "environment", "'<file>' profile 'x'" */
} ub_aws_creds;

typedef enum ub_s3_addressing {
    UB_S3_ADDR_AUTO = 0,          /* virtual-hosted when possible */
    UB_S3_ADDR_VIRTUAL,
    UB_S3_ADDR_PATH,
} ub_s3_addressing;

typedef struct ub_aws_cfg {
    char *profile;                /* the profile used */
    ub_aws_creds creds;
    char *region;                 /* NULL when none is configured */
    char *region_source;          /* "AWS_REGION", "'<file>' profile 'x'" */
    char *endpoint_s3, *endpoint_s3_source;      /* NULL: AWS's own */
    char *endpoint_emr, *endpoint_emr_source;
    ub_s3_addressing s3_addressing;
    char *credentials_file;       /* the files consulted (NULL: no HOME) */
    char *config_file;
} ub_aws_cfg;

/* Flags for ub_aws_cfg_load. */
enum {
    UB_AWS_CREDS_OPTIONAL = 1u << 0,   /* no credentials is not an error (plan) */
};

/* Loads everything above into cfg (which it initialises; release it even
 * after a failure).  profile NULL = from the environment. */
int  ub_aws_cfg_load(ub_aws_cfg *cfg, const char *profile, unsigned flags, ub_err *err);
void ub_aws_cfg_release(ub_aws_cfg *cfg);

/* Only the credentials (same chain); c is initialised, release it after. */
int  ub_aws_creds_load(ub_aws_creds *c, const char *profile, ub_err *err);
void ub_aws_creds_release(ub_aws_creds *c);

/* The region to use: the configured one, else "us-east-1". */
const char *ub_aws_region(const ub_aws_cfg *cfg);

/* The configured endpoint URL for "s3" or "emr", or NULL for AWS's own. */
const char *ub_aws_endpoint(const ub_aws_cfg *cfg, const char *service);

/* 1 when requests for bucket go path-style (https://host/bucket/key):
 * addressing_style = path; an endpoint that is an IP address; in auto mode
 * also an endpoint host "localhost" and bucket names that cannot be a DNS
 * label (upper case, '_', '.', length outside 3..63).  Else 0 (virtual-hosted:
 * https://bucket.host/key). */
int ub_aws_s3_path_style(const ub_aws_cfg *cfg, const char *bucket);

/* The URL of an object (key "" or NULL: of the bucket), without query.
 * url gets "scheme://host/path", host the Host header value (with a
 * non-default port), path the wire path, which is also what SigV4 signs
 * for S3 (the key URI-encoded once, '/' kept).  host and path may be NULL.
 * AWS's endpoint is s3.amazonaws.com in us-east-1, s3.<region>.amazonaws.com
 * elsewhere (amazonaws.com.cn for cn-* regions). */
int ub_aws_s3_url(const ub_aws_cfg *cfg, const char *bucket, const char *key,
                  ub_buf *url, ub_buf *host, ub_buf *path, ub_err *err);

/* Base URL ("scheme://host[/base]") and Host of a non-S3 service ("emr":
 * https://elasticmapreduce.<region>.amazonaws.com unless configured). */
int ub_aws_service_url(const ub_aws_cfg *cfg, const char *service,
                       ub_buf *url, ub_buf *host, ub_err *err);

/* Masked form of a secret for display: "****" and its last 4 characters
 * when it has at least 16, else "****"; "(none)" for NULL or "". */
#define UB_AWS_MASK_LEN 16
const char *ub_aws_mask(const char *secret, char out[UB_AWS_MASK_LEN]);

/* Human-readable summary (profile, masked keys, region, endpoints,
 * addressing and where each came from), one "name: value" per line. */
int ub_aws_cfg_describe(const ub_aws_cfg *cfg, ub_buf *dst);

#endif
