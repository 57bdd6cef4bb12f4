/* local_steps.c — the local EMR step commands: s3-dist-cp, spark-submit and its built-in scripts. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* renameat2 (RENAME_EXCHANGE) */
#endif
#include "emr/local.h"
#include "base/mem.h"
#include "base/secret.h"
#include "io/classify.h"
#include "io/fsutil.h"
#include "io/stream.h"
#include "lake/lake.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== inside a step process ====================================================== */

typedef struct stepctx {
    const json_t *rec;
    ub_lake *lake;      /* the profile's lake (s3://), opened on first use */
    ub_lake *hdfs;      /* the HDFS directory as a file lake */
} stepctx;

/* steps print their progress to stdout, which is the step's log file */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    ub_buf m = UB_BUF_INIT;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ub_secret_mask(msg, &m);            /* the step log is a file a user reads */
    dprintf(STDOUT_FILENO, "%s\n", m.err ? "(out of memory)" : ub_buf_str(&m));
    ub_buf_free(&m);
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

typedef struct endpoint {
    ub_lake *lake;      /* not owned */
    char *key;          /* key or prefix inside the lake ("" = all of it); owned */
    int hdfs;
    const char *text;   /* the argument as given */
} endpoint;

static ub_lake *step_lake(stepctx *c, int hdfs, const char *what, ub_err *err)
{
    if (hdfs) {
        if (!c->hdfs)
            c->hdfs = ub_lake_file_open(el_rec_str(c->rec, "HdfsDir"), err);
        return c->hdfs;
    }
    if (!c->lake) {
        const char *url = el_rec_str(c->rec, "Lake");
        if (!url) {
            ub_err_set(err, "'%s': no lake stands in for S3 (the profile has no lake)", what);
            return NULL;
        }
        c->lake = ub_lake_open(url, NULL, err);
    }
    return c->lake;
}

/* s3://BUCKET/KEY (the bucket is ignored), hdfs:///PATH or /PATH */
static int endpoint_parse(stepctx *c, const char *cmd, const char *flag, const char *arg, endpoint *ep,
                          ub_err *err)
{
    const char *key;
    ep->text = arg;
    ep->key = NULL;
    const char *bucket;
    size_t blen;
    int s3 = ub_s3_url_split(arg, &bucket, &blen, &key);
    if (s3 < 0)
        return ub_err_set(err, "%s: %s '%s' has no bucket", cmd, flag, arg);
    if (s3) {
        ep->hdfs = 0;
    } else if (has_prefix(arg, "hdfs://") || arg[0] == '/') {
        const char *path = arg[0] == '/' ? arg : strchr(arg + 7, '/');
        key = path ? path + 1 : "";
        ep->hdfs = 1;
    } else {
        return ub_err_set(err, "%s: %s '%s' must be an s3://BUCKET/KEY URL or an absolute HDFS path", cmd, flag,
                          arg);
    }
    size_t n = strlen(key);
    if (n) {
        char *chk = ub_strndup(key, key[n - 1] == '/' ? n - 1 : n);
        if (!chk)
            return ub_err_oom(err);
        int bad = ub_lake_key_check(chk, err);
        ub_free(chk);
        if (bad)
            return ub_err_wrap(err, "%s: %s '%s'", cmd, flag, arg);
    }
    if (!(ep->lake = step_lake(c, ep->hdfs, arg, err)))
        return -1;
    if (!(ep->key = ub_strdup(key)))
        return ub_err_oom(err);
    return 0;
}

/* Resolves ep to one object (returns 1) or a prefix ending in '/' or ""
 * (returns 0; ep->key is rewritten). */
static int endpoint_kind(endpoint *ep, ub_err *err)
{
    size_t n = strlen(ep->key);
    if (n == 0 || ep->key[n - 1] == '/')
        return 0;
    int r = ub_lake_stat(ep->lake, ep->key, NULL, err);
    if (r != 0)
        return r;
    char *k = ub_malloc(n + 2);
    if (!k)
        return ub_err_oom(err);
    memcpy(k, ep->key, n);
    memcpy(k + n, "/", 2);
    ub_free(ep->key);
    ep->key = k;
    return 0;
}

