/* creds.c — fuzz target: the AWS shared config and credentials files
 * (sections, profile inheritance, endpoints, addressing) and the URLs built
 * from them.  Input: CONFIG NUL CREDENTIALS NUL PROFILE. */
#define _GNU_SOURCE             /* memmem */
#include "fz.h"
#include "aws/creds.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char cfgp[300], credp[300];
    if (!cfgp[0]) {
        snprintf(cfgp, sizeof cfgp, "%s/config", fz_dir());
        snprintf(credp, sizeof credp, "%s/credentials", fz_dir());
        setenv("AWS_CONFIG_FILE", cfgp, 1);
        setenv("AWS_SHARED_CREDENTIALS_FILE", credp, 1);
        static const char *const clear[] = {
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EMR", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        };
        for (size_t i = 0; i < sizeof clear / sizeof clear[0]; i++)
            unsetenv(clear[i]);
    }
    const char *p = (const char *)data, *end = p + size;
    const char *z1 = memchr(p, '\0', size);
    const char *c2 = z1 ? z1 + 1 : end;
    const char *z2 = z1 ? memchr(c2, '\0', (size_t)(end - c2)) : NULL;
    fz_write(cfgp, p, (size_t)((z1 ? z1 : end) - p));
    fz_write(credp, c2, (size_t)((z2 ? z2 : end) - c2));
    char *profile = z2 ? fz_str((const uint8_t *)z2 + 1, (size_t)(end - z2 - 1)) : NULL;

    ub_aws_cfg cfg;
    ub_err err = { 0 };
    if (ub_aws_cfg_load(&cfg, profile && *profile ? profile : NULL, UB_AWS_CREDS_OPTIONAL, &err) == 0) {
        ub_buf b = UB_BUF_INIT;
        (void)ub_aws_region(&cfg);
        (void)ub_aws_endpoint(&cfg, "s3");
        (void)ub_aws_s3_path_style(&cfg, "my.bucket");
        ub_buf url = UB_BUF_INIT, host = UB_BUF_INIT, path = UB_BUF_INIT;
        (void)ub_aws_s3_url(&cfg, "my.bucket", "a b/c+d", &url, &host, &path, &err);
        ub_buf_reset(&url);
        ub_buf_reset(&host);
        (void)ub_aws_service_url(&cfg, "emr", &url, &host, &err);
        ub_buf_free(&url);
        ub_buf_free(&host);
        ub_buf_free(&path);
        ub_aws_cfg_describe(&cfg, &b);
        ub_buf_free(&b);
        /* the description never shows the secret key: checked with a sentinel in its place,
         * since the fuzzed secret may also be part of another field the description shows (an
         * endpoint URL), which is no leak */
        char *real = cfg.creds.secret_access_key;
        if (real && *real) {
            static char sentinel[] = "fuzz-sentinel-secret-7d1e";
            cfg.creds.secret_access_key = sentinel;
            ub_aws_cfg_describe(&cfg, &b);
            cfg.creds.secret_access_key = real;
            /* (libFuzzer learns the sentinel from this very comparison and writes it into other
             * fields: it counts only when the input does not hold it itself) */
            if (ub_buf_str(&b) && strstr(ub_buf_str(&b), sentinel) && !memmem(data, size, sentinel, strlen(sentinel)))
                abort();
            ub_buf_free(&b);
        }
    }
    ub_aws_cfg_release(&cfg);
    free(profile);
    return 0;
}
