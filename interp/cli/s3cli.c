/* s3cli.c — the `ubpipe s3` verbs (presign, ls, cp) on the S3 lake backend and the signer. */
#include "cli/s3cli.h"
#include "base/parse.h"
#include "base/show.h"
#include "aws/creds.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/mem.h"
#include "lake/lake.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { S3CLI_OK = 0, S3CLI_FAIL = 1, S3CLI_USAGE = 2 };

static const char s3_usage[] =
    "usage: ubpipe s3 presign s3://BUCKET/KEY [--expires SECONDS]\n"
    "       ubpipe s3 ls s3://BUCKET[/PREFIX]\n"
    "       ubpipe s3 cp SRC DST      (local file, '-', or s3://BUCKET/KEY)\n";

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "ubpipe s3: %s\n", msg);
    fputs(s3_usage, stderr);
    return S3CLI_USAGE;
}

static int fail(const ub_err *err)
{
    fputs("ubpipe s3: ", stderr);
    ub_show_fputs(err->msg, stderr);                  /* quotes keys and server replies */
    fputc('\n', stderr);
    return S3CLI_FAIL;
}

/* Splits "s3://BUCKET/KEY": bucket and key are allocated (key may be "");
 * 0 ok, -1 when url is not an s3 URL. */
static int split_s3(const char *url, char **bucket, char **key, ub_err *err)
{
    const char *b, *k;
    size_t blen;
    *bucket = *key = NULL;
    if (ub_s3_url_split(url, &b, &blen, &k) != 1)
        return ub_err_set(err, "'%s' is not an s3://BUCKET/KEY URL", url);
    *bucket = ub_strndup(b, blen);
    *key = ub_strdup(k);
    if (!*bucket || !*key) {
        ub_free(*bucket);
        ub_free(*key);
        *bucket = *key = NULL;
        return ub_err_oom(err);
    }
    return 0;
}

static int is_s3(const char *s)
{
    return strncmp(s, "s3://", 5) == 0;
}

static const char *last_segment(const char *p)
{
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/')
        s--;
    return s;
}

/* ---- presign ------------------------------------------------------------------ */

static int cmd_presign(int argc, char **argv)
{
    int rc = S3CLI_FAIL;
    long expires = 3600;
    const char *url = NULL;
    char *bucket = NULL, *key = NULL;
    ub_err err;
    ub_aws_cfg cfg;
    ub_buf u = UB_BUF_INIT, host = UB_BUF_INIT, path = UB_BUF_INIT;
    ub_sigv4_out out;
    ub_sigv4_out_init(&out);
    memset(&cfg, 0, sizeof cfg);
    int cfg_loaded = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
            long long ex = 0;
            if (ub_parse_dec(argv[++i], 1, UB_SIGV4_MAX_EXPIRES, &ex, NULL)) {
                rc = usage("--expires must be 1..604800 seconds");
                goto out;
            }
            expires = (long)ex;
        } else if (argv[i][0] == '-') {
            rc = usage("unknown option for presign");
            goto out;
        } else if (!url) {
            url = argv[i];
        } else {
            rc = usage("presign takes one URL");
            goto out;
        }
    }
    if (!url) {
        rc = usage("presign needs an s3://BUCKET/KEY URL");
        goto out;
    }
    if (split_s3(url, &bucket, &key, &err)) {
        rc = usage(err.msg);
        goto out;
    }
    if (!*key || ub_lake_key_check(key, &err)) {
        if (!*key)
            ub_err_set(&err, "'%s' names no object", url);
        rc = fail(&err);
        goto out;
    }
    cfg_loaded = 1;
    if (ub_aws_cfg_load(&cfg, NULL, 0, &err) ||
        ub_aws_s3_url(&cfg, bucket, key, &u, &host, &path, &err)) {
        rc = fail(&err);
        goto out;
    }
    ub_sigv4_hdr hv[1] = { { "Host", ub_buf_str(&host) } };
    ub_sigv4_cfg sc = {
        .access_key_id = cfg.creds.access_key_id,
        .secret_access_key = cfg.creds.secret_access_key,
        .session_token = cfg.creds.session_token,
        .region = ub_aws_region(&cfg),
        .service = "s3",
        .now = time(NULL),
        .expires = expires,
    };
    ub_sigv4_req req = {
        .method = "GET", .path = ub_buf_str(&path), .headers = hv, .nheaders = 1,
        .payload_hash = UB_SIGV4_UNSIGNED_PAYLOAD,
    };
    if (ub_sigv4_presign(&sc, &req, &out, &err)) {
        rc = fail(&err);
        goto out;
    }
    printf("%s?%s\n", ub_buf_str(&u), ub_buf_str(&out.query));
    rc = fflush(stdout) == 0 ? S3CLI_OK : S3CLI_FAIL;