static int collect_key(void *ud, const char *key, const ub_lake_info *st)
{
    (void)st;
    return el_strlist_push(ud, key, strlen(key)) < 0 ? -1 : 0;
}

static int64_t copy_object(ub_lake *sl, const char *sk, ub_lake *dl, const char *dk, ub_err *err)
{
    ub_reader *r = NULL;
    ub_writer *w = NULL;
    ub_buf sp = UB_BUF_INIT;
    int64_t n = -1;
    struct stat st;
    /* a file lake's object into a file lake on the same file system (the local HDFS): a hard
     * link, fsynced and renamed into place, instead of a copy of the bytes — lake objects are
     * only ever replaced by rename, so the two names keep the same bytes */
    int lp = ub_lake_local_path(sl, sk, &sp, err);
    if (lp < 0)
        goto out;
    if (lp && stat(sp.p, &st) == 0 && S_ISREG(st.st_mode)) {
        int k = ub_lake_put_link(dl, dk, sp.p, err);
        if (k < 0)
            goto out;
        if (k) {
            n = (int64_t)st.st_size;
            goto out;
        }
    }
    if (!(r = ub_lake_open_read(sl, sk, err)) || !(w = ub_lake_open_write(dl, dk, err)))
        goto out;
    if ((n = ub_stream_copy(r, w, err)) < 0)
        goto out;
    int c = ub_writer_commit(w, err);   /* frees w */
    w = NULL;
    if (c)
        n = -1;
out:
    ub_writer_abort(w);
    ub_reader_close(r);
    ub_buf_free(&sp);
    return n;
}

static int run_dist_cp(stepctx *c, char **args, size_t nargs, ub_err *err)
{
    const char *src = NULL, *dst = NULL;
    endpoint s = { 0 }, d = { 0 };
    strlist keys = { NULL, 0, 0 };
    ub_buf dk = UB_BUF_INIT;
    int rc = -1;
    for (size_t i = 1; i < nargs; i++) {
        const char *a = args[i];
        if (has_prefix(a, "--src="))
            src = a + 6;
        else if (has_prefix(a, "--dest="))
            dst = a + 7;
        else if ((strcmp(a, "--src") == 0 || strcmp(a, "--dest") == 0) && i + 1 < nargs)
            *(a[2] == 's' ? &src : &dst) = args[++i];
        else {
            ub_err_set(err, "s3-dist-cp: option '%s' is not supported by the local step runner", a);
            goto out;
        }
    }
    if (!src || !dst) {
        ub_err_set(err, "s3-dist-cp: --src and --dest are required");
        goto out;
    }
    if (endpoint_parse(c, "s3-dist-cp", "--src", src, &s, err) ||
        endpoint_parse(c, "s3-dist-cp", "--dest", dst, &d, err))
        goto out;
    int one = endpoint_kind(&s, err);
    if (one < 0)
        goto out;
    if (one) {
        size_t dl = strlen(d.key);
        if (dl == 0 || d.key[dl - 1] == '/') {            /* into a directory: keep the name */
            const char *base = strrchr(s.key, '/');
            ub_buf_addf(&dk, "%s%s", d.key, base ? base + 1 : s.key);
        } else {
            ub_buf_adds(&dk, d.key);
        }
        if (dk.err) {
            ub_err_oom(err);
            goto out;
        }
        int64_t n = copy_object(s.lake, s.key, d.lake, dk.p, err);
        if (n < 0)
            goto out;
        say("copied %s (%lld bytes) to %s", src, (long long)n, dst);
        rc = 0;
        goto out;
    }
    /* a prefix: every object under it, relative names kept under dest */
    size_t dl = strlen(d.key);
    const char *sep = dl && d.key[dl - 1] != '/' ? "/" : "";
    if (s.lake == d.lake) {
        size_t sl = strlen(s.key);
        if (strncmp(s.key, d.key, sl < dl ? sl : dl) == 0) {
            ub_err_set(err, "s3-dist-cp: --src '%s' and --dest '%s' overlap", src, dst);
            goto out;
        }
    }
    if (ub_lake_list(s.lake, s.key, collect_key, &keys, err))
        goto out;
    if (keys.n == 0) {
        ub_err_set(err, "s3-dist-cp: no objects under --src '%s'", src);
        goto out;
    }
    int64_t total = 0;
    for (size_t i = 0; i < keys.n; i++) {
        ub_buf_reset(&dk);
        if (ub_buf_addf(&dk, "%s%s%s", d.key, sep, keys.v[i] + strlen(s.key)) < 0) {
            ub_err_oom(err);
            goto out;
        }
        int64_t n = copy_object(s.lake, keys.v[i], d.lake, dk.p, err);
        if (n < 0)
            goto out;
        say("copied %s (%lld bytes) to %s", keys.v[i], (long long)n, dk.p);
        total += n;
    }
    say("s3-dist-cp: %zu object%s, %lld bytes, %s -> %s", keys.n, keys.n == 1 ? "" : "s", (long long)total, src,
        dst);
    rc = 0;
out:
    ub_free(s.key);
    ub_free(d.key);
    el_strlist_free(&keys);
    ub_buf_free(&dk);
    return rc;
}

