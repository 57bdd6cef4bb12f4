/* test_creds.c — the AWS credentials / region / endpoint chain and S3 URLs, in a temporary HOME. */
#include "t.h"
#include "aws/creds.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/mem.h"
#include <sys/stat.h>
#include <unistd.h>

static char home[256];

static const char *const AWS_VARS[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EMR",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
};

static const char *hpath(const char *rel)
{
    static char buf[4][512];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", home, rel);
    return b;
}

static void write_file(const char *rel, const char *text)
{
    FILE *f = fopen(hpath(rel), "w");
    T_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A clean slate: no AWS variables, no files, HOME = the temporary dir. */
static void reset(void)
{
    for (size_t i = 0; i < sizeof AWS_VARS / sizeof *AWS_VARS; i++)
        unsetenv(AWS_VARS[i]);
    setenv("HOME", home, 1);
    unlink(hpath(".aws/credentials"));
    unlink(hpath(".aws/config"));
    unlink(hpath("other-creds"));
    unlink(hpath("other-config"));
}

static const char *S(const char *s) { return s ? s : "(null)"; }

/* ---- credentials ---------------------------------------------------------- */

static void test_no_credentials(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    char want[600];
    reset();
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), -1);
    snprintf(want, sizeof want, "no AWS credentials for profile 'default': set AWS_ACCESS_KEY_ID "
             "and AWS_SECRET_ACCESS_KEY, or add them to '%s/.aws/credentials'", home);
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);

    /* Optional (plan): loads, with defaults. */
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_CHECK(cfg.creds.access_key_id == NULL);
    T_STREQ(cfg.profile, "default");
    T_CHECK(cfg.region == NULL);
    T_STREQ(ub_aws_region(&cfg), "us-east-1");
    T_CHECK(ub_aws_endpoint(&cfg, "s3") == NULL);
    T_INTEQ(cfg.s3_addressing, UB_S3_ADDR_AUTO);
    T_STREQ(cfg.credentials_file, hpath(".aws/credentials"));
    T_STREQ(cfg.config_file, hpath(".aws/config"));
    ub_aws_cfg_release(&cfg);
}

static void test_env_credentials(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    reset();
    write_file(".aws/credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n"
                                   "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = devsecret\n");
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "ENVKEY");
    T_STREQ(cfg.creds.secret_access_key, "envsecret");
    T_STREQ(cfg.creds.session_token, "envtoken");
    T_STREQ(cfg.creds.source, "environment");
    ub_aws_cfg_release(&cfg);

    /* The environment still wins over AWS_PROFILE ... */
    setenv("AWS_PROFILE", "dev", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "ENVKEY");
    T_STREQ(cfg.profile, "dev");
    ub_aws_cfg_release(&cfg);
    /* ... but not over a profile passed explicitly (like aws --profile). */
    T_INTEQ(ub_aws_cfg_load(&cfg, "dev", 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "DEVKEY");
    T_CHECK(cfg.creds.session_token == NULL);
    ub_aws_cfg_release(&cfg);

    /* Half a pair is an error that names both variables. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), -1);
    T_STREQ(err.msg, "environment has 'AWS_ACCESS_KEY_ID' but not 'AWS_SECRET_ACCESS_KEY'");
    ub_aws_cfg_release(&cfg);
    /* An empty variable counts as unset. */
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    unsetenv("AWS_PROFILE");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "FILEKEY");
    T_CHECK(cfg.creds.session_token == NULL);
    ub_aws_cfg_release(&cfg);
}

