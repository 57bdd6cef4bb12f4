/* emr_local.c — the local EMR step runner: step records on disk, worked by one background process. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* renameat2 (RENAME_EXCHANGE), prctl, close_range */
#endif
#include "emr/emr.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/classify.h"
#include "io/fsutil.h"
#include "io/stream.h"
#include "lake/lake.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/*
 * The cluster "local" plays EMR on one machine.  Everything lives under
 * DIR = STATE/emr/local:
 *
 *   steps/<id>.json   one record per step (Id, Name, ActionOnFailure, Jar,
 *                     Args, State, SubmittedAt, StartedAt, EndedAt, Reason,
 *                     LogFile, RunnerPid, Lake, HdfsDir, Scripts);
 *                     always replaced atomically, so it is valid JSON at
 *                     any moment
 *   queue             ids of the steps not yet final, in submission order
 *   logs/<id>.log     what the step printed
 *   runner.log        what the runner printed
 *   runner.lock       flock held by the one runner working the queue
 *   state.lock        flock held for each read-modify-write of records or
 *                     of the queue (submitter, canceller and runner alike)
 *   terminated        present once a step failed with ActionOnFailure
 *                     TERMINATE_CLUSTER or TERMINATE_JOB_FLOW: from then on
 *                     ub_emr_add_steps fails and says so; remove the file to
 *                     use the local cluster again
 *
 * ub_emr_add_steps writes PENDING records and the queue, then starts
 * `<self_exe> __emr-local-runner DIR` detached (own session, stdio to
 * runner.log), unless a runner already holds runner.lock.  With self_exe
 * NULL nothing is started: the caller runs ub_emr_local_runner_main itself
 * (the unit tests do).  The runner takes the first PENDING step of the queue,
 * makes it RUNNING, runs it in a child process, and ends it COMPLETED, FAILED
 * (Reason: one line; LogFile) or CANCELLED; on FAILED it honours
 * ActionOnFailure (CONTINUE; CANCEL_AND_WAIT cancels every later PENDING step;
 * TERMINATE_* does the same and writes DIR/terminated).  A runner that finds
 * nothing PENDING exits.
 *
 * Cancelling: a PENDING step becomes CANCELLED at once; a RUNNING one becomes
 * CANCEL_PENDING, and the runner, which looks at the record every 100 ms,
 * kills the step's process and ends it CANCELLED.
 *
 * A runner killed mid-step (SIGKILL): its step process dies with it (Linux
 * parent-death signal; elsewhere it keeps runner.lock until it ends).  The
 * next runner to get runner.lock knows that no step of this queue can still
 * be running, so it ends every RUNNING step FAILED ("runner died", with the
 * pid recorded in the record) and applies its ActionOnFailure; a
 * CANCEL_PENDING one becomes CANCELLED.  ub_emr_describe_step starts that
 * runner when it sees an unfinished step and no live runner.
 *
 * The step commands (HadoopJarStep.Jar must be command-runner.jar):
 *   s3-dist-cp --src=X --dest=Y   X, Y: s3://BUCKET/KEY (the bucket is ignored,
 *        the key is a key of the profile's lake), hdfs:///PATH or /PATH (under
 *        the HDFS directory, default STATE/hdfs).  One object, or every object
 *        under a prefix (X ends in '/' or names no object), relative names
 *        kept; each object is written atomically.
 *   spark-submit [--deploy-mode M] [--master M] [--conf K=V]... SCRIPT ARGS...
 *        runs the built-in the connection's `scripts` map names for SCRIPT's
 *        base name.  Built-in "classify": --input DIR --output DIR --run-id DS.
 */

#define QUEUE_MAX   (16u << 20)
#define ID_LEN      15                 /* "s-" + 13 */
#define POLL_MS     100

static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* ---- small helpers ---------------------------------------------------------- */