/* Puts directory tmp in the place of directory out (which may not exist);
 * afterwards tmp is gone or holds the old output. */
static int swap_dirs(const char *tmp, const char *out, ub_err *err)
{
    struct stat st;
    if (lstat(out, &st) < 0) {
        if (errno != ENOENT)
            return ub_err_set(err, "could not stat '%s': %s", out, strerror(errno));
        if (rename(tmp, out) < 0)
            return ub_err_set(err, "could not rename '%s' to '%s': %s", tmp, out, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return ub_err_set(err, "output '%s' exists and is not a directory", out);
#ifdef RENAME_EXCHANGE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return ub_err_set(err, "could not exchange '%s' and '%s': %s", tmp, out, strerror(errno));
#endif
    /* no atomic exchange here: move the old output aside first */
    ub_buf old = UB_BUF_INIT;
    int rc = -1;
    if (!el_pathf(&old, "%s.old", tmp)) {
        ub_err_oom(err);
        goto out;
    }
    if (rename(out, old.p) < 0) {
        ub_err_set(err, "could not rename '%s' to '%s': %s", out, old.p, strerror(errno));
        goto out;
    }
    if (rename(tmp, out) < 0) {
        ub_err_set(err, "could not rename '%s' to '%s': %s", tmp, out, strerror(errno));
        rename(old.p, out);
        goto out;
    }
    rename(old.p, tmp);
    rc = 0;
out:
    ub_buf_free(&old);
    return rc;
}

/* spark-submit script: --input DIR --output DIR --run-id DS.  Every file
 * directly in the input directory (sorted; names starting with '_' or '.'
 * skipped, as Spark does; *.zst decompressed) becomes OUTPUT/part-NNNNN.csv;
 * then an empty _SUCCESS.  The output directory is built aside and swapped
 * in, so a failure leaves the previous output as it was. */
static int builtin_classify(stepctx *c, char **args, size_t nargs, ub_err *err)
{
    const char *in = NULL, *outarg = NULL, *ds = NULL;
    endpoint s = { 0 }, d = { 0 };
    strlist keys = { NULL, 0, 0 };
    ub_buf tmp = UB_BUF_INIT, out = UB_BUF_INIT, part = UB_BUF_INIT, parent = UB_BUF_INIT;
    ub_reader *r = NULL;
    ub_writer *w = NULL;
    int rc = -1, made_tmp = 0;
    for (size_t i = 0; i < nargs; i++) {
        const char *a = args[i];
        const char **slot = strcmp(a, "--input") == 0 ? &in : strcmp(a, "--output") == 0 ? &outarg
                          : strcmp(a, "--run-id") == 0 ? &ds : NULL;
        if (slot && i + 1 < nargs) {
            *slot = args[++i];
        } else if (has_prefix(a, "--input=")) {
            in = a + 8;
        } else if (has_prefix(a, "--output=")) {
            outarg = a + 9;
        } else if (has_prefix(a, "--run-id=")) {
            ds = a + 9;
        } else {
            ub_err_set(err, "classify: unexpected argument '%s' (usage: --input DIR --output DIR --run-id DS)", a);
            goto out;
        }
    }
    if (!in || !outarg || !ds) {
        ub_err_set(err, "classify: --input, --output and --run-id are required");
        goto out;
    }
    if (endpoint_parse(c, "classify", "--input", in, &s, err) ||
        endpoint_parse(c, "classify", "--output", outarg, &d, err))
        goto out;
    if (!d.hdfs || !*d.key || strcmp(d.key, "/") == 0) {
        ub_err_set(err, "classify: --output '%s' must be an HDFS directory below '/'", outarg);
        goto out;
    }
    int one = endpoint_kind(&s, err);
    if (one < 0)
        goto out;
    if (one) {
        if (el_strlist_push(&keys, s.key, strlen(s.key)) < 0) {
            ub_err_oom(err);
            goto out;
        }
    } else {
        strlist all = { NULL, 0, 0 };
        if (ub_lake_list(s.lake, s.key, collect_key, &all, err)) {
            el_strlist_free(&all);
            goto out;
        }
        size_t pl = strlen(s.key);
        for (size_t i = 0; i < all.n; i++) {
            const char *rel = all.v[i] + pl;
            if (strchr(rel, '/') || rel[0] == '_' || rel[0] == '.')
                continue;
            if (el_strlist_push(&keys, all.v[i], strlen(all.v[i])) < 0) {
                el_strlist_free(&all);
                ub_err_oom(err);
                goto out;
            }
        }
        el_strlist_free(&all);
    }
    if (keys.n == 0) {
        ub_err_set(err, "classify: no input files in --input '%s'", in);
        goto out;
    }

    /* OUTPUT (absolute, no trailing '/') and a temporary directory beside it */
    size_t ol = strlen(d.key);
    ub_buf_addf(&out, "%s/%.*s", el_rec_str(c->rec, "HdfsDir"), (int)(d.key[ol - 1] == '/' ? ol - 1 : ol), d.key);
    if (out.err) {
        ub_err_oom(err);
        goto out;
    }
    const char *slash = strrchr(out.p, '/');
    ub_buf_add(&parent, out.p, (size_t)(slash - out.p));
    ub_tmp_name(&tmp, out.p);
    if (parent.err || tmp.err) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_mkdirs(parent.p) < 0) {
        ub_err_set(err, "could not create '%s': %s", parent.p, strerror(errno));
        goto out;
    }
    ub_sweep_tmp_of(out.p);
    if (mkdir(tmp.p, 0755) < 0) {
        ub_err_set(err, "could not create '%s': %s", tmp.p, strerror(errno));
        goto out;
    }
    made_tmp = 1;
    uint64_t rows = 0, pos = 0;
    for (size_t i = 0; i < keys.n; i++) {
        if (!(r = ub_lake_open_read_decoded(s.lake, keys.v[i], err)))
            goto out;
        ub_buf_reset(&part);
        if (!el_pathf(&part, "%s/part-%05zu.csv", tmp.p, i)) {
            ub_err_oom(err);
            goto out;
        }
        if (!(w = ub_file_writer_open(part.p, 0, err)))
            goto out;
        ub_classify_stats st;
        if (ub_classify_stream(r, w, ds, &st, err))
            goto out;
        int cr = ub_writer_commit(w, err);   /* frees w */
        w = NULL;
        if (cr)
            goto out;
        ub_reader_close(r);
        r = NULL;
        say("classified %s: %llu rows, %llu positive -> part-%05zu.csv", keys.v[i],
            (unsigned long long)st.rows, (unsigned long long)st.positive, i);
        rows += st.rows;
        pos += st.positive;
    }
    if (!el_pathf(&part, "%s/_SUCCESS", tmp.p)) {
        ub_err_oom(err);
        goto out;
    }
    if (ub_write_file_atomic(part.p, "", 0, err) || swap_dirs(tmp.p, out.p, err))
        goto out;
    say("classify: %zu files, %llu rows, %llu positive, written to %s", keys.n, (unsigned long long)rows,
        (unsigned long long)pos, outarg);
    rc = 0;
out:
    ub_writer_abort(w);
    ub_reader_close(r);
    if (made_tmp)
        ub_rm_tree(tmp.p);            /* the failed attempt, or the old output after the swap */
    ub_free(s.key);
    ub_free(d.key);
    el_strlist_free(&keys);
    ub_buf_free(&tmp);
    ub_buf_free(&out);
    ub_buf_free(&part);
    ub_buf_free(&parent);
    return rc;
}

typedef int (*builtin_fn)(stepctx *c, char **args, size_t nargs, ub_err *err);

static const struct {
    const char *name;
    builtin_fn run;
} builtins[] = {
    { "classify", builtin_classify },
};

static int run_spark_submit(stepctx *c, char **args, size_t nargs, ub_err *err)
{
    static const char *const with_value[] = { "--deploy-mode", "--master", "--conf", NULL };
    size_t i = 1;
    while (i < nargs && has_prefix(args[i], "--")) {
        size_t k = 0, ol = 0;
        for (; with_value[k]; k++) {
            ol = strlen(with_value[k]);
            if (strncmp(args[i], with_value[k], ol) == 0 && (args[i][ol] == '\0' || args[i][ol] == '='))
                break;
        }
        if (!with_value[k])
            return ub_err_set(err, "spark-submit: option '%s' is not supported by the local step runner", args[i]);
        if (args[i][ol] == '\0' && ++i >= nargs)
            return ub_err_set(err, "spark-submit: option '%s' needs a value", with_value[k]);
        i++;
    }
    if (i >= nargs)
        return ub_err_set(err, "spark-submit: no application script given");
    const char *script = args[i], *base = strrchr(script, '/');
    base = base ? base + 1 : script;
    const json_t *scripts = json_object_get(c->rec, "Scripts");
    const char *builtin = json_string_value(json_object_get(scripts, base));
    if (!builtin) {
        ub_buf known = UB_BUF_INIT;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)scripts, k, v) {
            ub_buf_adds(&known, known.len ? ", " : "");
            ub_buf_addf(&known, "%s -> %s", k, json_string_value(v) ? json_string_value(v) : "?");
        }
        ub_err_set(err, "spark-submit: script '%s' has no local built-in (%s%s)", base,
                   known.len ? "the emr connection's scripts map " : "the emr connection maps no scripts",
                   ub_buf_str(&known));
        ub_buf_free(&known);
        return -1;
    }
    for (size_t k = 0; k < sizeof builtins / sizeof builtins[0]; k++)
        if (strcmp(builtins[k].name, builtin) == 0) {
            say("spark-submit: %s -> built-in %s", script, builtin);
            return builtins[k].run(c, args + i + 1, nargs - i - 1, err);
        }
    return ub_err_set(err, "spark-submit: script '%s' maps to unknown built-in '%s' (built-ins: classify)", base,
                      builtin);
}