static void test_profiles(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    char want[700];
    reset();
    write_file(".aws/credentials",
               "# shared credentials\n"
               "[default]\n"
               "aws_access_key_id=DEFKEY\n"
               "aws_secret_access_key=defsecret\n"
               "\n"
               "; the dev account\n"
               "[dev]\n"
               "  AWS_Access_Key_ID = DEVKEY   ; inline comment\n"
               "aws_secret_access_key = dev/secret+with=chars\n"
               "aws_session_token = devtoken # another\n"
               "[both]\n"
               "aws_access_key_id = CREDFILEKEY\n"
               "aws_secret_access_key = credfilesecret\n"
               "[half]\n"
               "aws_access_key_id = HALFKEY\n");
    write_file(".aws/config",
               "[default]\n"
               "region = us-west-2\n"
               "[profile   dev]\n"
               "region: eu-central-1\n"
               "[profile cfgonly]\n"
               "aws_access_key_id = CFGKEY\n"
               "aws_secret_access_key = cfgsecret\n"
               "[profile both]\n"
               "aws_access_key_id = CONFIGFILEKEY\n"
               "aws_secret_access_key = configfilesecret\n"
               "[dev]\n"
               "region = ap-south-1\n"        /* not a profile section in config */
               "[profile proc]\n"
               "credential_process = /usr/bin/get-creds\n");

    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "DEFKEY");
    T_STREQ(cfg.region, "us-west-2");
    snprintf(want, sizeof want, "credentials file '%s', profile 'default'", hpath(".aws/credentials"));
    T_STREQ(cfg.creds.source, want);
    snprintf(want, sizeof want, "config file '%s', profile 'default'", hpath(".aws/config"));
    T_STREQ(cfg.region_source, want);
    ub_aws_cfg_release(&cfg);

    setenv("AWS_PROFILE", "dev", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.profile, "dev");
    T_STREQ(cfg.creds.access_key_id, "DEVKEY");
    T_STREQ(cfg.creds.secret_access_key, "dev/secret+with=chars");
    T_STREQ(cfg.creds.session_token, "devtoken");
    T_STREQ(cfg.region, "eu-central-1");      /* [profile dev], not [dev], in config */
    ub_aws_cfg_release(&cfg);

    /* AWS_DEFAULT_PROFILE is used when AWS_PROFILE is not set. */
    unsetenv("AWS_PROFILE");
    setenv("AWS_DEFAULT_PROFILE", "cfgonly", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "CFGKEY");
    snprintf(want, sizeof want, "config file '%s', profile 'cfgonly'", hpath(".aws/config"));
    T_STREQ(cfg.creds.source, want);
    T_CHECK(cfg.region == NULL);
    ub_aws_cfg_release(&cfg);
    unsetenv("AWS_DEFAULT_PROFILE");

    /* The credentials file wins over the config file. */
    T_INTEQ(ub_aws_cfg_load(&cfg, "both", 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "CREDFILEKEY");
    ub_aws_cfg_release(&cfg);

    /* Errors name the profile and the files. */
    T_INTEQ(ub_aws_cfg_load(&cfg, "nope", 0, &err), -1);
    snprintf(want, sizeof want, "profile 'nope' not found in '%s' or '%s'",
             hpath(".aws/credentials"), hpath(".aws/config"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);
    T_INTEQ(ub_aws_cfg_load(&cfg, "half", 0, &err), -1);
    snprintf(want, sizeof want, "profile 'half' in '%s' has 'aws_access_key_id' but no "
             "'aws_secret_access_key'", hpath(".aws/credentials"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);
    T_INTEQ(ub_aws_cfg_load(&cfg, "proc", 0, &err), -1);
    snprintf(want, sizeof want, "profile 'proc' in '%s' gets its credentials through "
             "'credential_process', which ubpipe does not support; export AWS_ACCESS_KEY_ID "
             "and AWS_SECRET_ACCESS_KEY instead", hpath(".aws/config"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);

    /* ub_aws_creds_load: the same chain, credentials only. */
    ub_aws_creds c;
    T_INTEQ(ub_aws_creds_load(&c, "dev", &err), 0);
    T_STREQ(c.access_key_id, "DEVKEY");
    T_STREQ(c.session_token, "devtoken");
    ub_aws_creds_release(&c);
    T_CHECK(c.access_key_id == NULL && c.secret_access_key == NULL);
}

static void test_file_overrides(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    reset();
    write_file(".aws/credentials", "[default]\naws_access_key_id = HOMEKEY\naws_secret_access_key = s\n");
    write_file("other-creds", "[default]\naws_access_key_id = OTHERKEY\naws_secret_access_key = s\n");
    write_file("other-config", "[default]\nregion = sa-east-1\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/other-creds", 1);
    setenv("AWS_CONFIG_FILE", hpath("other-config"), 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_STREQ(cfg.creds.access_key_id, "OTHERKEY");
    T_STREQ(cfg.credentials_file, hpath("other-creds"));
    T_STREQ(cfg.region, "sa-east-1");
    ub_aws_cfg_release(&cfg);
}

static void test_ini_errors(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    char want[600];
    reset();
    write_file(".aws/config", "[default]\nregion = eu-west-1\nthis line has no delimiter\n");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), -1);
    snprintf(want, sizeof want, "'%s' line 3: expected 'key = value' or '[section]'", hpath(".aws/config"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);

    write_file(".aws/config", "region = eu-west-1\n");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), -1);
    snprintf(want, sizeof want, "'%s' line 1: 'key = value' before any '[section]'", hpath(".aws/config"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);

    write_file(".aws/config", "[default\nregion = x\n");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), -1);
    snprintf(want, sizeof want, "'%s' line 1: section header has no ']'", hpath(".aws/config"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);

    write_file(".aws/config", "[default]\ns3 =\n  addressing_style = sideways\n");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), -1);
    snprintf(want, sizeof want, "profile 'default' in '%s': s3 addressing_style 'sideways' is not "
             "one of auto, virtual, path", hpath(".aws/config"));
    T_STREQ(err.msg, want);
    ub_aws_cfg_release(&cfg);

    /* CRLF line ends and a file without a final newline are fine. */
    write_file(".aws/config", "[default]\r\nregion = eu-north-1\r\n[profile x]\r\nregion = y");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(cfg.region, "eu-north-1");
    ub_aws_cfg_release(&cfg);
    T_INTEQ(ub_aws_cfg_load(&cfg, "x", UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(cfg.region, "y");
    ub_aws_cfg_release(&cfg);
}

/* ---- region and endpoints -------------------------------------------------- */

static void test_region_chain(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    reset();
    write_file(".aws/config", "[default]\nregion = ca-central-1\n");
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(ub_aws_region(&cfg), "ca-central-1");
    ub_aws_cfg_release(&cfg);
    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(ub_aws_region(&cfg), "eu-west-3");
    T_STREQ(cfg.region_source, "AWS_DEFAULT_REGION");
    ub_aws_cfg_release(&cfg);
    setenv("AWS_REGION", "ap-northeast-1", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(ub_aws_region(&cfg), "ap-northeast-1");
    T_STREQ(cfg.region_source, "AWS_REGION");
    ub_aws_cfg_release(&cfg);
}

static void test_endpoint_chain(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    char want[600];
    reset();
    write_file(".aws/config",
               "[default]\n"
               "endpoint_url = http://profile.example:1000\n"
               "services = local\n"
               "[services local]\n"
               "s3 =\n"
               "  endpoint_url = http://services-s3.example:2000\n");
    /* Config: the services section for s3, the profile's endpoint_url for emr. */
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(S(ub_aws_endpoint(&cfg, "s3")), "http://services-s3.example:2000");
    snprintf(want, sizeof want, "config file '%s', services 'local'", hpath(".aws/config"));
    T_STREQ(S(cfg.endpoint_s3_source), want);
    T_STREQ(S(ub_aws_endpoint(&cfg, "emr")), "http://profile.example:1000");
    snprintf(want, sizeof want, "config file '%s', profile 'default'", hpath(".aws/config"));
    T_STREQ(S(cfg.endpoint_emr_source), want);
    ub_aws_cfg_release(&cfg);

    /* AWS_ENDPOINT_URL beats both config entries. */
    setenv("AWS_ENDPOINT_URL", "http://global.example:3000/", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(S(ub_aws_endpoint(&cfg, "s3")), "http://global.example:3000");
    T_STREQ(S(ub_aws_endpoint(&cfg, "emr")), "http://global.example:3000");
    T_STREQ(S(cfg.endpoint_s3_source), "AWS_ENDPOINT_URL");
    ub_aws_cfg_release(&cfg);

    /* The service-specific variables beat AWS_ENDPOINT_URL, each for its service. */
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(S(ub_aws_endpoint(&cfg, "s3")), "http://127.0.0.1:9000");
    T_STREQ(S(cfg.endpoint_s3_source), "AWS_ENDPOINT_URL_S3");
    T_STREQ(S(ub_aws_endpoint(&cfg, "emr")), "http://global.example:3000");
    ub_aws_cfg_release(&cfg);
    setenv("AWS_ENDPOINT_URL_EMR", "http://127.0.0.1:8090", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_STREQ(S(ub_aws_endpoint(&cfg, "emr")), "http://127.0.0.1:8090");
    ub_aws_cfg_release(&cfg);

    /* All configured endpoints can be switched off. */
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_CHECK(ub_aws_endpoint(&cfg, "s3") == NULL);
    T_CHECK(ub_aws_endpoint(&cfg, "emr") == NULL);
    ub_aws_cfg_release(&cfg);
    unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");

    /* A bad URL is named with where it came from. */
    setenv("AWS_ENDPOINT_URL_S3", "ftp://files.example", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), -1);
    T_STREQ(err.msg, "endpoint URL 'ftp://files.example' (from AWS_ENDPOINT_URL_S3) is not an http(s) URL");
    ub_aws_cfg_release(&cfg);
    setenv("AWS_ENDPOINT_URL_S3", "http://host:99999", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), -1);
    ub_aws_cfg_release(&cfg);
}

/* ---- S3 addressing and URLs ------------------------------------------------ */

/* Loads with the given environment endpoint and config text, then checks
 * the object URL, Host and signing path. */
static void check_url(const char *region, const char *endpoint, const char *config,
                      const char *bucket, const char *key,
                      const char *want_url, const char *want_host, const char *want_path)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    ub_buf url = UB_BUF_INIT, host = UB_BUF_INIT, path = UB_BUF_INIT;
    reset();
    if (region)
        setenv("AWS_REGION", region, 1);
    if (endpoint)
        setenv("AWS_ENDPOINT_URL", endpoint, 1);
    if (config)
        write_file(".aws/config", config);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    int rc = ub_aws_s3_url(&cfg, bucket, key, &url, &host, &path, &err);
    if (rc)
        fprintf(stderr, "ub_aws_s3_url: %s\n", err.msg);
    T_INTEQ(rc, 0);
    T_STREQ(ub_buf_str(&url), want_url);
    T_STREQ(ub_buf_str(&host), want_host);
    T_STREQ(ub_buf_str(&path), want_path);
    ub_buf_free(&url);
    ub_buf_free(&host);
    ub_buf_free(&path);
    ub_aws_cfg_release(&cfg);
}

static void test_s3_urls(void)
{
    const char *key = "raw/movie_review/2021-05-01/movie review.csv";
    const char *enc = "raw/movie_review/2021-05-01/movie%20review.csv";
    char u[512], p[512];

    /* Virtual-hosted on AWS: no region in us-east-1, the region elsewhere. */
    snprintf(u, sizeof u, "https://user-analytics.s3.amazonaws.com/%s", enc);
    snprintf(p, sizeof p, "/%s", enc);
    check_url(NULL, NULL, NULL, "user-analytics", key, u, "user-analytics.s3.amazonaws.com", p);
    check_url("us-east-1", NULL, NULL, "user-analytics", key, u, "user-analytics.s3.amazonaws.com", p);
    snprintf(u, sizeof u, "https://user-analytics.s3.eu-west-1.amazonaws.com/%s", enc);
    check_url("eu-west-1", NULL, NULL, "user-analytics", key, u,
              "user-analytics.s3.eu-west-1.amazonaws.com", p);
    check_url("cn-north-1", NULL, NULL, "b-1", "k", "https://b-1.s3.cn-north-1.amazonaws.com.cn/k",
              "b-1.s3.cn-north-1.amazonaws.com.cn", "/k");
    /* The S3 docs' PUT example: key "test$file.text" in examplebucket. */
    check_url("us-east-1", NULL, NULL, "examplebucket", "test$file.text",
              "https://examplebucket.s3.amazonaws.com/test%24file.text",
              "examplebucket.s3.amazonaws.com", "/test%24file.text");

    /* Path style: an IP address or localhost endpoint. */
    snprintf(u, sizeof u, "http://127.0.0.1:9000/user-analytics/%s", enc);
    snprintf(p, sizeof p, "/user-analytics/%s", enc);
    check_url("eu-west-1", "http://127.0.0.1:9000", NULL, "user-analytics", key, u, "127.0.0.1:9000", p);
    check_url(NULL, "http://localhost:4569/", NULL, "user-analytics", "a/b",
              "http://localhost:4569/user-analytics/a/b", "localhost:4569", "/user-analytics/a/b");
    check_url(NULL, "http://[::1]:9000", NULL, "bkt", "k", "http://[::1]:9000/bkt/k", "[::1]:9000", "/bkt/k");
    /* Even when the config asks for virtual-hosted: an address has no sub-domains. */
    check_url(NULL, "http://127.0.0.1:9000", "[default]\ns3 =\n  addressing_style = virtual\n",
              "bkt", "k", "http://127.0.0.1:9000/bkt/k", "127.0.0.1:9000", "/bkt/k");
    /* Virtual-hosted forced for localhost is honoured (curl resolves *.localhost). */
    check_url(NULL, "http://localhost:4569", "[default]\ns3 =\n  addressing_style = virtual\n",
              "bkt", "k", "http://bkt.localhost:4569/k", "bkt.localhost:4569", "/k");

    /* Path style forced by the config, on AWS. */
    check_url("eu-west-1", NULL,
              "[default]\n"
              "region = us-west-1   # the env wins\n"
              "s3 =\n"
              "    # comment inside the sub-section\n"
              "    addressing_style = path\n"
              "    use_accelerate_endpoint = false\n"
              "output = json\n",
              "user-analytics", "k/x", "https://s3.eu-west-1.amazonaws.com/user-analytics/k/x",
              "s3.eu-west-1.amazonaws.com", "/user-analytics/k/x");
    check_url(NULL, NULL, "[default]\ns3 =\n  addressing_style = path\n", "user-analytics", "k",
              "https://s3.amazonaws.com/user-analytics/k", "s3.amazonaws.com", "/user-analytics/k");

    /* A named endpoint keeps virtual-hosted style; default ports drop out of Host. */
    check_url(NULL, "https://minio.example.com:443/", NULL, "lake", "k",
              "https://lake.minio.example.com/k", "lake.minio.example.com", "/k");
    /* A base path on the endpoint prefixes the path. */
    check_url(NULL, "http://10.0.0.5:9000/s3/", NULL, "lake", "k",
              "http://10.0.0.5:9000/s3/lake/k", "10.0.0.5:9000", "/s3/lake/k");
    /* Bucket names that cannot be a host label go path-style in auto mode. */
    check_url("eu-west-1", NULL, NULL, "my.dotted.bucket", "k",
              "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k", "s3.eu-west-1.amazonaws.com",
              "/my.dotted.bucket/k");
    check_url("eu-west-1", NULL, NULL, "Legacy_Bucket", "k",
              "https://s3.eu-west-1.amazonaws.com/Legacy_Bucket/k", "s3.eu-west-1.amazonaws.com",
              "/Legacy_Bucket/k");
    /* The bucket itself (listing). */
    check_url(NULL, NULL, NULL, "lake", NULL, "https://lake.s3.amazonaws.com/", "lake.s3.amazonaws.com", "/");
    check_url(NULL, "http://127.0.0.1:9000", NULL, "lake", "", "http://127.0.0.1:9000/lake",
              "127.0.0.1:9000", "/lake");

    /* Bad bucket names. */
    ub_aws_cfg cfg;
    ub_err err = { "" };
    ub_buf url = UB_BUF_INIT;
    reset();
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_INTEQ(ub_aws_s3_url(&cfg, "a/b", "k", &url, NULL, NULL, &err), -1);
    T_STREQ(err.msg, "bucket name 'a/b' is not valid");
    T_INTEQ(ub_aws_s3_url(&cfg, "", "k", &url, NULL, NULL, &err), -1);
    T_STREQ(err.msg, "bucket name '' is not valid");
    T_INTEQ(ub_aws_s3_path_style(&cfg, "lake"), 0);
    T_INTEQ(ub_aws_s3_path_style(&cfg, "ab"), 1);
    ub_buf_free(&url);
    ub_aws_cfg_release(&cfg);
}

static void test_service_url(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    ub_buf url = UB_BUF_INIT, host = UB_BUF_INIT;
    reset();
    setenv("AWS_REGION", "eu-west-1", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_INTEQ(ub_aws_service_url(&cfg, "emr", &url, &host, &err), 0);
    T_STREQ(ub_buf_str(&url), "https://elasticmapreduce.eu-west-1.amazonaws.com");
    T_STREQ(ub_buf_str(&host), "elasticmapreduce.eu-west-1.amazonaws.com");
    ub_aws_cfg_release(&cfg);
    setenv("AWS_ENDPOINT_URL_EMR", "http://127.0.0.1:8090/", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, UB_AWS_CREDS_OPTIONAL, &err), 0);
    T_INTEQ(ub_aws_service_url(&cfg, "emr", &url, &host, &err), 0);
    T_STREQ(ub_buf_str(&url), "http://127.0.0.1:8090");
    T_STREQ(ub_buf_str(&host), "127.0.0.1:8090");
    ub_aws_cfg_release(&cfg);
    ub_buf_free(&url);
    ub_buf_free(&host);
}

/* ---- secrets --------------------------------------------------------------- */

static void test_masking(void)
{
    char m[UB_AWS_MASK_LEN];
    T_STREQ(ub_aws_mask("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", m), "****EKEY");
    T_STREQ(ub_aws_mask("AKIDEXAMPLE", m), "****");
    T_STREQ(ub_aws_mask("", m), "(none)");
    T_STREQ(ub_aws_mask(NULL, m), "(none)");

    ub_aws_cfg cfg;
    ub_err err = { "" };
    ub_buf d = UB_BUF_INIT;
    reset();
    setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKENVALUE0123456789", 1);
    setenv("AWS_REGION", "eu-west-1", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000", 1);
    T_INTEQ(ub_aws_cfg_load(&cfg, NULL, 0, &err), 0);
    T_INTEQ(ub_aws_cfg_describe(&cfg, &d), 0);
    T_STREQ(ub_buf_str(&d),
            "profile: default\n"
            "access key: ****MPLE (environment)\n"
            "secret key: ****EKEY (environment)\n"
            "session token: ****6789\n"
            "region: eu-west-1 (AWS_REGION)\n"
            "s3 endpoint: http://127.0.0.1:9000 (AWS_ENDPOINT_URL_S3)\n"
            "emr endpoint: aws (default)\n"
            "s3 addressing: auto\n");
    T_CHECK(strstr(ub_buf_str(&d), "wJalrXUtnFEMI") == NULL);
    T_CHECK(strstr(ub_buf_str(&d), "FwoGZXIv") == NULL);
    ub_buf_free(&d);
    ub_aws_cfg_release(&cfg);
    T_CHECK(cfg.creds.secret_access_key == NULL && cfg.creds.session_token == NULL);
}

/* ---- everything together: a signed S3 request ------------------------------- */

/* The S3 docs' "GET Object" example, built from a loaded cfg and
 * ub_aws_s3_url: same Host, path and published signature. */
static void test_chain_to_signature(void)
{
    ub_aws_cfg cfg;
    ub_err err = { "" };
    ub_buf host = UB_BUF_INIT, path = UB_BUF_INIT;
    ub_sigv4_out out;
    reset();
    write_file(".aws/credentials", "[docs]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                                   "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
    write_file(".aws/config", "[profile docs]\nregion = us-east-1\n");
    T_INTEQ(ub_aws_cfg_load(&cfg, "docs", 0, &err), 0);
    T_INTEQ(ub_aws_s3_url(&cfg, "examplebucket", "test.txt", NULL, &host, &path, &err), 0);
    ub_sigv4_hdr h[] = { { "Host", ub_buf_str(&host) }, { "Range", "bytes=0-9" } };
    ub_sigv4_cfg sc = {
        .access_key_id = cfg.creds.access_key_id, .secret_access_key = cfg.creds.secret_access_key,
        .region = ub_aws_region(&cfg), .service = "s3", .now = 1369353600,
        .flags = UB_SIGV4_CONTENT_SHA256,
    };
    ub_sigv4_req req = { "GET", ub_buf_str(&path), NULL, h, 2, UB_SIGV4_EMPTY_SHA256 };
    ub_sigv4_out_init(&out);
    T_INTEQ(ub_sigv4_sign(&sc, &req, &out, &err), 0);
    T_STREQ(out.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    ub_sigv4_out_release(&out);
    ub_buf_free(&host);
    ub_buf_free(&path);
    ub_aws_cfg_release(&cfg);
}

/* Every allocation of a full load failing in turn: "out of memory", no crash
 * and (under the sanitizer build) no leak. */
static void test_alloc_failures(void)
{
    reset();
    write_file(".aws/credentials", "[default]\naws_access_key_id = K\naws_secret_access_key = S\n"
                                   "aws_session_token = T\n");
    write_file(".aws/config", "[default]\nregion = eu-west-1\nservices = s\ns3 =\n  addressing_style = path\n"
                              "[services s]\nemr =\n  endpoint_url = http://127.0.0.1:8090\n");
    int oom = 0, ok = 0;
    for (long n = 1; n < 400 && !ok; n++) {
        ub_aws_cfg cfg;
        ub_err err = { "" };
        ub_mem_fail_after(n);
        int rc = ub_aws_cfg_load(&cfg, NULL, 0, &err);
        ub_mem_fail_after(0);
        if (rc == 0) {
            ok = 1;
            T_STREQ(S(ub_aws_endpoint(&cfg, "emr")), "http://127.0.0.1:8090");
            T_INTEQ(cfg.s3_addressing, UB_S3_ADDR_PATH);
        } else {
            oom++;
            if (strcmp(err.msg, "out of memory") != 0)
                fprintf(stderr, "allocation %ld: %s\n", n, err.msg);
            T_STREQ(err.msg, "out of memory");
        }
        ub_aws_cfg_release(&cfg);
    }
    T_CHECK(ok);
    T_CHECK(oom > 10);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(home, sizeof home, "%s/ub_creds_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(home)) {
        perror("mkdtemp");
        return 1;
    }
    mkdir(hpath(".aws"), 0700);

    test_no_credentials();
    test_env_credentials();
    test_profiles();
    test_file_overrides();
    test_ini_errors();
    test_region_chain();
    test_endpoint_chain();
    test_s3_urls();
    test_service_url();
    test_masking();
    test_chain_to_signature();
    test_alloc_failures();

    reset();
    rmdir(hpath(".aws"));
    rmdir(home);
    return t_done("creds");
}