out:
    ub_sigv4_out_release(&out);
    if (cfg_loaded)
        ub_aws_cfg_release(&cfg);
    ub_buf_free(&u);
    ub_buf_free(&host);
    ub_buf_free(&path);
    ub_free(bucket);
    ub_free(key);
    return rc;
}

/* ---- ls ---------------------------------------------------------------------------- */

static int print_entry(void *ud, const char *key, const ub_lake_info *st)
{
    char when[32] = "                   ";
    time_t t = (time_t)st->mtime;
    struct tm tm;
    if (st->mtime > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    printf("%s %12llu ", when, (unsigned long long)st->size);
    ub_show_fputs(key, stdout);                       /* a key can hold any byte but NUL */
    fputc('\n', stdout);
    return 0;
}

static ub_lake *open_bucket(const char *bucket, ub_err *err)
{
    ub_buf u = UB_BUF_INIT;
    ub_lake *l = NULL;
    if (ub_buf_addf(&u, "s3://%s", bucket))
        ub_err_oom(err);
    else
        l = ub_lake_s3_open(ub_buf_str(&u), err);
    ub_buf_free(&u);
    return l;
}

static int cmd_ls(int argc, char **argv)
{
    int rc = S3CLI_FAIL;
    char *bucket = NULL, *key = NULL;
    ub_lake *l = NULL;
    ub_err err;
    if (argc != 2)
        return usage("ls takes one s3://BUCKET[/PREFIX] URL");
    if (split_s3(argv[1], &bucket, &key, &err))
        return usage(err.msg);
    l = open_bucket(bucket, &err);
    if (!l || l->ops->list(l, key, print_entry, NULL, &err)) {
        rc = fail(&err);
        goto out;
    }
    rc = fflush(stdout) == 0 ? S3CLI_OK : S3CLI_FAIL;
out:
    if (l)
        l->ops->free(l);
    ub_free(bucket);
    ub_free(key);
    return rc;
}

/* ---- cp ----------------------------------------------------------------------------- */

typedef struct stdout_writer {
    ub_writer base;
} stdout_writer;

static int so_write(ub_writer *w, const void *buf, size_t n, ub_err *err)
{
    if (fwrite(buf, 1, n, stdout) != n)
        return ub_err_set(err, "standard output: %s", strerror(errno));
    w->bytes += n;
    return 0;
}

static int so_commit(ub_writer *w, ub_err *err)
{
    int rc = fflush(stdout) == 0 ? 0 : ub_err_set(err, "standard output: %s", strerror(errno));
    ub_free(w);
    return rc;
}

static void so_abort(ub_writer *w)
{
    fflush(stdout);
    ub_free(w);
}

static ub_writer *stdout_writer_open(ub_err *err)
{
    stdout_writer *w = ub_calloc(1, sizeof *w);
    if (!w) {
        ub_err_oom(err);
        return NULL;
    }
    w->base.write = so_write;
    w->base.commit = so_commit;
    w->base.abort = so_abort;
    w->base.name = "standard output";
    return &w->base;
}

/* The destination key or path: dst, or dst + the source's last segment when
 * dst ends in '/' (or is an existing local directory). */
static char *dest_name(const char *dst, int dst_is_local, const char *src, ub_err *err)
{
    ub_buf b = UB_BUF_INIT;
    struct stat st;
    size_t n = strlen(dst);
    int dir = (n && dst[n - 1] == '/') ||
              (dst_is_local && stat(dst, &st) == 0 && S_ISDIR(st.st_mode));
    ub_buf_adds(&b, dst);
    if (dir) {
        if (n && dst[n - 1] != '/')
            ub_buf_addc(&b, '/');
        ub_buf_adds(&b, last_segment(src));
    }
    char *s = ub_buf_detach(&b, NULL);
    if (!s)
        ub_err_oom(err);
    return s;
}

static int cmd_cp(int argc, char **argv)
{
    int rc = S3CLI_FAIL;
    ub_err err;
    ub_lake *ls = NULL, *ld = NULL;
    ub_reader *r = NULL;
    ub_writer *w = NULL;
    char *sb = NULL, *sk = NULL, *db = NULL, *dk = NULL, *dname = NULL;
    if (argc != 3)
        return usage("cp takes SRC and DST");
    const char *src = argv[1], *dst = argv[2];
    int s3src = is_s3(src), s3dst = is_s3(dst);
    if (!s3src && !s3dst)
        return usage("cp needs an s3:// URL on at least one side");
    if (s3src && split_s3(src, &sb, &sk, &err))
        return usage(err.msg);
    if (s3dst && (dname = dest_name(dst, 0, s3src ? sk : src, &err)) == NULL)
        goto fail;
    if (s3dst && split_s3(dname, &db, &dk, &err))
        goto fail;
    if (!s3dst && strcmp(dst, "-") != 0 && (dname = dest_name(dst, 1, sk, &err)) == NULL)
        goto fail;

    if (s3src && !(ls = open_bucket(sb, &err)))
        goto fail;
    if (s3dst) {
        if (s3src && strcmp(sb, db) == 0) {
            ld = ls;                  /* same bucket: a server-side copy */
            if (ls->ops->copy(ls, sk, dk, &err))
                goto fail;
            rc = S3CLI_OK;
            goto out;
        }
        if (!(ld = open_bucket(db, &err)))
            goto fail;
    }

    if (s3src)
        r = ls->ops->open_read(ls, sk, &err);
    else if (strcmp(src, "-") == 0)
        r = ub_fd_reader(0, "standard input", 0, &err);
    else
        r = ub_file_reader_open(src, &err);
    if (!r)
        goto fail;
    if (s3dst)
        w = ld->ops->open_write(ld, dk, &err);
    else if (strcmp(dst, "-") == 0)
        w = stdout_writer_open(&err);
    else
        w = ub_file_writer_open(dname, 0, &err);
    if (!w)
        goto fail;
    if (ub_stream_copy(r, w, &err) < 0)
        goto fail;
    ub_writer *wc = w;
    w = NULL;                         /* commit frees it, even on failure */
    if (ub_writer_commit(wc, &err))
        goto fail;
    rc = S3CLI_OK;
    goto out;
fail:
    rc = fail(&err);
out:
    ub_writer_abort(w);
    ub_reader_close(r);
    if (ld && ld != ls)
        ld->ops->free(ld);
    if (ls)
        ls->ops->free(ls);
    ub_free(sb);
    ub_free(sk);
    ub_free(db);
    ub_free(dk);
    ub_free(dname);
    return rc;
}

int ub_cmd_s3(int argc, char **argv)
{
    argc--;
    argv++;
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        if (argc >= 1) {
            fputs(s3_usage, stdout);
            return S3CLI_OK;
        }
        return usage(NULL);
    }
    if (strcmp(argv[0], "presign") == 0)
        return cmd_presign(argc, argv);
    if (strcmp(argv[0], "ls") == 0)
        return cmd_ls(argc, argv);
    if (strcmp(argv[0], "cp") == 0)
        return cmd_cp(argc, argv);
    fputs("ubpipe s3: unknown command '", stderr);
    ub_show_fputs(argv[0], stderr);
    fputs("'\n", stderr);
    return usage(NULL);
}