/* Runs the step of rec in this (child) process; 0 or -1 with err set. */
int el_run_step(const json_t *rec, ub_err *err)
{
    stepctx c = { rec, NULL, NULL };
    const json_t *ja = json_object_get(rec, "Args");
    size_t nargs = json_array_size(ja);
    char **args = ub_calloc(nargs + 1, sizeof *args);
    const char *jar = el_rec_str(rec, "Jar");
    int rc = -1;
    if (!args) {
        ub_err_oom(err);
        goto out;
    }
    for (size_t i = 0; i < nargs; i++)
        args[i] = (char *)json_string_value(json_array_get(ja, i));   /* borrowed from rec */
    if (!jar || strcmp(jar, "command-runner.jar") != 0) {
        ub_err_set(err, "jar '%s' is not supported by the local step runner (only command-runner.jar)",
                   jar ? jar : "");
        goto out;
    }
    if (nargs == 0 || !args[0]) {
        ub_err_set(err, "the step has no command");
        goto out;
    }
    if (strcmp(args[0], "s3-dist-cp") == 0)
        rc = run_dist_cp(&c, args, nargs, err);
    else if (strcmp(args[0], "spark-submit") == 0)
        rc = run_spark_submit(&c, args, nargs, err);
    else
        ub_err_set(err, "command '%s' is not supported by the local step runner", args[0]);
out:
    ub_free(args);
    ub_lake_free(c.lake);
    ub_lake_free(c.hdfs);
    return rc;
}