/* Resets b to the formatted text; NULL when out of memory. */
static const char *pathf(ub_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pathf(ub_buf *b, const char *fmt, ...)
{
    va_list ap;
    ub_buf_reset(b);
    va_start(ap, fmt);
    int rc = ub_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : b->p;
}


static void iso_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* Opens DIR/name and takes its flock: the descriptor (the lock lasts until it
 * is closed), -2 when nonblock and someone else holds it, -1 on error. */
static int lock_take(const char *dir, const char *name, int nonblock, ub_err *err)
{
    ub_buf p = UB_BUF_INIT;
    int fd = pathf(&p, "%s/%s", dir, name) ? ub_lock_file(p.p, nonblock, err) : ub_err_oom(err);
    ub_buf_free(&p);
    return fd;
}

static void lock_drop(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* 1 when a runner holds DIR/runner.lock, 0 when none, -1 on error */
static int runner_active(const char *dir, ub_err *err)
{
    int fd = lock_take(dir, "runner.lock", 1, err);
    if (fd == -2)
        return 1;
    if (fd < 0)
        return -1;
    lock_drop(fd);
    return 0;
}

/* one line, valid UTF-8 (invalid bytes become '?'), for a record */
static void one_line(const char *s, ub_buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    ub_buf_reset(out);
    while (*p) {
        unsigned char c = *p;
        if (c < 0x20 || c == 0x7f) {
            ub_buf_addc(out, ' ');
            p++;
            continue;
        }
        if (c < 0x80) {
            ub_buf_addc(out, (char)c);
            p++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        size_t i = 1;
        while (len && i < len && (p[i] & 0xc0) == 0x80)
            i++;
        if (len && i == len) {
            ub_buf_add(out, p, len);
            p += len;
        } else {
            ub_buf_addc(out, '?');
            p++;
        }
    }
    ub_buf_add(out, "", 0);
}

/* ---- string lists ------------------------------------------------------------- */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_push(strlist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = ub_realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = ub_strndup(s, n)))
        return -1;
    l->n++;
    return 0;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        ub_free(l->v[i]);
    ub_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* ---- step records ------------------------------------------------------------- */

static int valid_id(const char *id)
{
    if (!id || strlen(id) != ID_LEN || id[0] != 's' || id[1] != '-')
        return 0;
    for (size_t i = 2; i < ID_LEN; i++)
        if (!id[i] || !strchr(id_chars, id[i]))
            return 0;
    return 1;
}

static const char *rec_str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static long long rec_int(const json_t *rec, const char *key)
{
    return (long long)json_integer_value(json_object_get(rec, key));
}

/* the record's state, or -1 when it has none we know */
static int rec_state(const json_t *rec)
{
    const char *s = rec_str(rec, "State");
    for (int i = UB_STEP_PENDING; s && i <= UB_STEP_INTERRUPTED; i++)
        if (strcmp(s, ub_step_state_name((ub_step_state)i)) == 0)
            return i;
    return -1;
}

static int rec_set_str(json_t *rec, const char *key, const char *val)
{
    ub_buf b = UB_BUF_INIT;
    one_line(val, &b);
    json_t *s = b.err ? NULL : json_string(b.p);
    if (!s && !b.err) {               /* jansson is stricter than one_line: keep ASCII only */
        for (size_t i = 0; i < b.len; i++)
            if ((unsigned char)b.p[i] >= 0x80)
                b.p[i] = '?';
        s = json_string(b.p);
    }
    ub_buf_free(&b);
    return json_object_set_new(rec, key, s);   /* takes s; fails when s is NULL */
}

static int rec_set_int(json_t *rec, const char *key, long long v)
{
    return json_object_set_new(rec, key, json_integer((json_int_t)v));
}

static int rec_set_now(json_t *rec, const char *key)
{
    char now[32];
    iso_now(now);
    return rec_set_str(rec, key, now);
}

static int rec_set_state(json_t *rec, ub_step_state s)
{
    return rec_set_str(rec, "State", ub_step_state_name(s));
}

static int rec_load(const char *dir, const char *id, json_t **out, ub_err *err)
{
    ub_buf p = UB_BUF_INIT;
    json_error_t je;
    int rc = -1;
    *out = NULL;
    if (!valid_id(id))
        return ub_err_set(err, "'%s' is not a step id (s- and 13 letters or digits)", id);
    if (!pathf(&p, "%s/steps/%s.json", dir, id)) {
        ub_err_oom(err);
        goto out;
    }
    struct stat st;
    if (stat(p.p, &st) < 0) {
        if (errno == ENOENT)
            ub_err_set(err, "step '%s' does not exist in cluster 'local'", id);
        else
            ub_err_set(err, "step record '%s': %s", p.p, strerror(errno));
        goto out;
    }
    json_t *rec = json_load_file(p.p, JSON_REJECT_DUPLICATES, &je);
    if (!rec) {
        ub_err_set(err, "step record '%s':%d: %s", p.p, je.line, je.text);
        goto out;
    }
    if (!json_is_object(rec) || rec_state(rec) < 0) {
        ub_err_set(err, "step record '%s': not a step record (no known State)", p.p);
        json_decref(rec);
        goto out;
    }
    *out = rec;                       /* the caller owns the record */
    rc = 0;
out:
    ub_buf_free(&p);
    return rc;
}

static int dump_cb(const char *buf, size_t n, void *ud)
{
    return ub_buf_add(ud, buf, n);
}

static int rec_save(const char *dir, json_t *rec, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    const char *id = rec_str(rec, "Id");
    if (!valid_id(id)) {
        ub_err_set(err, "step record without a valid Id");
        goto out;
    }
    if (json_dump_callback(rec, dump_cb, &text, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
        ub_buf_addc(&text, '\n') < 0 || !pathf(&p, "%s/steps/%s.json", dir, id)) {
        ub_err_oom(err);
        goto out;
    }
    rc = ub_write_file_atomic(p.p, text.p, text.len, err);
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

/* Ends a record in state s with reason (NULL: none). */
static int rec_finish(json_t *rec, ub_step_state s, const char *reason)
{
    if (rec_set_state(rec, s) || rec_set_now(rec, "EndedAt"))
        return -1;
    if (reason && rec_set_str(rec, "Reason", reason))
        return -1;
    return 0;
}

/* ---- the queue ---------------------------------------------------------------- */

static int queue_load(const char *dir, strlist *q, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    if (!pathf(&p, "%s/queue", dir)) {
        ub_err_oom(err);
        goto out;
    }
    int r = ub_read_small(p.p, &text, QUEUE_MAX, err);
    if (r < 0)
        goto out;
    for (const char *s = ub_buf_str(&text); r && *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == ID_LEN) {
            char id[ID_LEN + 1];
            memcpy(id, s, n);
            id[n] = '\0';
            if (valid_id(id) && strlist_push(q, id, n) < 0) {
                ub_err_oom(err);
                goto out;
            }
        }
        s += n + (e ? 1 : 0);
    }
    rc = 0;
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

static int queue_save(const char *dir, const strlist *q, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    for (size_t i = 0; i < q->n; i++) {
        ub_buf_adds(&text, q->v[i]);
        ub_buf_addc(&text, '\n');
    }
    if (text.err || !pathf(&p, "%s/queue", dir)) {
        ub_err_oom(err);
        goto out;
    }
    rc = ub_write_file_atomic(p.p, ub_buf_str(&text), text.len, err);
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

/* The text of DIR/terminated (first line) into why: 1 terminated, 0 not, -1 error. */
static int terminated(const char *dir, char *why, size_t cap, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    if (!pathf(&p, "%s/terminated", dir)) {
        ub_err_oom(err);
        goto out;
    }
    rc = ub_read_small(p.p, &text, 64 * 1024, err);
    if (rc == 1) {
        const char *t = ub_buf_str(&text);
        size_t n = strcspn(t, "\n");
        snprintf(why, cap, "%.*s", (int)n, t);
    }
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

/* On a FAILED step: CANCEL_AND_WAIT and TERMINATE_* cancel every PENDING step
 * after index at of the queue; TERMINATE_* also marks the cluster terminated. */
static int apply_failure(const char *dir, const strlist *q, size_t at, const json_t *failed, ub_err *err)
{
    const char *aof = rec_str(failed, "ActionOnFailure");
    const char *id = rec_str(failed, "Id"), *name = rec_str(failed, "Name");
    ub_buf why = UB_BUF_INIT, p = UB_BUF_INIT;
    int rc = -1;
    if (!aof || strcmp(aof, "CONTINUE") == 0)
        return 0;
    int term = strcmp(aof, "TERMINATE_CLUSTER") == 0 || strcmp(aof, "TERMINATE_JOB_FLOW") == 0;
    if (ub_buf_addf(&why, "cancelled because step %s ('%s') failed (ActionOnFailure %s)", id,
                    name ? name : "", aof) < 0) {
        ub_err_oom(err);
        goto out;
    }
    for (size_t j = at + 1; j < q->n; j++) {
        json_t *rec;
        if (rec_load(dir, q->v[j], &rec, err))
            continue;                 /* a lost record is dropped from the queue later */
        int bad = rec_state(rec) == UB_STEP_PENDING &&
                  (rec_finish(rec, UB_STEP_CANCELLED, why.p) ? ub_err_oom(err) : rec_save(dir, rec, err));
        json_decref(rec);
        if (bad)
            goto out;
    }
    if (term) {
        ub_buf_reset(&why);
        ub_buf_addf(&why, "step %s ('%s') failed with ActionOnFailure %s\n", id, name ? name : "", aof);
        if (why.err || !pathf(&p, "%s/terminated", dir)) {
            ub_err_oom(err);
            goto out;
        }
        if (ub_write_file_atomic(p.p, why.p, why.len, err))
            goto out;
    }
    rc = 0;
out:
    ub_buf_free(&why);
    ub_buf_free(&p);
    return rc;
}

/* ---- the backend object ------------------------------------------------------- */

typedef struct local_emr {
    ub_emr base;
    char *dir;          /* STATE/emr/local */
    char *self_exe;     /* NULL: never start a runner */
    char *lake_url;     /* absolute when it could be resolved; NULL: none */
    char *hdfs_dir;     /* absolute */
    json_t *scripts;    /* object: script base name -> built-in */
} local_emr;

/* an absolute, normalized directory for dir (relative to base, else the
 * working directory); caller frees */
static char *abs_dir(const char *dir, const char *base, ub_err *err)
{
    ub_buf u = UB_BUF_INIT;
    char *out = NULL;
    if (ub_buf_addf(&u, "file:%s", dir) < 0) {
        ub_err_oom(err);
        return NULL;
    }
    ub_lake *l = ub_lake_open(u.p, base, err);   /* the file backend does the path work */
    if (l) {
        out = ub_strdup(l->url + 5);
        if (!out)
            ub_err_oom(err);
    }
    ub_lake_free(l);
    ub_buf_free(&u);
    return out;
}

/* Starts `self_exe __emr-local-runner DIR` in its own session, detached:
 * the process is reparented to init and never waited for by us. */
static int start_runner(local_emr *e, ub_err *err)
{
    ub_buf logp = UB_BUF_INIT;
    int pfd[2] = { -1, -1 };
    int rc = -1;
    int r = runner_active(e->dir, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (!pathf(&logp, "%s/runner.log", e->dir)) {
        ub_err_oom(err);
        goto out;
    }
    char *argv[] = { e->self_exe, "__emr-local-runner", e->dir, NULL };
    if (pipe(pfd) < 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(pfd[1], F_SETFD, FD_CLOEXEC) < 0) {
        ub_err_set(err, "could not start the local step runner: pipe: %s", strerror(errno));
        goto out;
    }
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    pid_t pid = fork();
    if (pid < 0) {
        ub_err_set(err, "could not start the local step runner: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* only async-signal-safe calls from here: the parent may have threads */
        close(pfd[0]);
        pid_t p2 = fork();
        if (p2 != 0)
            _exit(p2 < 0 ? 1 : 0);
        setsid();
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0 && fd != 0) {
            dup2(fd, 0);
            close(fd);
        }
        fd = open(logp.p, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        if (pfd[1] != 3) {
            dup2(pfd[1], 3);
            close(pfd[1]);
        }
        fcntl(3, F_SETFD, FD_CLOEXEC);
        for (long i = 4; i < maxfd; i++)
            close((int)i);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        execv(argv[0], argv);
        int e2 = errno;
        ssize_t w = write(3, &e2, sizeof e2);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    int status = 0;
    pid_t wr;
    while ((wr = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    int child_errno = 0;
    ssize_t got;
    while ((got = read(pfd[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof child_errno) {
        ub_err_set(err, "could not start the local step runner '%s': %s", e->self_exe, strerror(child_errno));
        goto out;
    }
    if (wr == pid && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        ub_err_set(err, "could not start the local step runner '%s': fork failed", e->self_exe);
        goto out;
    }
    rc = 0;
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    ub_buf_free(&logp);
    return rc;
}

/* a new id ("s-" and 13 characters) whose record does not exist yet */
static int new_id(const char *dir, char out[ID_LEN + 1], ub_err *err)
{
    ub_buf p = UB_BUF_INIT;
    int rc = -1, fd;
    do
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return ub_err_set(err, "could not open '/dev/urandom': %s", strerror(errno));
    for (int tries = 0; tries < 100; tries++) {
        out[0] = 's';
        out[1] = '-';
        for (size_t i = 2; i < ID_LEN;) {
            unsigned char b[32];
            ssize_t n = read(fd, b, sizeof b);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                ub_err_set(err, "could not read '/dev/urandom': %s", n < 0 ? strerror(errno) : "end of file");
                goto out;
            }
            for (ssize_t j = 0; j < n && i < ID_LEN; j++)
                if (b[j] < 252)                 /* 252 = 7 * 36: no bias */
                    out[i++] = id_chars[b[j] % 36];
        }
        out[ID_LEN] = '\0';
        struct stat st;
        if (!pathf(&p, "%s/steps/%s.json", dir, out)) {
            ub_err_oom(err);
            goto out;
        }
        if (stat(p.p, &st) < 0 && errno == ENOENT) {
            rc = 0;
            goto out;
        }
    }
    ub_err_set(err, "could not find a free step id");
out:
    close(fd);
    ub_buf_free(&p);
    return rc;
}

static const char *const aof_names[] = {
    "CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW", NULL,
};

/* Checks the AddJobFlowSteps "Steps" array; the caller owns the result. */
static json_t *parse_steps(const char *text, ub_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ub_err_set(err, "steps JSON:%d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_array(root) || json_array_size(root) == 0) {
        ub_err_set(err, "steps JSON: must be a non-empty array of steps");
        goto fail;
    }
    size_t i;
    json_t *st;
    json_array_foreach(root, i, st) {
        const char *name = json_string_value(json_object_get(st, "Name"));
        if (!json_is_object(st) || !name) {
            ub_err_set(err, "steps JSON: step %zu needs a string Name", i + 1);
            goto fail;
        }
        json_t *aof = json_object_get(st, "ActionOnFailure");
        if (aof) {
            const char *a = json_string_value(aof);
            size_t k = 0;
            while (a && aof_names[k] && strcmp(a, aof_names[k]) != 0)
                k++;
            if (!a || !aof_names[k]) {
                ub_err_set(err, "steps JSON: step %zu ('%s'): ActionOnFailure must be CONTINUE, CANCEL_AND_WAIT, "
                                "TERMINATE_CLUSTER or TERMINATE_JOB_FLOW", i + 1, name);
                goto fail;
            }
        }
        json_t *hjs = json_object_get(st, "HadoopJarStep");
        if (!json_is_string(json_object_get(hjs, "Jar"))) {
            ub_err_set(err, "steps JSON: step %zu ('%s'): needs HadoopJarStep.Jar (a string)", i + 1, name);
            goto fail;
        }
        json_t *args = json_object_get(hjs, "Args"), *a;
        size_t j;
        int ok = json_is_array(args) && json_array_size(args) > 0;
        json_array_foreach(args, j, a)
            ok = ok && json_is_string(a);
        if (!ok) {
            ub_err_set(err, "steps JSON: step %zu ('%s'): HadoopJarStep.Args must be a non-empty list of strings",
                       i + 1, name);
            goto fail;
        }
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

/* the PENDING record of one submitted step; caller owns it */
static json_t *new_record(local_emr *e, const json_t *step, const char *id)
{
    json_t *hjs = json_object_get(step, "HadoopJarStep");
    const char *aof = json_string_value(json_object_get(step, "ActionOnFailure"));
    json_t *rec = json_object();
    json_t *args = json_deep_copy(json_object_get(hjs, "Args"));
    json_t *scripts = json_deep_copy(e->scripts);
    if (!rec || !args || !scripts ||
        rec_set_str(rec, "Id", id) || rec_set_str(rec, "Name", json_string_value(json_object_get(step, "Name"))) ||
        rec_set_str(rec, "ActionOnFailure", aof ? aof : "CONTINUE") ||
        rec_set_str(rec, "Jar", json_string_value(json_object_get(hjs, "Jar"))) ||
        json_object_set(rec, "Args", args) || rec_set_state(rec, UB_STEP_PENDING) ||
        rec_set_now(rec, "SubmittedAt") ||
        (e->lake_url && rec_set_str(rec, "Lake", e->lake_url)) || rec_set_str(rec, "HdfsDir", e->hdfs_dir) ||
        json_object_set(rec, "Scripts", scripts)) {
        json_decref(rec);
        rec = NULL;
    }
    json_decref(args);
    json_decref(scripts);
    return rec;
}

static int local_add_steps(ub_emr *base, const char *steps_json, char ***ids_out, size_t *n_out, ub_err *err)
{
    local_emr *e = (local_emr *)base;
    json_t *steps = parse_steps(steps_json, err);
    strlist q = { NULL, 0, 0 }, ids = { NULL, 0, 0 };
    ub_buf p = UB_BUF_INIT;
    int lk = -1, rc = -1, queued = 0;
    if (!steps)
        return -1;
    if (!pathf(&p, "%s/steps", e->dir) || ub_mkdirs(p.p) < 0 || !pathf(&p, "%s/logs", e->dir) || ub_mkdirs(p.p) < 0) {
        ub_err_set(err, "could not create '%s': %s", p.p ? p.p : e->dir, p.err ? "out of memory" : strerror(errno));
        goto out;
    }
    if ((lk = lock_take(e->dir, "state.lock", 0, err)) < 0)
        goto out;
    char why[512];
    int t = terminated(e->dir, why, sizeof why, err);
    if (t < 0)
        goto out;
    if (t) {
        ub_err_set(err, "cluster 'local' is terminated (%s); remove '%s/terminated' to use it again", why, e->dir);
        goto out;
    }
    if (queue_load(e->dir, &q, err))
        goto out;
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st) {
        char id[ID_LEN + 1];
        if (new_id(e->dir, id, err))
            goto out;
        json_t *rec = new_record(e, st, id);
        if (!rec) {
            ub_err_oom(err);
            goto out;
        }
        int bad = rec_save(e->dir, rec, err);
        json_decref(rec);
        if (bad)
            goto out;
        if (strlist_push(&ids, id, ID_LEN) < 0 || strlist_push(&q, id, ID_LEN) < 0) {
            ub_err_oom(err);
            goto out;
        }
    }
    if (queue_save(e->dir, &q, err))
        goto out;
    queued = 1;
    lock_drop(lk);
    lk = -1;
    if (e->self_exe && start_runner(e, err)) {
        /* no runner: the steps must not wait for one that will never come */
        ub_err tmp;
        char reason[1200];
        snprintf(reason, sizeof reason, "not run: %s", err->msg);
        if ((lk = lock_take(e->dir, "state.lock", 0, &tmp)) >= 0)
            for (size_t k = 0; k < ids.n; k++) {
                json_t *rec;
                if (rec_load(e->dir, ids.v[k], &rec, &tmp) == 0) {
                    if (rec_state(rec) == UB_STEP_PENDING && !rec_finish(rec, UB_STEP_CANCELLED, reason))
                        rec_save(e->dir, rec, &tmp);
                    json_decref(rec);
                }
            }
        goto out;
    }
    *ids_out = ids.v;                 /* the caller owns the ids now */
    *n_out = ids.n;
    ids.v = NULL;
    ids.n = ids.cap = 0;
    rc = 0;
out:
    if (rc && !queued)                /* records of a failed submission never reach the queue */
        for (size_t k = 0; k < ids.n; k++)
            if (pathf(&p, "%s/steps/%s.json", e->dir, ids.v[k]))
                unlink(p.p);
    lock_drop(lk);
    json_decref(steps);
    strlist_free(&q);
    strlist_free(&ids);
    ub_buf_free(&p);
    return rc;
}

static int local_describe_step(ub_emr *base, const char *id, ub_emr_step_status *st, ub_err *err)
{
    local_emr *e = (local_emr *)base;
    json_t *rec;
    if (rec_load(e->dir, id, &rec, err))
        return -1;
    int rc = -1;
    st->state = (ub_step_state)rec_state(rec);
    const char *name = rec_str(rec, "Name"), *reason = rec_str(rec, "Reason"), *log = rec_str(rec, "LogFile");
    snprintf(st->name, sizeof st->name, "%s", name ? name : "");
    if (reason && *reason && st->state == UB_STEP_FAILED && log && *log)
        snprintf(st->reason, sizeof st->reason, "%s (log file: %s)", reason, log);
    else
        snprintf(st->reason, sizeof st->reason, "%s", reason ? reason : "");
    /* an unfinished step needs a runner: start one if the last one is gone */
    if (!ub_step_state_final(st->state) && e->self_exe) {
        int active = runner_active(e->dir, err);
        if (active < 0)
            goto out;
        if (!active && start_runner(e, err)) {
            ub_err_wrap(err, "step %s is %s but no local step runner is active", id, ub_step_state_name(st->state));
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(rec);
    return rc;
}

static int local_cancel_steps(ub_emr *base, char *const *ids, size_t n, ub_err *err)
{
    local_emr *e = (local_emr *)base;
    json_t **recs = ub_calloc(n, sizeof *recs);
    int lk = -1, rc = -1, asked = 0;
    if (!recs)
        return ub_err_oom(err);
    if ((lk = lock_take(e->dir, "state.lock", 0, err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)      /* all of them exist, or nothing changes */
        if (rec_load(e->dir, ids[i], &recs[i], err))
            goto out;
    for (size_t i = 0; i < n; i++) {
        int s = rec_state(recs[i]), bad = 0;
        if (s == UB_STEP_PENDING)
            bad = rec_finish(recs[i], UB_STEP_CANCELLED, "cancelled on request");
        else if (s == UB_STEP_RUNNING) {
            bad = rec_set_state(recs[i], UB_STEP_CANCEL_PENDING);
            asked = 1;
        } else
            continue;                 /* final or already asked: nothing to do */
        if (bad) {
            ub_err_oom(err);
            goto out;
        }
        if (rec_save(e->dir, recs[i], err))
            goto out;
    }
    lock_drop(lk);
    lk = -1;
    if (asked && e->self_exe && start_runner(e, err))
        goto out;
    rc = 0;
out:
    lock_drop(lk);
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
    ub_free(recs);
    return rc;
}

static void local_free(ub_emr *base)
{
    local_emr *e = (local_emr *)base;
    ub_free(e->dir);
    ub_free(e->self_exe);
    ub_free(e->lake_url);
    ub_free(e->hdfs_dir);
    json_decref(e->scripts);
    ub_free(e);
}

static const ub_emr_ops local_ops = {
    "local", local_add_steps, local_describe_step, local_cancel_steps, local_free,
};

ub_emr *ub_emr_local_open(const ub_emr_opts *o, ub_err *err)
{
    local_emr *e = ub_calloc(1, sizeof *e);
    char *state = NULL;
    ub_buf b = UB_BUF_INIT;
    if (!e) {
        ub_err_oom(err);
        return NULL;
    }
    e->base.ops = &local_ops;
    if (!o->state_dir || !*o->state_dir) {
        ub_err_set(err, "cluster 'local': no state directory given");
        goto fail;
    }
    if (!(state = abs_dir(o->state_dir, NULL, err)))
        goto fail;
    if (ub_buf_addf(&b, "%s/emr/local", state) < 0 || !(e->dir = ub_buf_detach(&b, NULL)))
        goto oom;
    if (o->hdfs_dir && *o->hdfs_dir) {
        if (!(e->hdfs_dir = abs_dir(o->hdfs_dir, o->base_dir, err)))
            goto fail;
    } else {
        ub_buf_reset(&b);
        if (ub_buf_addf(&b, "%s/hdfs", state) < 0 || !(e->hdfs_dir = ub_buf_detach(&b, NULL)))
            goto oom;
    }
    if (o->lake_url && *o->lake_url) {
        ub_err ignored;
        ub_lake *l = ub_lake_open(o->lake_url, o->base_dir, &ignored);
        /* a lake this build cannot open is kept as given: the step using it reports why */
        e->lake_url = ub_strdup(l ? l->url : o->lake_url);
        ub_lake_free(l);
        if (!e->lake_url)
            goto oom;
    }
    if (o->self_exe && !(e->self_exe = ub_strdup(o->self_exe)))
        goto oom;
    if (!(e->scripts = json_object()))
        goto oom;
    for (size_t i = 0; i < o->nscripts; i++)
        if (o->scripts[i].name && o->scripts[i].builtin &&
            json_object_set_new(e->scripts, o->scripts[i].name, json_string(o->scripts[i].builtin)))
            goto oom;
    ub_free(state);
    return &e->base;
oom:
    ub_err_oom(err);
fail:
    ub_free(state);
    ub_buf_free(&b);
    local_free(&e->base);
    return NULL;
}

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
    va_list ap;
    va_start(ap, fmt);
    vdprintf(STDOUT_FILENO, fmt, ap);
    va_end(ap);
    dprintf(STDOUT_FILENO, "\n");
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
            c->hdfs = ub_lake_file_open(rec_str(c->rec, "HdfsDir"), err);
        return c->hdfs;
    }
    if (!c->lake) {
        const char *url = rec_str(c->rec, "Lake");
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
    if (has_prefix(arg, "s3://")) {
        const char *bucket = arg + 5, *slash = strchr(bucket, '/');
        if (slash == bucket || !*bucket)
            return ub_err_set(err, "%s: %s '%s' has no bucket", cmd, flag, arg);
        key = slash ? slash + 1 : "";
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
    return strlist_push(ud, key, strlen(key)) < 0 ? -1 : 0;
}

static int64_t copy_object(ub_lake *sl, const char *sk, ub_lake *dl, const char *dk, ub_err *err)
{
    ub_reader *r = ub_lake_open_read(sl, sk, err);
    ub_writer *w = NULL;
    int64_t n = -1;
    if (!r || !(w = ub_lake_open_write(dl, dk, err)))
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
    strlist_free(&keys);
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
    if (!pathf(&old, "%s.old", tmp)) {
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
        if (strlist_push(&keys, s.key, strlen(s.key)) < 0) {
            ub_err_oom(err);
            goto out;
        }
    } else {
        strlist all = { NULL, 0, 0 };
        if (ub_lake_list(s.lake, s.key, collect_key, &all, err)) {
            strlist_free(&all);
            goto out;
        }
        size_t pl = strlen(s.key);
        for (size_t i = 0; i < all.n; i++) {
            const char *rel = all.v[i] + pl;
            if (strchr(rel, '/') || rel[0] == '_' || rel[0] == '.')
                continue;
            if (strlist_push(&keys, all.v[i], strlen(all.v[i])) < 0) {
                strlist_free(&all);
                ub_err_oom(err);
                goto out;
            }
        }
        strlist_free(&all);
    }
    if (keys.n == 0) {
        ub_err_set(err, "classify: no input files in --input '%s'", in);
        goto out;
    }

    /* OUTPUT (absolute, no trailing '/') and a temporary directory beside it */
    size_t ol = strlen(d.key);
    ub_buf_addf(&out, "%s/%.*s", rec_str(c->rec, "HdfsDir"), (int)(d.key[ol - 1] == '/' ? ol - 1 : ol), d.key);
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
        if (!(r = ub_lake_open_read(s.lake, keys.v[i], err)))
            goto out;
        if (ub_is_zstd_name(keys.v[i])) {
            ub_reader *z = ub_zstd_reader(r, err);   /* z owns r from here */
            if (!z)
                goto out;
            r = z;
        }
        ub_buf_reset(&part);
        if (!pathf(&part, "%s/part-%05zu.csv", tmp.p, i)) {
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
    if (!pathf(&part, "%s/_SUCCESS", tmp.p)) {
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
    strlist_free(&keys);
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
static int run_step(const json_t *rec, ub_err *err)
{
    stepctx c = { rec, NULL, NULL };
    const json_t *ja = json_object_get(rec, "Args");
    size_t nargs = json_array_size(ja);
    char **args = ub_calloc(nargs + 1, sizeof *args);
    const char *jar = rec_str(rec, "Jar");
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

/* ==== the runner ================================================================= */

typedef struct runner {
    const char *dir;
    int logfd;
} runner;

static void rlog(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rlog(runner *r, const char *fmt, ...)
{
    char now[32];
    va_list ap;
    iso_now(now);
    dprintf(r->logfd, "%s runner[%ld]: ", now, (long)getpid());
    va_start(ap, fmt);
    vdprintf(r->logfd, fmt, ap);
    va_end(ap);
    dprintf(r->logfd, "\n");
}

typedef struct outcome {
    ub_step_state state;
    char reason[1024];
} outcome;

static int cancel_requested(runner *r, const char *id)
{
    ub_err err;
    json_t *rec;
    if (rec_load(r->dir, id, &rec, &err))
        return 0;
    int yes = rec_state(rec) == UB_STEP_CANCEL_PENDING;
    json_decref(rec);
    return yes;
}

/* Runs the step in a child process, watching for a cancel request. */
static void execute(runner *r, const json_t *rec, const char *logpath, outcome *o)
{
    const char *id = rec_str(rec, "Id");
    int pfd[2] = { -1, -1 }, logfd = -1;
    o->state = UB_STEP_FAILED;
    o->reason[0] = '\0';
    do
        logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    while (logfd < 0 && errno == EINTR);
    if (logfd < 0) {
        snprintf(o->reason, sizeof o->reason, "could not open step log '%s': %s", logpath, strerror(errno));
        return;
    }
    if (pipe(pfd) < 0) {
        snprintf(o->reason, sizeof o->reason, "could not create a pipe: %s", strerror(errno));
        close(logfd);
        return;
    }
    fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(o->reason, sizeof o->reason, "could not fork the step process: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        close(logfd);
        return;
    }
    if (pid == 0) {
        ub_err err;
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);    /* a killed runner takes its step with it */
#endif
        if (getppid() != parent)
            _exit(3);
        close(pfd[0]);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close(logfd);
        int rc = run_step(rec, &err);
        if (rc) {
            size_t n = strnlen(err.msg, sizeof err.msg);
            ssize_t w = write(pfd[1], err.msg, n);
            (void)w;
            dprintf(STDOUT_FILENO, "error: %s\n", err.msg);
        }
        _exit(rc ? 1 : 0);
    }
    close(pfd[1]);
    close(logfd);
    size_t len = 0;
    int cancel_sent = 0;
    for (;;) {
        struct pollfd p = { pfd[0], POLLIN, 0 };
        int pr = poll(&p, 1, POLL_MS);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr > 0) {
            char trash[256];
            char *dst = len + 1 < sizeof o->reason ? o->reason + len : trash;
            size_t room = len + 1 < sizeof o->reason ? sizeof o->reason - 1 - len : sizeof trash;
            ssize_t got = read(pfd[0], dst, room);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                break;
            if (got > 0 && dst != trash)
                len += (size_t)got;
            continue;
        }
        if (pr == 0 && !cancel_sent && cancel_requested(r, id)) {
            rlog(r, "step %s: cancel requested, killing process %ld", id, (long)pid);
            kill(pid, SIGKILL);
            cancel_sent = 1;
        }
    }
    o->reason[len] = '\0';
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        o->state = UB_STEP_COMPLETED;
        o->reason[0] = '\0';
    } else if (cancel_sent && (WIFSIGNALED(status) || WIFEXITED(status))) {
        o->state = UB_STEP_CANCELLED;
        snprintf(o->reason, sizeof o->reason, "cancelled on request while running");
    } else if (WIFSIGNALED(status)) {
        snprintf(o->reason, sizeof o->reason, "the step process was killed by signal %d", WTERMSIG(status));
    } else if (!o->reason[0]) {
        snprintf(o->reason, sizeof o->reason, "the step process exited with status %d", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status) && rec_str(rec, "HdfsDir"))
        ub_sweep_tmp(rec_str(rec, "HdfsDir"));    /* a killed step cleans nothing up itself */
}

/*
 * Under state.lock: ends steps left RUNNING / CANCEL_PENDING by a runner that
 * died (we hold runner.lock and run nothing, so none of them is running),
 * drops final steps from the queue, and picks the first PENDING step, which
 * becomes RUNNING.  *picked is NULL when there is nothing to do.
 */
static int pick(runner *r, json_t **picked, ub_err *err)
{
    strlist q = { NULL, 0, 0 }, keep = { NULL, 0, 0 };
    int lk = lock_take(r->dir, "state.lock", 0, err), rc = -1;
    char why[512];
    json_t *rec = NULL;
    *picked = NULL;
    if (lk < 0)
        return -1;
    if (queue_load(r->dir, &q, err))
        goto out;
    int term = terminated(r->dir, why, sizeof why, err);
    if (term < 0)
        goto out;
    for (size_t i = 0; i < q.n; i++) {
        if (rec_load(r->dir, q.v[i], &rec, err)) {
            rlog(r, "dropping %s from the queue: %s", q.v[i], err->msg);
            continue;
        }
        int s = rec_state(rec), bad = 0;
        if (s == UB_STEP_RUNNING || s == UB_STEP_CANCEL_PENDING) {
            char reason[256];
            long long pid = rec_int(rec, "RunnerPid");
            if (s == UB_STEP_RUNNING)
                snprintf(reason, sizeof reason, "runner died (pid %lld) while the step was running", pid);
            else
                snprintf(reason, sizeof reason, "cancelled on request (runner pid %lld died)", pid);
            rlog(r, "step %s: %s", q.v[i], reason);
            if (rec_str(rec, "HdfsDir"))
                ub_sweep_tmp(rec_str(rec, "HdfsDir"));
            s = s == UB_STEP_RUNNING ? UB_STEP_FAILED : UB_STEP_CANCELLED;
            bad = rec_finish(rec, (ub_step_state)s, reason) ? ub_err_oom(err) : rec_save(r->dir, rec, err);
            if (!bad && s == UB_STEP_FAILED)
                bad = apply_failure(r->dir, &q, i, rec, err);
        } else if (s == UB_STEP_PENDING && term) {
            char reason[600];
            snprintf(reason, sizeof reason, "cancelled: the local cluster is terminated (%s)", why);
            s = UB_STEP_CANCELLED;
            bad = rec_finish(rec, UB_STEP_CANCELLED, reason) ? ub_err_oom(err) : rec_save(r->dir, rec, err);
        } else if (s == UB_STEP_PENDING && !*picked) {
            char logpath[PATH_MAX];
            snprintf(logpath, sizeof logpath, "%s/logs/%s.log", r->dir, q.v[i]);
            if (rec_set_state(rec, UB_STEP_RUNNING) || rec_set_now(rec, "StartedAt") ||
                rec_set_int(rec, "RunnerPid", (long long)getpid()) || rec_set_str(rec, "LogFile", logpath))
                bad = ub_err_oom(err);
            else
                bad = rec_save(r->dir, rec, err);
            if (!bad) {
                *picked = rec;        /* the caller owns it */
                rec = NULL;
            }
        }
        json_decref(rec);
        rec = NULL;
        if (bad)
            goto out;
        if (!ub_step_state_final((ub_step_state)s) && strlist_push(&keep, q.v[i], ID_LEN) < 0) {
            ub_err_oom(err);
            goto out;
        }
    }
    if (keep.n != q.n && queue_save(r->dir, &keep, err))
        goto out;
    rc = 0;
out:
    if (rc && *picked) {
        json_decref(*picked);
        *picked = NULL;
    }
    json_decref(rec);
    lock_drop(lk);
    strlist_free(&q);
    strlist_free(&keep);
    return rc;
}

/* Under state.lock: records the outcome and applies ActionOnFailure. */
static int finish(runner *r, const char *id, const outcome *o, ub_err *err)
{
    strlist q = { NULL, 0, 0 };
    json_t *rec = NULL;
    int lk = lock_take(r->dir, "state.lock", 0, err), rc = -1;
    if (lk < 0)
        return -1;
    if (rec_load(r->dir, id, &rec, err) || queue_load(r->dir, &q, err))
        goto out;
    if (rec_finish(rec, o->state, o->reason[0] ? o->reason : NULL)) {
        ub_err_oom(err);
        goto out;
    }
    if (rec_save(r->dir, rec, err))
        goto out;
    if (o->state == UB_STEP_FAILED) {
        size_t at = 0;
        while (at < q.n && strcmp(q.v[at], id) != 0)
            at++;
        if (at < q.n && apply_failure(r->dir, &q, at, rec, err))
            goto out;
    }
    rc = 0;
out:
    json_decref(rec);
    lock_drop(lk);
    strlist_free(&q);
    return rc;
}

/* Works the queue while we hold runner.lock: 0 when nothing is left, -1 on error. */
static int work(runner *r)
{
    ub_err err;
    for (;;) {
        json_t *rec;
        if (pick(r, &rec, &err)) {
            rlog(r, "%s", err.msg);
            return -1;
        }
        if (!rec)
            return 0;
        const char *id = rec_str(rec, "Id"), *name = rec_str(rec, "Name");
        outcome o;
        rlog(r, "step %s ('%s') RUNNING", id, name ? name : "");
        execute(r, rec, rec_str(rec, "LogFile"), &o);
        rlog(r, "step %s ('%s') %s%s%s", id, name ? name : "", ub_step_state_name(o.state),
             o.reason[0] ? ": " : "", o.reason);
        int bad = finish(r, id, &o, &err);
        json_decref(rec);
        if (bad) {
            rlog(r, "%s", err.msg);
            return -1;
        }
    }
}

/* 1 when the queue holds a PENDING step (read without locks: files are
 * replaced atomically) */
static int queue_has_pending(const char *dir)
{
    strlist q = { NULL, 0, 0 };
    ub_err err;
    int any = 0;
    char why[8];
    if (terminated(dir, why, sizeof why, &err) != 0 || queue_load(dir, &q, &err))
        goto out;
    for (size_t i = 0; i < q.n && !any; i++) {
        json_t *rec;
        if (rec_load(dir, q.v[i], &rec, &err) == 0) {
            any = rec_state(rec) == UB_STEP_PENDING;
            json_decref(rec);
        }
    }
out:
    strlist_free(&q);
    return any;
}

/*
 * `ubpipe __emr-local-runner DIR`: argv as main gets it (DIR is the last
 * argument).  Forks a process per step, so call it only from a
 * single-threaded process.  Returns 0 when the queue is worked off (or
 * another runner has it), 1 on an error of the runner itself, 2 on usage.
 */
int ub_emr_local_runner_main(int argc, char **argv)
{
    if (argc < 2 || !argv[argc - 1] || argv[argc - 1][0] != '/') {
        fprintf(stderr, "usage: ubpipe __emr-local-runner DIR (absolute)\n");
        return 2;
    }
    runner r = { argv[argc - 1], STDERR_FILENO };
    ub_buf p = UB_BUF_INIT;
    ub_err err;
    int rc = 0;
    if (pathf(&p, "%s/runner.log", r.dir) && ub_mkdirs(r.dir) == 0) {
        int fd = open(p.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            r.logfd = fd;
    }
    for (;;) {
        /* submitters probe the lock for a moment to see whether a runner
         * is active: do not take such a probe for a runner */
        int lk = lock_take(r.dir, "runner.lock", 1, &err);
        for (int tries = 0; lk == -2 && tries < 10; tries++) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
            lk = lock_take(r.dir, "runner.lock", 1, &err);
        }
        if (lk == -2) {
            rlog(&r, "another runner works this queue");
            break;
        }
        if (lk < 0) {
            rlog(&r, "%s", err.msg);
            rc = 1;
            break;
        }
        rc = work(&r) ? 1 : 0;
        lock_drop(lk);
        /* a step submitted after our last look but before we let go of the
         * lock found the lock taken and started no runner: look again */
        if (rc || !queue_has_pending(r.dir))
            break;
    }
    rlog(&r, "exiting");
    if (r.logfd != STDERR_FILENO)
        close(r.logfd);
    ub_buf_free(&p);
    return rc;
}
